"""Thread axes declared with a range (TVM's thread_axis((0, 32), "threadIdx.x")).

The range fixes the launch extent of that thread index; opcomp checks at bind()
that the loop bound to it has exactly that extent (from the stage's declared
shape and its splits), so the launch and the loop agree.
"""
from __future__ import annotations

from ..ir import expr as E


def declared_extent(dom, tag) -> int:
    """hi - lo of a thread_axis range: constant ints with lo == 0, as a launch extent."""
    from .stage import ScheduleError
    ok = len(dom) == 2 and all(isinstance(getattr(d, "value", d), int) for d in dom)
    lo, hi = (getattr(d, "value", d) for d in dom) if ok else (None, None)
    if not ok or lo != 0 or hi <= 0:
        raise ScheduleError(f"thread_axis {tag}: a range must be (0, n) with a constant n > 0, "
                            f"got {dom!r}")
    return hi


def check_bound_extent(stage, iv, thread) -> None:
    """bind(iv, thread) with a declared extent: iv's extent must be that constant."""
    from .relations import leaf_maps
    roots = {r: r.extent for r in tuple(stage.op.axis) + tuple(stage.op.reduce_axis)}
    ext = leaf_maps(stage, roots)[0][iv]
    if not (isinstance(ext, E.Const) and ext.value == thread.extent):
        raise stage._error("bind", iv, f"{thread.tag} was declared with extent "
                           f"{thread.extent} but the loop's extent is {ext}; they must match")
