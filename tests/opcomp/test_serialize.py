"""save_json / load_json: a computation or schedule as JSON and back (TVM's spellings).
A loaded graph has the same workload key and, built, the same numbers as the original."""
from __future__ import annotations

import json

import numpy as np

import opcomp as oc

RNG = np.random.default_rng(41)


def _gemm_plus_one():
    m, n, l = oc.size_var("m"), oc.size_var("n"), oc.size_var("l")
    A = oc.placeholder((m, l), name="A")
    B = oc.placeholder((n, l), name="B")
    k = oc.reduce_axis((0, l), "k")
    C = oc.compute((m, n), lambda i, j: oc.sum(A[i, k] * B[j, k], axis=k), name="C")
    D = oc.compute((m, n), lambda i, j: C[i, j] + 1.0, name="D")
    return A, B, D


def _inputs_of(t):
    return t.op.input_tensors[0].op.input_tensors


def _run(mod, shapes):
    a = RNG.random(shapes[0]).astype("float32") + 0.5
    b = RNG.random(shapes[1]).astype("float32") + 0.5
    d = np.full((shapes[0][0], shapes[1][0]), np.nan, np.float32)
    mod(a, b, d)
    return a, b, d


def test_tensor_round_trip_keeps_the_graph():
    _, _, D = _gemm_plus_one()
    D2 = oc.load_json(oc.save_json(D))
    assert isinstance(D2, oc.Tensor) and D2 is not D
    assert str(D2) == str(D) and str(D2.op.bodies[0]) == str(D.op.bodies[0])
    assert oc.workload_key(D2) == oc.workload_key(D)


def test_operation_and_list_round_trip():
    A, _, D = _gemm_plus_one()
    op2 = oc.load_json(oc.save_json(D.op))
    assert isinstance(op2, oc.ComputeOp) and op2.name == "D"
    pair = oc.load_json(oc.save_json([A, D]))
    assert [t.name for t in pair] == ["A", "D"]


def test_schedule_round_trip_replays_the_trace_and_computes_the_same():
    _, _, D = _gemm_plus_one()
    C = D.op.input_tensors[0]
    s = oc.create_schedule(D.op)
    xo, xi = s[D].split(D.op.axis[0], factor=4)
    s[C].compute_at(s[D], xo)
    s2 = oc.load_json(oc.save_json(s))
    assert isinstance(s2, oc.Schedule)
    assert json.loads(s2.trace.to_json())["records"] == json.loads(s.trace.to_json())["records"]
    D2 = s2.outputs[0]
    mod = oc.build(s2, list(_inputs_of(D2)) + [D2])
    a, b, d = _run(mod, [(9, 5), (6, 5)])
    np.testing.assert_allclose(d, a.astype(np.float64) @ b.T.astype(np.float64) + 1.0, rtol=1e-5)


def test_a_variable_read_twice_is_one_variable_after_loading():
    n = oc.size_var("n")
    A = oc.placeholder((n,), name="A")
    B = oc.compute((n,), lambda i: A[i] * A[n - 1 - i], name="B")
    B2 = oc.load_json(oc.save_json(B))
    assert B2.op.shape[0] is B2.op.input_tensors[0].shape[0]
    mod = oc.build(oc.create_schedule(B2.op), [B2.op.input_tensors[0], B2])
    a = RNG.random(11).astype("float32")
    b = np.empty(11, np.float32)
    mod(a, b)
    np.testing.assert_allclose(b, a * a[::-1], rtol=1e-6)


def test_tuple_compute_and_user_reducer_round_trip():
    n, m = 6, 13
    A = oc.placeholder((n, m), name="A", dtype="float32")
    k = oc.reduce_axis((0, m), "k")

    def combine(x, y):
        keep = x[1] >= y[1]
        return oc.select(keep, x[0], y[0]), oc.select(keep, x[1], y[1])

    argmax = oc.comm_reducer(combine, lambda t0, t1: (oc.const(-1, t0), oc.min_value(t1)),
                             name="argmax")
    I, V = oc.compute((n,), lambda i: argmax((k, A[i, k]), axis=k), name="T")
    I2, V2 = oc.load_json(oc.save_json([I, V]))
    assert oc.workload_key([I2, V2]) == oc.workload_key([I, V])
    s = oc.create_schedule(I2.op)
    mod = oc.build(s, [I2.op.input_tensors[0], I2, V2])
    a = RNG.random((n, m)).astype("float32")
    idx, val = np.empty(n, np.int32), np.empty(n, np.float32)
    mod(a, idx, val)
    np.testing.assert_array_equal(idx, a.argmax(axis=1))
    np.testing.assert_array_equal(val, a.max(axis=1))
