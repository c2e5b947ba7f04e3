"""GPU (CUDA) schedule templates of the operator library.

Each op's entry point in schedules/ dispatches here when its target is a CUDA
one (``schedules.get("matmul")(M, N, K, target="cuda -arch=sm_90")``); the CPU
path is unchanged.  Every template is an autotune template whose knob
defaults come from the Target (warp size, threads per block, registers per
thread, shared memory per block):

    gpu/matmul, gpu/batch_matmul   gemm.py        shared + register tiles
    gpu/conv2d                     conv.py        direct NCHW, weights in shared memory
    gpu/softmax, gpu/log_softmax,  rows.py        a block per row, cross-thread
    gpu/layer_norm, gpu/rms_norm,                 reductions (rfactor + tree)
    gpu/reduce
    gpu/injective                  elementwise.py a thread per element
    gpu/matmul_tensorcore          tensorcore.py  float16 (bfloat16: sm_80 on) on the
                                                  tensor cores (WMMA intrinsics: wmma.py),
                                                  float32 out
"""
from .common import cuda_target
from .conv import gpu_conv2d
from .elementwise import gpu_entry, gpu_injective, schedule_elementwise
from .gemm import gpu_batch_matmul, gpu_matmul
from .rows import gpu_layer_norm, gpu_log_softmax, gpu_reduce, gpu_rms_norm, gpu_softmax
from .tensorcore import gpu_matmul_tensorcore
from .wmma import wmma_gemm, wmma_load_matrix, wmma_store_matrix

__all__ = ["cuda_target", "gpu_conv2d", "gpu_entry", "gpu_injective", "schedule_elementwise",
           "gpu_batch_matmul", "gpu_matmul", "gpu_layer_norm", "gpu_log_softmax", "gpu_reduce",
           "gpu_rms_norm", "gpu_softmax", "gpu_matmul_tensorcore", "wmma_gemm",
           "wmma_load_matrix", "wmma_store_matrix"]
