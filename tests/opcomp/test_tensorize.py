"""tensorize: a GEMM whose 8x8 x 32 block is a hand-written AVX2 micro-kernel
(C, gcc, guarded by the CPU's features), an elementwise intrinsic without a
reduction, and trace replay by the intrinsic's name."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

import opcomp as oc
from opcomp import Trace

from .c_kernels import GEMM_8X8, avx2_flags, compile_library

KC = 32


@pytest.fixture(scope="module")
def gemm_lib(tmp_path_factory):
    return compile_library(tmp_path_factory.mktemp("tensorize"), "oc_tensorize_test", GEMM_8X8,
                           avx2_flags())


def gemm_intrin(kc=KC, name="tz_gemm8x8", with_body=True):
    """C[8, 8] = A[8, kc] @ B[kc, 8] on blocks of larger row-major matrices."""
    a = oc.placeholder((8, kc), name="a")
    b = oc.placeholder((kc, 8), name="b")
    k = oc.reduce_axis(kc, "k")
    c = oc.compute((8, 8), lambda i, j: oc.sum(a[i, k] * b[k, j], axis=k), name="c")
    binds = {t: oc.decl_buffer(t.shape, t.dtype, t.name, offset_factor=1,
                               strides=[oc.var(t.name + "_rows"), 1]) for t in (a, b, c)}

    def fintrin(ins, outs):
        A, B = ins
        C = outs[0]
        reset = oc.call_extern("int32", "tz_gemm8x8_reset", C.access_ptr("w"), C.strides[0])
        update = oc.call_extern("int32", "tz_gemm8x8_update", C.access_ptr("rw"),
                                A.access_ptr("r"), B.access_ptr("r"), kc, A.strides[0],
                                B.strides[0], C.strides[0])
        return ([reset, update] if with_body else None), reset, update
    return oc.decl_tensor_intrin(c.op, fintrin, name=name, binds=binds)


def matmul(M, N, K):
    A = oc.placeholder((M, K), name="A")
    B = oc.placeholder((K, N), name="B")
    k = oc.reduce_axis(K, "k")
    C = oc.compute((M, N), lambda i, j: oc.sum(A[i, k] * B[k, j], axis=k), name="C")
    return A, B, C


def blocked(C, kc=KC):
    s = oc.create_schedule(C)
    xo, yo, xi, yi = s[C].tile(C.op.axis[0], C.op.axis[1], 8, 8)
    ko, ki = s[C].split(C.op.reduce_axis[0], factor=kc)
    s[C].reorder(xo, yo, ko, xi, yi, ki)
    s[C].parallel(xo)
    return s, xi


def run_matmul(mod, M, N, K, rng):
    a = rng.standard_normal((M, K)).astype("float32")
    b = rng.standard_normal((K, N)).astype("float32")
    c = np.full((M, N), np.nan, "float32")
    mod(a, b, c)
    ref = a.astype("float64") @ b.astype("float64")
    np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-4 * np.sqrt(K))


def test_the_microkernel_uses_avx2_where_the_cpu_has_it(gemm_lib):
    uses = ctypes.CDLL(gemm_lib).tz_gemm8x8_uses_avx2()
    assert uses == (1 if avx2_flags() else 0)


@pytest.mark.parametrize("M,N,K", [(40, 56, 96), (8, 24, 32), (72, 8, 160)])
def test_gemm_block_replaced_by_the_microkernel(gemm_lib, rng, M, N, K):
    A, B, C = matmul(M, N, K)
    s, xi = blocked(C)
    s[C].tensorize(xi, gemm_intrin())
    text = str(oc.lower(s, [A, B, C]))
    assert text.count("call_extern tz_gemm8x8_update") == 1 and "k.inner" not in text
    run_matmul(oc.build(s, [A, B, C]), M, N, K, rng)


@pytest.mark.parametrize("with_body", [True, False])
def test_whole_reduction_inside_the_region(gemm_lib, rng, with_body):
    """The body replaces the region; without a body, reset then update do."""
    M, N, K = 24, 40, KC
    A, B, C = matmul(M, N, K)
    s = oc.create_schedule(C)
    xo, yo, xi, yi = s[C].tile(C.op.axis[0], C.op.axis[1], 8, 8)
    s[C].tensorize(xi, gemm_intrin(name=f"tz_gemm8x8_body_{with_body}", with_body=with_body))
    text = str(oc.lower(s, [A, B, C]))
    assert "tz_gemm8x8_reset" in text and "tz_gemm8x8_update" in text
    run_matmul(oc.build(s, [A, B, C]), M, N, K, rng)


def vadd_intrin():
    a = oc.placeholder((8,), name="va")
    b = oc.placeholder((8,), name="vb")
    c = oc.compute((8,), lambda i: a[i] + b[i], name="vc")
    return oc.decl_tensor_intrin(c.op, lambda ins, outs: oc.call_extern(
        "int32", "tz_vadd8", outs[0].access_ptr("w"), ins[0].access_ptr("r"),
        ins[1].access_ptr("r")), name="tz_vadd8")


def test_elementwise_intrinsic_on_a_row_block(gemm_lib, rng):
    """A 2-D stage, a 1-D intrinsic: the extra outer axis spans one row."""
    m, n = 7, 48
    X = oc.placeholder((m, n), name="X")
    Y = oc.placeholder((m, n), name="Y")
    Z = oc.compute((m, n), lambda i, j: X[i, j] + Y[i, j], name="Z")
    s = oc.create_schedule(Z)
    jo, ji = s[Z].split(Z.op.axis[1], factor=8)
    s[Z].tensorize(ji, vadd_intrin())
    mod = oc.build(s, [X, Y, Z])
    x, y = (rng.standard_normal((m, n)).astype("float32") for _ in range(2))
    z = np.full((m, n), np.nan, "float32")
    mod(x, y, z)
    np.testing.assert_allclose(z, x.astype("float64") + y, rtol=1e-6)


def test_trace_replays_tensorize_by_name(gemm_lib):
    A, B, C = matmul(16, 16, 64)
    s, xi = blocked(C)
    s[C].tensorize(xi, gemm_intrin())
    text = s.trace.to_json()
    assert '"intrin": "tz_gemm8x8"' in text
    fresh = oc.create_schedule(C)
    Trace.from_json(text).apply(fresh)
    assert str(oc.lower(fresh, [A, B, C])) == str(oc.lower(s, [A, B, C]))
    assert oc.get_tensor_intrin("tz_gemm8x8").name == "tz_gemm8x8"


def test_register_tile_of_a_cache_write_stage(gemm_lib, rng):
    """TVM's usual shape: C.local computed at C's 16x16 tile, its 8x8 blocks tensorized;
    the local buffer's row stride (16) binds the intrinsic's stride var."""
    M, N, K = 48, 32, 64
    A, B, C = matmul(M, N, K)
    s = oc.create_schedule(C)
    CC = s.cache_write(C, "local")
    xo, yo, xi, yi = s[C].tile(C.op.axis[0], C.op.axis[1], 16, 16)
    s[CC].compute_at(s[C], yo)
    xco, yco, xci, yci = s[CC].tile(*s[CC].op.axis, 8, 8)
    ko, ki = s[CC].split(s[CC].op.reduce_axis[0], factor=KC)
    s[CC].reorder(xco, yco, ko, xci, yci, ki)
    s[CC].tensorize(xci, gemm_intrin())
    assert "32, 64, 32, 16)" in str(oc.lower(s, [A, B, C]))
    run_matmul(oc.build(s, [A, B, C]), M, N, K, rng)
