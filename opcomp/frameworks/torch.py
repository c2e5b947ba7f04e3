"""opcomp kernels as PyTorch operators: ``oc.torch_op``.

    n = oc.var("n")
    x = oc.placeholder((n,), name="x"); y = oc.placeholder((n,), name="y")
    z = oc.compute((n,), lambda i: oc.maximum(x[i] + y[i], 0.0), name="z")
    s = oc.create_schedule(z)
    op = oc.torch_op((s, [x, y, z]), "mylib::relu_add")   # or a built Module
    out = op(tx, ty)                 # eager, or inside torch.compile(fullgraph=True)
    out.sum().backward()             # gradients from oc.gradient, compiled too

What is registered (torch.library.custom_op): the operator with the schema
``(Tensor x, Tensor y) -> Tensor`` (inputs are the module's non-output
parameters, in order; several outputs return a tuple), its CPU kernel, and its
fake (meta) implementation, which computes output shapes from input shapes
(symbolic under torch.compile), so tracing sees the op as one node: no graph
break.  Outputs are allocated by torch (torch.empty) and the kernel writes
them; contiguous inputs are shared zero-copy (a non-contiguous input is made
contiguous first, as torch's own kernels do; an expanded gradient is the
common case).  A module built with symbolic sizes serves every shape.

Autograd: given the tensor expression ((schedule, args), not only a built
Module), the backward is derived with oc.gradient from the unpacked
definition, scheduled with the library (backward.py: matmul-shaped stages
as register-tiled GEMMs, elementwise stages vectorized, column sums
vectorized) and registered as a second operator,
``<name>_backward``, taking the forward inputs and the output gradients and
returning the inputs' gradients; integer inputs get none.  Second derivatives
are not registered.

Wrong inputs (count, dtype, rank, inconsistent sizes, device) raise
opcomp's ArgumentError naming the operator and the argument, in eager mode
and while torch.compile traces (where torch wraps it in its own error type).
"""
from __future__ import annotations

import importlib
import re

from .. import dtype as dt
from .. import te
from ..build import build
from ..runtime.args import ArgumentError
from ..runtime.module import Module
from ..schedule import Schedule, create_schedule
from ..runtime.dlpack import KDL_CUDA
from .kernel_spec import KernelSpec

# The backward is rewritten and scheduled by the op library (schedules/backward.py:
# GEMM-shaped gradients as the library's GEMM).  opcomp imports nothing above it, so
# the module is found by name on first use, as backends are (backend.BACKEND_MODULES).
BACKWARD_MODULE = "schedules.backward"


def _backward():
    return importlib.import_module(BACKWARD_MODULE)

__all__ = ["torch_op", "TorchOp"]

_NAME = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)::([A-Za-z_][A-Za-z0-9_]*)\Z")
# Words a schema cannot use as an argument name.
_RESERVED = {"self", "out", "Tensor", "int", "float", "bool", "str", "None", "True", "False",
             "Scalar", "Device", "Layout", "ScalarType", "Generator", "Storage"}


def _torch_dtype(name: str):
    import torch
    table = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
             "int8": torch.int8, "int16": torch.int16, "int32": torch.int32,
             "int64": torch.int64, "uint8": torch.uint8, "bool": torch.bool}
    # uint16/32/64 exist in torch >= 2.3 only: looked up when asked
    return table[name] if name in table else getattr(torch, name)


def _dtype_name(torch_dtype) -> str:
    return str(torch_dtype).removeprefix("torch.")


class TorchOp:
    """A registered operator: call it on tensors; it returns the outputs.

    Attributes: name ("ns::op"), custom_op (torch's CustomOpDef), overload
    (torch.ops.ns.op.default, for graphs and opcheck), module (the forward
    Module), backward (the TorchOp of the gradient, or None), schema.
    """

    def __init__(self, name, custom_op, spec, backward=None):
        self.name, self.custom_op, self.spec, self.backward = name, custom_op, spec, backward
        self.module = spec.module
        ns, op = name.split("::")
        import torch
        self.overload = getattr(getattr(torch.ops, ns), op).default
        self.schema = str(self.overload._schema)

    def __call__(self, *tensors):
        _check_tensors(self.spec, tensors)
        return self.custom_op(*tensors)

    def __repr__(self):
        return f"<opcomp.TorchOp {self.schema}>"


def torch_op(op, name: str, *, differentiable: bool = True, target="llvm") -> TorchOp:
    """Register an opcomp kernel as the PyTorch operator `name` ("namespace::op").

    op: a built Module, or (schedule, args) as for oc.build (built here, with
    the op's name as kernel name), e.g. a library op's ``schedules.get(op)(sizes)``;
    built with symbolic sizes (oc.var) it serves every shape, with concrete
    ones the shapes it was built for.  Every output's shape must follow from
    the inputs' shapes.  differentiable: register a backward derived with
    oc.gradient (needs (schedule, args): a built Module keeps no tensor
    expression, and its backward raises saying so).
    """
    m = _NAME.match(name) if isinstance(name, str) else None
    if m is None:
        raise ValueError(f"torch_op: operator name must be 'namespace::name' (identifiers), "
                         f"got {name!r}")
    mod, args = _module_and_args(op, m.group(2), target)
    spec = KernelSpec(mod, name)
    custom = _register(spec, name)
    backward = None
    if differentiable:
        if args is None:
            why = ("torch_op was given a built Module, which keeps no tensor expression; "
                   "pass (schedule, args) to derive the backward")
        elif _device_type(spec) == "cuda":
            why = ("the backward of a CUDA operator is not built yet (the library's "
                   "backward schedules are CPU schedules)")
        else:
            why, backward = None, _backward_op(args, name, target)
        _register_autograd(custom, spec, backward, name, why)
    return TorchOp(name, custom, spec, backward)


def _module_and_args(op, kernel_name: str, target):
    """(Module, the te args or None) for a Module or a (schedule, args) pair."""
    if isinstance(op, Module):
        return op, None
    if isinstance(op, (tuple, list)) and len(op) == 2 and isinstance(op[0], Schedule):
        s, args = op
        return build(s, list(args), target=target, name=kernel_name), list(args)
    raise TypeError(f"torch_op: expected a Module or (schedule, args), got "
                    f"{type(op).__name__}")


# -- registration ------------------------------------------------------------------------
def _arg_names(params) -> list:
    out = []
    for p in params:
        base = re.sub(r"\W", "_", p.name)
        base = base if base and not base[0].isdigit() else f"_{base}"
        base = f"{base}_" if base in _RESERVED else base
        name, k = base, 1
        while name in out:
            name, k = f"{base}_{k}", k + 1
        out.append(name)
    return out


def _schema(spec: KernelSpec) -> str:
    args = ", ".join(f"Tensor {n}" for n in _arg_names(spec.inputs))
    rets = "Tensor" if len(spec.outputs) == 1 else \
        "(" + ", ".join("Tensor" for _ in spec.outputs) + ")"
    return f"({args}) -> {rets}"


def _register(spec: KernelSpec, name: str):
    """The custom op with its CPU kernel and fake implementation."""
    import torch
    # Registering a name again replaces the operator (torch allows it, for notebooks).
    plans = {}              # the eager calls' checked input metadata -> output shapes
    custom = torch.library.custom_op(name, lambda *xs: _run(spec, xs, plans), mutates_args=(),
                                     schema=_schema(spec))
    custom.register_fake(lambda *xs: _allocate(spec, xs, symbolic=True))
    return custom


def _check_tensors(spec: KernelSpec, xs) -> None:
    import torch
    spec.check_count(len(xs))
    for p, x in zip(spec.inputs, xs):
        if not isinstance(x, torch.Tensor):
            raise ArgumentError(f"{spec.name}: argument {p.name} must be a torch.Tensor, "
                                f"got {type(x).__name__}")


def _check(spec: KernelSpec, xs, symbolic: bool) -> list:
    """Check the input tensors; the output shapes (symbolic while tracing)."""
    _check_tensors(spec, xs)
    want = _device_type(spec)
    for k, (p, x) in enumerate(zip(spec.inputs, xs)):
        if x.device.type != want:
            move = ".cpu()" if want == "cpu" else ".cuda()"
            raise ArgumentError(f"{spec.name}: argument {p.name} is on {x.device}, but this "
                                f"operator runs on the {want.upper()}; move it with {move}")
        spec.check_dtype(k, _dtype_name(x.dtype))
        spec.check_rank(k, tuple(x.shape))
    shapes = [tuple(x.shape) for x in xs]
    sizes = spec.sizes(shapes)
    for k, (want, got) in enumerate(zip(spec.expected_input_shapes(sizes), shapes)):
        for d, (w, g) in enumerate(zip(want, got)):
            _check_dim(spec, k, d, w, g, got, symbolic)
    return spec.output_shapes(sizes)


def _check_dim(spec, k, d, want, got, shape, symbolic) -> None:
    if isinstance(want, int) and isinstance(got, int):
        spec.check_dim(k, d, want, got, shape)
    elif symbolic:
        import torch
        # A runtime assertion under torch.compile rather than a specialization.
        torch._check(want == got, lambda: f"{spec.name}: argument {spec.inputs[k].name} has "
                     f"shape {tuple(shape)}, expected {spec.expected_text(k, d, want, got)}")


def _allocate(spec: KernelSpec, xs, symbolic: bool, shapes=None):
    import torch
    shapes = _check(spec, xs, symbolic) if shapes is None else shapes
    device = xs[0].device if xs else torch.device("cpu")
    outs = [torch.empty(shape, dtype=_torch_dtype(p.dtype), device=device)
            for p, shape in zip(spec.outputs, shapes)]
    return outs[0] if len(outs) == 1 else tuple(outs)


def _device_type(spec: KernelSpec) -> str:
    """"cuda" for a module built for the GPU (its arrays are CUDA tensors), else "cpu"."""
    return "cuda" if spec.module.signature.device == KDL_CUDA else "cpu"


def host_array(x):
    """The NumPy view of a CPU tensor's memory (made contiguous first if it is not)."""
    return x.detach().contiguous().numpy()


def _run(spec: KernelSpec, xs, plans: dict):
    # Checking costs more than a small kernel: inputs of the same shapes, dtypes and
    # devices as an earlier call get its output shapes without a second check.
    key = tuple((x.shape, x.dtype, x.device) for x in xs)
    shapes = plans.get(key)
    if shapes is None:
        shapes = _check(spec, xs, symbolic=False)
        if len(plans) >= 256:
            plans.clear()
        plans[key] = shapes
    result = _allocate(spec, xs, False, shapes)
    outs = [result] if len(spec.outputs) == 1 else list(result)
    if _device_type(spec) == "cuda":      # device memory, shared through DLPack
        spec.module(*spec.arrange([x.detach().contiguous() for x in xs], outs))
    else:
        spec.module(*spec.arrange([host_array(x) for x in xs], [o.numpy() for o in outs]))
    return result


# -- autograd ------------------------------------------------------------------------------
def _backward_op(args, name: str, target) -> "TorchOp | None":
    """The operator computing the inputs' gradients from the inputs and the outputs' ones
    (None when no input has a float dtype: then autograd never asks)."""
    inputs = [a for a in args if isinstance(a.op, te.PlaceholderOp)]
    outputs = [a for a in args if not isinstance(a.op, te.PlaceholderOp)]
    diff = [x for x in inputs if dt.is_float(x.dtype)]
    if not diff:
        return None
    heads = [te.placeholder(o.shape, o.dtype, name=f"grad_{o.name}") for o in outputs]
    grads, gemms = _backward().backward_graph(outputs, diff, heads, target)   # one per input in diff
    results = grads + _anchor(grads, inputs + heads)
    s = create_schedule(results)
    _backward().schedule_backward(s, grads, gemms, target)
    mod_b = build(s, inputs + heads + results, target=target,
                  name=f"{name.split('::')[1]}_backward")
    spec = KernelSpec(mod_b, f"{name}_backward")
    op = TorchOp(f"{name}_backward", _register(spec, f"{name}_backward"), spec)
    op.differentiable = [x in diff for x in inputs]
    return op


def _anchor(grads, tensors) -> list:
    """A one-element output that names the arguments the gradients do not use.

    The backward takes every forward input and output gradient (sizes are bound
    from them, and the schema stays simple), but lowering accepts only tensors
    of the computation: this output makes them part of it.  Its reads sit under
    a condition that never holds, so it costs one store and reads nothing."""
    used = {t.op for t in te.tensors_in_order(grads)}
    unused = [t for t in tensors if t.op not in used]
    if not unused:
        return []

    def body(i):
        total = None
        for t in unused:
            v = t[(0,) * t.ndim].astype("float64")
            total = v if total is None else total + v
        return te.sum(total, axis=te.reduce_axis(1, "never"), where=i < 0)
    return [te.compute((1,), body, name="unused_arguments")]


def _register_autograd(custom, spec: KernelSpec, backward, name: str, why=None) -> None:
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    def run_backward(ctx, *grads):
        if backward is None:
            raise RuntimeError(f"{name}: no gradient: {why}")
        xs = ctx.saved_tensors
        grads = _materialize(spec, xs, grads)
        result = backward(*xs, *grads)
        result = list(result) if isinstance(result, (tuple, list)) else [result]
        return tuple(result.pop(0) if d else None for d in backward.differentiable)
    custom.register_autograd(run_backward, setup_context=setup_context)


def _materialize(spec: KernelSpec, xs, grads) -> list:
    """Zeros for outputs whose gradient autograd left undefined."""
    if all(g is not None for g in grads):
        return list(grads)
    import torch
    shapes = spec.output_shapes(spec.sizes([tuple(x.shape) for x in xs]))
    return [g if g is not None else torch.zeros(shape, dtype=_torch_dtype(p.dtype))
            for g, shape, p in zip(grads, shapes, spec.outputs)]
