"""Golden text: the loop IR after the GPU tail and the CUDA C of canonical GPU
schedules are pinned.

Run `python -m pytest tests/cuda/test_golden.py --update-golden` to rewrite the
files after an intended change, then read the diff.
"""
from pathlib import Path

import pytest

import opcomp as oc
from codegen.cuda import CUDABackend

from . import kernels as K

GOLDEN = Path(__file__).parent / "golden"
CASES = {"classic_gemm": (K.classic_gemm, dict(M=128, N=128, K=64)),
         "classic_gemm_float4": (K.classic_gemm, dict(M=128, N=128, K=64, vector=True)),
         "block_softmax": (K.block_softmax, dict(R=37, L=50)),
         "row_softmax": (K.row_softmax, dict(R=37, L=50)),
         "transpose_shared": (K.transpose_shared, dict(M=70, N=45))}


def lowered(name):
    case, kw = CASES[name]
    s, args, _ = case(**kw)
    return oc.lower(s, args, target="cuda -arch=sm_90", name=name)


def check(text, path, update):
    if update:
        path.write_text(text)
    assert path.exists(), f"no golden file {path.name}; run with --update-golden"
    assert text == path.read_text()


@pytest.mark.parametrize("name", CASES)
def test_cuda_source_golden(name, update_golden):
    func = lowered(name)
    text = CUDABackend().render(func, "cuda -arch=sm_90")
    check(text, GOLDEN / f"{name}.cu", update_golden)


@pytest.mark.parametrize("name", ["classic_gemm"])
def test_gpu_loop_ir_golden(name, update_golden):
    check(str(lowered(name)) + "\n", GOLDEN / f"{name}.tir", update_golden)
