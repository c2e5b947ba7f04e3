"""Features TVM's own te tests need (issue 9): the elementwise form of reducers,
simplified reduce_axis extents, TVM's IterVar type codes and iter_var_attrs,
pragma("vectorize"/...) as the primitive, tag_scope and compute(attrs=).
Numbers are checked against NumPy, extents against hand-computed ones."""
from __future__ import annotations

import json

import numpy as np
import pytest

import opcomp as oc
from opcomp.ir import expr as E

RNG = np.random.default_rng(19)


def _rand(shape, dtype="float32"):
    return (RNG.standard_normal(shape) + 0.25).astype(dtype)


def _run(s, args, arrays, out_shape):
    out = np.zeros(out_shape, np.float32)
    oc.build(s, args)(*arrays, out)
    return out


# -- oc.min/max/sum/prod(a, b) and reducer(a, b): elementwise combine ---------------

def test_two_argument_min_max_are_elementwise():
    A = oc.placeholder((37,), name="A")
    B = oc.placeholder((37,), name="B")
    C = oc.compute((37,), lambda i: oc.min(A[i], B[i]) + oc.max(A[i], B[i] * 2), name="C")
    a, b = _rand(37), _rand(37)
    c = _run(oc.create_schedule(C), [A, B, C], [a, b], (37,))
    ref = np.minimum(a, b).astype(np.float64) + np.maximum(a, 2.0 * b)
    np.testing.assert_allclose(c, ref, rtol=1e-6, atol=1e-6)


def test_two_argument_sum_prod_and_more_values_fold_left():
    A = oc.placeholder((9,), name="A")
    C = oc.compute((9,), lambda i: oc.sum(A[i], 1.5) * oc.prod(A[i], A[i], 2.0)
                   - oc.max(A[i], 0.0, -1.0, 0.5), name="C")
    a = _rand(9)
    c = _run(oc.create_schedule(C), [A, C], [a], (9,))
    a64 = a.astype(np.float64)
    ref = (a64 + 1.5) * (a64 * a64 * 2.0) - np.maximum(a64, 0.5)
    np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-6)


def test_index_with_two_argument_min_infers_bounds():
    # TVM test_bound_simplification_failure: A[min(3i, 4i) + min(-3i, -2i)] reads A[0]
    A = oc.compute((2,), lambda j: j, name="A")
    B = oc.compute((10,), lambda i: A[oc.min(3 * i, 4 * i) + oc.min(-3 * i, -2 * i)], name="B")
    s = oc.create_schedule(B.op)
    assert oc.infer_bound(s)[A.op.axis[0]].extent.value <= 2


def test_comm_reducer_on_two_expressions_combines_them():
    mysum = oc.comm_reducer(lambda x, y: x + y, lambda t: oc.const(0, dtype=t))
    hypot2 = oc.comm_reducer(lambda x, y: x * x + y * y, lambda t: oc.const(0, dtype=t))
    A = oc.placeholder((11,), name="A")
    B = oc.placeholder((11,), name="B")
    C = oc.compute((11,), lambda i: mysum(A[i], B[i]) + hypot2(A[i], B[i]), name="C")
    a, b = _rand(11), _rand(11)
    c = _run(oc.create_schedule(C), [A, B, C], [a, b], (11,))
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    np.testing.assert_allclose(c, a64 + b64 + a64 * a64 + b64 * b64, rtol=1e-5, atol=1e-6)


def test_comm_reducer_on_two_size_vars_is_an_expression():
    m, n = oc.size_var("m"), oc.size_var("n")
    mysum = oc.comm_reducer(lambda x, y: x + y, lambda t: oc.const(0, dtype=t))
    res = mysum(m, n)
    assert isinstance(res, E.Expr) and not isinstance(res, E.Reduce)
    assert str(res) == "m + n"


def test_reducers_with_axes_still_reduce():
    A = oc.placeholder((5, 7), name="A")
    k = oc.reduce_axis((0, 7), "k")
    C = oc.compute((5,), lambda i: oc.max(A[i, k], axis=[k]), name="C")
    assert isinstance(C.op.bodies[0], E.Reduce)
    a = _rand((5, 7))
    np.testing.assert_allclose(_run(oc.create_schedule(C), [A, C], [a], (5,)), a.max(axis=1))


# -- reduce_axis((lo, hi)) extents ---------------------------------------------------

def test_reduce_axis_extent_is_simplified():
    n, m = oc.size_var("n"), oc.var("m")
    assert oc.reduce_axis((0, n)).extent is n
    assert str(oc.reduce_axis((1, n)).extent) == "n - 1"
    assert oc.reduce_axis((m, n + m)).extent is n
    assert oc.reduce_axis((2, 9)).extent.value == 7


def test_rfactor_shape_uses_plain_size_var():
    n = oc.size_var("n")
    k1, k2 = oc.reduce_axis((0, n), name="k1"), oc.reduce_axis((0, n), name="k2")
    A = oc.placeholder((n, n, n), name="A")
    B = oc.compute((n,), lambda i: oc.sum(A[i, k1, k2], axis=[k1, k2]), name="B")
    BF = oc.create_schedule(B.op).rfactor(B, k1)
    assert tuple(BF.shape) == (n, n)


# -- IterVar type codes, iter_var_attrs, pragma as primitive -------------------------

def test_iter_var_type_codes_are_tvms():
    iv = oc.IterVar
    assert (iv.DataPar, iv.ThreadIndex, iv.CommReduce, iv.Ordered, iv.Opaque, iv.Unrolled,
            iv.Vectorized, iv.Parallelized, iv.Tensorized) == tuple(range(9))


def test_iter_var_attrs_report_annotations_and_pragmas():
    A = oc.placeholder((64, 32), name="A")
    T = oc.compute((64, 32), lambda i, j: A[i, j] + 1, name="T")
    s = oc.create_schedule(T.op)
    xo, yo, xi, yi = s[T].tile(T.op.axis[0], T.op.axis[1], x_factor=8, y_factor=4)
    s[T].vectorize(yi)
    s[T].unroll(xi)
    s[T].parallel(xo)
    s[T].pragma(yo, "my_hint", 3)
    s[T].pragma(yo, "note", "x")
    attrs = s[T].iter_var_attrs
    assert attrs[xi].iter_type == oc.IterVar.Unrolled
    assert attrs[yi].iter_type == oc.IterVar.Vectorized
    assert attrs[xo].iter_type == oc.IterVar.Parallelized
    assert attrs[yo].iter_type == oc.IterVar.DataPar
    assert [k.value for k in attrs[yo].pragma_keys] == ["my_hint", "note"]
    assert [v.value for v in attrs[yo].pragma_values] == [3, "x"]
    assert set(attrs) == {xo, yo, xi, yi}


def test_iter_var_attrs_of_reduce_and_thread_axes():
    A = oc.placeholder((16, 8), name="A")
    k = oc.reduce_axis((0, 8), "k")
    B = oc.compute((16,), lambda i: oc.sum(A[i, k], axis=k), name="B")
    s = oc.create_schedule(B.op)
    s[B].pragma(k, "hint")
    s[B].bind(B.op.axis[0], oc.thread_axis("threadIdx.x"))
    attrs = s[B].iter_var_attrs
    assert attrs[k].iter_type == oc.IterVar.CommReduce
    assert attrs[B.op.axis[0]].iter_type == oc.IterVar.ThreadIndex
    assert attrs[B.op.axis[0]].bind_thread.tag == "threadIdx.x"


@pytest.mark.parametrize("key,kind", [("vectorize", "vectorized"), ("unroll", "unrolled"),
                                      ("parallel", "parallel")])
def test_pragma_loop_kind_acts_as_the_primitive(key, kind):
    A = oc.placeholder((100,), name="A")
    T = oc.compute((100,), lambda i: A[i] * 3, name="T")
    s = oc.create_schedule(T.op)
    xo, xi = s[T].split(T.op.axis[0], factor=4)
    s[T].pragma(xo if key == "parallel" else xi, key)
    iv = xo if key == "parallel" else xi
    assert s[T].annotations[iv] == (kind, None)
    assert s.trace.records[-1]["primitive"] == key
    a = _rand(100)
    np.testing.assert_allclose(_run(s, [A, T], [a], (100,)), a * 3, rtol=1e-6)


def test_pragma_vectorize_on_reduce_axis_is_refused_like_vectorize():
    A = oc.placeholder((16, 8), name="A")
    k = oc.reduce_axis((0, 8), "k")
    B = oc.compute((16,), lambda i: oc.sum(A[i, k], axis=k), name="B")
    s = oc.create_schedule(B.op)
    with pytest.raises(oc.ScheduleError, match="cannot vectorize a reduction axis"):
        s[B].pragma(k, "vectorize")


# -- tag_scope, attrs= ----------------------------------------------------------------

def test_tag_scope_as_context_manager_and_decorator():
    A = oc.placeholder((4,), name="A")
    with oc.tag_scope(tag="ewise"):
        B = oc.compute((4,), lambda i: A[i] + 1, name="B")
        C = oc.compute((4,), lambda i: A[i] * 2, name="C", tag="own")

    @oc.tag_scope(tag="double")
    def double(X):
        return oc.compute((4,), lambda i: X[i] * 2, name="D")
    D = double(A)
    E2 = oc.compute((4,), lambda i: A[i], name="E")
    assert (B.op.tag, C.op.tag, D.op.tag, E2.op.tag) == ("ewise", "own", "double", "")


def test_compute_attrs_are_converted_and_json():
    A = oc.placeholder((4,), name="A")
    B = oc.compute((4,), lambda i: A[i], name="B",
                   attrs={"hello": 1, "arr": [10, 12], "s": "x", "f": 0.5, "d": {"k": [1]}})
    attrs = B.op.attrs
    assert attrs["hello"].value == 1 and attrs["arr"][1].value == 12
    assert isinstance(attrs["arr"], tuple) and attrs["s"].value == "x"
    assert attrs["d"]["k"][0].value == 1
    assert "xx" not in attrs and len(attrs) == 5
    assert json.loads(str(attrs)) == {"hello": 1, "arr": [10, 12], "s": "x", "f": 0.5,
                                      "d": {"k": [1]}}
    assert len(oc.compute((4,), lambda i: A[i]).op.attrs) == 0


def test_attrs_and_tag_survive_save_and_load_json():
    A = oc.placeholder((6,), name="A")
    with oc.tag_scope(tag="gemm"):
        B = oc.compute((6,), lambda i: A[i] * 2, name="B", attrs={"hello": 1, "arr": [10, 12]})
    BB = oc.load_json(oc.save_json(B))
    assert BB.op.tag == "gemm"
    assert BB.op.attrs["hello"].value == 1 and BB.op.attrs["arr"][0].value == 10
    a = _rand(6)
    BA = BB.op.input_tensors[0]
    np.testing.assert_allclose(_run(oc.create_schedule(BB), [BA, BB], [a], (6,)), a * 2)


def test_cache_write_keeps_attrs():
    A = oc.placeholder((8,), name="A")
    B = oc.compute((8,), lambda i: A[i] + 1, name="B", attrs={"k": 2})
    s = oc.create_schedule(B.op)
    s.cache_write(B, "local")
    assert s[B].op.attrs["k"].value == 2


# -- tensor arithmetic ----------------------------------------------------------------

def test_tensor_arithmetic_matches_numpy():
    n, m = 5, 10
    x = oc.var("x")                      # an int scalar argument, as in TVM's test
    A, B, C = (oc.placeholder((n, m), name=nm) for nm in "ABC")
    D = 3 + A - B * C + x
    E2 = (A / 2.0) - (-C) * 4 + 1.5 / (B + 2.0)
    s = oc.create_schedule([D.op, E2.op])
    mod = oc.build(s, [x, A, B, C, D, E2])
    a, b, c = _rand((n, m)), _rand((n, m)), _rand((n, m))
    d, e = np.zeros((n, m), D.dtype), np.zeros((n, m), E2.dtype)   # int32 x: NumPy promotes D
    mod(2, a, b, c, d, e)
    a64, b64, c64 = (v.astype(np.float64) for v in (a, b, c))
    np.testing.assert_allclose(d, 3 + a64 - b64 * c64 + 2, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(e, a64 / 2 + c64 * 4 + 1.5 / (b64 + 2), rtol=1e-5, atol=1e-5)


def test_tensor_arithmetic_broadcasts_like_numpy():
    A = oc.placeholder((4, 1, 3), name="A")
    B = oc.placeholder((5, 1), name="B")
    S = oc.placeholder((), name="S")
    C = A * B - S
    assert tuple(x.value for x in C.shape) == (4, 5, 3)
    assert C.op.tag == "broadcast" and (A + 1).op.tag == "elemwise"
    from opcomp.topi import tag          # TVM's topi.tag vocabulary names the same tags
    assert (C.op.tag, (A + 1).op.tag) == (tag.BROADCAST, tag.ELEMWISE)
    assert tag.is_broadcast(C.op.tag) and tag.is_injective((A + 1).op.tag)
    assert not tag.is_injective(tag.COMM_REDUCE)
    a, b, sv = _rand((4, 1, 3)), _rand((5, 1)), np.asarray(_rand(()))
    out = np.zeros((4, 5, 3), np.float32)
    oc.build(oc.create_schedule(C), [A, B, S, C])(a, b, sv, out)
    ref = a.astype(np.float64) * b.astype(np.float64) - float(sv)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_tensor_arithmetic_with_scalar_expressions_and_ints():
    B = oc.placeholder((6, 4), name="B", dtype="int32")
    B2 = B[0, 0]
    C = (B2 + B) // 3 - B % 5
    assert isinstance(C, oc.Tensor) and C.dtype == "int32"
    assert isinstance(B2 + 1, oc.PrimExpr)
    b = RNG.integers(-50, 50, (6, 4)).astype(np.int32)
    out = np.zeros((6, 4), np.int32)
    oc.build(oc.create_schedule(C), [B, C])(b, out)
    np.testing.assert_array_equal(out, (b[0, 0] + b) // 3 - b % 5)


# -- multi-output scan ----------------------------------------------------------------

def _two_state_scan(m, n):
    x1, s1, x2, s2 = (oc.placeholder((m, n), name=nm) for nm in ("x1", "s1", "x2", "s2"))
    i1 = oc.compute((1, n), lambda _, i: x1[0, i], name="i1")
    i2 = oc.compute((1, n), lambda _, i: x2[0, i], name="i2")
    u1 = oc.compute((m, n), lambda t, i: s1[t - 1, i] + s2[t - 1, i] + x1[t, i], name="u1")
    u2 = oc.compute((m, n), lambda t, i: x2[t, i] + 0.5 * s2[t - 1, i], name="u2")
    r0, r1 = oc.scan([i1, i2], [u1, u2], [s1, s2])
    return x1, x2, r0, r1, u1


def test_multi_output_scan_is_one_operation():
    x1, x2, r0, r1, u1 = _two_state_scan(oc.var("m"), oc.var("n"))
    assert r0.op is r1.op and (r0.value_index, r1.value_index) == (0, 1)
    assert r0.op.num_outputs == 2 and isinstance(r0.op, oc.ScanOp)


def test_schedule_of_first_output_op_computes_both():
    m, n = 13, 8
    x1, x2, r0, r1, u1 = _two_state_scan(m, n)
    s = oc.create_schedule(r0.op)
    s[u1].split(u1.op.axis[1], factor=4)
    a, b = _rand((m, n)), _rand((m, n))
    o0, o1 = np.full((m, n), np.nan, np.float32), np.full((m, n), np.nan, np.float32)
    oc.build(s, [x1, x2, r0, r1])(a, b, o0, o1)
    ra, rb = a.astype(np.float64), b.astype(np.float64)
    e0, e1 = ra.copy(), rb.copy()
    for t in range(1, m):
        e0[t] = e0[t - 1] + e1[t - 1] + ra[t]
        e1[t] = rb[t] + 0.5 * e1[t - 1]
    np.testing.assert_allclose(o0, e0, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(o1, e1, rtol=1e-5, atol=1e-5)


def test_multi_output_scan_states_of_different_shapes():
    m = 9
    X = oc.placeholder((m, 4), name="X")
    SA = oc.placeholder((m, 4), name="SA")
    SB = oc.placeholder((m, 1), name="SB")
    ia = oc.compute((1, 4), lambda _, i: X[0, i], name="ia")
    ib = oc.compute((1, 1), lambda _, i: X[0, 0] * 0.0, name="ib")
    ua = oc.compute((m, 4), lambda t, i: SA[t - 1, i] + X[t, i], name="ua")
    ub = oc.compute((m, 1), lambda t, i: SB[t - 1, 0] + SA[t - 1, 3], name="ub")
    A, B = oc.scan([ia, ib], [ua, ub], [SA, SB])
    assert tuple(B.shape[1:]) == (1,) and tuple(A.shape)[1].value == 4
    x = _rand((m, 4))
    a, b = np.zeros((m, 4), np.float32), np.zeros((m, 1), np.float32)
    oc.build(oc.create_schedule(A.op), [X, A, B])(x, a, b)
    ea = np.cumsum(x.astype(np.float64), axis=0)
    eb = np.concatenate([[0.0], np.cumsum(ea[:-1, 3])])[:, None]
    np.testing.assert_allclose(a, ea, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b, eb, rtol=1e-5, atol=1e-5)


def test_multi_output_scan_survives_save_and_load_json():
    m, n = 11, 6
    x1, x2, r0, r1, u1 = _two_state_scan(m, n)
    op = oc.load_json(oc.save_json(r0.op))
    assert isinstance(op, oc.ScanOp) and op.num_outputs == 2
    assert oc.workload_key([op.output(0), op.output(1)]) == oc.workload_key([r0, r1])
    inputs = sorted((t for t in oc.te.tensors_in_order([op.output(0)])
                     if isinstance(t.op, oc.PlaceholderOp) and t.name in ("x1", "x2")),
                    key=lambda t: t.name)
    a, b = _rand((m, n)), _rand((m, n))
    got = [np.zeros((m, n), np.float32) for _ in range(4)]
    oc.build(oc.create_schedule(op), inputs + [op.output(0), op.output(1)])(a, b, *got[:2])
    oc.build(oc.create_schedule(r0.op), [x1, x2, r0, r1])(a, b, *got[2:])
    np.testing.assert_array_equal(got[0], got[2])
    np.testing.assert_array_equal(got[1], got[3])


# -- cache_write of a tuple compute's outputs -----------------------------------------

def test_cache_write_list_of_tuple_compute_outputs():
    m, n = 7, 9
    A = oc.placeholder((m, n), name="A")
    B = oc.placeholder((m, n), name="B")
    C1, C2 = oc.compute(A.shape, lambda *i: (A(*i) + 1, B(*i) / 2), name="C")
    s = oc.create_schedule([C1.op, C2.op])
    L1, L2 = s.cache_write([C1, C2], "local")
    assert L1.op is L2.op and (L1.value_index, L2.value_index) == (0, 1)
    s[L1].compute_at(s[C1], C1.op.axis[0])
    a, b = _rand((m, n)), _rand((m, n))
    c1, c2 = np.zeros((m, n), np.float32), np.zeros((m, n), np.float32)
    mod = oc.build(s, [A, B, C1, C2])
    mod(a, b, c1, c2)
    np.testing.assert_allclose(c1, a + 1, rtol=1e-6)
    np.testing.assert_allclose(c2, b / 2, rtol=1e-6)
    replayed = oc.load_json(oc.save_json(s))        # the trace replays the list form
    c1[:], c2[:] = 0, 0
    inputs = sorted((t for t in oc.te.tensors_in_order(replayed.outputs)
                     if isinstance(t.op, oc.PlaceholderOp)), key=lambda t: t.name)
    oc.build(replayed, inputs + list(replayed.outputs))(a, b, c1, c2)
    np.testing.assert_allclose(c2, b / 2, rtol=1e-6)


def test_cache_read_into_a_tuple_compute_keeps_every_output():
    shape = (6, 16)
    A = oc.placeholder(shape, name="A")
    B = oc.placeholder(shape, name="B")
    C = oc.compute(shape, lambda *i: A(*i) + B(*i), name="C")
    F, E2 = oc.compute(shape, lambda *i: (C(*i), C(*i) * B(*i)), name="F")
    s = oc.create_schedule([F.op, E2.op])
    s.cache_read(B, "local", [C, E2])
    s.cache_write(C, "local")
    FL, EL = s.cache_write([F, E2], "local")
    s[C].compute_inline()
    a, b = _rand(shape), _rand(shape)
    f, e = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    oc.build(s, [A, B, F, E2])(a, b, f, e)
    np.testing.assert_allclose(f, a + b, rtol=1e-6)
    np.testing.assert_allclose(e, (a.astype(np.float64) + b) * b, rtol=1e-5, atol=1e-6)


def test_cache_write_of_reduction_with_data_dependent_extent():
    X = oc.placeholder((10,), name="x")

    def prefix_sum(n):
        rv = oc.reduce_axis((0, n))
        return oc.sum(X[rv], axis=rv)
    Y = oc.compute(X.shape, prefix_sum, name="y")
    s = oc.create_schedule(Y)
    YL = s.cache_write(Y, "local")
    assert str(YL.op.reduce_axis[0].extent) == str(YL.op.axis[0].var)
    x, y = _rand(10), np.full(10, np.nan, np.float32)
    oc.build(s, [X, Y])(x, y)
    ref = np.concatenate([[0.0], np.cumsum(x.astype(np.float64))[:-1]])
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


def test_cache_write_of_tuple_reduction_with_data_dependent_extent():
    X = oc.placeholder((8,), name="x")
    argmax = oc.comm_reducer(
        lambda a, b: (oc.select(a[1] >= b[1], a[0], b[0]), oc.max(a[1], b[1])),
        lambda t0, t1: (oc.const(-1, t0), oc.min_value(t1)), name="argmax")

    def running_argmax(n):
        rv = oc.reduce_axis((0, n + 1), "r")
        return argmax((rv.var, X[rv]), axis=rv)
    I, V = oc.compute((8,), running_argmax, name="am")
    s = oc.create_schedule([I, V])
    s.cache_write([I, V], "local")
    x = _rand(8)
    i, v = np.zeros(8, np.int32), np.zeros(8, np.float32)
    oc.build(s, [X, I, V])(x, i, v)
    np.testing.assert_array_equal(i, [int(np.argmax(x[:k + 1])) for k in range(8)])
    np.testing.assert_allclose(v, np.maximum.accumulate(x))


# -- oc.Buffer, build_config, TensorIntrin spellings ----------------------------------

def test_build_config_gives_decl_buffer_defaults():
    plain = oc.decl_buffer((8,), name="p")
    assert oc.Buffer is type(plain) and plain.offset_factor == 0
    assert isinstance(plain.elem_offset, E.Const)
    with oc.build_config(offset_factor=16):
        b = oc.decl_buffer((8,), name="b")
        explicit = oc.decl_buffer((8,), name="e", offset_factor=0)
        with oc.build_config(data_alignment=64):
            inner = oc.decl_buffer((8,), name="i")
    after = oc.decl_buffer((8,), name="a")
    assert b.offset_factor == 16 and isinstance(b.elem_offset, E.Var)
    assert explicit.offset_factor == 0 and isinstance(explicit.elem_offset, E.Const)
    assert inner.offset_factor == 16
    assert after.offset_factor == 0


def _vadd_intrin(n, name):
    x = oc.placeholder((n,), name="x")
    y = oc.placeholder((n,), name="y")
    z = oc.compute(x.shape, lambda i: x[i] + y[i], name="z")

    def fintrin(ins, outs):
        assert isinstance(ins[0], oc.Buffer) and ins[0].shape[0].value == n
        return oc.call_packed("vadd", ins[0].data, ins[1].data, outs[0].data, ins[0].shape[0])
    return z, oc.decl_tensor_intrin(z.op, fintrin, name=name)


def test_tensor_intrin_tvm_spellings_and_build_config_offset():
    z, intrin = _vadd_intrin(16, "port_vadd16")
    assert intrin.op is z.op and intrin.reduce_init is None and intrin.reduce_update is None
    assert tuple(intrin.inputs) == tuple(z.op.input_tensors)
    assert [b.shape[0].value for b in intrin.buffers] == [16, 16, 16]
    assert all(b.offset_factor == 1 for b in intrin.buffers)        # opcomp's default
    with oc.build_config(offset_factor=4):
        _, aligned = _vadd_intrin(16, "port_vadd16_aligned")
    assert all(b.offset_factor == 4 for b in aligned.buffers)


def test_tensorized_loop_in_iter_var_attrs():
    _, intrin = _vadd_intrin(16, "port_vadd16_attrs")
    x = oc.placeholder((32,), name="x")
    y = oc.placeholder((32,), name="y")
    z = oc.compute(x.shape, lambda i: x[i] + y[i], name="z")
    s = oc.create_schedule(z.op)
    xo, xi = s[z].split(z.op.axis[0], factor=16)
    s[z].tensorize(xi, intrin)
    attrs = s[z].iter_var_attrs
    assert attrs[xi].tensor_intrin is intrin
    assert attrs[xi].iter_type == oc.IterVar.Tensorized
    assert xo not in attrs


# -- thread_axis((0, n), tag) -----------------------------------------------------------

def test_thread_axis_range_first_fixes_the_extent():
    tx = oc.thread_axis((0, 32), "threadIdx.x")
    assert (tx.tag, tx.extent) == ("threadIdx.x", 32)
    assert oc.thread_axis((0, 8), "threadIdx.y", "ty").name == "ty"
    A = oc.placeholder((128,), name="A")
    C = oc.compute((128,), lambda i: A[i] + 1, name="C")
    s = oc.create_schedule(C)
    o, i = s[C].split(C.op.axis[0], factor=32)
    s[C].bind(i, tx)
    s[C].bind(o, oc.thread_axis("blockIdx.x"))
    text = str(oc.lower(s, [A, C], target="cuda"))
    assert "threadIdx.x in range(32)" in text and "blockIdx.x in range(4)" in text


# -- extern with several outputs --------------------------------------------------------

@oc.register_func("oc_port_test_sum_and_prefix")
def _sum_and_prefix(src, total, prefix):
    total[...] = src.sum(axis=1, keepdims=True, dtype=np.float64)
    prefix[...] = np.cumsum(src, axis=1)


def test_extern_with_two_outputs_of_different_shapes():
    n = oc.var("n")
    A = oc.placeholder((n, 5), name="A")
    A2 = oc.compute((n, 5), lambda i, j: A[i, j] * 2.0, name="A2")
    T, P = oc.extern([(n, 1), (n, 5)], [A2], lambda ins, outs: oc.call_packed(
        "oc_port_test_sum_and_prefix", ins[0], outs[0], outs[1]), name="E",
        dtype=["float64", "float32"])
    assert T.op is P.op and (T.value_index, P.value_index) == (0, 1)
    assert T.dtype == "float64" and P.shape[1].value == 5 and T.shape[1].value == 1
    D = oc.compute((n, 5), lambda i, j: P[i, j] + T[i, 0], name="D")    # P, T internal
    mod = oc.build(oc.create_schedule(D), [A, D])
    a = _rand((4, 5))
    d = np.full((4, 5), np.nan, D.dtype)            # float32 + float64: NumPy gives float64
    mod(a, d)
    a2 = a.astype(np.float64) * 2
    np.testing.assert_allclose(d, np.cumsum(a2, axis=1) + a2.sum(axis=1)[:, None], rtol=1e-5)
    t, p = np.zeros((4, 1), np.float64), np.zeros((4, 5), np.float32)
    oc.build(oc.create_schedule(T.op), [A, T, P])(a, t, p)    # both outputs as arguments
    np.testing.assert_allclose(t[:, 0], a2.sum(axis=1), rtol=1e-6)
    np.testing.assert_allclose(p, np.cumsum(a2, axis=1), rtol=1e-5)
