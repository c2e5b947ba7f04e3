"""The PTX compiler choice (NVRTC where libnvrtc loads, else nvcc), export of CUDA
modules, and tuning a cuda task without a GPU (screened by resources and the emulator,
never timed)."""
import dataclasses
import json
import shutil

import numpy as np
import pytest

import opcomp as oc
import schedules
from autotune import gpu_screen, jobs
from autotune.records import ErrorCode
from codegen import cuda_compile
from codegen.cuda_nvrtc import find_nvrtc

from . import kernels as K

needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")
needs_nvrtc = pytest.mark.skipif(find_nvrtc() is None, reason="libnvrtc not installed here")


def small_kernel_source(arch="sm_80"):
    s, args, _ = K.vector_add(n=1000)
    from codegen.cuda import CUDABackend
    return CUDABackend().render(oc.lower(s, args, target=f"cuda -arch={arch}", name="vadd"),
                                f"cuda -arch={arch}")


def test_compiler_choice_is_reported(monkeypatch):
    monkeypatch.setenv("OPCOMP_CUDA_COMPILER", "nvcc")
    assert cuda_compile.ptx_compiler() == "nvcc"
    monkeypatch.setenv("OPCOMP_CUDA_COMPILER", "nvrtc")
    assert cuda_compile.ptx_compiler() == "nvrtc"
    monkeypatch.delenv("OPCOMP_CUDA_COMPILER")
    assert cuda_compile.ptx_compiler() == ("nvrtc" if find_nvrtc() else "nvcc")
    from codegen.cuda import CUDABackend
    assert f"ptx by {cuda_compile.ptx_compiler()}" in CUDABackend().toolchain()


@needs_nvcc
def test_artifact_names_its_ptx_compiler(monkeypatch):
    monkeypatch.setenv("OPCOMP_CUDA_COMPILER", "nvcc")
    s, args, _ = K.vector_add(n=1000)
    art = oc.compile(oc.lower(s, args, target="cuda -arch=sm_80", name="vadd_choice"),
                     "cuda -arch=sm_80")
    assert art.kernel.ptx_compiler == "nvcc" and ".entry vadd_choice_kernel0" in art.kernel.ptx


@needs_nvcc
@needs_nvrtc
def test_nvrtc_and_nvcc_give_ptx_for_the_same_kernel():
    source = small_kernel_source()
    by_nvcc = cuda_compile.compile_ptx(source, "sm_80", "nvcc")
    by_nvrtc = cuda_compile.compile_ptx(source, "sm_80", "nvrtc")
    for ptx in (by_nvcc, by_nvrtc):
        assert ".entry vadd_kernel0" in ptx and ".target sm_80" in ptx


@needs_nvrtc
def test_an_nvrtc_newer_than_ptxas_is_not_used(monkeypatch):
    # ptxas rejects PTX from a newer NVRTC, so such a library must not be picked
    import codegen.cuda_nvrtc as nv
    found = find_nvrtc()
    lib_version = nv._version(__import__("ctypes").CDLL(found))
    monkeypatch.setattr(nv, "_toolkit_version", lambda: (lib_version[0] - 1, 9))
    nv.find_nvrtc.cache_clear()
    try:
        assert nv.find_nvrtc() is None
    finally:
        nv.find_nvrtc.cache_clear()


def test_missing_nvrtc_is_a_clear_error(monkeypatch):
    import codegen.cuda_nvrtc as nv
    monkeypatch.setattr(nv, "find_nvrtc", lambda: None)
    with pytest.raises(nv.NVRTCError, match="libnvrtc not found"):
        nv.compile_ptx("", "sm_80")


def test_emulated_cuda_module_exports_and_loads_back(tmp_path, rng):
    s, args = schedules.get("softmax")(5, 37, target="cuda")
    mod = oc.build(s, args, target="cuda", emulate=True, name="softmax_export")
    path = mod.export_library(tmp_path / "libsoftmax_export.so")
    assert (tmp_path / "libsoftmax_export.h").exists()
    loaded = oc.load_module(path)
    x = rng.uniform(-3, 3, (5, 37)).astype(np.float32)
    y_mod, y_lib = np.full_like(x, np.nan), np.full_like(x, np.nan)
    mod(x, y_mod)
    loaded(x, y_lib)
    np.testing.assert_array_equal(y_lib, y_mod)
    e = np.exp(x.astype(np.float64) - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(y_lib, e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-6)


@needs_nvcc
def test_gpu_build_export_is_refused_with_the_reason(tmp_path):
    s, args, _ = K.vector_add(n=1000)
    mod_art = oc.compile(oc.lower(s, args, target="cuda -arch=sm_80", name="vadd_gpu"),
                         "cuda -arch=sm_80")
    from codegen.cuda import CUDABackend
    from opcomp.runtime.export import ExportError
    with pytest.raises(ExportError, match="launch through the CUDA driver hooks"):
        CUDABackend().objects(mod_art.kernel, "cuda -arch=sm_80")


# -- tuning without a GPU -------------------------------------------------------------
def fake_kernel(registers=32, spills=0, block=(16, 16, 1), shared=4096):
    report = {"k0": {"registers": registers, "spill_stores": spills, "spill_loads": spills,
                     "stack_bytes": 0, "shared_bytes": 0, "barriers": 1, "const_bytes": 0}}
    from codegen.cuda import CUDAArtifact
    return CUDAArtifact("k", "", b"", 3, 0, "sm_80", json.dumps(
        [{"kernel": "k0", "block": list(block), "shared_bytes": shared}]),
        report=json.dumps(report))


def test_resource_screen_names_each_limit():
    t = "cuda -arch=sm_80"
    assert gpu_screen.resource_problems(fake_kernel(), t) == []
    problems = gpu_screen.resource_problems(
        fake_kernel(registers=255, spills=8, block=(32, 32, 2), shared=300000), t)
    text = "; ".join(problems)
    for part in ("2048 threads per block > 1024", "registers x 2048 threads",
                 "300000 bytes of shared memory > 166912", "spills 8/8 bytes"):
        assert part in text


@needs_nvcc
def test_screen_checks_a_candidate_on_the_emulator(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_screen, "gpu_present", lambda: False)
    target = "cuda -arch=sm_80"
    s, args = schedules.get("matmul")(13, 11, 7, target=target)
    art = oc.compile(oc.lower(s, args, target=target, name="screened"), target)
    rng = np.random.default_rng(1)
    a, b = (rng.uniform(-1, 1, sh).astype(np.float32) for sh in ((13, 7), (7, 11)))
    paths = []
    for k, arr in enumerate((a, b, np.full((13, 11), np.nan, np.float32))):
        paths.append(str(tmp_path / f"arg{k}.npy"))
        np.save(paths[-1], arr)
    np.save(tmp_path / "ref.npy", (a.astype(np.float64) @ b).astype(np.float32))
    job = jobs.RunJob(art, tuple(paths), {"2": str(tmp_path / "ref.npy")})
    good = gpu_screen.screen(job)
    assert good.error == ErrorCode.OK and good.costs == () and "timings need a GPU" in good.message
    np.save(tmp_path / "ref.npy", np.zeros((13, 11), np.float32) + 1)
    bad = gpu_screen.screen(job)
    assert bad.error == ErrorCode.WRONG_ANSWER and bad.message.startswith("emulated:")
    limits_only = gpu_screen.screen(dataclasses.replace(job, reference={}))
    assert limits_only.error == ErrorCode.OK and "not run" in limits_only.message
    over = dataclasses.replace(art, kernel=fake_kernel(spills=4))
    assert gpu_screen.screen(dataclasses.replace(job, artifact=over)).error == \
        ErrorCode.RUN_ERROR


def test_tuning_a_cuda_task_without_gpu_warns(monkeypatch):
    from autotune import Task
    monkeypatch.setattr(gpu_screen, "gpu_present", lambda: False)
    with pytest.warns(gpu_screen.NoGPUWarning, match="timings need a GPU"):
        gpu_screen.announce(Task("gpu/softmax", args=(4, 33), target="cuda -arch=sm_90"))


@needs_nvcc
def test_tune_cuda_task_without_gpu_screens_and_times_nothing(tmp_path, monkeypatch):
    from autotune import Task, apply_history_best, tune
    from autotune import records as rlog
    monkeypatch.setattr(gpu_screen, "gpu_present", lambda: False)
    log = tmp_path / "gpu.jsonl"
    task = Task("gpu/softmax", args=(3, 33), target="cuda -arch=sm_80")
    with pytest.warns(gpu_screen.NoGPUWarning):
        result = tune(task, trials=1, tuner="grid", log=str(log), validate=0, progress=False)
    (rec,) = rlog.load(str(log))
    assert rec.error == ErrorCode.OK and rec.costs == () and not rec.ok
    assert "timings need a GPU" in rec.message and result.best is None
    with apply_history_best(str(log)):          # nothing timed: the fallback applies
        s, args = schedules.get("softmax")(3, 33, target="cuda -arch=sm_80")
    assert len(args) == 2
