"""Trace round trip: primitives -> JSON -> replay on a fresh schedule of the same
computation gives the same loops, annotations, attach points and lowered IR."""
from __future__ import annotations

import json

import numpy as np
import pytest

import opcomp as oc

N = 48


def matmul(n=N):
    A = oc.placeholder((n, n), name="A")
    B = oc.placeholder((n, n), name="B")
    k = oc.reduce_axis(n, "k")
    C = oc.compute((n, n), lambda i, j: oc.sum(A[i, k] * B[k, j], axis=k), name="C")
    return [A, B, C]


def chain(n=N):
    """A -> B -> C -> D, elementwise."""
    A = oc.placeholder((n, n), name="A")
    B = oc.compute((n, n), lambda i, j: A[i, j] + 1.0, name="B")
    C = oc.compute((n, n), lambda i, j: B[i, j] * 2.0, name="C")
    D = oc.compute((n, n), lambda i, j: C[i, j] - B[i, j], name="D")
    return [A, B, C, D]


def state(s):
    def name(x):
        return x.name if x is not None else None
    return [(st.name, st.scope, [iv.name for iv in st.leaf_iter_vars],
             sorted((iv.name, a) for iv, a in st.annotations.items()),
             st.attach_type, name(st.attach_stage), name(st.attach_ivar))
            for st in s.stages]


def round_trip(args, schedule_it, target=None):
    """Apply schedule_it to a schedule, replay its JSON trace on a fresh one, compare."""
    out = args[-1]
    s = oc.create_schedule(out)
    schedule_it(s, *args)
    text = s.trace.to_json()
    s2 = oc.create_schedule(out)
    oc.Trace.from_json(text).apply(s2)
    assert state(s2) == state(s)
    assert s2.trace.to_json() == text
    # Lower with the inputs and the output: intermediates are not arguments.
    io = [t for t in args if isinstance(t.op, oc.te.PlaceholderOp)] + [out]
    assert str(oc.lower(s2, io, target=target)) == str(oc.lower(s, io, target=target))
    return s, json.loads(text)["records"]


def test_round_trip_split_factor():
    def sch(s, A, B, C):
        s[C].split(C.op.axis[0], factor=5)
    s, recs = round_trip(matmul(), sch)
    assert recs == [{"primitive": "split", "stage": "C", "args": {
        "axis": "i", "factor": 5, "nparts": None, "results": ["i.outer", "i.inner"]}}]


def test_round_trip_split_nparts():
    def sch(s, A, B, C):
        s[C].split(C.op.reduce_axis[0], nparts=7)
    round_trip(matmul(), sch)


def test_round_trip_tile():
    def sch(s, A, B, C):
        s[C].tile(*C.op.axis, 8, 16)
    s, recs = round_trip(matmul(), sch)
    assert [r["primitive"] for r in recs] == ["split", "split", "reorder"]


def test_round_trip_fuse():
    def sch(s, A, B, C):
        s[C].fuse(*C.op.axis)
    s, _ = round_trip(matmul(), sch)
    assert [iv.name for iv in s[s.outputs[0]].leaf_iter_vars] == ["i.j.fused", "k"]


def test_round_trip_reorder():
    def sch(s, A, B, C):
        i, j = C.op.axis
        io, ii = s[C].split(i, factor=4)
        s[C].reorder(C.op.reduce_axis[0], ii, io)
    round_trip(matmul(), sch)


@pytest.mark.parametrize("primitive", ["vectorize", "unroll", "parallel"])
def test_round_trip_annotation(primitive):
    def sch(s, A, B, C):
        io, ii = s[C].split(C.op.axis[1], factor=8)
        getattr(s[C], primitive)(io if primitive == "parallel" else ii)
    round_trip(matmul(), sch)


def test_round_trip_bind():
    def sch(s, A, B, C):
        bx, tx = s[C].split(C.op.axis[0], factor=16)
        s[C].bind(bx, oc.thread_axis("blockIdx.x"))
        s[C].bind(tx, oc.thread_axis("threadIdx.x"))
    round_trip(matmul(), sch, target="cuda")


def test_round_trip_compute_at():
    def sch(s, A, B, C, D):
        xo, xi = s[D].split(D.op.axis[0], factor=8)
        s[C].compute_at(s[D], xo)
    round_trip(chain(), sch)


def test_round_trip_compute_inline():
    def sch(s, A, B, C, D):
        s[C].compute_inline()
    round_trip(chain(), sch)


def test_round_trip_compute_root():
    def sch(s, A, B, C, D):
        s[C].compute_inline()
        s[C].compute_root()
    s, _ = round_trip(chain(), sch)
    assert all(st.attach_type == "root" for st in s.stages)


def test_round_trip_cache_read():
    def sch(s, A, B, C):
        AA = s.cache_read(A, "shared", [C])
        io, ii = s[C].split(C.op.axis[0], factor=8)
        s[AA].compute_at(s[C], io)
    s, recs = round_trip(matmul(), sch)
    assert recs[0] == {"primitive": "cache_read", "stage": "A",
                       "args": {"scope": "shared", "readers": ["C"], "results": ["A.shared"]}}


def test_round_trip_cache_write():
    def sch(s, A, B, C):
        CL = s.cache_write(C, "local")
        io, ii = s[C].split(C.op.axis[0], factor=8)
        s[CL].compute_at(s[C], io)
        s[CL].unroll(s[CL].op.axis[0])
    s, recs = round_trip(matmul(), sch)
    assert recs[0] == {"primitive": "cache_write", "stage": "C",
                       "args": {"scope": "local", "results": ["C.local"]}}


def test_round_trip_everything_together():
    def sch(s, A, B, C):
        CL = s.cache_write(C, "local")
        AA = s.cache_read(A, "local", [CL])
        xo, yo, xi, yi = s[C].tile(*C.op.axis, 8, 8)
        f = s[C].fuse(xo, yo)
        s[C].parallel(f)
        s[C].vectorize(yi)
        s[CL].compute_at(s[C], f)
        ko, ki = s[CL].split(s[CL].op.reduce_axis[0], factor=4)
        s[CL].reorder(ko, ki, *s[CL].op.axis)
        s[CL].unroll(ki)
        s[AA].compute_at(s[CL], ko)
    round_trip(matmul(), sch)


def test_replay_is_json_only():
    """The JSON text alone suffices: it survives a dump/load cycle unchanged."""
    A, B, C = matmul()
    s = oc.create_schedule(C)
    s[C].tile(*C.op.axis, 4, 4)
    text = s.trace.to_json()
    assert oc.Trace.from_json(json.dumps(json.loads(text))).to_json() == text
    assert len(oc.Trace.from_json(text)) == len(s.trace) == 3


def test_round_trip_duplicate_axis_names():
    A = oc.placeholder((8, 8), name="A")
    k1, k2 = oc.reduce_axis(8, "k"), oc.reduce_axis(8, "k")
    D = oc.compute((1,), lambda i: oc.sum(A[k1, k2], axis=[k1, k2]), name="D")

    def sch(s, A, D):
        s[D].split(k2, factor=4)
    round_trip([A, D], sch)


def row_sum(rows=12, cols=37):
    X = oc.placeholder((rows, cols), name="X")
    k = oc.reduce_axis(cols, "k")
    T = oc.compute((rows,), lambda i: oc.sum(X[i, k], axis=k), name="T")
    return [X, T]


def test_round_trip_rfactor():
    def sch(s, X, T):
        ko, ki = s[T].split(T.op.reduce_axis[0], factor=8)
        TF = s.rfactor(T, ki, factor_axis=1)
        i, kf = s[TF].op.axis
        s[TF].reorder(i, s[TF].op.reduce_axis[0], kf)
        s[TF].vectorize(kf)
        s[TF].compute_at(s[T], T.op.axis[0])
        s[T].parallel(T.op.axis[0])
    s, recs = round_trip(row_sum(), sch)
    assert recs[1] == {"primitive": "rfactor", "stage": "T",
                       "args": {"axis": "k.inner", "factor_axis": 1, "results": ["T.rf"]}}


def softmax(rows=6, cols=20):
    X = oc.placeholder((rows, cols), name="X")
    k1, k2 = oc.reduce_axis(cols, "k1"), oc.reduce_axis(cols, "k2")
    M = oc.compute((rows,), lambda i: oc.max(X[i, k1], axis=k1), name="M")
    E = oc.compute((rows, cols), lambda i, j: oc.exp(X[i, j] - M[i]), name="E")
    S = oc.compute((rows,), lambda i: oc.sum(E[i, k2], axis=k2), name="S")
    Y = oc.compute((rows, cols), lambda i, j: E[i, j] / S[i], name="Y")
    return [X, M, E, S, Y]


def _fused_softmax(s, X, M, E, S, Y):
    """Max, exp and sum at the row loop of Y, the two reductions factored by 4."""
    i = Y.op.axis[0]
    for T in (M, S):
        ko, ki = s[T].split(T.op.reduce_axis[0], factor=4)
        TF = s.rfactor(T, ki, factor_axis=1)
        s[TF].compute_at(s[Y], i)
    for T in (M, E, S):
        s[T].compute_at(s[Y], i)
    s[Y].parallel(i)


def test_round_trip_fused_softmax_with_rfactor():
    s, recs = round_trip(softmax(), _fused_softmax)
    assert [r["primitive"] for r in recs].count("rfactor") == 2


# -- hostile traces: a tuning log is untrusted input ------------------------------------
def _rich_schedule():
    """Every kind of record: cache_write, compute_at, split, fuse, reorder, annotations."""
    A, B, C = args = matmul()
    s = oc.create_schedule(C)
    CC = s.cache_write(C, "local")
    i, j = s[C].op.axis
    io, ii = s[C].split(i, factor=8)
    jo, ji = s[C].split(j, nparts=3)
    s[C].reorder(io, jo, ii, ji)
    f = s[C].fuse(io, jo)
    s[C].parallel(f)
    s[C].vectorize(ji)
    s[CC].compute_at(s[C], f)
    s[CC].unroll(s[CC].op.reduce_axis[0])
    return args, s


def _mutate(rng, records):
    """One random change: a value replaced by a random JSON value of another type, a
    key dropped or added, or two records swapped."""
    records = json.loads(json.dumps(records))
    junk = [None, True, -1, 0, 3, 2 ** 70, 1.5, "", "i", "C", "nope", [], ["i", "k"], {},
            {"a": [1]}, [[["i"]]], "x" * 500]
    rec = records[rng.integers(len(records))]
    where = rng.integers(4)
    if where == 0 and rec["args"]:
        key = list(rec["args"])[rng.integers(len(rec["args"]))]
        rec["args"][key] = junk[rng.integers(len(junk))]
    elif where == 1:
        rec[["primitive", "stage"][rng.integers(2)]] = junk[rng.integers(len(junk))]
    elif where == 2 and rec["args"]:
        del rec["args"][list(rec["args"])[0]]
    else:
        a, b = rng.integers(len(records), size=2)
        records[a], records[b] = records[b], records[a]
    return records


def test_mutated_traces_apply_fully_or_raise_schedule_error_and_change_nothing():
    rng = np.random.default_rng(11)
    (A, B, C), good = _rich_schedule()
    records = json.loads(good.trace.to_json())["records"]
    outcomes = {"applied": 0, "refused": 0}
    for _ in range(300):
        text = json.dumps(_mutate(rng, records))
        s = oc.create_schedule(C)
        before = (state(s), s.trace.to_json())
        try:
            oc.Trace.from_json(text).apply(s)
        except oc.ScheduleError:
            outcomes["refused"] += 1
            assert (state(s), s.trace.to_json()) == before
            continue
        outcomes["applied"] += 1
        oc.lower(s, [A, B, C])                        # what applies must also lower
    assert outcomes["refused"] > 100 and outcomes["applied"] > 10, outcomes


def test_trace_json_carries_the_workload_and_target_header():
    A = oc.placeholder((64,), name="A")
    B = oc.compute((64,), lambda i: A[i] * 2.0, name="B")
    s = oc.create_schedule(B)
    s[B].split(B.op.axis[0], factor=8)
    target = oc.Target("llvm -mcpu=znver3")
    data = json.loads(s.trace.to_json(target=target))
    assert data["format"] == "opcomp-trace" and data["version"] == 1
    assert data["workload"] == oc.workload_key([B]) and data["target"] == str(target)
    back = oc.Trace.from_json(json.dumps(data))
    assert back.workload == data["workload"] and back.target == str(target)
    assert back.records == s.trace.records


def test_mutated_rfactor_traces_apply_fully_or_raise_and_what_applies_lowers():
    """The same for rfactor and compute_at with several consumers."""
    rng = np.random.default_rng(5)
    args = softmax()
    good = oc.create_schedule(args[-1])
    _fused_softmax(good, *args)
    records = json.loads(good.trace.to_json())["records"]
    outcomes = {"applied": 0, "refused": 0}
    for _ in range(200):
        s = oc.create_schedule(args[-1])
        before = (state(s), s.trace.to_json())
        try:
            oc.Trace.from_json(json.dumps(_mutate(rng, records))).apply(s)
        except oc.ScheduleError:
            outcomes["refused"] += 1
            assert (state(s), s.trace.to_json()) == before
            continue
        outcomes["applied"] += 1
        oc.lower(s, [args[0], args[-1]])
    assert outcomes["refused"] > 50 and outcomes["applied"] > 10, outcomes
