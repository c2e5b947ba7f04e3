"""CUDA tests: those marked ``gpu`` run only where the CUDA driver sees a device;
everything else runs without one (nvcc for compiling, the CPU emulator for
correctness: emulate=True)."""
import pytest


def pytest_collection_modifyitems(config, items):
    gpu_items = [it for it in items if it.get_closest_marker("gpu")]
    if not gpu_items:
        return
    from codegen.cuda_driver import gpu_available
    if gpu_available():
        return
    skip = pytest.mark.skip(reason="no CUDA GPU (the driver sees no device)")
    for it in gpu_items:
        it.add_marker(skip)
