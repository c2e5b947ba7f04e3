"""Python functions called from kernels (TVM's register_func + call_packed).

    @oc.register_func("my_copy")
    def my_copy(a, b):                  # NumPy views of the buffers, shared memory
        np.copyto(b, a)

    C = oc.extern(A.shape, [A], lambda ins, outs: oc.call_packed("my_copy", ins[0], outs[0]))

A call site becomes a call to a C thunk (a ctypes callback, registered with
LLVM's symbol table) whose arguments are, per buffer, its pointer, shape and
strides (int64), and per scalar an int64 or a double.  The thunk wraps the
buffers as NumPy arrays and looks the function up by name at call time.  If
the function raises, the kernel stops with an error naming it (the exception
is kept in ``last_error()``).  Kernels that call Python cannot be exported.

Builtins: "opcomp.builtin.copy" (dst = src) and "opcomp.builtin.matmul"
(C = A @ B through NumPy's BLAS, optionally transposed, as TVM's
tvm.contrib.cblas.matmul) are registered at import.
"""
from __future__ import annotations

import ctypes
import hashlib

import numpy as np

from . import dtype as dt
from . import te
from .ir import expr as E

__all__ = ["register_func", "call_packed", "PACKED_PREFIX", "last_error"]

PACKED_PREFIX = "opcomp_packed_"
_FUNCS: dict = {}
_THUNKS: dict = {}            # symbol -> the ctypes callback (kept alive)
_ERRORS: list = []
_NAMES: dict = {}             # symbol -> the Python name it calls


def register_func(func_name=None, f=None, override=False):
    """Register a Python function under a name for call_packed (TVM's register_func):
    as a decorator (@register_func or @register_func("name")) or directly."""
    if callable(func_name) and f is None:
        return register_func(func_name.__name__, func_name, override)
    if not isinstance(func_name, str) or not func_name:
        raise te.TensorError(f"register_func: the name must be a non-empty string, "
                             f"got {func_name!r}")

    def add(fn):
        if func_name in _FUNCS and not override:
            raise te.TensorError(f"register_func: {func_name!r} is already registered; pass "
                                 "override=True to replace it")
        _FUNCS[func_name] = fn
        return fn
    return add(f) if f is not None else add


def name_of(symbol: str) -> str:
    """The registered name a thunk symbol calls."""
    return _NAMES.get(symbol, symbol)


def last_error():
    """The exception the last failing packed function raised (None if none did)."""
    return _ERRORS[-1] if _ERRORS else None


def call_packed(func_name, *args) -> E.CallExtern:
    """A call from the kernel to the Python function registered as func_name;
    declared buffers arrive as NumPy arrays, numbers as Python scalars."""
    if not isinstance(func_name, str):
        raise te.TensorError(f"call_packed: the function name must be a string, got "
                             f"{func_name!r}")
    kinds, values = [], []
    for a in args:
        if _is_declared_buffer(a):
            kinds.append(("buffer", a.dtype, len(a.shape)))
            values += [a.access_ptr("rw")] + [E.cast(x, "int64") for x in a.shape] + \
                [E.cast(x, "int64") for x in a.strides]
        else:
            e = _scalar(func_name, a)
            kinds.append(("float" if dt.is_float(e.dtype) else "int",))
            values.append(E.cast(e, "float64" if dt.is_float(e.dtype) else "int64"))
    symbol = _thunk(func_name, tuple(kinds))
    return E.CallExtern(symbol, tuple(values), "int32")


def _is_declared_buffer(a) -> bool:
    # extern.DeclBuffer, by its interface: extern imports this module
    return hasattr(a, "access_ptr") and hasattr(a, "strides") and hasattr(a, "elem_offset")


def _scalar(func_name, a) -> E.Expr:
    try:
        e = E.as_expr(a)
    except (TypeError, ValueError, OverflowError):
        e = None
    if e is None or dt.lanes(e.dtype) != 1:
        raise te.TensorError(f"call_packed {func_name}: cannot pass {a!r}; pass declared "
                             "buffers (ins[k], outs[k]) or numbers")
    return e


def _thunk(func_name: str, kinds: tuple) -> str:
    """The C symbol of the thunk for this name and argument kinds (made once)."""
    digest = hashlib.sha256(repr((func_name, kinds)).encode()).hexdigest()[:12]
    clean = "".join(c if c.isalnum() else "_" for c in func_name)
    symbol = f"{PACKED_PREFIX}{clean}_{digest}"
    if symbol not in _THUNKS:
        import llvmlite.binding as llvm
        argtypes = []
        for k in kinds:
            argtypes += [ctypes.c_void_p] + [ctypes.c_int64] * (2 * k[2]) if k[0] == "buffer" \
                else [ctypes.c_double if k[0] == "float" else ctypes.c_int64]
        proto = ctypes.CFUNCTYPE(ctypes.c_int32, *argtypes)
        callback = proto(lambda *raw: _invoke(func_name, kinds, raw))
        _THUNKS[symbol], _NAMES[symbol] = callback, func_name
        llvm.add_symbol(symbol, ctypes.cast(callback, ctypes.c_void_p).value)
    return symbol


def _invoke(func_name: str, kinds: tuple, raw: tuple) -> int:
    """Run the Python function on the kernel's arguments; 0, or -1 if it raised."""
    try:
        fn = _FUNCS.get(func_name)
        if fn is None:
            raise LookupError(f"call_packed: no Python function is registered as "
                              f"{func_name!r} (oc.register_func)")
        fn(*_unpack(kinds, list(raw)))
        return 0
    except BaseException as e:      # noqa: BLE001  (nothing may unwind through C frames)
        _ERRORS.append(e)
        return -1


def _unpack(kinds, raw) -> list:
    out = []
    for k in kinds:
        if k[0] != "buffer":
            out.append(raw.pop(0))
            continue
        _, dtype, ndim = k
        ptr, shape, strides = raw[0], raw[1:1 + ndim], raw[1 + ndim:1 + 2 * ndim]
        del raw[:1 + 2 * ndim]
        out.append(_array(ptr, dtype, shape, strides))
    return out


def _array(ptr, dtype, shape, strides) -> np.ndarray:
    """A writable NumPy view of the buffer at ptr (strides in elements)."""
    np_dtype = np.dtype(dtype)
    span = 1 + sum((n - 1) * s for n, s in zip(shape, strides)) if all(shape) else 0
    raw = (ctypes.c_byte * (span * np_dtype.itemsize)).from_address(ptr) if span else b""
    base = np.frombuffer(raw, np_dtype) if span else np.empty(0, np_dtype)
    return np.lib.stride_tricks.as_strided(
        base, tuple(shape), tuple(s * np_dtype.itemsize for s in strides))


# ---------------------------------------------------------------------------
# builtins: what TVM reaches through tvm.contrib (cblas ...), here on NumPy
# ---------------------------------------------------------------------------

def _builtin_copy(src, dst):
    """opcomp.builtin.copy(src, dst): dst[...] = src."""
    np.copyto(dst, src, casting="unsafe")


def _builtin_matmul(a, b, c, transa=0, transb=0):
    """opcomp.builtin.matmul(A, B, C, transa, transb): C = op(A) @ op(B) through NumPy's
    BLAS (TVM's tvm.contrib.cblas.matmul)."""
    np.matmul(a.T if transa else a, b.T if transb else b, out=c)


register_func("opcomp.builtin.copy", _builtin_copy)
register_func("opcomp.builtin.matmul", _builtin_matmul)
