"""A kernel seen from a framework: inputs in, outputs allocated and returned.

A Module is destination passing: ``mod(x, y, z)`` writes z.  A framework
operator takes the inputs only and allocates the outputs itself, so it must
know the output shapes before the kernel runs, from the input shapes alone:

    spec = KernelSpec(mod, "mylib::relu_add")
    spec.inputs, spec.outputs                # ParamSpecs, in the module's order
    sizes = spec.sizes([x.shape, y.shape])   # the size variables, from input shapes
    spec.output_shapes(sizes)                # [(n,)]

Sizes may be Python ints or symbolic integers (torch.SymInt while
torch.compile traces), so shape expressions are evaluated as Python code over
the size values (the whitelist of runtime/args.py: + - * // % min max).
Checks raise ArgumentError naming the operator and the argument.
"""
from __future__ import annotations

from ..dtype import SCALARS
from ..errors import OpcompError
from ..ir import expr as E
from ..runtime.args import ArgumentError, _bindings, _py_expr

__all__ = ["KernelSpec", "FrameworkError"]


class FrameworkError(OpcompError, ValueError):
    """A kernel that cannot become a framework operator (its outputs' shapes are unknown)."""


def _min(a, b):
    if isinstance(a, int) and isinstance(b, int):
        return min(a, b)
    import torch          # only symbolic sizes get here, and only torch makes them
    return torch.sym_min(a, b)


def _max(a, b):
    if isinstance(a, int) and isinstance(b, int):
        return max(a, b)
    import torch
    return torch.sym_max(a, b)


def _shape_fn(shapes: list, names: dict):
    """A function from the size values to a list of shape tuples (Python over the whitelist)."""
    args = ", ".join(names.values())
    body = ", ".join("(" + "".join(f"{_py_expr(d, names)}, " for d in shape) + ")"
                     for shape in shapes)
    src = f"lambda {args}: [{body}]"
    return eval(src, {"min": _min, "max": _max})  # noqa: S307 (generated from whitelisted IR)


class KernelSpec:
    """Inputs, outputs and output shapes of a Module, for an operator named `name`."""

    def __init__(self, mod, name: str):
        sig = mod.signature
        self.module, self.name = mod, name
        if sig.scalars:
            names = ", ".join(v.name for _, v in sig.scalars)
            raise FrameworkError(f"{name}: the module takes scalar argument(s) {names}; a "
                                 "framework operator takes tensors only: build the module "
                                 "with those values fixed")
        self.inputs = [p for p in sig.params if not p.is_output]
        self.outputs = [p for p in sig.params if p.is_output]
        self.input_positions = [k for k, p in enumerate(sig.params) if not p.is_output]
        self.output_positions = [k for k, p in enumerate(sig.params) if p.is_output]
        for p in sig.params:
            if p.dtype not in SCALARS:
                raise FrameworkError(f"{name}: parameter {p.name} has dtype {p.dtype}, "
                                     "which has no framework equivalent")
        try:
            self.bindings = _bindings(self.inputs, sig.size_vars)
        except ValueError as exc:
            raise FrameworkError(f"{name}: the output shapes cannot be computed from the "
                                 f"inputs ({exc}); an operator allocates its outputs, so "
                                 "every size must come from an input's shape") from None
        names = {v: f"v{k}" for k, v in enumerate(sig.size_vars)}
        self.size_vars = tuple(sig.size_vars)
        self._inputs_fn = _shape_fn([p.shape for p in self.inputs], names)
        self._outputs_fn = _shape_fn([p.shape for p in self.outputs], names)

    # -- checks ----------------------------------------------------------------
    def check_count(self, n: int) -> None:
        if n != len(self.inputs):
            names = ", ".join(p.name for p in self.inputs)
            raise ArgumentError(f"{self.name} takes {len(self.inputs)} inputs ({names}), "
                                f"got {n}; outputs are allocated and returned, not passed")

    def check_dtype(self, k: int, got: str) -> None:
        p = self.inputs[k]
        if got != p.dtype:
            raise ArgumentError(f"{self.name}: argument {p.name} must have dtype {p.dtype}, "
                                f"got {got}; no implicit conversion")

    def check_rank(self, k: int, shape: tuple) -> None:
        p = self.inputs[k]
        if len(shape) != len(p.shape):
            raise ArgumentError(f"{self.name}: argument {p.name} must have rank "
                                f"{len(p.shape)} (shape {p.shape_str()}), got shape "
                                f"{tuple(shape)}")

    def sizes(self, shapes) -> tuple:
        """The size variables' values, from the inputs' shapes (ranks already checked)."""
        out = []
        for b in self.bindings:
            dim = shapes[b.param][b.dim]
            value = (dim - b.offset) // b.scale
            if isinstance(value, int) and value < 0:
                p = self.inputs[b.param]
                raise ArgumentError(f"{self.name}: argument {p.name} has shape "
                                    f"{tuple(shapes[b.param])}, which gives size "
                                    f"{b.var.name} = {value} < 0 (shape {p.shape_str()})")
            out.append(value)
        return tuple(out)

    def expected_input_shapes(self, sizes) -> list:
        return self._inputs_fn(*sizes)

    def output_shapes(self, sizes) -> list:
        return self._outputs_fn(*sizes)

    def expected_text(self, k: int, d: int, want, got) -> str:
        """What input k's dimension d should be and why: "(n,): y.shape[0] must be 3 ..."."""
        p = self.inputs[k]
        e = p.shape[d]
        why = ""
        if not isinstance(e, E.Const):
            b = next((b for b in self.bindings if b.var is e), None)
            src = f" from {self.inputs[b.param].name}.shape[{b.dim}]" if b else ""
            why = f" ({e}{src})"
        return f"{p.shape_str()}: {p.name}.shape[{d}] must be {want}{why}, got {got}"

    def check_dim(self, k: int, d: int, want: int, got: int, shape) -> None:
        """Raise unless input k's dimension d, `got`, is `want` (concrete sizes)."""
        if want != got:
            raise ArgumentError(f"{self.name}: argument {self.inputs[k].name} has shape "
                                f"{tuple(shape)}, expected {self.expected_text(k, d, want, got)}")

    def check_shapes(self, shapes) -> tuple:
        """Ranks and consistency of concrete (int) input shapes; returns the sizes."""
        for k, shape in enumerate(shapes):
            self.check_rank(k, shape)
        sizes = self.sizes(shapes)
        for k, (want, got) in enumerate(zip(self.expected_input_shapes(sizes), shapes)):
            for d, (w, g) in enumerate(zip(want, got)):
                self.check_dim(k, d, w, g, got)
        return sizes

    def arrange(self, inputs, outputs) -> list:
        """The module's arguments in parameter order: inputs and outputs interleaved."""
        args = [None] * (len(self.inputs) + len(self.outputs))
        for k, x in zip(self.input_positions, inputs):
            args[k] = x
        for k, x in zip(self.output_positions, outputs):
            args[k] = x
        return args
