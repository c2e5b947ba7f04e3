"""TVM's view of a stage's loop annotations: ``s[T].iter_var_attrs[iv]``.

opcomp keeps annotations, pragmas and tensorize in its own fields on the Stage
(``annotations``, ``pragmas``, ``tensorized``); this module derives TVM's
IterVarAttr records from them, read-only, so TVM code that inspects
``iter_type``, ``pragma_keys``, ``pragma_values``, ``bind_thread`` or
``tensor_intrin`` works unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import expr as E
from ..op_attrs import StringValue

# opcomp annotation kind -> TVM IterVar type code
_ITER_TYPE = {"vectorized": E.IterVar.Vectorized, "unrolled": E.IterVar.Unrolled,
              "parallel": E.IterVar.Parallelized, "thread": E.IterVar.ThreadIndex,
              "vthread": E.IterVar.ThreadIndex}


@dataclass(frozen=True)
class IterVarAttr:
    """The attributes scheduled on one loop (TVM's IterVarAttr)."""
    iter_type: int
    bind_thread: object = None       # the ThreadAxis bound, or None
    pragma_keys: tuple = ()          # StringValue per pragma, in the order given
    pragma_values: tuple = ()        # Const / StringValue / None per pragma
    tensor_intrin: object = None     # the TensorIntrin of a tensorized loop


def _pragma_value(v):
    if v is None:
        return None
    return StringValue(v) if isinstance(v, str) else E.const(v)


def _thread_of(stage, iv):
    kind, tag = stage.annotations.get(iv, (None, None))
    if kind == "vthread":
        from .stage import ThreadAxis, VIRTUAL_THREAD
        return ThreadAxis(VIRTUAL_THREAD, VIRTUAL_THREAD)
    if kind == "thread":
        from .stage import ThreadAxis
        return ThreadAxis(tag, tag)
    return None


def _attr_of(stage, iv, tensorized) -> IterVarAttr:
    kind = stage.annotations.get(iv, (None, None))[0]
    default = E.IterVar.CommReduce if iv.kind == "reduce" else E.IterVar.DataPar
    iter_type = _ITER_TYPE.get(kind, default)
    intrin = None
    if tensorized is not None and tensorized[0] is iv:
        iter_type, intrin = E.IterVar.Tensorized, tensorized[1]
    pragmas = stage.pragmas.get(iv, {})
    return IterVarAttr(iter_type, _thread_of(stage, iv),
                       tuple(StringValue(k) for k in pragmas),
                       tuple(_pragma_value(v) for v in pragmas.values()), intrin)


def iter_var_attrs(stage) -> dict:
    """IterVar -> IterVarAttr for every loop of stage that carries an annotation,
    a pragma or a tensor intrinsic (TVM lists only those, too)."""
    tensorized = getattr(stage, "tensorized", None)
    marked = list(stage.annotations) + [iv for iv in stage.pragmas if iv not in stage.annotations]
    if tensorized is not None and tensorized[0] not in marked:
        marked.append(tensorized[0])
    return {iv: _attr_of(stage, iv, tensorized) for iv in marked}
