"""Scheduling rules of the stages that escape the loop nest: extern stages
(opaque calls), scans (a sequential time loop) and tensorized regions.

Stage's primitives call these checks (stage.py: _leaf, _check_movable), so a
misuse raises the usual ScheduleError template at the call:

    s[ext].split(...)            extern stage: no loops to split
    s[update].split(t, ...)      the time axis of a scan update is the scan's loop
    s[C].split(xi, ...)          xi lies inside the loops tensorized at xi
"""
from __future__ import annotations


def check_leaf(stage, primitive: str, iv) -> None:
    """Raise if iv may not be scheduled on stage for one of the reasons above."""
    opaque = getattr(stage.op, "opaque", None)
    if opaque:
        raise stage._error(primitive, iv, opaque)
    if stage.attach_type == "scan" and stage.op.axis and iv is stage.op.axis[0]:
        raise stage._error(primitive, iv, "the time axis of a scan update is the scan's own "
                           "sequential loop; schedule the update's other axes")
    if iv in getattr(stage.op, "intrinsic_axes", ()):        # opcomp/tensor_compute.py
        raise stage._error(primitive, iv, f"axis is computed inside intrinsic "
                           f"{stage.op.intrin.name}'s call; schedule the axes fcompute takes")
    tensorized = getattr(stage, "tensorized", None)
    if tensorized is not None and iv in stage.leaf_iter_vars:
        axis, intrin = tensorized
        if primitive == "vectorize":
            raise stage._error(primitive, iv, f"a loop around intrinsic {intrin.name}'s call "
                               "cannot be vectorized (the call is scalar code)")
        if stage.leaf_iter_vars.index(iv) >= stage.leaf_iter_vars.index(axis):
            raise stage._error(primitive, iv, f"axis is inside the loops tensorized at "
                               f"{axis.name} (replaced by intrinsic {intrin.name})")


def check_movable(stage, primitive: str) -> None:
    """Placement rules: an extern stage stays at root, a scan update stays in its
    scan, and a stage read by opaque code cannot be inlined into it."""
    if getattr(stage.op, "opaque", None) and primitive != "compute_root":
        raise stage._error(primitive, "-", stage.op.opaque)
    if stage.attach_type == "scan":
        raise stage._error(primitive, "-", "a scan's update stage runs inside the scan's time "
                           "loop; it cannot be moved")
    if primitive == "compute_inline":
        for q in stage.schedule.consumers(stage):
            if getattr(q.op, "opaque", None):
                raise stage._error(primitive, "-", f"stage {q.name} reads {stage.name} as a "
                                   "whole buffer (opaque code); it cannot be inlined there")
