"""The record of schedule primitives: serializes to JSON and replays.

    {"format": "opcomp-trace", "version": 1,
     "workload": "<oc.workload_key of the computation>", "target": "<str(Target)>" or null,
     "records": [{"primitive": "split", "stage": "C", "args": {"axis": "i", "factor": 32}},
                 ...]}

A bare list of records is also read (a trace with no header).  A trace whose
workload key differs from the schedule's computation is refused by apply.

Axes and stages are named, so a trace applies to a fresh schedule of the same
computation.  Replay validates exactly like the original calls (it makes them),
so a trace from an untrusted file can only produce a valid schedule or an
error; nothing in it is executed.
"""
from __future__ import annotations

import json

from .stage import ScheduleError

PRIMITIVES = ("split", "fuse", "reorder", "vectorize", "unroll", "parallel", "bind",
              "compute_at", "compute_inline", "compute_root", "cache_read", "cache_write",
              "rfactor", "set_scope", "storage_align", "double_buffer", "pragma",
              "create_group", "group_compute_at")


FORMAT, VERSION = "opcomp-trace", 1
_HEADER_KEYS = {"format", "version", "workload", "target", "records"}


class Trace:
    """An append-only list of primitive records, with the workload key of the
    computation they schedule and, once known, the canonical target."""

    def __init__(self, records=None, workload=None, target=None):
        self.records = list(records or [])
        self.workload = workload
        self.target = None if target is None else str(target)

    def record(self, primitive: str, stage: str, args: dict) -> None:
        self.records.append({"primitive": primitive, "stage": stage, "args": dict(args)})

    def __len__(self):
        return len(self.records)

    def to_json(self, target=None) -> str:
        """The trace with its header; target (a Target or its string) overrides self.target."""
        target = self.target if target is None else str(target)
        return json.dumps({"format": FORMAT, "version": VERSION, "workload": self.workload,
                           "target": target, "records": self.records})

    @staticmethod
    def from_json(text: str) -> "Trace":
        """A trace from JSON text (untrusted: every record is checked, nothing runs)."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, TypeError, ValueError, RecursionError) as e:
            raise ScheduleError(f"trace: not valid JSON ({type(e).__name__}: {e})"[:300]) from None
        header = _check_header(data) if isinstance(data, dict) and "format" in data else {}
        records = data["records"] if header else data
        if not isinstance(records, list):
            raise ScheduleError("trace: malformed trace JSON (expected a list of "
                                "{primitive, stage, args} records)")
        for number, rec in enumerate(records):
            check_record(rec, number)
        return Trace(records, header.get("workload"), header.get("target"))

    def apply(self, sch) -> None:
        """Replay every record onto sch (a schedule of the same computation).

        All or nothing: the records are first replayed onto a scratch copy of sch,
        so a record that fails raises ScheduleError with sch unchanged."""
        if self.workload is not None and sch.trace.workload not in (None, self.workload):
            raise ScheduleError(f"trace: made for workload {self.workload[:16]}..., but the "
                                f"schedule computes workload {sch.trace.workload[:16]}... "
                                "(another computation or other shapes)")
        for number, rec in enumerate(self.records):
            check_record(rec, number)
        scratch = _replica(sch)
        for rec in self.records:
            _replay(scratch, rec)            # raises the primitive's own error
        for rec in self.records:
            _replay(sch, rec)


def _check_header(data: dict) -> dict:
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise ScheduleError(f"trace: format {str(data.get('format'))[:40]!r} version "
                            f"{str(data.get('version'))[:10]}; this opcomp reads {FORMAT!r} "
                            f"version {VERSION}")
    if set(data) != _HEADER_KEYS:
        raise ScheduleError(f"trace: the header must have exactly the keys "
                            f"{', '.join(sorted(_HEADER_KEYS))}")
    for key in ("workload", "target"):
        if data[key] is not None and not isinstance(data[key], str):
            raise ScheduleError(f"trace: header {key} must be a string or null")
    return data


REQUIRED_ARGS = {"split": ("axis",), "fuse": ("axes",), "reorder": ("axes",),
                 "vectorize": ("axis",), "unroll": ("axis",), "parallel": ("axis",),
                 "bind": ("axis", "thread"), "compute_at": ("target", "axis"),
                 "compute_inline": (), "compute_root": (), "cache_read": ("scope", "readers"),
                 "cache_write": ("scope",), "rfactor": ("axis", "factor_axis"),
                 "set_scope": ("scope",), "storage_align": ("axis", "factor", "offset"),
                 "double_buffer": (), "pragma": ("axis", "key"),
                 "create_group": ("outputs", "inputs", "include_inputs"),
                 "group_compute_at": ("target", "axis")}
OPTIONAL_ARGS = {"split": ("factor", "nparts", "results"), "fuse": ("results",),
                 "cache_read": ("results",), "cache_write": ("results",), "rfactor": ("results",),
                 "pragma": ("value",), "create_group": ("results",)}
# What each argument must be: a name, a list of names, an int, or an int or null.
NAME, NAMES, INT = "a name (string)", "a list of names", "an integer"
INT_OR_NULL = "an integer or null"
FACTOR = "an integer, an expression object or null"
SCALAR = "an integer, a boolean, a string or null"
BOOL = "a boolean"
ARG_KINDS = {"axis": NAME, "thread": NAME, "target": NAME, "scope": NAME, "axes": NAMES,
             "readers": NAMES, "results": NAMES, "factor": FACTOR, "nparts": FACTOR,
             "factor_axis": INT, "offset": INT, "key": NAME, "value": SCALAR,
             "outputs": NAMES, "inputs": NAMES, "include_inputs": BOOL}


# tensorize (tensor_intrin.py) names its intrinsic; replay finds it by that name
PRIMITIVES += ("tensorize",)
REQUIRED_ARGS["tensorize"] = ("axis", "intrin")
ARG_KINDS["intrin"] = NAME


def check_record(rec, number: int) -> None:
    """Raise ScheduleError unless rec is a well-formed record (types, names, keys)."""
    where = f"trace: record {number}"
    if not isinstance(rec, dict) or set(rec) != {"primitive", "stage", "args"}:
        raise ScheduleError(f"{where}: must be an object with exactly primitive, stage, args")
    prim, args = rec["primitive"], rec["args"]
    if prim not in PRIMITIVES:
        raise ScheduleError(f"{where}: unknown primitive {str(prim)[:40]!r}; known: "
                            f"{', '.join(PRIMITIVES)}")
    if not isinstance(rec["stage"], str) or not isinstance(args, dict):
        raise ScheduleError(f"{where} ({prim}): stage must be a name and args an object")
    allowed = REQUIRED_ARGS[prim] + OPTIONAL_ARGS.get(prim, ())
    for key in REQUIRED_ARGS[prim]:
        if key not in args:
            raise ScheduleError(f"{where} ({prim}): missing argument {key!r}")
    for key, value in args.items():
        if key not in allowed:
            raise ScheduleError(f"{where} ({prim}): unexpected argument {str(key)[:40]!r}")
        if not _is_kind(value, ARG_KINDS[key]):
            raise ScheduleError(f"{where} ({prim}): argument {key!r} must be {ARG_KINDS[key]}, "
                                f"got {type(value).__name__}")


def _is_kind(value, kind: str) -> bool:
    if kind == FACTOR and isinstance(value, dict):
        return _is_expr_object(value)
    if kind in (FACTOR, SCALAR) and value is None:
        return True
    if kind in (SCALAR, BOOL) and isinstance(value, bool):
        return True
    if kind == SCALAR and isinstance(value, str):
        return True
    if kind == BOOL:
        return False
    if kind == NAME:
        return isinstance(value, str)
    if kind == NAMES:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == INT_OR_NULL and value is None:
        return True
    return isinstance(value, int) and not isinstance(value, bool)


# Symbolic split factors: {"var": name} | {"op": floordiv, "a": ..., "b": ...} | int.
EXPR_OPS = ("add", "sub", "mul", "floordiv", "floormod", "min", "max")


def encode_expr(e):
    """An integer expression over size vars as a JSON object (see EXPR_OPS)."""
    from ..ir import expr as E
    if isinstance(e, E.Const):
        return int(e.value)
    if isinstance(e, E.Var):
        return {"var": e.name}
    if isinstance(e, E.Cast):
        return encode_expr(e.value)
    if isinstance(e, E.Binary) and e.op in EXPR_OPS:
        return {"op": e.op, "a": encode_expr(e.a), "b": encode_expr(e.b)}
    raise ScheduleError(f"trace: cannot record the split factor {e} (only integer arithmetic "
                        f"over size vars: {', '.join(EXPR_OPS)})")


def _is_expr_object(value, depth: int = 0) -> bool:
    if depth > 32:
        return False
    if isinstance(value, int) and not isinstance(value, bool):
        return True
    if not isinstance(value, dict):
        return False
    if set(value) == {"var"}:
        return isinstance(value["var"], str)
    return set(value) == {"op", "a", "b"} and value["op"] in EXPR_OPS and \
        _is_expr_object(value["a"], depth + 1) and _is_expr_object(value["b"], depth + 1)


def decode_expr(value, sch):
    """encode_expr's object back to an expression over sch's size vars; another
    name is a free factor var (symbolic.py), the schedule's own where it has one
    of that name, else a new one (lower matches it to the scalar argument of
    that name)."""
    from ..ir import expr as E
    from .stage import size_vars
    from .symbolic import factor_vars
    if isinstance(value, int):
        return value
    if "var" in value:
        found = [v for v in size_vars(sch) + factor_vars(sch) if v.name == value["var"]]
        return found[0] if found else E.Var(value["var"])
    a, b = decode_expr(value["a"], sch), decode_expr(value["b"], sch)
    return E.binary(value["op"], E.as_expr(a), E.as_expr(b))


def _factor_arg(value, sch):
    return None if value is None else decode_expr(value, sch)


def _replica(sch):
    """A fresh schedule of sch's computation with sch's own trace replayed onto it."""
    from .stage import create_schedule
    scratch = create_schedule(sch.outputs)
    for rec in sch.trace.records:
        _replay(scratch, rec)
    return scratch


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
    from .stage import thread_axis
    prim, args = rec["primitive"], rec["args"]
    if prim in ("create_group", "group_compute_at"):
        return _replay_group(sch, rec)
    st = sch.stage_by_name(rec["stage"])
    if prim == "split":
        st.split(_axis(st, args["axis"]), factor=_factor_arg(args.get("factor"), sch),
                 nparts=_factor_arg(args.get("nparts"), sch))
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
        outs = [st.op.output(k) for k in range(st.op.num_outputs)]   # a tuple compute: all
        sch.cache_write(outs if len(outs) > 1 else outs[0], args["scope"])
    elif prim == "rfactor":
        sch.rfactor(st.op.output(), _axis(st, args["axis"]), args["factor_axis"])
    elif prim == "tensorize":
        from .tensorize import get_tensor_intrin
        st.tensorize(_axis(st, args["axis"]), get_tensor_intrin(args["intrin"]))
    else:
        _replay_storage(st, prim, args)


def _replay_storage(st, prim, args) -> None:
    if prim == "set_scope":
        st.set_scope(args["scope"])
    elif prim == "storage_align":
        st.storage_align(_axis(st, args["axis"]), args["factor"], args["offset"])
    elif prim == "double_buffer":
        st.double_buffer()
    elif prim == "pragma":
        st.pragma(_axis(st, args["axis"]), args["key"], args.get("value"))


def _replay_group(sch, rec) -> None:
    args = rec["args"]
    if rec["primitive"] == "create_group":
        tensors = [[sch.stage_by_name(n).op.output() for n in args[k]]
                   for k in ("outputs", "inputs")]
        sch.create_group(*tensors, include_inputs=args["include_inputs"])
        return
    group = next((g for g in sch.groups if g.name == rec["stage"]), None)
    if group is None:
        raise ScheduleError(f"trace: no group named {rec['stage']!r}; groups: "
                            f"{[g.name for g in sch.groups]}")
    target = sch.stage_by_name(args["target"])
    group.compute_at(target, _axis(target, args["axis"]))
