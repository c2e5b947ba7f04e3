"""A computation or a schedule as JSON text, and back (TVM's `save_json`/`load_json`).

    text = oc.save_json(C)            # a tensor, an operation, a list of tensors, or a Schedule
    C2 = oc.load_json(text)           # a new graph computing the same thing (same workload key)

The graph is written as its operations in producer order (placeholders,
computes and scans) with every expression node spelled by class and field; loop and size
variables are numbered so that a variable read in two places is one variable
again after loading.  A schedule is its computation plus its trace: loading
rebuilds the graph, makes a fresh schedule and replays the trace on it.

    {"format": "opcomp-graph", "version": 1, "vars": [...], "itervars": [...],
     "ops": [{"op": "compute", "name": "C", "tag": "", "axis": [0, 1], "bodies": [...],
              "attrs": {...}}, ...],
     "outputs": [[op, value_index]], "trace": null | <trace JSON>}
"""
from __future__ import annotations

import dataclasses
import json

from .errors import OpcompError
from .ir import expr as E
from .scan import ScanOp
from .te import ComputeOp, Operation, PlaceholderOp, Tensor, tensors_in_order

FORMAT = "opcomp-graph"
VERSION = 1


class SerializeError(OpcompError, ValueError):
    """A value that save_json cannot write, or text that load_json cannot read."""


def save_json(obj) -> str:
    """JSON text for a Tensor, an Operation, a list of tensors, or a Schedule."""
    from .schedule import Schedule
    if isinstance(obj, Schedule):
        data = _Writer().graph(list(obj.outputs))
        data["trace"] = json.loads(obj.trace.to_json())
        return json.dumps(data)
    single = isinstance(obj, (Tensor, Operation))
    outputs = _outputs_of(obj)
    data = _Writer().graph(outputs)
    data["single"] = "op" if isinstance(obj, Operation) else ("tensor" if single else None)
    return json.dumps(data)


def load_json(text: str):
    """What save_json wrote: a Tensor, an Operation, a list of tensors or a Schedule."""
    data = _parse(text)
    outputs = _Reader(data).graph()
    if data.get("trace") is not None:
        from .schedule import Trace, create_schedule
        sch = create_schedule(outputs)
        Trace.from_json(json.dumps(data["trace"])).apply(sch)
        return sch
    if data.get("single") == "tensor":
        return outputs[0]
    if data.get("single") == "op":
        return outputs[0].op
    return outputs


def _outputs_of(obj) -> list:
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, Operation):
        return [obj.output(k) for k in range(obj.num_outputs)]
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(t, Tensor) for t in obj):
        return list(obj)
    raise SerializeError(f"save_json: expected a Tensor, an Operation, a list of tensors or a "
                         f"Schedule, got {type(obj).__name__}")


def _parse(text) -> dict:
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as err:
        raise SerializeError(f"load_json: not JSON text ({err})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SerializeError(f"load_json: not an opcomp graph (expected \"format\": "
                             f"\"{FORMAT}\")")
    if data.get("version") != VERSION:
        raise SerializeError(f"load_json: graph version {data.get('version')!r} is not "
                             f"{VERSION}, the version this opcomp reads")
    return data


def _node_classes() -> dict:
    """Every IR node class by name (walks Node's subclasses, so new nodes need no list)."""
    out, todo = {}, [E.Node]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if dataclasses.is_dataclass(cls):
            out[cls.__name__] = cls
    return out


class _Writer:
    def __init__(self):
        self.vars: dict = {}
        self.itervars: dict = {}
        self.ops: dict = {}
        self.var_rows: list = []
        self.iv_rows: list = []

    def graph(self, outputs) -> dict:
        ops = [self.op(t.op) for t in tensors_in_order(outputs)]
        return {"format": FORMAT, "version": VERSION, "vars": self.var_rows,
                "itervars": self.iv_rows, "ops": ops,
                "outputs": [[self.ops[t.op], t.value_index] for t in outputs], "trace": None}

    def op(self, op) -> dict:
        if isinstance(op, PlaceholderOp):
            row = {"op": "placeholder", "name": op.name, "dtype": op.dtype,
                   "shape": [self.value(s) for s in op.shape]}
        elif type(op) is ComputeOp:
            row = {"op": "compute", "name": op.name, "tag": op.tag,
                   "axis": [self.itervar(iv) for iv in op.axis],
                   "bodies": [self.value(b) for b in op.bodies],
                   "attrs": op.attrs.to_plain()}
        elif isinstance(op, ScanOp):
            row = {"op": "scan", "name": op.name, "tag": op.tag,
                   "inits": [self.value(t) for t in op.inits],
                   "updates": [self.value(t) for t in op.updates],
                   "states": [self.value(t) for t in op.states]}
        else:
            raise SerializeError(f"save_json: operation {op.name} is a {type(op).__name__}; "
                                 "only placeholders, computes and scans can be saved")
        self.ops[op] = len(self.ops)
        return row

    def var(self, v: E.Var) -> int:
        if v not in self.vars:
            self.vars[v] = len(self.var_rows)
            self.var_rows.append({"name": v.name, "dtype": v.dtype})
        return self.vars[v]

    def itervar(self, iv: E.IterVar) -> int:
        if iv not in self.itervars:
            row = {"var": self.var(iv.var), "min": self.value(iv.min),
                   "extent": self.value(iv.extent), "kind": iv.kind}
            self.itervars[iv] = len(self.iv_rows)
            self.iv_rows.append(row)
        return self.itervars[iv]

    def value(self, v):
        if isinstance(v, E.Var):
            return {"var": self.var(v)}
        if isinstance(v, E.IterVar):
            return {"iv": self.itervar(v)}
        if isinstance(v, Tensor):
            if v.op not in self.ops:
                raise SerializeError(f"save_json: tensor {v.name} is read before it is defined")
            return {"tensor": [self.ops[v.op], v.value_index]}
        if isinstance(v, E.Node) and dataclasses.is_dataclass(v):
            return {"node": type(v).__name__,
                    "fields": {f.name: self.value(getattr(v, f.name))
                               for f in dataclasses.fields(v) if f.init}}
        if isinstance(v, tuple):
            return {"tuple": [self.value(x) for x in v]}
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        raise SerializeError(f"save_json: cannot write a {type(v).__name__} ({v!r})")


class _Reader:
    def __init__(self, data: dict):
        self.data = data
        self.classes = _node_classes()
        self.vars = [E.Var(r["name"], r["dtype"]) for r in data["vars"]]
        self.itervars: list = []
        self.tensors: list = []
        for row in data["itervars"]:
            self.itervars.append(E.IterVar(self.vars[row["var"]], self.value(row["min"]),
                                           self.value(row["extent"]), row["kind"]))

    def graph(self) -> list:
        for row in self.data["ops"]:
            op = self.op(row)
            self.tensors.append([op.output(k) for k in range(op.num_outputs)])
        return [self.tensors[i][k] for i, k in self.data["outputs"]]

    def op(self, row: dict):
        if row["op"] == "placeholder":
            return PlaceholderOp(tuple(self.value(s) for s in row["shape"]), row["dtype"],
                                 row["name"])
        if row["op"] == "compute":
            bodies = tuple(self.value(b) for b in row["bodies"])
            return ComputeOp(row["name"], row["tag"], [self.itervars[i] for i in row["axis"]],
                             bodies if len(bodies) > 1 else bodies[0], row.get("attrs"))
        if row["op"] == "scan":
            return ScanOp(row["name"], row["tag"], *(
                [self.value(t) for t in row[key]] for key in ("inits", "updates", "states")))
        raise SerializeError(f"load_json: unknown operation kind {row['op']!r}")

    def value(self, v):
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if not isinstance(v, dict):
            return v
        if "var" in v:
            return self.vars[v["var"]]
        if "iv" in v:
            return self.itervars[v["iv"]]
        if "tensor" in v:
            op_index, value_index = v["tensor"]
            return self.tensors[op_index][value_index]
        if "tuple" in v:
            return tuple(self.value(x) for x in v["tuple"])
        cls = self.classes.get(v.get("node"))
        if cls is None:
            raise SerializeError(f"load_json: unknown node kind {v.get('node')!r}")
        return cls(**{k: self.value(x) for k, x in v["fields"].items()})
