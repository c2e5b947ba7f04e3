"""Where a stage's buffer lives and how it is laid out: set_scope, storage_align,
double_buffer; and pragma, the loop annotations passed on to lowering.

    s[AA].set_scope("shared")              the buffer lives in shared memory
    s[AA].storage_align(AA.op.axis[0], 32, 1)
        AA: float32[64, 64]  ->  row stride 65 (= 64 rounded up to k*32 + 1);
        the allocation holds 63 * 65 + 64 elements, as many as 64 padded rows
    s[AA].double_buffer()                  two copies, alternating with the attach
                                           loop's parity: AA[k % 2][...]
    s[C].pragma(xo, "auto_unroll_max_step", 16)

A stage with storage_align or double_buffer gets a one-dimensional buffer at
lowering, indexed with these strides (lower.py asks ``flat_layout``).
"""
from __future__ import annotations

from ..ir import expr as E
from .stage import STORAGE_SCOPES

# Pragmas lowering acts on.  Every pragma (these included) is also kept on the
# lowered loop (tir.For.annotations) for the backend: the LLVM backend turns keys
# "llvm.loop.<name>" into loop metadata !{"llvm.loop.<name>", value} (an int
# value as i32, a bool as i1, no value: the name alone), and unroll_explicit=False
# into llvm.loop.unroll.enable; it ignores every other key, as the CUDA one does
# all of them, so TVM code that sets backend-specific pragmas runs unchanged.
#   unroll_explicit       value true (or no value): the loop is unrolled into copies;
#                         false: left to LLVM's own unroller (no explicit copies).
#   auto_unroll_max_step  loops inside (and including) this loop whose constant trip
#                         counts multiply to at most the value are unrolled.
KNOWN_PRAGMAS = ("unroll_explicit", "auto_unroll_max_step")


def set_scope(stage, scope) -> None:
    """The storage scope of stage's buffer: global, shared or local."""
    if scope not in STORAGE_SCOPES:
        raise stage._error("set_scope", "-", f"unknown scope {scope!r} "
                           f"(valid: {', '.join(STORAGE_SCOPES)})")
    if stage.is_placeholder:
        raise stage._error("set_scope", "-", "an input placeholder is the caller's array; "
                           "cache_read it into a scope instead")
    if stage.is_output and scope != "global":
        raise stage._error("set_scope", "-", f"an output is the caller's array and stays "
                           f"global, not {scope}; cache_write it into {scope} instead")
    stage.scope = scope
    stage._record("set_scope", scope=scope)


def _data_axis(stage, primitive: str, axis):
    if stage.is_placeholder:
        raise stage._error(primitive, axis, "an input placeholder has no loops to schedule")
    if not isinstance(axis, E.IterVar) or axis not in stage.op.axis:
        raise stage._error(primitive, axis, "expected a data axis of the stage's tensor "
                           f"(s[T].op.axis[k]), got {getattr(axis, 'name', axis)!r}")
    return axis


def _allocated(stage, primitive: str, axis) -> None:
    if stage.is_output:
        raise stage._error(primitive, axis, "an output is the caller's array, whose layout "
                           "is fixed; cache_write it and apply this to the cache stage")


def storage_align(stage, axis, factor, offset) -> None:
    """Pad the stride of dimension `axis` of stage's buffer to factor * k + offset."""
    axis = _data_axis(stage, "storage_align", axis)
    _allocated(stage, "storage_align", axis)
    for what, v in (("factor", factor), ("offset", offset)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise stage._error("storage_align", axis, f"{what} must be an int, got {v!r}")
    if factor <= 0:
        raise stage._error("storage_align", axis, f"factor must be positive, got {factor}")
    if not 0 <= offset < factor:
        raise stage._error("storage_align", axis, f"offset must be in [0, factor), "
                           f"got offset {offset} with factor {factor}")
    stage.storage_aligns[stage.op.axis.index(axis)] = (factor, offset)
    stage._record("storage_align", axis=stage.axis_key(axis), factor=factor, offset=offset)


def double_buffer(stage) -> None:
    """Two copies of stage's buffer, the loop it is computed at alternating between
    them; a stage at root has no such loop and keeps one copy."""
    if stage.is_placeholder:
        raise stage._error("double_buffer", "-", "an input placeholder is not computed")
    _allocated(stage, "double_buffer", "-")
    if stage.attach_type == "inline":
        raise stage._error("double_buffer", "-", "an inlined stage has no buffer")
    stage.double_buffered = True
    stage._record("double_buffer")


def pragma(stage, axis, key, value=None) -> None:
    """Annotate loop `axis` with pragma `key` (see KNOWN_PRAGMAS for those lowering
    acts on; others are kept and ignored)."""
    axis = stage._leaf("pragma", axis)
    if not isinstance(key, str) or not key or not key.replace("_", "").replace(".", "").isalnum():
        raise stage._error("pragma", axis, f"pragma key must be a name such as "
                           f"'unroll_explicit', got {key!r}")
    value = getattr(value, "value", value)         # oc.const(16) as TVM code passes it
    if not (value is None or isinstance(value, (bool, int, str))):
        raise stage._error("pragma", axis, f"pragma value must be an int, a bool, a string "
                           f"or omitted, got {type(value).__name__}")
    if key == "auto_unroll_max_step" and (isinstance(value, bool) or not isinstance(value, int)
                                          or value < 0):
        raise stage._error("pragma", axis, f"auto_unroll_max_step takes a non-negative int, "
                           f"got {value!r}")
    stage.pragmas.setdefault(axis, {})[key] = value
    stage._record("pragma", axis=stage.axis_key(axis), key=key, value=value)


def aligned_strides(shape, aligns: dict) -> list:
    """Row-major strides of shape, dimension k's stride rounded up to f * n + o for
    aligns[k] = (f, o) (TVM's storage_align)."""
    strides = [None] * len(shape)
    stride = E.const(1, "int64")
    for k in reversed(range(len(shape))):
        if k in aligns:
            f, o = (E.const(v, "int64") for v in aligns[k])
            stride = stride + (f + o - stride % f) % f
        strides[k] = stride
        stride = stride * E.cast(shape[k], "int64")
    return strides


def flat_layout(stage, shape):
    """(size, strides, copies) when stage's buffer needs an explicit layout
    (storage_align or double_buffer), else None."""
    if not stage.storage_aligns and not stage.double_buffered:
        return None
    strides = aligned_strides(shape, stage.storage_aligns)
    size = strides[0] * E.cast(shape[0], "int64") if shape else E.const(1, "int64")
    copies = 2 if stage.double_buffered and stage.attach_type == "scope" else 1
    return size, strides, copies


def lower_pragmas(loop, pragmas: dict):
    """A lowered loop (tir.For) with its stage's pragmas applied (KNOWN_PRAGMAS).

        pragma(xo, "auto_unroll_max_step", 8):     for xo in range(4):
          for xo in range(4):                        unrolled for xi in range(2):
            for xi in range(2):              ->        unrolled for y in range(4): ...
              for y in range(4): ...
    (4 * 2 * 4 = 32 > 8 keeps xo a loop; xi: 2 * 4 = 8 <= 8 unrolls xi and y.)
    """
    from dataclasses import replace
    explicit = pragmas.get("unroll_explicit", True if "unroll_explicit" in pragmas else None)
    if "auto_unroll_max_step" in pragmas and explicit is not False:
        loop, _ = _auto_unroll(loop, pragmas["auto_unroll_max_step"])
    if explicit and loop.kind == "serial":
        loop = replace(loop, kind="unrolled")
    # every pragma rides along for the backend (see tir.For.annotations)
    return replace(loop, annotations=tuple(sorted(pragmas.items())))


def _auto_unroll(s, max_step: int):
    """(s with serial constant-trip loops unrolled where the trip count of the
    loop and everything inside it is at most max_step, s's trip count or None)."""
    from dataclasses import replace
    from ..ir import tir as T
    from ..ir.visit import map_children
    if isinstance(s, T.For):
        body, inner = _auto_unroll(s.body, max_step)
        s = replace(s, body=body) if body is not s.body else s
        if inner is None or not isinstance(s.extent, E.Const):
            return s, None
        steps = inner * s.extent.value
        if steps > max_step:
            return s, None
        return (replace(s, kind="unrolled") if s.kind == "serial" else s), steps
    if not isinstance(s, T.Stmt):
        return s, 1
    counts = []

    def visit(child):
        new, n = _auto_unroll(child, max_step)
        counts.append(n)
        return new
    new = map_children(s, lambda c: visit(c) if isinstance(c, T.Stmt) else c)
    steps = None if None in counts else max(1, sum(counts))
    return new, steps
