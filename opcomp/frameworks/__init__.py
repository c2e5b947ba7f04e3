"""Compiled kernels where users work: PyTorch operators (torch.py) and JAX functions (jax.py).

    op = oc.torch_op(mod, "mylib::relu_add")       # a torch.library custom operator
    sm = schedules.torch_library_op("softmax", "mylib::softmax")   # a library op, any shape
    f = opcomp.frameworks.jax_function(mod)        # a function of JAX arrays, jit-able

torch and jax are optional: they are imported when these functions are called,
never by ``import opcomp``.  The framework-independent part (which parameters
are inputs, the output shapes as functions of the input shapes, the checks)
is kernel_spec.py.
"""
from .kernel_spec import FrameworkError, KernelSpec  # noqa: F401


def torch_op(op, name: str, *, differentiable: bool = True, target="llvm"):
    """Register an opcomp kernel as the PyTorch operator `name` ("namespace::op").

    op: a built Module or (schedule, args); returns a TorchOp, called on
    tensors, returning the outputs.  See opcomp.frameworks.torch for the details.
    """
    from .torch import torch_op as make
    return make(op, name, differentiable=differentiable, target=target)


def jax_function(mod, name: str = None):
    """A function of JAX arrays running `mod` (eagerly or under jax.jit); see
    opcomp.frameworks.jax."""
    from .jax import jax_function as make
    return make(mod, name)
