"""Tensor intrinsics and the tensorize primitive (TVM's decl_tensor_intrin + tensorize).

    a = oc.placeholder((8, 32), name="a"); b = oc.placeholder((32, 8), name="b")
    k = oc.reduce_axis(32, "k")
    c = oc.compute((8, 8), lambda i, j: oc.sum(a[i, k] * b[k, j], axis=k), name="c")
    bufs = {t: oc.decl_buffer(t.shape, t.dtype, t.name, offset_factor=1,
                              strides=[oc.var(t.name + ".s"), 1]) for t in (a, b, c)}
    def fintrin(ins, outs):
        body = ...                                       # c = a*b (a call)
        reset = oc.call_extern("int32", "gemm_reset", outs[0].access_ptr("w"), ...)
        update = oc.call_extern("int32", "gemm_update", outs[0].access_ptr("rw"), ...)
        return body, reset, update
    gemm = oc.decl_tensor_intrin(c.op, fintrin, name="gemm8x8", binds=bufs)
    ...
    s[C].tensorize(xi, gemm)           # the loops from xi inward become one call

tensorize checks that the loop nest below the axis computes what the
intrinsic computes: each root axis's region inside those loops must be a
contiguous block (split factors that divide, no tail guard), the blocks'
extents must equal the intrinsic's axes (the innermost ones; any extra outer
axis spans 1), and the stage's body, with its axes renamed to the
intrinsic's, must be the intrinsic's body up to where each tensor's block
starts.  A difference is a ScheduleError naming it.

Lowering (passes/tensorize.py) binds the intrinsic's declared buffers to the
blocks (pointers at the block start, strides of the real buffers) and emits:
the body when every reduction loop is inside the region; otherwise reset where
the accumulator starts and update inside the outer reduction loops.

Intrinsics are registered by name (the name defaults to the op's), so a trace
records `tensorize` with the intrinsic's name and replays wherever an
intrinsic of that name was declared.  The calls are CPU calls today; a GPU
intrinsic (mma.sync, WMMA) would be another body kind for the same matching.
"""
from __future__ import annotations

from . import te
from .extern import DeclBuffer, _as_body, _check_buffers_used, build_config, decl_buffer
from .ir import expr as E
from .schedule.tensorize import TensorIntrin as _ScheduleIntrin
from .schedule.tensorize import get_tensor_intrin, register  # noqa: F401

__all__ = ["TensorIntrin", "decl_tensor_intrin", "get_tensor_intrin"]


class TensorIntrin(_ScheduleIntrin):
    """A tensor intrinsic: s[T].tensorize(axis, intrin) replaces a loop nest with
    it, and calling it inside oc.compute makes a tensor compute op
    (opcomp/tensor_compute.py):

        C = oc.compute((64, 16), lambda i: intrin(A[i, 0:16], B[i, 0:16]))

    scalar_params: the vars given to decl_tensor_intrin(scalar_params=[...]),
    bound to a call's non-tensor arguments in order."""

    def __init__(self, name, op, in_buffers, out_buffer, body, reset, update,
                 scalar_params=()):
        super().__init__(name, op, in_buffers, out_buffer, body, reset, update)
        self.scalar_params = tuple(scalar_params)

    def __call__(self, *args, reduce_axis=None):
        """intrin(slices and scalars..., reduce_axis=k): the body of a tensor compute."""
        from .tensor_compute import intrin_call
        return intrin_call(self, args, reduce_axis)


def decl_tensor_intrin(op, fintrin, name=None, binds=None, scalar_params=None,
                       default_buffer_params=None) -> TensorIntrin:
    """Declare (and register by name) a tensor intrinsic: op is a compute over
    placeholders; fintrin(ins, outs) gets declared buffers for its inputs and
    output and returns the body, or (body, reset, update), each a call, a list
    of calls or a statement (an oc.ir_builder program's ib.get()); reset and
    update may be None.  binds maps tensors to oc.decl_buffer(...) declarations
    (default: compact, any start offset).  scalar_params=[v, ...]: vars of op's
    body that a call of the intrinsic passes as scalars; fintrin then takes them
    as a third argument, fintrin(ins, outs, scalar_params)."""
    op = op.op if isinstance(op, te.Tensor) else op
    if not isinstance(op, te.ComputeOp):
        raise te.TensorError(f"decl_tensor_intrin: op must be a compute (oc.compute(...).op), "
                             f"got {op!r}")
    name = name or op.name
    scalar_params = _scalar_params(scalar_params, name)
    binds = dict(binds or {})
    params = dict(default_buffer_params or {})
    params.setdefault("offset_factor", build_config.current("offset_factor", 1))
    for t in op.input_tensors:
        if not isinstance(t.op, te.PlaceholderOp):
            raise te.TensorError(f"decl_tensor_intrin {name}: input {t.name} must be a "
                                 "placeholder (an intrinsic reads its operands directly)")
    ins = [_buffer_for(t, binds, params, name) for t in op.input_tensors]
    out = _buffer_for(op.output(0), binds, params, name)
    result = fintrin(ins, [out], list(scalar_params)) if scalar_params else fintrin(ins, [out])
    body, reset, update = _split_result(result, name)
    for part in (body, update):
        if part is not None:
            _check_buffers_used(part, ins + [out], f"intrinsic {name}")
    if reset is not None:       # it runs where only the accumulator's block is known
        _check_buffers_used(reset, [out], f"intrinsic {name} (reset)")
    intrin = TensorIntrin(name, op, ins, out, body, reset, update, scalar_params)
    register(intrin)
    return intrin


def _scalar_params(params, name) -> tuple:
    """scalar_params= as a tuple of distinct vars (a tensor compute's call binds them)."""
    params = tuple(params or ())
    for v in params:
        if not isinstance(v, E.Var):
            raise te.TensorError(f"decl_tensor_intrin {name}: scalar_params must be vars "
                                 f"(oc.var(...)), got {v!r}")
    if len(set(map(id, params))) != len(params):
        raise te.TensorError(f"decl_tensor_intrin {name}: scalar_params lists a var twice")
    return params


def _buffer_for(t, binds, params, name) -> DeclBuffer:
    b = binds.get(t)
    if b is None:
        return decl_buffer(t.shape, t.dtype, t.name, **params)
    if not isinstance(b, DeclBuffer) or b.dtype != t.dtype or len(b.shape) != len(t.shape):
        raise te.TensorError(f"decl_tensor_intrin {name}: binds[{t.name}] must be an "
                             f"oc.decl_buffer of dtype {t.dtype} and rank {len(t.shape)}, "
                             f"got {b!r}")
    return b


def _split_result(result, name) -> tuple:
    if isinstance(result, tuple) and len(result) == 3:
        parts = result
    else:
        parts = (result, None, None)
    body, reset, update = [None if p is None else _as_body(p, f"intrinsic {name}")
                           for p in parts]
    if body is None and (reset is None or update is None):
        raise te.TensorError(f"decl_tensor_intrin {name}: fintrin must give a body, or a "
                             "reset and an update")
    return body, reset, update
