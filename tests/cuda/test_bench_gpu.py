"""bench/gpu.py imports and runs its no-GPU paths here: the timing mode says there is
no device, the check mode runs a workload on the emulator."""

import bench.gpu as bg


def test_timing_without_gpu_says_so(monkeypatch, capsys):
    import codegen.cuda_driver as drv
    monkeypatch.setattr(drv, "gpu_available", lambda: False)
    assert bg.main([]) == 1
    assert "no CUDA device" in capsys.readouterr().out


def test_roofline_is_the_slower_bound():
    assert bg.roofline(2e12, 1e9, 1.0, 1000.0) == 2.0          # compute-bound
    assert bg.roofline(1e6, 4e12, 100.0, 1000.0) == 4.0         # memory-bound


def test_a_workload_runs_on_the_emulator(rng):
    from tests.cuda import kernels as K
    _, _, _, _, _, small, reference = bg.WORKLOADS["relu_add"]
    mod, args = bg.build("relu_add", small, "cuda -arch=sm_90", emulate=True)
    K.check_against_numpy(mod, args, reference, rng)
    assert set(bg.WORKLOADS) >= {"matmul", "conv2d", "softmax", "layer_norm", "sum"}


def test_tensor_core_row_runs_on_the_emulator(rng):
    from tests.cuda import kernels as K
    _, _, options, _, _, small, reference = bg.WORKLOADS["matmul_fp16"]
    assert options == {"dtype": "float16"}
    mod, args = bg.build("matmul_fp16", small, "cuda -arch=sm_90", emulate=True)
    assert [t.dtype for t in args] == ["float16", "float16", "float32"]
    assert "nvcuda::wmma::mma_sync(" in mod.source("cuda")
    K.check_against_numpy(mod, args, reference, rng)
