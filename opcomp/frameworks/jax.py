"""opcomp kernels on JAX arrays (CPU): zero-copy through DLPack, and inside jax.jit.

    import opcomp.frameworks.jax as ocjax
    f = ocjax.jax_function(mod)          # mod: a built Module (symbolic sizes serve every shape)
    z = f(x, y)                          # x, y: jax arrays; z: a jax array
    z = jax.jit(lambda x, y: f(x, y) * 2)(x, y)

Eagerly, the kernel reads the input arrays' memory through DLPack (no copy),
writes outputs allocated on 64-byte boundaries, and hands them to JAX through
DLPack again (no copy: XLA's CPU client adopts 64-byte aligned buffers).
Under a transformation (jit, vmap) the call becomes a ``jax.pure_callback``
whose result shapes come from the input shapes; the callback receives the
arrays on the CPU and runs the same kernel.  Wrong inputs raise ArgumentError
naming the function and the argument (at trace time under jit).  No gradient
is registered (use the PyTorch operator for training).  jax is imported here
only, never by ``import opcomp``.
"""
from __future__ import annotations

import numpy as np

from .kernel_spec import KernelSpec

__all__ = ["jax_function"]

_ALIGN = 64


def jax_function(mod, name: str = None):
    """A function of JAX arrays that runs `mod` and returns its outputs (a tuple if several).

    name: how errors call the function (default: the kernel's name)."""
    spec = KernelSpec(mod, name or mod.name)

    def call(*xs):
        import jax
        shapes = _check(spec, xs)
        if any(isinstance(x, jax.core.Tracer) for x in xs):
            return _traced(spec, xs, shapes)
        return _eager(spec, xs, shapes)
    call.__name__ = call.__qualname__ = spec.module.name
    call.__doc__ = f"Run opcomp kernel {spec.module.name} on JAX arrays; returns its outputs."
    return call


def _check(spec: KernelSpec, xs) -> list:
    """The output shapes, after checking count, dtypes and shapes of the inputs."""
    spec.check_count(len(xs))
    for k, x in enumerate(xs):
        spec.check_dtype(k, np.dtype(x.dtype).name)
    return spec.output_shapes(spec.check_shapes([tuple(x.shape) for x in xs]))


def aligned_empty(shape, dtype) -> np.ndarray:
    """An uninitialized array whose data starts on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + _ALIGN, np.uint8)
    start = -raw.ctypes.data % _ALIGN
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def _run(spec: KernelSpec, xs, shapes) -> list:
    outs = [aligned_empty(shape, p.np_dtype) for p, shape in zip(spec.outputs, shapes)]
    spec.module(*spec.arrange(list(xs), outs))      # inputs read through DLPack
    return outs


def _pack(outs):
    return outs[0] if len(outs) == 1 else tuple(outs)


def _eager(spec: KernelSpec, xs, shapes):
    import jax.numpy as jnp
    return _pack([jnp.from_dlpack(o) for o in _run(spec, xs, shapes)])


def _traced(spec: KernelSpec, xs, shapes):
    import jax
    result = [jax.ShapeDtypeStruct(shape, p.np_dtype) for p, shape in zip(spec.outputs, shapes)]
    return jax.pure_callback(lambda *arrays: _pack(_run(spec, arrays, shapes)),
                             _pack(result), *xs, vmap_method="sequential")
