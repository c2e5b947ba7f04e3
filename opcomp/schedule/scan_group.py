"""Which stages run inside a scan's loop (TVM's scan group): a schedule analysis
that bound inference, lowering and the scan op all read, so it sits below them.
"""
from __future__ import annotations


def is_scan(op) -> bool:
    """op is a scan (opcomp/scan.py's ScanOp; this module does not import it)."""
    return hasattr(op, "scan_axis") and hasattr(op, "updates")


def scan_members(sch) -> dict:
    """Stages at root between a scan's states and its updates -> the scan's stage.
    They run inside the scan's loop, once per step, before the updates (TVM puts
    them in the scan's group), over the region the step reads.

        half[t, i] = S[t - 1, i] * 0.5;  update[t, i] = half[t, i] + X[t, i]
        ->  for t: half[t, i] = ...;  C[t, i] = half[t, i] + X[t, i]
    """
    out = {}
    for scan_st in sch.stages:
        if not is_scan(scan_st.op):
            continue
        states = [sch[t] for t in scan_st.op.states]
        updates = [sch[t] for t in scan_st.op.updates]
        for st in sch.stages:
            if st.is_placeholder or st.attach_type != "root" or st is scan_st or \
                    is_scan(st.op):
                continue
            if any(sch._reads(st, p) for p in states) and any(sch._reads(u, st) for u in updates):
                out[st] = scan_st
    return out
