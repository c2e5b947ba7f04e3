"""Arrays and devices under TVM's runtime spellings: `oc.nd.array`, `oc.cpu(0)`.

opcomp's modules take NumPy arrays (and DLPack tensors) directly; these names
exist so that code written for TVM's runtime (`tvm.nd.array(x, dev)`,
`a.numpy()`, `tvm.cpu(0)`, `tvm.device("llvm")`) runs unchanged.  An NDArray is
a NumPy array (a subclass sharing the same memory), so it goes wherever an
ndarray goes, and a module writes into it in place.

    dev = oc.cpu(0)
    a = oc.nd.array(np.arange(4, dtype="float32"), dev)
    b = oc.nd.empty((4,), "float32", dev)
    mod(a, b); b.numpy()
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backend import get_backend


_DEVICE_KINDS = {"cpu": "cpu", "llvm": "cpu", "c": "cpu", "cuda": "cuda", "gpu": "cuda",
                 "nvptx": "cuda", "opencl": "opencl", "cl": "opencl", "vulkan": "vulkan",
                 "metal": "metal", "rocm": "rocm"}
# DLPack's device codes.  opcomp has backends for cpu and cuda only; the other
# kinds are named so that TVM code probing them (`oc.device("opencl")`, then
# `oc.enabled("opencl")`) gets a device that does not exist instead of an error.
_DLPACK_CODES = {"cpu": 1, "cuda": 2, "opencl": 4, "vulkan": 7, "metal": 8, "rocm": 10}


@dataclass(frozen=True)
class Device:
    """Where an array lives: kind ("cpu", "cuda", or a kind without a backend here:
    "opencl", "vulkan", "metal", "rocm") and index."""
    kind: str
    index: int = 0

    @property
    def device_type(self) -> int:
        """DLPack's device code (1 = CPU, 2 = CUDA, 4 = OpenCL, ...), as TVM's Device.device_type."""
        return _DLPACK_CODES[self.kind]

    @property
    def device_id(self) -> int:
        return self.index

    @property
    def exist(self) -> bool:
        """True when this process can run code on the device (no GPU runtime here: CPU only)."""
        return self.kind == "cpu" and self.index == 0

    def sync(self) -> None:
        """Wait for the device's queued work: CPU kernels return when done, so nothing to wait for."""

    def __str__(self):
        return f"{self.kind}({self.index})"


def cpu(index: int = 0) -> Device:
    """The host CPU (TVM's `tvm.cpu(0)`)."""
    return device("cpu", index)


def cuda(index: int = 0) -> Device:
    """An NVIDIA GPU (TVM's `tvm.cuda(0)`); arrays on it need the CUDA backend's runtime."""
    return device("cuda", index)


def device(kind, index: int = 0) -> Device:
    """A device from a name ("cpu", "llvm", "cuda", "gpu", "opencl", ...) or a target string."""
    name = str(kind).split()[0] if kind else ""
    if name not in _DEVICE_KINDS:
        raise ValueError(f"device: unknown device {kind!r}; known: {', '.join(sorted(_DEVICE_KINDS))}")
    if not isinstance(index, int) or index < 0:
        raise ValueError(f"device: index must be a non-negative int, got {index!r}")
    return Device(_DEVICE_KINDS[name], index)


def enabled(target) -> bool:
    """Whether code for `target` can be built and run in this process (TVM's `tvm.runtime.enabled`).

    "llvm"/"cpu": always.  "cuda": only where a GPU runtime is present (nvcc alone
    compiles, it does not run: use `build(..., emulate=True)` without a GPU).
    """
    name = str(target).split()[0]
    kind = {"cpu": "llvm", "c": "llvm", "gpu": "cuda"}.get(name, name)
    try:
        return get_backend(kind).device_available()
    except NotImplementedError:         # no backend for this kind (opencl, vulkan, ...)
        return False


class NDArray(np.ndarray):
    """A NumPy array with TVM's NDArray methods (`numpy()`, `asnumpy()`, `copyfrom`, `device`)."""

    @property
    def device(self) -> Device:
        return cpu(0)

    def numpy(self) -> np.ndarray:
        """A plain ndarray copy of the contents (as TVM's NDArray.numpy())."""
        return np.array(self, copy=True).view(np.ndarray)

    asnumpy = numpy

    def copyfrom(self, source) -> "NDArray":
        """Overwrite the contents from an array of the same shape; returns self."""
        source = np.asarray(source)
        if source.shape != self.shape:
            raise ValueError(f"copyfrom: shape {source.shape} does not match the array's {self.shape}")
        np.copyto(self, source, casting="same_kind")
        return self

    def copyto(self, target):
        """Copy into another array (returns it), or to a Device (returns a new NDArray)."""
        if isinstance(target, Device):
            return array(self, target)
        np.copyto(target, self)
        return target


def _check_host(dev, what: str) -> None:
    if dev is None:
        return
    if not isinstance(dev, Device):
        raise TypeError(f"{what}: device must be an oc.cpu()/oc.device(...) Device, got {dev!r}")
    if dev.kind != "cpu":
        raise ValueError(f"{what}: opcomp's nd arrays live on the CPU; {dev} needs a CUDA "
                         "runtime (pass torch/CuPy GPU tensors to a CUDA module instead)")


def array(data, dev: Device = None, dtype=None) -> NDArray:
    """A new C-contiguous NDArray holding a copy of `data` (TVM's `tvm.nd.array`)."""
    _check_host(dev, "nd.array")
    out = np.array(data, dtype=dtype, copy=True, order="C")
    return out.view(NDArray)


def empty(shape, dtype="float32", dev: Device = None) -> NDArray:
    """A new uninitialized NDArray (TVM's `tvm.nd.empty`)."""
    _check_host(dev, "nd.empty")
    return np.empty(tuple(int(d) for d in shape), dtype=np.dtype(dtype)).view(NDArray)
