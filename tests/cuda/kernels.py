"""GPU schedules the CUDA tests build: each returns (schedule, args, reference).

reference(*inputs) computes the outputs in float64 with NumPy.  Shapes are
parameters so the same schedule runs on small, exact and odd sizes.
"""
import numpy as np

import opcomp as oc


def bind(stage, axis, tag):
    stage.bind(axis, oc.thread_axis(tag))


def classic_gemm(M=128, N=128, K=64, block=64, threads=8, k_tile=8, copy_threads_x=None,
                 vector=False):
    """TVM's classic GPU GEMM: C in registers (cache_write local), A and B tiles in
    shared memory at the reduction's outer loop, copied by all threads of the block
    (A's copy over copy_threads_x threads in x, when given: a misuse), each thread's
    part as float4 copies when vector=True (where aligned)."""
    A = oc.placeholder((M, K), name="A")
    B = oc.placeholder((K, N), name="B")
    k = oc.reduce_axis(K, "k")
    C = oc.compute((M, N), lambda i, j: oc.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = oc.create_schedule(C)
    AA = s.cache_read(A, "shared", [C])
    BB = s.cache_read(B, "shared", [C])
    CL = s.cache_write(C, "local")
    by, yi = s[C].split(C.op.axis[0], factor=block)
    bx, xi = s[C].split(C.op.axis[1], factor=block)
    ty, yi = s[C].split(yi, nparts=threads)
    tx, xi = s[C].split(xi, nparts=threads)
    s[C].reorder(by, bx, ty, tx, yi, xi)
    bind(s[C], by, "blockIdx.y")
    bind(s[C], bx, "blockIdx.x")
    bind(s[C], ty, "threadIdx.y")
    bind(s[C], tx, "threadIdx.x")
    s[CL].compute_at(s[C], tx)
    yo, xo = s[CL].op.axis
    ko, ki = s[CL].split(s[CL].op.reduce_axis[0], factor=k_tile)
    s[CL].reorder(ko, ki, yo, xo)
    for cache in (AA, BB):
        s[cache].compute_at(s[CL], ko)
        fused = s[cache].fuse(*s[cache].op.axis)
        cty, rest = s[cache].split(fused, nparts=threads)
        nx = copy_threads_x if cache is AA and copy_threads_x else threads
        ctx, rest = s[cache].split(rest, nparts=nx)
        bind(s[cache], cty, "threadIdx.y")
        bind(s[cache], ctx, "threadIdx.x")
        if vector:
            _, lanes = s[cache].split(rest, factor=4)
            s[cache].vectorize(lanes)
    return s, [A, B, C], lambda a, b: a.astype(np.float64) @ b


def vector_add(n=1000, threads=128):
    """One element per thread, blocks over the rest; n symbolic when n is None."""
    size = oc.var("n") if n is None else n
    A = oc.placeholder((size,), name="A")
    B = oc.placeholder((size,), name="B")
    C = oc.compute((size,), lambda i: A[i] + B[i] * 2.0, name="C")
    s = oc.create_schedule(C)
    bx, tx = s[C].split(C.op.axis[0], factor=threads)
    bind(s[C], bx, "blockIdx.x")
    bind(s[C], tx, "threadIdx.x")
    return s, [A, B, C], lambda a, b: a.astype(np.float64) + b.astype(np.float64) * 2.0


def transpose_shared(M=70, N=45, tile=16):
    """A tile read row-wise into shared memory, written column-wise: each thread
    writes elements other threads loaded (a barrier between the two)."""
    A = oc.placeholder((M, N), name="A")
    B = oc.compute((N, M), lambda j, i: A[i, j], name="B")
    s = oc.create_schedule(B)
    AS = s.cache_read(A, "shared", [B])
    bj, bi, tj, ti = s[B].tile(B.op.axis[0], B.op.axis[1], tile, tile)
    bind(s[B], bj, "blockIdx.y")
    bind(s[B], bi, "blockIdx.x")
    bind(s[B], tj, "threadIdx.y")
    bind(s[B], ti, "threadIdx.x")
    s[AS].compute_at(s[B], bi)
    r, c = s[AS].op.axis
    bind(s[AS], r, "threadIdx.y")
    bind(s[AS], c, "threadIdx.x")
    return s, [A, B], lambda a: a.astype(np.float64).T


def row_softmax(R=37, L=50, threads=32):
    """Softmax over the last axis, one thread per row: four kernels (max, exp,
    sum, divide) with three temporaries in global memory between them."""
    X = oc.placeholder((R, L), name="X")
    k1 = oc.reduce_axis(L, "k1")
    Mx = oc.compute((R,), lambda i: oc.max(X[i, k1], axis=k1), name="M")
    E = oc.compute((R, L), lambda i, j: oc.exp(X[i, j] - Mx[i]), name="E")
    k2 = oc.reduce_axis(L, "k2")
    S = oc.compute((R,), lambda i: oc.sum(E[i, k2], axis=k2), name="S")
    Y = oc.compute((R, L), lambda i, j: E[i, j] / S[i], name="Y")
    s = oc.create_schedule(Y)
    for T in (Mx, S):
        bx, tx = s[T].split(T.op.axis[0], factor=threads)
        bind(s[T], bx, "blockIdx.x")
        bind(s[T], tx, "threadIdx.x")
    for T in (E, Y):
        fused = s[T].fuse(*T.op.axis)
        bx, tx = s[T].split(fused, factor=threads * 4)
        bind(s[T], bx, "blockIdx.x")
        bind(s[T], tx, "threadIdx.x")

    def reference(x):
        x = x.astype(np.float64)
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return s, [X, Y], reference


def block_rowsum(R=9, L=100, threads=32):
    """Row sums with one block per row: the threads stage the row in shared memory
    cooperatively and thread 0 adds it up (its store is guarded to thread 0)."""
    X = oc.placeholder((R, L), name="X")
    k = oc.reduce_axis(L, "k")
    S = oc.compute((R,), lambda i: oc.sum(X[i, k], axis=k), name="S")
    s = oc.create_schedule(S)
    XS = s.cache_read(X, "shared", [S])
    bind(s[S], S.op.axis[0], "blockIdx.x")
    s[XS].compute_at(s[S], S.op.axis[0])
    _, c = s[XS].op.axis
    co, ci = s[XS].split(c, nparts=threads)
    bind(s[XS], co, "threadIdx.x")
    return s, [X, S], lambda x: x.astype(np.float64).sum(axis=1)


def rowsum_rfactor(R=9, L=100, threads=32, combiner="sum"):
    """Row reductions with one block per row: rfactor makes one partial per thread
    (in shared memory), and the partials combine as a tree (warp shuffles for
    whole warps)."""
    X = oc.placeholder((R, L), name="X")
    k = oc.reduce_axis(L, "k")
    S = oc.compute((R,), lambda i: getattr(oc, combiner)(X[i, k], axis=k), name="S")
    s = oc.create_schedule(S)
    _block_reduce(s, S, threads)
    numpy_fn = {"sum": np.sum, "max": np.max, "min": np.min}[combiner]
    return s, [X, S], lambda x: numpy_fn(x.astype(np.float64), axis=1)


def _block_reduce(s, T, threads):
    """One block per row of T; its reduction split over `threads` partials, partial
    t taking elements t, t + threads, ... (neighbouring threads read neighbours)."""
    _, ki = s[T].split(T.op.reduce_axis[0], factor=threads)
    TF = s.rfactor(T, ki)
    bind(s[T], T.op.axis[0], "blockIdx.x")
    s[TF].compute_at(s[T], T.op.axis[0])
    bind(s[TF], s[TF].op.axis[0], "threadIdx.x")


def block_softmax(R=37, L=50, threads=32):
    """Softmax over the last axis with a block per row: the max and the sum are
    cross-thread reductions (rfactor + tree), exp(x - max) is inlined into both of
    its consumers."""
    X = oc.placeholder((R, L), name="X")
    k1 = oc.reduce_axis(L, "k1")
    Mx = oc.compute((R,), lambda i: oc.max(X[i, k1], axis=k1), name="M")
    E = oc.compute((R, L), lambda i, j: oc.exp(X[i, j] - Mx[i]), name="E")
    k2 = oc.reduce_axis(L, "k2")
    S = oc.compute((R,), lambda i: oc.sum(E[i, k2], axis=k2), name="S")
    Y = oc.compute((R, L), lambda i, j: E[i, j] / S[i], name="Y")
    s = oc.create_schedule(Y)
    s[E].compute_inline()
    _block_reduce(s, Mx, threads)
    _block_reduce(s, S, threads)
    _, ji = s[Y].split(Y.op.axis[1], factor=threads)
    bind(s[Y], Y.op.axis[0], "blockIdx.x")
    bind(s[Y], ji, "threadIdx.x")

    def reference(x):
        x = x.astype(np.float64)
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return s, [X, Y], reference


CORRECTNESS = {
    "classic_gemm": [dict(M=128, N=128, K=64), dict(M=100, N=77, K=37), dict(M=1, N=1, K=1),
                     dict(M=128, N=64, K=32, vector=True), dict(M=70, N=90, K=20, vector=True)],
    "vector_add": [dict(n=1000), dict(n=1)],
    "transpose_shared": [dict(M=70, N=45), dict(M=16, N=16)],
    "row_softmax": [dict(R=37, L=50), dict(R=1, L=3)],
    "block_rowsum": [dict(R=9, L=100), dict(R=2, L=31)],
    "rowsum_rfactor": [dict(R=9, L=100, threads=32), dict(R=5, L=300, threads=96, combiner="max"),
                       dict(R=3, L=50, threads=24, combiner="min"), dict(R=2, L=5, threads=7)],
    "block_softmax": [dict(R=37, L=50), dict(R=3, L=700, threads=64), dict(R=1, L=1)],
}


# -- helpers ------------------------------------------------------------------------
def shape_of(tensor, sizes=None) -> tuple:
    """A tensor's shape as ints (symbolic sizes from `sizes`, {var name: value})."""
    sizes = sizes or {}
    return tuple(int(d.value) if hasattr(d, "value") else sizes[d.name] for d in tensor.shape)


def random_inputs(args, rng, sizes=None) -> list:
    """Non-zero float32 inputs of either sign, magnitudes in [0.5, 2) (float16 for a
    float16 tensor)."""
    out = []
    for t in args:
        shape = shape_of(t, sizes)
        mag = rng.uniform(0.5, 2.0, shape)
        dtype = np.float16 if t.dtype == "float16" else np.float32
        out.append((mag * rng.choice([-1.0, 1.0], shape)).astype(dtype))
    return out


def check_against_numpy(mod, args, reference, rng, sizes=None) -> None:
    """Run mod on random inputs (outputs prefilled with NaN) and compare with the
    float64 reference within float32 rounding."""
    n_out = 1
    ins = random_inputs(args[:-n_out], rng, sizes)
    out = np.full(shape_of(args[-1], sizes), np.nan, args[-1].dtype)
    mod(*ins, out)
    ref = reference(*ins)
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5 * scale)
