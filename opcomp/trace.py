"""The record of schedule primitives: serializes to JSON and replays.

    [{"primitive": "split", "stage": "C", "args": {"axis": "i", "factor": 32, ...}}, ...]

Axes and stages are named, so a trace applies to a fresh schedule of the same
computation.  Replay validates exactly like the original calls (it makes them),
so a trace from an untrusted file can only produce a valid schedule or an
error; nothing in it is executed.
"""
from __future__ import annotations

import json

from .schedule import ScheduleError

PRIMITIVES = ("split", "fuse", "reorder", "vectorize", "unroll", "parallel", "bind",
              "compute_at", "compute_inline", "compute_root", "cache_read", "cache_write")


class Trace:
    """An append-only list of primitive records."""

    def __init__(self, records=None):
        self.records = list(records or [])

    def record(self, primitive: str, stage: str, args: dict) -> None:
        self.records.append({"primitive": primitive, "stage": stage, "args": dict(args)})

    def __len__(self):
        return len(self.records)

    def to_json(self) -> str:
        return json.dumps(self.records)

    @staticmethod
    def from_json(text: str) -> "Trace":
        try:
            records = json.loads(text)
        except (json.JSONDecodeError, TypeError) as e:
            raise ScheduleError(f"trace: not valid JSON ({e})") from None
        if not isinstance(records, list) or not all(_well_formed(r) for r in records):
            raise ScheduleError("trace: malformed trace JSON (expected a list of "
                                "{primitive, stage, args} records)")
        return Trace(records)

    def apply(self, sch) -> None:
        """Replay every record onto sch (a fresh schedule of the same computation)."""
        for rec in self.records:
            _replay(sch, rec)


REQUIRED_ARGS = {"split": ("axis",), "fuse": ("axes",), "reorder": ("axes",),
                 "vectorize": ("axis",), "unroll": ("axis",), "parallel": ("axis",),
                 "bind": ("axis", "thread"), "compute_at": ("target", "axis"),
                 "compute_inline": (), "compute_root": (), "cache_read": ("scope", "readers"),
                 "cache_write": ("scope",)}


def _well_formed(r) -> bool:
    return (isinstance(r, dict) and r.get("primitive") in PRIMITIVES
            and isinstance(r.get("stage"), str) and isinstance(r.get("args"), dict)
            and all(k in r["args"] for k in REQUIRED_ARGS[r["primitive"]]))


def _axis(stage, name):
    base, _, pos = str(name).partition("#")
    if pos.isdigit() and int(pos) < len(stage.all_iter_vars):
        iv = stage.all_iter_vars[int(pos)]
        if iv.name == base:
            return iv
    for iv in stage.all_iter_vars:
        if iv.name == name:
            return iv
    raise ScheduleError(f"trace: stage {stage.name} has no axis named {name!r}; "
                        f"loops of {stage.name}: {stage.loops_str()}")


def _replay(sch, rec) -> None:
    from .schedule import thread_axis
    prim, args = rec["primitive"], rec["args"]
    st = sch.stage_by_name(rec["stage"])
    if prim == "split":
        st.split(_axis(st, args["axis"]), factor=args.get("factor"), nparts=args.get("nparts"))
    elif prim in ("fuse", "reorder"):
        getattr(st, prim)(*[_axis(st, a) for a in args["axes"]])
    elif prim in ("vectorize", "unroll", "parallel"):
        getattr(st, prim)(_axis(st, args["axis"]))
    elif prim == "bind":
        st.bind(_axis(st, args["axis"]), thread_axis(args["thread"]))
    elif prim == "compute_at":
        target = sch.stage_by_name(args["target"])
        st.compute_at(target, _axis(target, args["axis"]))
    elif prim in ("compute_inline", "compute_root"):
        getattr(st, prim)()
    elif prim == "cache_read":
        readers = [sch.stage_by_name(r).op for r in args["readers"]]
        sch.cache_read(st.op.output(), args["scope"], readers)
    elif prim == "cache_write":
        sch.cache_write(st.op.output(), args["scope"])
