"""Schedule semantics TVM te programs rely on: cache_write after split/reorder
(relayout), rfactor of a reduction with init=, scans with the state as an
argument and stages between state and update run in the scan's loop, fuse of a
data axis with a reduction axis, nested groups, warp scope, the bound of a local
stage under a thread-bound loop, split by a free var (a scalar argument).
Results against NumPy (float64 reference), bounds against hand-computed values,
and every schedule's trace replayed onto a fresh schedule lowers the same."""
from __future__ import annotations

import numpy as np
import pytest

import opcomp as oc
from opcomp.arith.simplify import simplify
from opcomp.ir import expr as E
from opcomp.ir.visit import substitute


def value(e) -> int:
    e = simplify(E.as_expr(e))
    assert isinstance(e, E.Const), e
    return e.value


def replayed_same(s, outputs, args):
    """The trace replayed onto a fresh schedule lowers to the same IR."""
    s2 = oc.create_schedule(outputs)
    oc.Trace.from_json(s.trace.to_json()).apply(s2)
    assert str(oc.lower(s2, args)) == str(oc.lower(s, args))


def rand(rng, *shape):
    return rng.uniform(-1, 1, size=shape).astype("float32")


# -- 1. cache_write after split / reorder: TVM's relayout ---------------------------

def test_cache_write_after_split_and_reorder_lays_out_the_cache_like_the_loops(rng):
    rows, cols = 30, 5                      # 30 rows split by 4: a tail of 2
    A = oc.placeholder((rows, cols), name="A")
    B = oc.placeholder((rows, cols), name="B")
    C = oc.compute((rows, cols), lambda i, j: A[i, j] * B[i, j], name="C")
    s = oc.create_schedule(C)
    xo, xi = s[C].split(C.op.axis[0], factor=4)
    s[C].reorder(xo, C.op.axis[1], xi)
    CC = s.cache_write(C, "local")
    assert [value(d) for d in CC.shape] == [8, 5, 4]       # (xo, j, xi): the loop order
    assert [iv.name for iv in s[C].leaf_iter_vars] == ["i", "j"]   # C: a plain copy again
    assert s[C].relations == []
    a, b = rand(rng, rows, cols), rand(rng, rows, cols)
    c = np.zeros_like(a)
    oc.build(s, [A, B, C])(a, b, c)
    np.testing.assert_allclose(c, a.astype(np.float64) * b, rtol=1e-6, atol=1e-6)
    replayed_same(s, C, [A, B, C])


def test_cache_write_after_splitting_data_and_reduction_axes(rng):
    rows, n = 30, 7
    A = oc.placeholder((rows, n), name="A")
    k = oc.reduce_axis((0, n), "k")
    C = oc.compute((rows,), lambda i: oc.sum(A[i, k] * 2.0, axis=k), name="C")
    s = oc.create_schedule(C)
    s[C].split(C.op.axis[0], factor=4)
    s[C].split(k, factor=2)
    CC = s.cache_write(C, "local")
    assert [value(d) for d in CC.shape] == [8, 4]
    assert len(CC.op.reduce_axis) == 1 and value(CC.op.reduce_axis[0].extent) == n
    a, c = rand(rng, rows, n), np.zeros(rows, "float32")
    oc.build(s, [A, C])(a, c)
    np.testing.assert_allclose(c, (a.astype(np.float64) * 2).sum(1), rtol=1e-5, atol=1e-5)
    replayed_same(s, C, [A, C])


def test_cache_write_after_fuse_then_schedule_the_cache(rng):
    A = oc.placeholder((6, 10), name="A")
    C = oc.compute((6, 10), lambda i, j: A[i, j] + 1.0, name="C")
    s = oc.create_schedule(C)
    s[C].fuse(*C.op.axis)
    CC = s.cache_write(C, "global")
    assert [value(d) for d in CC.shape] == [60]
    s[CC].vectorize(s[CC].split(CC.op.axis[0], factor=8)[1])
    a, c = rand(rng, 6, 10), np.zeros((6, 10), "float32")
    oc.build(s, [A, C])(a, c)
    np.testing.assert_allclose(c, a.astype(np.float64) + 1, rtol=1e-6)
    replayed_same(s, C, [A, C])


# -- 2. rfactor of a reduction with init= ---------------------------------------------

def test_rfactor_with_init_counts_the_init_once(rng):
    n = 37
    A = oc.placeholder((n, n), name="A")
    B = oc.placeholder((n, n), name="B")
    I = oc.placeholder((n, n), name="I")
    k = oc.reduce_axis((0, n), "k")
    C = oc.compute((n, n), lambda i, j: oc.sum(A[i, k] * B[k, j], axis=k, init=I[i, j]),
                   name="C")
    s = oc.create_schedule(C)
    ko, _ = s[C].split(k, nparts=4)
    CF = s.rfactor(C, ko, 1)
    s[CF].parallel(CF.op.axis[0])
    assert CF.op.bodies[0].init is None                  # the partial sums start from zero
    assert s[C].op.bodies[0].init is not None            # the final reduction from I
    a, b, init = rand(rng, n, n), rand(rng, n, n), rand(rng, n, n)
    c = np.zeros((n, n), "float32")
    oc.build(s, [A, B, I, C])(a, b, init, c)
    want = init.astype(np.float64) + a.astype(np.float64) @ b
    np.testing.assert_allclose(c, want, rtol=1e-4, atol=1e-4)
    replayed_same(s, C, [A, B, I, C])


def test_rfactor_of_max_with_a_constant_init(rng):
    A = oc.placeholder((5, 24), name="A")
    k = oc.reduce_axis((0, 24), "k")
    C = oc.compute((5,), lambda i: oc.max(A[i, k], axis=k, init=0.5), name="C")
    s = oc.create_schedule(C)
    _, ki = s[C].split(k, factor=4)
    s.rfactor(C, ki)
    a, c = rand(rng, 5, 24), np.zeros(5, "float32")
    oc.build(s, [A, C])(a, c)
    np.testing.assert_allclose(c, np.maximum(a.max(1), 0.5))


# -- 3. scans ------------------------------------------------------------------------

def cumsum_scan(m, n):
    X = oc.placeholder((m, n), name="X")
    S = oc.placeholder((m, n), name="S")
    init = oc.compute((1, n), lambda _, i: X[0, i], name="init")
    update = oc.compute((m, n), lambda t, i: S[t - 1, i] + X[t, i], name="update")
    return X, S, oc.scan(init, update, S)


def test_scan_state_in_the_arguments_is_the_scans_output(rng):
    X, S, C = cumsum_scan(7, 5)
    s = oc.create_schedule(C.op)
    func = oc.lower(s, [X, S])
    assert [p.name for p in func.params] == ["X", "S"]
    x, out = rand(rng, 7, 5), np.zeros((7, 5), "float32")
    oc.build(s, [X, S])(x, out)
    np.testing.assert_allclose(out, np.cumsum(x.astype(np.float64), 0), rtol=1e-5, atol=1e-5)


def test_scan_axis_bound_starts_after_the_init():
    m = oc.var("m")
    X, S, C = cumsum_scan(m, 4)
    bounds = oc.infer_bound(oc.create_schedule(C))
    rng_ = bounds[C.op.scan_axis]
    assert value(rng_.min) == 1
    assert str(simplify(rng_.extent - (m - 1))) == "0"


def test_stages_between_states_and_updates_run_in_the_scans_loop(rng):
    m, n = 6, 5
    X = oc.placeholder((m, n), name="X")
    S1, S2 = oc.placeholder((m, n), name="S1"), oc.placeholder((m, n), name="S2")
    i1 = oc.compute((1, n), lambda _, i: X[0, i], name="i1")
    i2 = oc.compute((1, n), lambda _, i: X[0, i], name="i2")
    x1 = oc.compute((m, n), lambda t, i: S1[t - 1, i] + X[t, i], name="x1")
    x2 = oc.compute((m, n), lambda t, i: S2[t - 1, i] + 1.0, name="x2")
    u1 = oc.compute((m, n), lambda t, i: x1[t, i], name="u1")
    u2 = oc.compute((m, n), lambda t, i: x2[t, i] * 2.0, name="u2")
    r1, r2 = oc.scan([i1, i2], [u1, u2], [S1, S2])
    s = oc.create_schedule(r1.op)
    s[x1].compute_inline()
    bounds = oc.infer_bound(s)
    assert value(bounds[x2.op.axis[0]].extent) == 1          # one step per iteration
    assert value(bounds[x2.op.axis[1]].extent) == n
    x, a, b = rand(rng, m, n), np.zeros((m, n), "float32"), np.zeros((m, n), "float32")
    oc.build(s, [X, r1, r2])(x, a, b)
    want = x.astype(np.float64)
    for t in range(1, m):
        want[t] = (want[t - 1] + 1) * 2
    np.testing.assert_allclose(a, np.cumsum(x.astype(np.float64), 0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b, want, rtol=1e-5, atol=1e-5)


# -- 4. fuse of a data axis with a reduction axis ---------------------------------------

def test_fuse_data_with_reduction_axis_is_a_reduction_loop(rng):
    X = oc.placeholder((10, 7), name="X")
    k = oc.reduce_axis((0, 7), "k")
    Y = oc.compute((10,), lambda i: oc.sum(X[i, k], axis=k), name="Y")
    s = oc.create_schedule(Y)
    fused = s[Y].fuse(Y.op.axis[0], k)
    assert fused.kind == "reduce"
    s[Y].split(fused, factor=8)             # 70 = 8 * 8 + 6: a tail
    x, y = rand(rng, 10, 7), np.zeros(10, "float32")
    oc.build(s, [Y, X])(y, x)
    np.testing.assert_allclose(y, x.astype(np.float64).sum(1), rtol=1e-5, atol=1e-5)
    replayed_same(s, Y, [Y, X])


def test_fuse_of_a_scalar_reduction_then_split():
    X = oc.placeholder((10,), dtype="int32", name="X")
    k = oc.reduce_axis((0, 10))
    Y = oc.compute((), lambda: oc.sum(X[k], k), name="Y")
    s = oc.create_schedule(Y)
    s[Y].split(s[Y].fuse(), nparts=20)
    x = np.random.default_rng().integers(-50, 50, size=10).astype("int32")
    y = np.zeros((), "int32")
    oc.build(s, [Y, X])(y, x)
    assert int(y) == int(x.sum())


# -- 5. nested groups ---------------------------------------------------------------

def nest_chain(m, n):
    x = oc.compute((m, n), lambda i, j: E.cast(i + j, "float32"), name="x")
    x1 = oc.compute(x.shape, lambda *i: x(*i) + 1.0, name="x1")
    x2 = oc.compute(x.shape, lambda *i: x1(*i) + 2.0, name="x2")
    return x, x1, x2


def test_group_inside_a_group_keeps_its_own_placement():
    m, n = 6, 9
    x, x1, x2 = nest_chain(m, n)
    s = oc.create_schedule(x2)
    g1 = s.create_group(outputs=x, inputs=x, include_inputs=True)
    g2 = s.create_group(outputs=x1, inputs=x, include_inputs=True)
    assert s[x].group is g1 and s[x1].group is g2 and g1.group is g2 and g2.group is None
    g2.compute_at(s[x2], x2.op.axis[0])
    g1.compute_at(s[x1], s[x1].op.axis[1])
    assert s[x1].attach_stage is s[x2] and s[x].attach_stage is s[x1]
    bounds = oc.infer_bound(s)
    assert [value(bounds[iv].extent) for iv in x.op.axis] == [1, 1]
    assert [value(bounds[iv].extent) for iv in x1.op.axis] == [1, n]
    out = np.zeros((m, n), "float32")
    oc.build(s, [x2])(out)
    i, j = np.meshgrid(np.arange(m), np.arange(n), indexing="ij")
    np.testing.assert_allclose(out, i + j + 3.0)
    replayed_same(s, x2, [x2])


def test_outer_group_moves_only_its_own_roots():
    x, x1, x2 = nest_chain(4, 5)
    s = oc.create_schedule(x2)
    g1 = s.create_group(outputs=x, inputs=x, include_inputs=True)
    g1.compute_at(s[x1], x1.op.axis[1])          # the inner group placed first
    g2 = s.create_group(outputs=x1, inputs=x, include_inputs=True)
    g2.compute_at(s[x2], x2.op.axis[0])
    assert s[x].attach_stage is s[x1] and s[x1].attach_stage is s[x2]


# -- 6./7. warp scope and thread-bound loops in bound inference ------------------------

def warp_schedule(m, l):
    A = oc.placeholder((m, l), name="A")
    A1 = oc.compute((m, l), lambda i, j: A[i, j] * 2.0, name="A1")
    # each lane also reads the mirrored lane of its 16: the warp shares the buffer
    A2 = oc.compute((m, l), lambda i, j: A1[i, j] + A1[i // 16 * 16 + 15 - i % 16, j],
                    name="A2")
    s = oc.create_schedule(A2)
    s[A1].set_scope("warp")
    xo, xi = s[A2].split(A2.op.axis[0], 32)
    xi0, xi1 = s[A2].split(xi, factor=16)
    tx = oc.thread_axis("threadIdx.x")
    s[A2].bind(xi1, tx)
    s[A2].bind(xi0, oc.thread_axis("threadIdx.y"))
    s[A2].bind(xo, oc.thread_axis("blockIdx.x"))
    s[A1].compute_at(s[A2], A2.op.axis[1])
    s[A1].bind(s[A1].split(A1.op.axis[0], factor=16)[1], tx)
    return s, A, A1, A2


def test_warp_scope_relaxes_over_threadidx_x_only():
    s, A, A1, A2 = warp_schedule(oc.var("m"), oc.var("l"))
    bounds = oc.infer_bound(s)
    assert value(bounds[A1.op.axis[0]].extent) == 16
    assert value(bounds[A1.op.axis[1]].extent) == 1


def test_warp_scope_on_the_cpu_is_local(rng):
    A = oc.placeholder((20, 6), name="A")
    B = oc.compute((20, 6), lambda i, j: A[i, j] * 2.0, name="B")
    C = oc.compute((20, 6), lambda i, j: B[i, j] + 1.0, name="C")
    s = oc.create_schedule(C)
    s[B].set_scope("warp")
    s[B].compute_at(s[C], C.op.axis[0])
    assert "alloc local float32[6]" in str(oc.lower(s, [A, C]))
    a, c = rand(rng, 20, 6), np.zeros((20, 6), "float32")
    oc.build(s, [A, C])(a, c)
    np.testing.assert_allclose(c, a.astype(np.float64) * 2 + 1, rtol=1e-6)


def nest_thread(m):
    A = oc.placeholder((m,), name="A")
    A1 = oc.compute((m,), lambda i: A[i] * 2.0, name="A1")
    A2 = oc.compute((m,), lambda i: A1[i] + 2.0, name="A2")
    A3 = oc.compute((m,), lambda i: A2[i] + 3.0, name="A3")
    s = oc.create_schedule(A3)
    s[A2].set_scope("shared")
    s[A1].set_scope("local")
    thread_x = oc.thread_axis("threadIdx.x")
    bx, tx = s[A3].split(A3.op.axis[0], factor=32)
    s[A3].bind(bx, oc.thread_axis("blockIdx.x"))
    s[A3].bind(tx, thread_x)
    s[A2].compute_at(s[A3], tx)
    s[A2].bind(s[A2].split(A2.op.axis[0], nparts=1)[1], thread_x)
    s[A1].compute_at(s[A3], tx)
    return s, A, A1, A2, A3


def test_local_stage_under_a_thread_bound_loop_is_one_threads_part():
    m = oc.var("m")
    s, A, A1, A2, A3 = nest_thread(m)
    bounds = oc.infer_bound(s)
    assert value(bounds[A1.op.axis[0]].extent) == 1        # local: one thread's element
    assert value(bounds[A2.op.axis[0]].extent) == 32       # shared: the block's 32
    assert bounds[A3.op.axis[0]].extent is m


# -- 8. split by a free var: a scalar argument -------------------------------------------

def free_factor_split():
    m, l, sp = 9, 7, oc.var("s")
    A = oc.placeholder((m, l), name="A")
    A1 = oc.compute((m, l), lambda i, j: A[i, j] * 2.0, name="A1")
    A2 = oc.compute((m, l), lambda i, j: A1[i, j] + 3.0, name="A2")
    s = oc.create_schedule(A2)
    xo, _ = s[A2].split(s[A2].fuse(*A2.op.axis), sp)
    s[A1].compute_at(s[A2], xo)
    return s, sp, A, A1, A2, xo


def test_split_by_a_free_var_is_a_scalar_argument(rng):
    s, sp, A, A1, A2, xo = free_factor_split()
    bound = oc.infer_bound(s)[A1.op.axis[0]]
    for k in range(1, 5):                 # rows of A1 the outer iteration k reads, by hand
        for f in range(1, 6):
            sub = {sp: E.const(f), xo.var: E.const(k)}
            lo, hi = k * f // 7, ((k + 1) * f - 1) // 7
            assert value(substitute(bound.min, sub)) == lo
            assert value(substitute(bound.extent, sub)) == hi - lo + 1
    mod = oc.build(s, [A, A2, sp])
    a = rand(rng, 9, 7)
    for f in (1, 4, 5, 63, 100):
        out = np.zeros_like(a)
        mod(a, out, f)
        np.testing.assert_allclose(out, a.astype(np.float64) * 2 + 3, rtol=1e-6)
    with pytest.raises(RuntimeError, match="factor s must be positive"):
        mod(a, np.zeros_like(a), 0)


def test_free_factor_var_replays_and_binds_by_name(rng):
    s, sp, A, A1, A2, _ = free_factor_split()
    s2 = oc.create_schedule(A2)
    oc.Trace.from_json(s.trace.to_json()).apply(s2)
    mod = oc.build(s2, [A, A2, sp])
    a, out = rand(rng, 9, 7), np.zeros((9, 7), "float32")
    mod(a, out, 3)
    np.testing.assert_allclose(out, a.astype(np.float64) * 2 + 3, rtol=1e-6)


def test_bound_of_a_fused_and_split_stage_over_symbolic_sizes():
    """TVM's bound over a split of fused symbolic axes: rows [xo*s // l, ((xo+1)*s - 1) // l]."""
    m, l, sp = oc.var("m"), oc.var("l"), oc.var("s")
    A = oc.placeholder((m, l), name="A")
    A1 = oc.compute((m, l), lambda i, j: A[i, j], name="A1")
    A2 = oc.compute((m, l), lambda i, j: A1[i, j] + 3.0, name="A2")
    s = oc.create_schedule(A2)
    xo, _ = s[A2].split(s[A2].fuse(*A2.op.axis), sp)
    s[A1].compute_at(s[A2], xo)
    bounds = oc.infer_bound(s)
    row, col = bounds[A1.op.axis[0]], bounds[A1.op.axis[1]]
    assert str(simplify(row.min - oc.indexdiv(xo.var * sp, l))) == "0"
    assert col.extent is l
    for f, cols, k in [(1, 1, 1), (3, 4, 2), (5, 2, 4), (4, 5, 3)]:
        sub = {sp: E.const(f), l: E.const(cols), xo.var: E.const(k)}
        lo, hi = k * f // cols, ((k + 1) * f - 1) // cols
        assert value(substitute(row.extent, sub)) == hi - lo + 1
    assert value(oc.indexmod(E.const(-7), E.const(3))) == 2     # floor semantics, as TVM's


def test_lower_without_a_target_takes_cuda_for_a_thread_bound_schedule():
    s, A, A1, A2, A3 = nest_thread(64)
    assert oc.lower(s, [A, A3]).attr("target").startswith("cuda")
    plain = oc.create_schedule(A3)
    assert oc.lower(plain, [A, A3]).attr("target").startswith("llvm")
