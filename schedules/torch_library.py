"""A library op with symbolic sizes as a PyTorch operator: ``schedules.torch_library_op``.

    sm = schedules.torch_library_op("softmax", "mylib::softmax")           # every (R, L)
    ln = schedules.torch_library_op("layer_norm", "mylib::ln", None, 768)  # rows symbolic, L = 768
    fc = schedules.torch_library_op("dense", "mylib::fc", None, 256, 512, bias=True,
                             activation="gelu_tanh")                 # any batch M
    r = schedules.torch_library_op("relu", "mylib::relu", (None, None))     # shape sizes too

Sizes are the op's own (schedules.get(op)'s positional arguments); a size
left out, or given as None, becomes an oc.size_var named after the parameter
(``R``; ``shape0``, ``shape1`` inside a shape), so one build serves every
value of it.  Keyword options go to the op (dtype, bias, axis, ...).  The
result is oc.torch_op's TorchOp: eager, torch.compile(fullgraph=True,
dynamic=True) and opcheck, with a backward from oc.gradient.

Which sizes may be symbolic is the op's business; the library accepts them
for the rows of softmax, log_softmax, layer_norm and rms_norm (their row
length too), the rows M of dense and matmul, and every size of the
elementwise ops, transpose, cast and the reductions.  A size an op needs as
a number raises the op's own error naming it.
"""
from __future__ import annotations

import inspect

from opcomp.te import size_var

__all__ = ["torch_library_op", "symbolic_sizes"]


def symbolic_sizes(fn, sizes) -> tuple:
    """The op's positional sizes with each missing or None size (also inside a shape
    tuple) replaced by an oc.size_var named after its parameter."""
    params = [p for p in inspect.signature(fn).parameters.values()
              if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty]
    if len(sizes) > len(params):
        names = ", ".join(p.name for p in params)
        raise TypeError(f"torch_library_op: {fn.__name__} takes {len(params)} sizes "
                        f"({names}), got {len(sizes)}")
    sizes = tuple(sizes) + (None,) * (len(params) - len(sizes))
    return tuple(_symbolic(p.name, s) for p, s in zip(params, sizes))


def _symbolic(name: str, value):
    if value is None:
        return size_var(name)
    if isinstance(value, (tuple, list)):
        return tuple(size_var(f"{name}{k}") if d is None else d for k, d in enumerate(value))
    return value


def torch_library_op(op: str, name: str, *sizes, differentiable: bool = True,
                     target="llvm", **options):
    """Register the library op `op` (schedules.get(op)) with symbolic sizes as the
    PyTorch operator `name` ("namespace::op"); see the module docstring.

    sizes: the op's sizes, each an int, None (symbolic) or, for a shape, a tuple
    of those; left out: symbolic.  options: the op's keyword options."""
    from opcomp.frameworks.torch import torch_op
    from . import get
    fn = get(op)
    s, args = fn(*symbolic_sizes(fn, sizes), target=target, **options)
    return torch_op((s, args), name, differentiable=differentiable, target=target)
