"""DLPack tensors read directly: data pointer, shape, strides, dtype, device.

    view = DLView.of(tensor)     # tensor: any object with __dlpack__ (PyTorch, JAX, CuPy...)
    view.ctypes.data, view.shape, view.dtype, view.flags.c_contiguous, view.device

No NumPy array is made: the view reads the producer's DLTensor struct through
ctypes and keeps the capsule alive (the producer's memory stays valid while
the view lives; when the view dies the capsule's destructor frees the
producer's handle, since we never take ownership).  The view has the
attribute names of an ndarray that argument checking reads, so one checker
serves both.
"""
from __future__ import annotations

import ctypes
import math
from types import SimpleNamespace

import numpy as np

KDL_CPU = 1
KDL_CUDA = 2
DEVICE_NAMES = {1: "cpu", 2: "cuda", 3: "cuda_host", 4: "opencl", 7: "vulkan", 8: "metal",
                9: "vpi", 10: "rocm", 13: "cuda_managed", 14: "oneapi"}
# DLDataType code -> NumPy kind; bfloat16 (code 4) has no NumPy dtype: ml_dtypes'.
_KINDS = {0: "i", 1: "u", 2: "f", 6: "b"}
_BFLOAT16_CODE = 4


class _Device(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _Tensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _Device), ("ndim", ctypes.c_int32),
                ("dtype", _DataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class _Managed(ctypes.Structure):
    _fields_ = [("dl_tensor", _Tensor), ("manager_ctx", ctypes.c_void_p),
                ("deleter", ctypes.c_void_p)]


_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype = ctypes.c_void_p
_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def device_of(x) -> tuple:
    """(DLPack device type, id) of a tensor, or (None, description) when it has none."""
    try:
        dev = x.__dlpack_device__()
        kind = int(dev[0])
        return kind, f"{DEVICE_NAMES.get(kind, kind)}:{dev[1]}"
    except Exception:     # torch's meta tensors have no DLPack device at all
        return None, str(getattr(x, "device", "an unknown device"))


def _dtype(t: _Tensor) -> np.dtype:
    code, bits, lanes = t.dtype.code, t.dtype.bits, t.dtype.lanes
    if (code, bits, lanes) == (_BFLOAT16_CODE, 16, 1):
        from ..dtype import numpy_dtype
        return numpy_dtype("bfloat16")       # ml_dtypes.bfloat16 (a clear error without it)
    kind = _KINDS.get(code)
    if kind is None or lanes != 1 or bits % 8:
        raise BufferError(f"DLPack dtype (code {code}, {bits} bits, {lanes} lanes) has no "
                          "opcomp equivalent")
    return np.dtype("bool") if kind == "b" else np.dtype(f"{kind}{bits // 8}")


class DLView:
    """What argument checking reads of a tensor, taken from its DLPack capsule."""

    def __init__(self, capsule, t: _Tensor):
        self._capsule = capsule               # keeps the producer's memory alive
        self.dtype = _dtype(t)
        self.ndim = int(t.ndim)
        self.shape = tuple(int(t.shape[i]) for i in range(self.ndim))
        item = self.dtype.itemsize
        elems = tuple(int(t.strides[i]) for i in range(self.ndim)) if t.strides else None
        self.strides = tuple(s * item for s in elems) if elems else _row_major(self.shape, item)
        self.nbytes = item * math.prod(self.shape)
        data = (t.data or 0) + int(t.byte_offset)
        self.ctypes = SimpleNamespace(data=data)
        self.flags = SimpleNamespace(c_contiguous=_is_row_major(self.shape, self.strides, item),
                                     writeable=True)
        self.device = (int(t.device.device_type), int(t.device.device_id))

    @classmethod
    def of(cls, x) -> "DLView":
        """The view of a DLPack producer (raises BufferError/TypeError/... as producers do)."""
        capsule = x.__dlpack__()
        address = _get_pointer(capsule, b"dltensor")
        managed = _Managed.from_address(address)
        return cls(capsule, managed.dl_tensor)


def _row_major(shape: tuple, item: int) -> tuple:
    out, step = [], item
    for n in reversed(shape):
        out.append(step)
        step *= max(n, 1)
    return tuple(reversed(out))


def _is_row_major(shape: tuple, strides: tuple, item: int) -> bool:
    """Compact row-major (dimensions of extent 1 may have any stride, as in NumPy)."""
    step = item
    for n, s in zip(reversed(shape), reversed(strides)):
        if n != 1 and s != step:
            return False
        step *= n
    return True
