"""Every GPU kernel the tests build compiles with nvcc for sm_80 and sm_90 without
spills, and the ptxas resource report reaches the artifact.

nvcc takes seconds, so the kernels are compiled together: one translation unit
per architecture (kernel names are unique per function), two nvcc runs in all,
memoized in-process; oc.compile's artifacts are kept by the compile cache.
"""
import re
import shutil

import pytest

import opcomp as oc
from codegen.cuda import CUDABackend
from codegen.cuda_compile import compile_device, parse_ptxas_report

from . import kernels as K

ARCHS = ["sm_80", "sm_90"]
needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")


def all_kernels_source(arch) -> tuple:
    """(one CUDA C file with every test kernel, the kernel names it defines)."""
    target = f"cuda -arch={arch}"
    texts, names = [], []
    for name, cases in K.CORRECTNESS.items():
        for k, kw in enumerate(cases):
            s, args, _ = getattr(K, name)(**kw)
            func = oc.lower(s, args, target=target, name=f"{name}{k}")
            text = CUDABackend().render(func, target)
            texts.append(text)
            names += re.findall(r"__global__ void __launch_bounds__\(\d+\) (\w+)\(", text)
    return "\n".join(texts), names


@needs_nvcc
@pytest.mark.parametrize("arch", ARCHS)
def test_every_kernel_compiles_without_spills(arch):
    source, names = all_kernels_source(arch)
    ptx, cubin, report = compile_device(source, arch)
    assert f".target {arch}" in ptx and cubin
    assert sorted(report) == sorted(names)
    for name, r in report.items():
        assert r["spill_stores"] == 0 and r["spill_loads"] == 0, (name, r)
        # Register tiles stay in registers, odd shapes included (pad_register_loops).
        assert r["stack_bytes"] == 0, (name, r)
        assert 0 < r["registers"] <= oc.Target(f"cuda -arch={arch}").registers_per_thread


@needs_nvcc
def test_artifact_carries_ptx_cubin_and_resources():
    s, args, _ = K.classic_gemm()
    target = "cuda -arch=sm_80"
    art = oc.compile(oc.lower(s, args, target=target, name="mm"), target)
    kernel = art.kernel
    assert not kernel.emulated and kernel.arch == "sm_80"
    assert ".entry mm_kernel0" in kernel.ptx and kernel.cubin[:4] == b"\x7fELF"
    res = kernel.resources["mm_kernel0"]
    assert res["spill_stores"] == res["spill_loads"] == 0
    assert res["shared_bytes"] == 4096             # the A and B tiles, 2 KiB each
    assert kernel.kernel_launches == [{"kernel": "mm_kernel0", "block": [8, 8, 1],
                                       "shared_bytes": 4096}]


SAMPLE_LOG = """\
ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'mm_kernel0' for 'sm_80'
ptxas info    : Function properties for mm_kernel0
    0 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads
ptxas info    : Used 128 registers, used 1 barriers, 376 bytes cmem[0]
ptxas info    : Compiling entry function 'other' for 'sm_80'
ptxas info    : Function properties for other
    16 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 12 registers, 1024 bytes smem, 360 bytes cmem[0]
"""


def test_ptxas_report_is_parsed_per_kernel():
    assert parse_ptxas_report(SAMPLE_LOG) == {
        "mm_kernel0": {"registers": 128, "spill_stores": 8, "spill_loads": 4, "stack_bytes": 0,
                       "shared_bytes": 0, "barriers": 1, "const_bytes": 376},
        "other": {"registers": 12, "spill_stores": 0, "spill_loads": 0, "stack_bytes": 16,
                  "shared_bytes": 1024, "barriers": 0, "const_bytes": 360},
    }
