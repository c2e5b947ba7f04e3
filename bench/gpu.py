"""GPU benchmarks of the operator library's GPU templates, ready for a machine with a
CUDA device.

    python -m bench.gpu            # time each workload on the GPU, beside PyTorch (CUDA)
    python -m bench.gpu --check    # no GPU needed: each workload, small, on the emulator

Workloads: the templates of schedules/gpu/ at their default configuration,
through the op entry points (schedules.get(op)(..., target="cuda -arch=...")):

    matmul        2048^3 float32           against torch.matmul (cuBLAS)
    matmul_fp16   4096^3 float16 in, float32 out, on the tensor cores (WMMA)
                                           against torch.matmul in float16 (cuBLAS)
    batch_matmul  16 x 512 x 512 x 512     against torch.bmm (cuBLAS)
    conv2d        1x64x56x56, 64 3x3, pad 1  against F.conv2d (cuDNN)
    softmax       4096 x 1024              against torch.softmax
    layer_norm    4096 x 1024              against F.layer_norm
    sum           4096 x 1024, last axis   against torch.sum
    relu_add      4096 x 1024 (+ a row)    against torch.relu(a + b)

Each side is timed in this process on the same device buffers; an opcomp call
launches its kernels and synchronizes, so the figures include launch overhead,
as a user calling the module sees it.  Printed per workload: each kernel's
ptxas report, opcomp's and PyTorch's rate, the ratio (opcomp / PyTorch: above
1 is faster) and opcomp's fraction of the roofline: min(peak FLOP/s, intensity
x bandwidth) for the device's peak and bandwidth (--peak-tflops,
--bandwidth-gbs; H100/H200 SXM fp32 defaults; the float16 row's peak is the
tensor cores', --peak-fp16-tflops).
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

import opcomp as oc
import schedules
from tests.cuda import kernels as K
from tests.cuda.templates import batch_ref, conv_ref, layer_norm_ref, softmax_ref

from .common import summary, time_calls

def _bytes(*shapes, itemsize=4) -> float:
    return float(itemsize) * sum(int(np.prod(s)) for s in shapes)


# name: (op, sizes, options, flop, bytes moved, small sizes for --check, reference)
WORKLOADS = {
    "matmul": ("matmul", (2048, 2048, 2048), {}, 2.0 * 2048 ** 3, _bytes(*[(2048, 2048)] * 3),
               (37, 29, 13), lambda a, b: a.astype(np.float64) @ b),
    "matmul_fp16": ("matmul", (4096, 4096, 4096), {"dtype": "float16"}, 2.0 * 4096 ** 3,
                    _bytes(*[(4096, 4096)] * 2, itemsize=2) + _bytes((4096, 4096)),
                    (37, 29, 13), lambda a, b: a.astype(np.float64) @ b.astype(np.float64)),
    "batch_matmul": ("batch_matmul", (16, 512, 512, 512), {}, 2.0 * 16 * 512 ** 3,
                     _bytes(*[(16, 512, 512)] * 3), (2, 19, 7, 11), batch_ref(False, False)),
    "conv2d": ("conv2d", (1, 64, 56, 56, 64, 3, 3), {"padding": 1},
               2.0 * 64 * 56 * 56 * 64 * 9, _bytes((64, 56, 56), (64, 64, 3, 3), (64, 56, 56)),
               (1, 3, 7, 7, 5, 3, 3), conv_ref(1, 1, 1, 1)),
    "softmax": ("softmax", (4096, 1024), {}, 5.0 * 4096 * 1024, _bytes(*[(4096, 1024)] * 2),
                (5, 37), softmax_ref),
    "layer_norm": ("layer_norm", (4096, 1024), {}, 8.0 * 4096 * 1024,
                   _bytes((4096, 1024), (4096, 1024)), (3, 37), layer_norm_ref(1e-5)),
    "sum": ("sum", ((4096, 1024),), {"axis": -1}, 4096 * 1024.0, _bytes((4096, 1024)),
            ((5, 37),), lambda x: x.astype(np.float64).sum(axis=-1)),
    "relu_add": ("relu_add", ((4096, 1024), (1024,)), {}, 2 * 4096 * 1024.0,
                 _bytes((4096, 1024), (4096, 1024)), ((7, 11), (11,)),
                 lambda a, b: np.maximum(a.astype(np.float64) + b, 0)),
}


def build(name, sizes, target, emulate=False):
    op, _, options, *_ = WORKLOADS[name]
    s, args = schedules.get(op)(*sizes, **options, target=target)
    return oc.build(s, args, target=target, name=f"bench_{name}", emulate=emulate), args


def check_on_emulator(target="cuda -arch=sm_90") -> int:
    """Every workload at a small size on the CPU emulator, against NumPy."""
    rng = np.random.default_rng(0)
    for name, (_, _, _, _, _, small, reference) in WORKLOADS.items():
        mod, args = build(name, small, target, emulate=True)
        K.check_against_numpy(mod, args, reference, rng)
        print(f"{name:13s} emulated: matches NumPy")
    return 0


def torch_side(name, xs):
    """The PyTorch (CUDA) call for a workload on device tensors xs."""
    import torch
    import torch.nn.functional as F
    calls = {"matmul": lambda: torch.matmul(xs[0], xs[1]),
             "matmul_fp16": lambda: torch.matmul(xs[0], xs[1]),      # float16 tensors
             "batch_matmul": lambda: torch.bmm(xs[0], xs[1]),
             "conv2d": lambda: F.conv2d(xs[0], xs[1], padding=1),
             "softmax": lambda: torch.softmax(xs[0], dim=1),
             "layer_norm": lambda: F.layer_norm(xs[0], xs[0].shape[1:], xs[1], xs[2]),
             "sum": lambda: xs[0].sum(dim=-1),
             "relu_add": lambda: torch.relu(xs[0] + xs[1])}

    def run():
        calls[name]()
        torch.cuda.synchronize()
    return run


def _torch_cuda():
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def roofline(flop, nbytes, peak_tflops, bandwidth_gbs) -> float:
    """The fastest time the device allows: compute- or bandwidth-bound."""
    return max(flop / (peak_tflops * 1e12), nbytes / (bandwidth_gbs * 1e9))


TENSOR_CORE_ROWS = ("matmul_fp16",)      # timed against the tensor cores' peak


def time_on_gpu(target: str, peak_tflops: float, bandwidth_gbs: float,
                peak_fp16_tflops: float = 989.0) -> int:
    from codegen.cuda_driver import DeviceBuffer, gpu_available
    if not gpu_available():
        print("no CUDA device: nothing to time (python -m bench.gpu --check runs the "
              "workloads on the emulator)")
        return 1
    rng = np.random.default_rng(0)
    print(f"target {oc.Target(target).brief}; roofline: {peak_tflops} TFLOP/s, "
          f"{bandwidth_gbs} GB/s")
    with_torch = _torch_cuda()
    for name, (_, sizes, _, flop, nbytes, _, _) in WORKLOADS.items():
        mod, args = build(name, sizes, target)
        for kernel, res in mod.artifact.kernel.resources.items():
            print(f"  {kernel}: {res['registers']} registers, spills {res['spill_stores']}/"
                  f"{res['spill_loads']} B, shared {res['shared_bytes']} B")
        ins = K.random_inputs(args[:-1], rng)
        out = np.zeros(K.shape_of(args[-1]), args[-1].dtype)
        dev = [DeviceBuffer.of(x) for x in ins + [out]]
        ptrs = [d.ptr for d in dev]
        fn = mod.kernel.fn
        assert fn(*ptrs) == 0
        med, spread = summary(time_calls(lambda: fn(*ptrs)))
        peak = peak_fp16_tflops if name in TENSOR_CORE_ROWS else peak_tflops
        best = roofline(flop, nbytes, peak, bandwidth_gbs)
        line = (f"{name:13s} opcomp {flop / med / 1e9:9.1f} GFLOP/s {nbytes / med / 1e9:7.1f} "
                f"GB/s (spread {spread:.0%}), roofline {best / med:.0%}")
        if with_torch:
            import torch
            tmed, _ = summary(time_calls(torch_side(name, [torch.from_numpy(x).cuda()
                                                            for x in ins])))
            line += f", torch {flop / tmed / 1e9:9.1f} GFLOP/s, ratio {tmed / med:.2f}"
        print(line)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="run on the CPU emulator (no GPU)")
    p.add_argument("--target", default="cuda -arch=sm_90")
    p.add_argument("--peak-tflops", type=float, default=67.0, help="fp32 peak (H100/H200 SXM)")
    p.add_argument("--bandwidth-gbs", type=float, default=4800.0, help="HBM bandwidth (H200)")
    p.add_argument("--peak-fp16-tflops", type=float, default=989.0,
                   help="dense float16 tensor-core peak (H100/H200 SXM)")
    a = p.parse_args(argv)
    if a.check:
        return check_on_emulator(a.target)
    return time_on_gpu(a.target, a.peak_tflops, a.bandwidth_gbs, a.peak_fp16_tflops)


if __name__ == "__main__":
    sys.exit(main())
