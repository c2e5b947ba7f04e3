"""TVM's te schedule primitives beyond the core ones: set_scope, pragma,
storage_align, double_buffer, create_group, symbolic split factors, split/fuse
of an attach point, fuse(), vthread, vectorize of long axes, clipped split
factors.  Each is checked against NumPy (float64 reference, float32 tolerance,
fresh random inputs), its loops against hand-computed extents where it changes
bounds, and its trace against a JSON round trip and replay."""
from __future__ import annotations

import numpy as np
import pytest

import opcomp as oc
from opcomp.ir import tir as T
from opcomp.ir.visit import walk

AVX2 = "llvm -vector-bits=256"


def rand(rng, *shape):
    return (rng.standard_normal(shape) + 0.5).astype("float32")


def chain(n=64, m=None):
    """A -> B = 2A -> C = B + 1 (C the output)."""
    m = n if m is None else m
    A = oc.placeholder((n, m), name="A")
    B = oc.compute((n, m), lambda i, j: A[i, j] * 2.0, name="B")
    C = oc.compute((n, m), lambda i, j: B[i, j] + 1.0, name="C")
    return A, B, C


def run(s, args, inputs, out_shape, target="llvm"):
    f = oc.build(s, args, target=target)
    out = np.full(out_shape, np.nan, "float32")
    f(*inputs, out)
    return out


def close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


def replayed(s, outputs):
    """A fresh schedule of the same computation with s's trace, via JSON."""
    s2 = oc.create_schedule(outputs)
    oc.Trace.from_json(s.trace.to_json()).apply(s2)
    return s2


def same_lowering(s, s2, args, target=None):
    assert str(oc.lower(s, args, target=target)) == str(oc.lower(s2, args, target=target))


def nodes(func, kind):
    out = []
    walk(func.body, lambda n: out.append(n) if isinstance(n, kind) else None)
    return out


def allocation(func, name):
    return next(a.buffer for a in nodes(func, T.Allocate) if a.buffer.name == name)


def loop(func, name):
    return next(f for f in nodes(func, T.For) if f.var.name == name)


def extent(bounds, iv):
    return bounds[iv].extent.value


# -- set_scope ----------------------------------------------------------------------------

def test_set_scope_local_on_cpu(rng):
    A, B, C = chain()
    s = oc.create_schedule(C)
    xo, xi = s[C].split(C.op.axis[0], factor=8)
    s[B].compute_at(s[C], xo)
    s[B].set_scope("local")
    func = oc.lower(s, [A, C])
    assert allocation(func, "B").scope == "local"
    a = rand(rng, 64, 64)
    close(run(s, [A, C], [a], (64, 64)), a.astype(np.float64) * 2 + 1)
    same_lowering(s, replayed(s, C), [A, C])


# -- pragma --------------------------------------------------------------------------------

def test_pragma_unroll_explicit_unrolls_the_loop(rng):
    A, B, C = chain(16, 4)
    s = oc.create_schedule(C)
    s[C].pragma(C.op.axis[1], "unroll_explicit", True)
    func = oc.lower(s, [A, C])
    kinds = {f.var.name: f.kind for f in nodes(func, T.For)}
    assert kinds["j"] == "unrolled" and kinds["i"] == "serial"
    a = rand(rng, 16, 4)
    close(run(s, [A, C], [a], (16, 4)), a.astype(np.float64) * 2 + 1)
    same_lowering(s, replayed(s, C), [A, C])


def test_pragma_unroll_explicit_false_leaves_the_loop():
    A, B, C = chain(16, 4)
    s = oc.create_schedule(C)
    s[C].pragma(C.op.axis[0], "unroll_explicit", False)
    s[C].pragma(C.op.axis[0], "auto_unroll_max_step", 1000)
    assert all(f.kind == "serial" for f in nodes(oc.lower(s, [A, C]), T.For))


def test_pragma_auto_unroll_max_step_unrolls_small_inner_nests(rng):
    A, B, C = chain(8, 8)
    s = oc.create_schedule(C)
    s[B].compute_inline()
    xo, xi = s[C].split(C.op.axis[0], factor=2)
    s[C].pragma(xo, "auto_unroll_max_step", 16)
    func = oc.lower(s, [A, C])
    kinds = {f.var.name: f.kind for f in nodes(func, T.For)}
    # xi (2) * j (8) = 16 <= 16: unrolled; xo * 16 = 64 > 16: a loop
    assert kinds == {"i.outer": "serial", "i.inner": "unrolled", "j": "unrolled"}
    a = rand(rng, 8, 8)
    close(run(s, [A, C], [a], (8, 8)), a.astype(np.float64) * 2 + 1)
    same_lowering(s, replayed(s, C), [A, C])


def test_unknown_pragma_is_kept_and_ignored(rng):
    A, B, C = chain(8, 8)
    s = oc.create_schedule(C)
    plain = str(oc.lower(s, [A, C]))
    s[C].pragma(C.op.axis[0], "parallel_launch_point", "x")
    assert s[C].pragmas[C.op.axis[0]] == {"parallel_launch_point": "x"}
    assert str(oc.lower(s, [A, C])) == plain
    rec = s.trace.records[-1]
    assert rec["primitive"] == "pragma" and rec["args"]["value"] == "x"
    assert replayed(s, C)[C].pragmas


def test_pragmas_reach_the_llvm_backend_as_loop_metadata(rng):
    from codegen.llvm_emit import emit_module
    A = oc.placeholder((64,), name="A")
    B = oc.compute((64,), lambda i: A[i] * 2.0, name="B")
    s = oc.create_schedule(B)
    xo, xi = s[B].split(B.op.axis[0], factor=16)
    s[B].pragma(xi, "llvm.loop.unroll.count", 4)
    s[B].pragma(xo, "unroll_explicit", False)
    s[B].pragma(xo, "not_for_llvm", 3)
    func = oc.lower(s, [A, B])
    assert loop(func, "i.inner").annotations == (("llvm.loop.unroll.count", 4),)
    text = str(emit_module(func))
    assert '!{ !"llvm.loop.unroll.count", i32 4 }' in text
    assert '!{ !"llvm.loop.unroll.enable" }' in text and "not_for_llvm" not in text
    assert text.count("!llvm.loop !") == 2
    a = rand(rng, 64)
    close(run(s, [A, B], [a], (64,)), a.astype(np.float64) * 2)


# -- storage_align ------------------------------------------------------------------------

def test_storage_align_pads_the_row_stride(rng):
    A, B, C = chain(64, 64)
    s = oc.create_schedule(C)
    xo, xi = s[C].split(C.op.axis[0], factor=8)
    s[B].compute_at(s[C], xo)
    s[B].storage_align(B.op.axis[0], 32, 1)
    func = oc.lower(s, [A, C])
    # 8 rows of 64, row stride 64 rounded up to 32*k + 1 = 65: 8 * 65 elements
    assert allocation(func, "B").shape[0].value == 8 * 65
    assert "B[i * 65 + j]" in str(func)
    a = rand(rng, 64, 64)
    close(run(s, [A, C], [a], (64, 64)), a.astype(np.float64) * 2 + 1)
    same_lowering(s, replayed(s, C), [A, C])


def test_storage_align_of_an_outer_dimension():
    A = oc.placeholder((4, 6, 10), name="A")
    B = oc.compute((4, 6, 10), lambda i, j, k: A[i, j, k] + 1.0, name="B")
    C = oc.compute((4, 6, 10), lambda i, j, k: B[i, j, k] * 3.0, name="C")
    s = oc.create_schedule(C)
    s[B].storage_align(B.op.axis[1], 16, 0)      # j's stride 10 -> 16; i's 6*16 = 96
    s[B].storage_align(B.op.axis[0], 64, 8)      # i's stride 96 -> 136 (= 2*64 + 8)
    func = oc.lower(s, [A, C])
    assert allocation(func, "B").shape[0].value == 4 * 136
    assert "i * 136 + j * 16 + k" in str(func)
    a = np.random.default_rng().standard_normal((4, 6, 10)).astype("float32")
    close(run(s, [A, C], [a], (4, 6, 10)), (a.astype(np.float64) + 1) * 3)


# -- double_buffer ------------------------------------------------------------------------

def test_double_buffer_alternates_two_copies(rng):
    A, B, C = chain(64, 16)
    s = oc.create_schedule(C)
    xo, xi = s[C].split(C.op.axis[0], factor=4)
    s[B].compute_at(s[C], xo)
    s[B].double_buffer()
    func = oc.lower(s, [A, C])
    assert allocation(func, "B").shape[0].value == 2 * 4 * 16
    text = str(func)
    # consumers read this iteration's copy; the producer fills the next one's
    assert "i.outer % 2 * 64]" in text and "(i.outer + 1) % 2 * 64]" in text
    assert isinstance(func.body, T.Allocate)      # one allocation, outside the loop
    a = rand(rng, 64, 16)
    close(run(s, [A, C], [a], (64, 16)), a.astype(np.float64) * 2 + 1)
    same_lowering(s, replayed(s, C), [A, C])


def test_double_buffer_copies_only_alternate_when_prefetch_cannot_run(rng):
    A = oc.placeholder((32, 8), name="A")
    P = oc.compute((32, 8), lambda i, j: A[i, j] - 1.0, name="P")
    B = oc.compute((32, 8), lambda i, j: P[i, j] * 2.0, name="B")
    C = oc.compute((32, 8), lambda i, j: B[i, j] + 1.0, name="C")
    s = oc.create_schedule(C)
    xo, xi = s[C].split(C.op.axis[0], factor=4)
    s[P].compute_at(s[C], xo)
    s[B].compute_at(s[C], xo)
    s[B].double_buffer()            # B reads P, computed at the same loop: no prefetch
    text = str(oc.lower(s, [A, C]))
    assert "(i.outer + 1) % 2" not in text and "i.outer % 2 * 32]" in text
    a = rand(rng, 32, 8)
    close(run(s, [A, C], [a], (32, 8)), (a.astype(np.float64) - 1) * 2 + 1)


def test_double_buffer_of_a_tile_whose_size_depends_on_the_loop(rng):
    # B.global's region shrinks with j.inner.inner (fuzz seed 101 case 189): it cannot
    # be allocated once outside that loop, so its copies only alternate
    A = oc.placeholder((5, 7), name="A")
    B = oc.placeholder((16, 7), name="B")
    k = oc.reduce_axis(7, "k")
    C = oc.compute((5, 16), lambda i, j: oc.sum(A[i, k] * B[j, k], axis=k), name="C")
    s = oc.create_schedule(C)
    jo, ji = s[C].split(C.op.axis[1], factor=16)
    f = s[C].fuse(C.op.axis[0], jo)
    jio, jii = s[C].split(ji, factor=5)
    s[C].reorder(f, jii, jio, k)
    BG = s.cache_read(B, "global", [C])
    s[BG].compute_at(s[C], jii)
    s[BG].double_buffer()
    a, b = rand(rng, 5, 7), rand(rng, 16, 7)
    close(run(s, [A, B, C], [a, b], (5, 16)), a.astype(np.float64) @ b.T)


def test_double_buffer_at_root_keeps_one_copy():
    A, B, C = chain(8, 8)
    s = oc.create_schedule(C)
    s[B].double_buffer()
    assert allocation(oc.lower(s, [A, C]), "B").shape[0].value == 64


# -- create_group ---------------------------------------------------------------------------

def group_chain(n=16):
    x = oc.placeholder((n, n), name="x")
    x1 = oc.compute((n, n), lambda i, j: x[i, j] + 1.0, name="x1")
    x2 = oc.compute((n, n), lambda i, j: x1[i, j] * 2.0, name="x2")
    y = oc.compute((n, n), lambda i, j: x2[i, j] + x[i, j], name="y")
    return x, x1, x2, y


def test_create_group_membership_as_tvm():
    x, x1, x2, y = group_chain()
    s = oc.create_schedule(y)
    g = s.create_group(outputs=x2, inputs=x)
    assert s[x1].group is g and s[x2].group is g and s[x].group is None and s[y].group is None
    s2 = oc.create_schedule(y)
    g2 = s2.create_group(outputs=x2, inputs=x1, include_inputs=True)
    assert {m.name for m in g2.members} == {"x1", "x2"}
    s3 = oc.create_schedule(y)
    assert {m.name for m in s3.create_group(outputs=x2, inputs=x1).members} == {"x2"}


def test_group_compute_at_places_its_roots(rng):
    x, x1, x2, y = group_chain()
    s = oc.create_schedule(y)
    g = s.create_group(outputs=x2, inputs=x)
    yo, yi = s[y].split(y.op.axis[0], factor=4)
    g.compute_at(s[y], yo)
    assert (g.attach_stage, g.attach_ivar) == (s[y], yo)
    yoo, yoi = s[y].split(yo, nparts=2)          # the group's loop moves to the inner one
    assert g.attach_ivar is yoi and s[x1].attach_ivar is yoi
    for m in (x1, x2):
        assert (s[m].attach_stage, s[m].attach_ivar) == (s[y], yoi)
    bounds = oc.infer_bound(s)
    assert [extent(bounds, iv) for iv in x1.op.axis] == [4, 16]
    assert [extent(bounds, iv) for iv in x2.op.axis] == [4, 16]
    a = rand(rng, 16, 16)
    close(run(s, [x, y], [a], (16, 16)), (a.astype(np.float64) + 1) * 2 + a)
    s2 = replayed(s, y)
    assert s2[x1].group is s2.groups[0]
    same_lowering(s, s2, [x, y])


def test_group_keeps_its_inner_attachment(rng):
    x, x1, x2, y = group_chain()
    s = oc.create_schedule(y)
    g = s.create_group(outputs=x2, inputs=x)
    s[x1].compute_at(s[x2], x2.op.axis[0])
    g.compute_at(s[y], y.op.axis[0])
    assert s[x1].attach_stage is s[x2] and s[x2].attach_stage is s[y]
    bounds = oc.infer_bound(s)
    assert [extent(bounds, iv) for iv in x1.op.axis] == [1, 16]
    a = rand(rng, 16, 16)
    close(run(s, [x, y], [a], (16, 16)), (a.astype(np.float64) + 1) * 2 + a)


# -- split by a symbolic factor -------------------------------------------------------------

@pytest.mark.parametrize("how", ["factor", "nparts"])
def test_split_by_a_size_var_expression(rng, how):
    n = oc.var("n")
    A = oc.placeholder((n,), name="A")
    B = oc.compute((n,), lambda i: A[i] * 3.0, name="B")
    s = oc.create_schedule(B)
    s[B].split(B.op.axis[0], **{how: n // 4 + 1})
    f = oc.build(s, [A, B])
    for size in (1, 3, 17, 100):
        a = rand(rng, size)
        out = np.full(size, np.nan, "float32")
        f(a, out)
        close(out, a.astype(np.float64) * 3)
    same_lowering(s, replayed(s, B), [A, B])


def test_split_by_a_size_var_with_an_attached_producer(rng):
    n = oc.var("n")
    A = oc.placeholder((n, 8), name="A")
    B = oc.compute((n, 8), lambda i, j: A[i, j] * 2.0, name="B")
    C = oc.compute((n, 8), lambda i, j: B[i, j] + 1.0, name="C")
    s = oc.create_schedule(C)
    xo, xi = s[C].split(C.op.axis[1], factor=n % 3 + 2)
    s[B].compute_at(s[C], xo)
    f = oc.build(s, [A, C])
    for size in (1, 2, 5):
        a = rand(rng, size, 8)
        out = np.full((size, 8), np.nan, "float32")
        f(a, out)
        close(out, a.astype(np.float64) * 2 + 1)


# -- split / fuse of an attach point, fuse() ---------------------------------------------------

def test_split_of_an_attach_point_moves_it_to_the_inner_loop(rng):
    A, B, C = chain(32, 32)
    s = oc.create_schedule(C)
    s[B].compute_at(s[C], C.op.axis[0])
    xo, xi = s[C].split(C.op.axis[0], factor=8)
    assert s[B].attach_ivar is xi
    bounds = oc.infer_bound(s)
    assert [extent(bounds, iv) for iv in B.op.axis] == [1, 32]
    a = rand(rng, 32, 32)
    close(run(s, [A, C], [a], (32, 32)), a.astype(np.float64) * 2 + 1)
    s2 = replayed(s, C)
    assert s2[B].attach_ivar.name == "i.inner"
    same_lowering(s, s2, [A, C])


def test_fuse_of_an_attach_point_moves_it_to_the_fused_loop(rng):
    A, B, C = chain(8, 16)
    s = oc.create_schedule(C)
    s[B].compute_at(s[C], C.op.axis[1])
    fused = s[C].fuse(*C.op.axis)
    assert s[B].attach_ivar is fused
    bounds = oc.infer_bound(s)
    assert [extent(bounds, iv) for iv in B.op.axis] == [1, 1]
    a = rand(rng, 8, 16)
    close(run(s, [A, C], [a], (8, 16)), a.astype(np.float64) * 2 + 1)
    same_lowering(s, replayed(s, C), [A, C])


def test_fuse_of_no_axes_is_a_unit_loop_at_the_outside(rng):
    A, B, C = chain(8, 8)
    s = oc.create_schedule(C)
    unit = s[C].fuse()
    assert s[C].leaf_iter_vars[0] is unit and unit.extent.value == 1
    s[B].compute_at(s[C], unit)
    bounds = oc.infer_bound(s)
    assert extent(bounds, unit) == 1
    assert [extent(bounds, iv) for iv in B.op.axis] == [8, 8]
    a = rand(rng, 8, 8)
    close(run(s, [A, C], [a], (8, 8)), a.astype(np.float64) * 2 + 1)
    same_lowering(s, replayed(s, C), [A, C])


# -- vthread ---------------------------------------------------------------------------------

def test_vthread_on_the_cpu(rng):
    A, B, C = chain(16, 16)
    s = oc.create_schedule(C)
    vx, xi = s[C].split(C.op.axis[1], nparts=2)
    vy, yi = s[C].split(C.op.axis[0], nparts=2)
    s[C].reorder(vy, vx, yi, xi)
    s[C].bind(vy, oc.thread_axis("vthread", name="vy"))
    s[C].bind(vx, oc.thread_axis("vthread", name="vx"))
    s[B].compute_at(s[C], vx)
    func = oc.lower(s, [A, C])
    assert loop(func, "i.outer").kind == "unrolled"
    assert allocation(func, "B").shape[0].value == 8 * 8
    a = rand(rng, 16, 16)
    close(run(s, [A, C], [a], (16, 16)), a.astype(np.float64) * 2 + 1)
    same_lowering(s, replayed(s, C), [A, C])


# -- vectorize of a long axis ------------------------------------------------------------------

@pytest.mark.parametrize("target, lanes", [(AVX2, 8), ("llvm -vector-bits=512", 16)])
def test_vectorize_long_axis_is_full_vectors_and_a_tail(rng, target, lanes):
    A = oc.placeholder((100,), name="A")
    B = oc.compute((100,), lambda i: A[i] * 2.0, name="B")
    s = oc.create_schedule(B)
    s[B].vectorize(B.op.axis[0])
    text = str(oc.lower(s, [A, B], target=target))
    assert f"range({100 // lanes})" in text and f"ramp(i.v * {lanes}, 1, {lanes})" in text
    assert f"ramp({100 // lanes * lanes}, 1, {100 % lanes})" in text
    a = rand(rng, 100)
    close(run(s, [A, B], [a], (100,), target=target), a.astype(np.float64) * 2)


def test_vectorize_width_follows_the_widest_element(rng):
    A = oc.placeholder((70,), "float64", name="A")
    B = oc.compute((70,), lambda i: A[i] + 1.0, name="B")
    s = oc.create_schedule(B)
    s[B].vectorize(B.op.axis[0])
    text = str(oc.lower(s, [A, B], target=AVX2))
    assert "ramp(i.v * 4, 1, 4)" in text and "ramp(68, 1, 2)" in text


def test_vectorize_symbolic_extent_has_a_scalar_tail(rng):
    n = oc.var("n")
    A = oc.placeholder((n,), name="A")
    B = oc.compute((n,), lambda i: A[i] - 0.5, name="B")
    s = oc.create_schedule(B)
    s[B].vectorize(B.op.axis[0])
    assert "ramp(" in str(oc.lower(s, [A, B], target=AVX2))
    f = oc.build(s, [A, B], target=AVX2)
    for size in (0, 1, 7, 8, 29):
        a = rand(rng, size)
        out = np.full(size, np.nan, "float32")
        f(a, out)
        close(out, a.astype(np.float64) - 0.5)


def test_vectorize_short_axis_is_one_vector():
    A, B, C = chain(4, 16)
    s = oc.create_schedule(C)
    s[C].vectorize(C.op.axis[1])
    text = str(oc.lower(s, [A, C], target=AVX2))
    assert "C[ramp(" in text and "x16(1.0f)" in text and ".v" not in text


# -- split factors past the extent are clipped ---------------------------------------------------

def test_split_factor_past_the_extent_is_clipped(rng):
    A, B, C = chain(8, 8)
    s = oc.create_schedule(C)
    xo, xi = s[C].split(C.op.axis[1], factor=32)
    s[B].compute_at(s[C], xo)
    bounds = oc.infer_bound(s)
    assert extent(bounds, xi) == 8 and extent(bounds, xo) == 1
    assert [extent(bounds, iv) for iv in B.op.axis] == [1, 8]
    assert allocation(oc.lower(s, [A, C]), "B").shape[0].value == 8
    a = rand(rng, 8, 8)
    close(run(s, [A, C], [a], (8, 8)), a.astype(np.float64) * 2 + 1)


def test_split_nparts_past_the_extent_is_clipped(rng):
    A, B, C = chain(8, 8)
    s = oc.create_schedule(C)
    xo, xi = s[C].split(C.op.axis[1], nparts=32)
    bounds = oc.infer_bound(s)
    assert extent(bounds, xo) == 8 and extent(bounds, xi) == 1
    func = oc.lower(s, [A, C])
    assert not nodes(func, T.IfThenElse)
    a = rand(rng, 8, 8)
    close(run(s, [A, C], [a], (8, 8)), a.astype(np.float64) * 2 + 1)


def test_a_symbolic_factor_of_zero_stops_the_kernel_before_it_writes():
    n = oc.size_var("n")
    A = oc.placeholder((n,), name="A")
    B = oc.compute((n,), lambda i: A[i] + 1.0, name="B")
    s = oc.create_schedule(B.op)
    s[B].split(B.op.axis[0], factor=n // 4)
    mod = oc.build(s, [A, B])
    a = np.random.default_rng(5).random(2).astype("float32")
    b = np.full(2, 7.0, np.float32)
    with pytest.raises(RuntimeError, match="split of stage B: factor n // 4 must be positive"):
        mod(a, b)
    np.testing.assert_array_equal(b, 7.0)
