"""TVM's cross-thread reduction: a reduction axis bound to threadIdx, with and
without rfactor (opcomp/schedule/cross_thread.py, passes/gpu_reduce.py), run on
the CUDA emulator against NumPy and compiled by nvcc for sm_80 without spills."""
import re
import shutil

import numpy as np
import pytest

import opcomp as oc
from codegen.cuda import CUDABackend
from codegen.cuda_compile import compile_device

REDUCERS = {"sum": (oc.sum, np.sum), "max": (oc.max, np.max), "min": (oc.min, np.min),
            "prod": (oc.prod, np.prod)}


def row_reduce(n, m, reducer="sum", rfactor=True, split=16, rows=32):
    """B[i] = reducer over k of A[i, k], in TVM's tutorial schedule: rows split by
    `rows` (blockIdx.x, threadIdx.y), k split by `split` and its inner part on
    threadIdx.x (through rfactor, or bound directly)."""
    A = oc.placeholder((n, m), name="A")
    k = oc.reduce_axis((0, m), "k")
    B = oc.compute((n,), lambda i: REDUCERS[reducer][0](A[i, k], axis=k), name="B")
    s = oc.create_schedule(B.op)
    _, ki = s[B].split(B.op.reduce_axis[0], factor=split)
    BF = s.rfactor(B, ki) if rfactor else None
    xo, xi = s[B].split(s[B].op.axis[0], factor=rows)
    s[B].bind(xo, oc.thread_axis("blockIdx.x"))
    s[B].bind(xi, oc.thread_axis("threadIdx.y"))
    if rfactor:
        s[B].bind(s[B].op.reduce_axis[0], oc.thread_axis("threadIdx.x"))
        s[BF].compute_at(s[B], s[B].op.reduce_axis[0])
    else:
        s[B].bind(ki, oc.thread_axis("threadIdx.x"))
    return s, [A, B]


def warp_max(n, m):
    """One row per block, 64 threads on the split reduction (a tree step, then shuffles)."""
    A = oc.placeholder((n, m), name="A")
    k = oc.reduce_axis((0, m), "k")
    B = oc.compute((n,), lambda i: oc.max(A[i, k], axis=k), name="B")
    s = oc.create_schedule(B)
    _, ki = s[B].split(k, factor=64)
    s[B].bind(B.op.axis[0], oc.thread_axis("blockIdx.x"))
    s[B].bind(ki, oc.thread_axis("threadIdx.x"))
    return s, [A, B]


def column_sum(n, m):
    """B[j] = sum over rows: columns on threadIdx.x, the reduction on threadIdx.y."""
    A = oc.placeholder((n, m), name="A")
    k = oc.reduce_axis((0, n), "k")
    B = oc.compute((m,), lambda j: oc.sum(A[k, j], axis=k), name="B")
    s = oc.create_schedule(B)
    _, ki = s[B].split(k, factor=8)
    jo, ji = s[B].split(B.op.axis[0], factor=16)
    s[B].bind(jo, oc.thread_axis("blockIdx.x"))
    s[B].bind(ji, oc.thread_axis("threadIdx.x"))
    s[B].bind(ki, oc.thread_axis("threadIdx.y"))
    return s, [A, B]


def softmax(R, L):
    """Y = softmax of X's rows, one block per row: M and S computed at the row loop,
    each with its split reduction bound to threadIdx.x (TVM's spelling, no rfactor)."""
    X = oc.placeholder((R, L), name="X")
    k1, k2 = oc.reduce_axis(L, "k1"), oc.reduce_axis(L, "k2")
    M = oc.compute((R,), lambda i: oc.max(X[i, k1], axis=k1), name="M")
    S = oc.compute((R,), lambda i: oc.sum(oc.exp(X[i, k2] - M[i]), axis=k2), name="S")
    Y = oc.compute((R, L), lambda i, j: oc.exp(X[i, j] - M[i]) / S[i], name="Y")
    s = oc.create_schedule(Y)
    i, j = Y.op.axis
    _, ji = s[Y].split(j, factor=32)
    s[Y].bind(i, oc.thread_axis("blockIdx.x"))
    s[Y].bind(ji, oc.thread_axis("threadIdx.x"))
    for T in (M, S):
        _, ki = s[T].split(T.op.reduce_axis[0], factor=32)
        s[T].compute_at(s[Y], i)
        s[T].bind(ki, oc.thread_axis("threadIdx.x"))
    return s, [X, Y]


def run(s, args, a, axis=1):
    """The emulated kernel on a; its output starts as 7.0 (a stale value must not survive)."""
    mod = oc.build(s, args, target="cuda", name="ctr", emulate=True)
    out = np.full(a.shape[1 - axis], 7.0, np.float32)
    mod(a, out)
    return out


def inputs(rng, n, m, reducer="sum"):
    a = rng.standard_normal((n, m)).astype(np.float32)
    return 0.5 + 0.7 * np.abs(a) if reducer == "prod" else a   # products stay in range


CASES = [(70, 45, "sum", True), (64, 45, "sum", False), (70, 45, "sum", False),
         (33, 100, "max", True), (37, 29, "min", False), (40, 20, "prod", True)]


@pytest.mark.parametrize("n, m, reducer, rfactor", CASES,
                         ids=[f"{r}-{n}x{m}-{'rf' if f else 'bind'}" for n, m, r, f in CASES])
def test_row_reduction_matches_numpy(n, m, reducer, rfactor, rng):
    s, args = row_reduce(n, m, reducer, rfactor)
    a = inputs(rng, n, m, reducer)
    out = run(s, args, a)
    want = REDUCERS[reducer][1](a.astype(np.float64), axis=1)
    np.testing.assert_allclose(out, want, rtol=2e-5, atol=1e-5)


def test_warp_shuffle_max_and_direct_bind_of_unsplit_axis(rng):
    s, args = warp_max(5, 200)
    assert "shfl_down" in str(oc.lower(s, args))
    a = inputs(rng, 5, 200)
    np.testing.assert_array_equal(run(s, args, a), a.max(axis=1))
    # k itself (24 threads, one element each), min
    A = oc.placeholder((7, 24), name="A")
    k = oc.reduce_axis((0, 24), "k")
    B = oc.compute((7,), lambda i: oc.min(A[i, k], axis=k), name="B")
    s = oc.create_schedule(B)
    s[B].bind(B.op.axis[0], oc.thread_axis("blockIdx.x"))
    s[B].bind(k, oc.thread_axis("threadIdx.x"))
    a = inputs(rng, 7, 24)
    np.testing.assert_array_equal(run(s, [A, B], a), a.min(axis=1))


def test_where_and_init_counted_once(rng):
    n, m = 19, 53
    A = oc.placeholder((n, m), name="A")
    k = oc.reduce_axis((0, m), "k")
    B = oc.compute((n,), lambda i: oc.sum(A[i, k], axis=k, where=(k % 3 != 1), init=2.5),
                   name="B")
    s = oc.create_schedule(B)
    _, ki = s[B].split(k, factor=32)
    s[B].bind(B.op.axis[0], oc.thread_axis("blockIdx.x"))
    s[B].bind(ki, oc.thread_axis("threadIdx.x"))
    a = inputs(rng, n, m)
    want = 2.5 + (a.astype(np.float64) * (np.arange(m) % 3 != 1)).sum(axis=1)
    np.testing.assert_allclose(run(s, [A, B], a), want, rtol=2e-5, atol=1e-5)


def test_reduction_on_threadIdx_y_with_column_tail(rng):
    s, args = column_sum(37, 50)
    a = inputs(rng, 37, 50)
    np.testing.assert_allclose(run(s, args, a, axis=0), a.astype(np.float64).sum(axis=0),
                               rtol=2e-5, atol=1e-5)


def test_fused_softmax_rows(rng):
    s, args = softmax(6, 77)
    x = inputs(rng, 6, 77).astype(np.float64)
    mod = oc.build(s, args, target="cuda", name="ctr_softmax", emulate=True)
    y = np.full(x.shape, 7.0, np.float32)
    mod(x.astype(np.float32), y)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(y, e / e.sum(axis=1, keepdims=True), rtol=2e-5, atol=1e-6)


def centered_rows(n, m, threads):
    """C = A minus its row means; M (the row sum) in local scope at C's row loop, its
    split reduction on threadIdx.x, read by every thread of the row."""
    A = oc.placeholder((n, m), name="A")
    k = oc.reduce_axis((0, m), "k")
    M = oc.compute((n,), lambda i: oc.sum(A[i, k], axis=k), name="M")
    C = oc.compute((n, m), lambda i, j: A[i, j] - M[i] / m, name="C")
    s = oc.create_schedule(C)
    _, ji = s[C].split(C.op.axis[1], factor=threads)
    s[C].bind(C.op.axis[0], oc.thread_axis("blockIdx.x"))
    s[C].bind(ji, oc.thread_axis("threadIdx.x"))
    s[M].set_scope("local")
    s[M].compute_at(s[C], C.op.axis[0])
    _, ki = s[M].split(k, factor=threads)
    s[M].bind(ki, oc.thread_axis("threadIdx.x"))
    return s, [A, C]


@pytest.mark.parametrize("threads", [16, 64])
def test_thread_local_result_reaches_every_thread(threads, rng):
    """Each thread needs the total (64 threads: a tree step, warp shuffles, then
    lane 0's total shared with the block)."""
    n, m = 4, 2 * threads
    s, args = centered_rows(n, m, threads)
    a = inputs(rng, n, m)
    mod = oc.build(s, args, target="cuda", name="ctr_local", emulate=True)
    out = np.full((n, m), 7.0, np.float32)
    mod(a, out)
    want = a - a.astype(np.float64).mean(axis=1, keepdims=True)
    np.testing.assert_allclose(out, want, rtol=2e-5, atol=1e-5)


def test_nan_and_inf_reach_their_rows(rng):
    s, args = row_reduce(40, 37, "sum", rfactor=False)
    a = inputs(rng, 40, 37)
    a[3, 5], a[17, 36], a[33, 0], a[33, 1] = np.nan, np.inf, np.inf, -np.inf
    out = run(s, args, a)
    with np.errstate(invalid="ignore"):           # inf + -inf: NaN in the reference too
        want = a.astype(np.float64).sum(axis=1)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(out), np.isinf(want))
    np.testing.assert_allclose(out, want, rtol=2e-5, atol=1e-5)


def test_one_build_serves_symbolic_sizes(rng):
    n, m = oc.size_var("n"), oc.size_var("m")
    s, args = row_reduce(n, m, "sum", rfactor=True)
    mod = oc.build(s, args, target="cuda", name="ctr_sym", emulate=True)
    for rows, cols in ((3, 5), (70, 45), (64, 64)):
        a = inputs(rng, rows, cols)
        out = np.full(rows, 7.0, np.float32)
        mod(a, out)
        np.testing.assert_allclose(out, a.astype(np.float64).sum(axis=1), rtol=2e-5, atol=1e-5)


def _stores_to(func, name) -> list:
    return [line.strip() for line in str(func).splitlines()
            if re.match(rf"\s*{name}\[.*\] = ", line)]


def test_partials_combine_as_a_tree_and_each_output_is_written_once():
    s, args = row_reduce(70, 45, "sum", rfactor=False)
    func = oc.lower(s, args)          # no target: a thread-bound schedule lowers for cuda
    text = str(func)
    assert dict(func.attrs)["target"].startswith("cuda")
    assert "alloc shared" in text and "for k.inner.v" not in text     # no serial loop left
    assert text.count("barrier()") >= 4                                # log2(16) tree steps
    init, final = _stores_to(func, "B")
    assert init.endswith("= -0.0f") and "B.rf" in final
    final_guard = text.splitlines()[text.splitlines().index(
        next(ln for ln in text.splitlines() if ln.strip() == final)) - 1]
    assert "threadIdx.x == 0" in final_guard and "< 70" in final_guard


def test_lowering_leaves_the_schedule_unchanged_and_replays():
    s, args = row_reduce(70, 45, "sum", rfactor=True)
    before = ([st.name for st in s.stages], s.trace.to_json(),
              [sorted((iv.name, a) for iv, a in st.annotations.items()) for st in s.stages])
    first = str(oc.lower(s, args, target="cuda"))
    after = ([st.name for st in s.stages], s.trace.to_json(),
              [sorted((iv.name, a) for iv, a in st.annotations.items()) for st in s.stages])
    assert before == after and str(oc.lower(s, args, target="cuda")) == first
    fresh = oc.create_schedule(args[-1].op)
    oc.Trace.from_json(s.trace.to_json()).apply(fresh)
    assert str(oc.lower(fresh, args, target="cuda")) == first


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")
def test_kernels_compile_for_sm80_without_spills():
    schedules = [row_reduce(70, 45, "sum", True), row_reduce(64, 45, "max", False),
                 warp_max(5, 200), column_sum(37, 50), softmax(6, 77),
                 centered_rows(4, 128, 64),
                 row_reduce(oc.size_var("n"), oc.size_var("m"), "sum", True)]
    texts = [CUDABackend().render(oc.lower(s, args, target="cuda -arch=sm_80", name=f"ctr{k}"),
                                  "cuda -arch=sm_80") for k, (s, args) in enumerate(schedules)]
    _, cubin, report = compile_device("\n".join(texts), "sm_80")
    assert cubin and len(report) == len(schedules)
    for name, r in report.items():
        assert r["spill_stores"] == 0 and r["spill_loads"] == 0 and r["stack_bytes"] == 0, \
            (name, r)
