"""The GPU templates of schedules/gpu/: emulated correctness against NumPy on odd
sizes, nvcc resources at full tiles (0 spills on sm_80 and sm_90), target-derived
defaults, dispatch from the op entry points, and the softmax template's CUDA C."""
import re
import shutil

import pytest

import opcomp as oc
import schedules
from autotune import apply_config
from codegen.cuda import CUDABackend
from codegen.cuda_compile import compile_device

from . import kernels as K
from .templates import FULL, SMALL

GOLDEN = K.__file__.rsplit("/", 1)[0] + "/golden"
needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")


def run_emulated(case, rng, target="cuda -arch=sm_90"):
    s, args, reference = case(target)
    mod = oc.build(s, args, target=target, emulate=True, name="tmpl")
    K.check_against_numpy(mod, args, reference, rng)


@pytest.mark.parametrize("case", SMALL, ids=[c.label for c in SMALL])
def test_template_matches_numpy_emulated(case, rng):
    run_emulated(case, rng)


@pytest.mark.parametrize("values", [{"vector_copy": 1}, {"threads": "8x16",
                                                          "thread_tile": "2x4", "tile_k": 4}])
def test_matmul_knobs_stay_correct(values, rng):
    with apply_config(values):
        run_emulated(SMALL[2], rng)


def test_conv_without_shared_weights(rng):
    with apply_config({"weight_shared": 0, "thread_tile": "2x2", "tile_c": 2}):
        run_emulated(SMALL[5], rng)


@needs_nvcc
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_every_template_compiles_without_spills(arch):
    target = oc.Target(f"cuda -arch={arch}")
    texts = []
    for k, case in enumerate(FULL):
        s, args, _ = case(target)
        texts.append(CUDABackend().render(oc.lower(s, args, target=target, name=f"t{k}"),
                                          target))
    source = "\n".join(texts)
    _, _, report = compile_device(source, arch)
    names = re.findall(r"__global__ void __launch_bounds__\(\d+\) (\w+)\(", source)
    assert sorted(report) == sorted(names)
    for name, r in report.items():
        assert r["spill_stores"] == r["spill_loads"] == r["stack_bytes"] == 0, (name, r)
        assert 0 < r["registers"] <= target.registers_per_thread, (name, r)


def test_defaults_follow_the_target():
    small = oc.Target("cuda -arch=sm_80 -max-threads-per-block=128 -registers-per-thread=64")
    s, args = schedules.get("matmul")(256, 256, 256, target=small)
    func = oc.lower(s, args, target=small, name="mm_small")
    text = CUDABackend().render(func, small)
    block = re.search(r"__launch_bounds__\((\d+)\)", text).group(1)
    assert int(block) <= 128
    big = oc.lower(*schedules.get("matmul")(256, 256, 256, target="cuda -arch=sm_90"),
                   target="cuda -arch=sm_90", name="mm_big")
    assert "__launch_bounds__(256)" in CUDABackend().render(big, "cuda -arch=sm_90")


def test_rows_template_threads_follow_the_row_length():
    from schedules.gpu.common import row_threads
    t = oc.Target("cuda -arch=sm_90")
    assert [row_threads(t, L) for L in (1, 33, 100, 5000)] == [32, 64, 128, 256]


def test_cpu_path_is_unchanged():
    s, args = schedules.get("softmax")(4, 40, target="llvm")
    text = str(oc.lower(s, args, target="llvm", name="sm_cpu"))
    assert "threadIdx" not in text and "blockIdx" not in text
    s, args = schedules.get("add")((4, 40), (40,), target="llvm")
    assert "blockIdx" not in str(oc.lower(s, args, target="llvm", name="add_cpu"))


def test_gpu_entry_points_record_their_template():
    s, _ = schedules.get("matmul")(64, 64, 64, target="cuda")
    assert s.trace is not None
    for name, call in (("gpu/matmul", lambda: schedules.get("matmul")(8, 8, 8, target="cuda")),
                       ("gpu/injective", lambda: schedules.get("exp")((8,), target="cuda"))):
        from autotune.template import registered
        assert name in registered()
        call()


def test_softmax_template_cuda_golden(update_golden):
    s, args = schedules.get("softmax")(7, 128, target="cuda -arch=sm_90")
    text = CUDABackend().render(oc.lower(s, args, target="cuda -arch=sm_90",
                                         name="softmax_template"), "cuda -arch=sm_90")
    path = GOLDEN + "/softmax_template.cu"
    if update_golden:
        open(path, "w").write(text)
    assert text == open(path).read()


def test_double_buffer_knob_runs_on_the_emulator(rng):
    from autotune import Task
    space = Task("gpu/matmul", args=(64, 64, 64), target="cuda -arch=sm_90").space
    names = set(space.knobs)
    assert {"threads", "thread_tile", "tile_k", "vector_copy", "double_buffer"} <= names
    with apply_config({"double_buffer": 1}):
        run_emulated(SMALL[1], rng)


def test_injective_threads_knob_reaches_the_kernel():
    with apply_config({"threads": 64}):
        s, args = schedules.get("exp")((1000,), target="cuda -arch=sm_90")
    text = CUDABackend().render(oc.lower(s, args, target="cuda -arch=sm_90", name="exp64"),
                                "cuda -arch=sm_90")
    assert "__launch_bounds__(64)" in text and "dim3(16, 1, 1)" in text
