"""Misuses of bfloat16: tensor cores below sm_80, the CPU backend, a dtype the tensor
cores do not multiply, host arrays without ml_dtypes.  Each a clear error naming it."""
import sys

import numpy as np
import pytest

import opcomp as oc
import schedules
from opcomp import dtype as dt
from schedules.gpu.tensorcore import gpu_matmul_tensorcore
from schedules.gpu.wmma import wmma_gemm, wmma_load_matrix


def test_bfloat16_tensor_cores_below_sm80():
    target = "cuda -arch=sm_75"
    s, args = schedules.get("matmul")(32, 32, 32, dtype="bfloat16", target=target)
    with pytest.raises(oc.ScheduleError, match=r"intrinsic wmma_gemm_bfloat16 runs bfloat16 "
                       r"on the tensor cores, which needs sm_80 or later; the target is "
                       r"cuda -arch=sm_75: use float16 there, or a newer arch"):
        oc.lower(s, args, target=target)


def test_float16_tensor_cores_below_sm80_still_lower():
    target = "cuda -arch=sm_75"
    s, args = schedules.get("matmul")(32, 32, 32, dtype="float16", target=target)
    assert oc.lower(s, args, target=target) is not None


def test_bfloat16_on_the_llvm_backend():
    A = oc.placeholder((8,), "bfloat16", name="A")
    B = oc.compute((8,), lambda i: A[i].astype("float32"), name="B")
    s = oc.create_schedule(B)
    with pytest.raises(TypeError, match=r"LLVM backend: bfloat16 is not supported on the CPU "
                       r"target \(A of main is bfloat16\); build it for cuda"):
        oc.build(s, [A, B], target="llvm")


def test_wmma_gemm_of_float32():
    with pytest.raises(oc.TensorError, match=r"wmma_gemm: the tensor cores multiply float16 "
                                             r"or bfloat16, got dtype 'float32'"):
        wmma_gemm("float32")


def test_wmma_load_matrix_of_int8():
    with pytest.raises(oc.TensorError, match=r"wmma_load_matrix: the tensor cores multiply"):
        wmma_load_matrix("wmma.matrix_a", "int8")


def test_tensorcore_template_of_float32():
    with pytest.raises(oc.TensorError, match=r"gpu/matmul_tensorcore: dtype must be 'float16' "
                       r"or 'bfloat16' \(the tensor cores' inputs\), got 'float32'"):
        gpu_matmul_tensorcore(32, 32, 32, dtype="float32")


def test_bfloat16_host_arrays_without_ml_dtypes(monkeypatch):
    monkeypatch.setitem(sys.modules, "ml_dtypes", None)       # import ml_dtypes fails
    with pytest.raises(ImportError, match=r"bfloat16 arrays need the ml_dtypes package"):
        dt.numpy_dtype("bfloat16")
    assert dt.numpy_dtype("float16") == np.dtype(np.float16)     # others need nothing


def test_wmma_load_of_bfloat16_memory_into_a_float16_fragment():
    """A hand-made load converting bfloat16 to float16: nvcuda::wmma has no such load."""
    src = oc.placeholder((16, 16), "bfloat16", name="src")
    frag = oc.compute((16, 16), lambda i, j: src[i, j].astype("float16"), name="frag")
    binds = {src: oc.decl_buffer((16, 16), "bfloat16", "src", strides=[oc.var("ldm"), 1],
                                 offset_factor=1),
             frag: oc.decl_buffer((16, 16), "float16", "frag", offset_factor=256)}
    load = oc.decl_tensor_intrin(frag.op, lambda ins, outs: oc.call_extern(
        "int32", "opcomp_wmma_load_a", outs[0].access_ptr("w"), ins[0].access_ptr("r"),
        ins[0].strides[0]), name="load_bf16_as_half", binds=binds)
    A = oc.placeholder((2, 16, 16), "bfloat16", name="A")
    F = oc.compute((2, 16, 16), lambda b, i, j: A[b, i, j].astype("float16"), name="F")
    C = oc.compute((2, 16, 16), lambda b, i, j: F[b, i, j].astype("float32"), name="C")
    s = oc.create_schedule(C)
    s[F].set_scope("wmma.matrix_a")
    s[C].bind(C.op.axis[0], oc.thread_axis("blockIdx.x"))
    s[F].compute_at(s[C], C.op.axis[0])
    s[F].tensorize(F.op.axis[1], load)
    with pytest.raises(oc.ScheduleError, match=r"opcomp_wmma_load_a mixes F \(float16\) and A "
                       r"\(bfloat16\): the tensor cores take one input dtype"):
        oc.lower(s, [A, C], target="cuda -arch=sm_80")
