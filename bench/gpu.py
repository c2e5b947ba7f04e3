"""GPU benchmarks, ready for a machine with a CUDA device.

    python -m bench.gpu            # time each workload on the GPU, beside PyTorch (CUDA)
    python -m bench.gpu --check    # no GPU needed: each workload, small, on the emulator

Workloads (the schedules of tests/cuda/kernels.py, one definition for both):

    gemm        1024^3 float32, TVM's classic schedule (64x64 block tile, 8x8 per
                thread, shared A/B tiles at k.outer), and its float4-copy variant
    softmax     4096 x 1024 float32, a block per row, max and sum as cross-thread
                reductions (rfactor + tree + warp shuffles)

Each side is timed in this process on the same device buffers; an opcomp call
launches its kernels and synchronizes, so the figures include launch overhead,
as a user calling the module sees it.  The header prints the device and each
kernel's ptxas report (registers, spills, shared memory).
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

import opcomp as oc
from tests.cuda import kernels as K

from .common import summary, time_calls

WORKLOADS = {
    "gemm": (K.classic_gemm, dict(M=1024, N=1024, K=1024), 2.0 * 1024 ** 3, "GFLOP/s"),
    "gemm_float4": (K.classic_gemm, dict(M=1024, N=1024, K=1024, vector=True),
                    2.0 * 1024 ** 3, "GFLOP/s"),
    "softmax": (K.block_softmax, dict(R=4096, L=1024, threads=256), 2 * 4096 * 1024 * 4.0,
                "GB/s"),
}
SMALL = {"gemm": dict(M=100, N=77, K=37), "gemm_float4": dict(M=128, N=64, K=32, vector=True),
         "softmax": dict(R=7, L=300, threads=64)}


def check_on_emulator() -> int:
    """Every workload at a small size on the CPU emulator, against NumPy."""
    rng = np.random.default_rng(0)
    for name, (case, _, _, _) in WORKLOADS.items():
        s, args, reference = case(**SMALL[name])
        mod = oc.build(s, args, target="cuda", name=f"bench_{name}", emulate=True)
        K.check_against_numpy(mod, args, reference, rng)
        print(f"{name:12s} emulated: matches NumPy")
    return 0


def torch_side(name, ins):
    """The PyTorch (CUDA) call for a workload, or None without a CUDA PyTorch."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    xs = [torch.from_numpy(x).cuda() for x in ins]
    if name.startswith("gemm"):
        def run():
            torch.matmul(xs[0], xs[1])
            torch.cuda.synchronize()
    else:
        def run():
            torch.softmax(xs[0], dim=1)
            torch.cuda.synchronize()
    return run


def time_on_gpu(target: str) -> int:
    from codegen.cuda_driver import DeviceBuffer, gpu_available
    if not gpu_available():
        print("no CUDA device: nothing to time (python -m bench.gpu --check runs the "
              "workloads on the emulator)")
        return 1
    rng = np.random.default_rng(0)
    print(f"target {oc.Target(target).brief}")
    for name, (case, kw, work, unit) in WORKLOADS.items():
        s, args, reference = case(**kw)
        mod = oc.build(s, args, target=target, name=f"bench_{name}")
        for kernel, res in mod.artifact.kernel.resources.items():
            print(f"  {kernel}: {res['registers']} registers, spills {res['spill_stores']}/"
                  f"{res['spill_loads']} B, stack {res['stack_bytes']} B, shared "
                  f"{res['shared_bytes']} B")
        ins = K.random_inputs(args[:-1], rng)
        out = np.zeros(K.shape_of(args[-1]), np.float32)
        dev = [DeviceBuffer.of(x) for x in ins + [out]]
        ptrs = [d.ptr for d in dev]
        fn = mod.kernel.fn
        assert fn(*ptrs) == 0
        ref = reference(*ins)
        np.testing.assert_allclose(dev[-1].numpy(), ref, rtol=1e-4,
                                   atol=1e-4 * max(1.0, float(np.abs(ref).max())))
        sides = {"opcomp": time_calls(lambda: fn(*ptrs))}
        theirs = torch_side(name, ins)
        if theirs is not None:
            sides["torch"] = time_calls(theirs)
        for side, times in sides.items():
            med, spread = summary(times)
            print(f"{name:12s} {side:7s} {work / med / 1e9:9.1f} {unit}  (spread {spread:.0%})")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="run on the CPU emulator (no GPU)")
    p.add_argument("--target", default="cuda -arch=sm_90")
    a = p.parse_args(argv)
    return check_on_emulator() if a.check else time_on_gpu(a.target)


if __name__ == "__main__":
    sys.exit(main())
