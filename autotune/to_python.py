"""A tuning record as the readable Python schedule it stands for.

    print(autotune.to_python(record))

    import autotune
    import opcomp as oc
    import schedules  # registers template 'matmul'

    TARGET = "llvm -mcpu=znver3 ..."
    task = autotune.Task("matmul", args=(1024, 1024, 1024, 'float32'), target=TARGET)
    s, args = task.computation({...})          # the computation, no primitives yet
    C = s.stage_by_name("C")
    s.cache_write(C.op.output(), "local")
    i, j = C.op.axis
    i_outer, i_inner = C.split(i, factor=6)
    ...

The code is generated one primitive at a time and each line is executed as it
is written, so every name it uses is bound to the object the trace means;
at the end the rebuilt trace is compared with the record's, and a difference
raises instead of returning code that would not reproduce the record.
"""
from __future__ import annotations

import json
import keyword
import re

import opcomp as oc

from .records import Record
from .task import Task
from .template import _TEMPLATES


class _Writer:
    """Emits lines into a program and runs each in the program's namespace."""

    def __init__(self):
        self.lines: list = []
        self.ns: dict = {}
        self.names: dict = {}          # id(object) -> python name
        self.taken = {"s", "args", "task", "oc", "autotune", "TARGET"}

    def emit(self, line: str) -> None:
        self.lines.append(line)
        exec(line, self.ns)            # noqa: S102 (our own generated line)

    def name_for(self, obj, hint: str) -> str:
        if id(obj) in self.names:
            return self.names[id(obj)]
        base = re.sub(r"\W", "_", hint) or "x"
        base = "_" + base if base[0].isdigit() or keyword.iskeyword(base) else base
        name, k = base, 1
        while name in self.taken:
            name, k = f"{base}_{k}", k + 1
        self.taken.add(name)
        self.names[id(obj)] = name
        return name


def _stage(w: _Writer, stage_name: str) -> str:
    st = w.ns["s"].stage_by_name(stage_name)
    if id(st) not in w.names:
        var = w.name_for(st, stage_name)
        w.emit(f"{var} = s.stage_by_name({stage_name!r})")
    return w.names[id(st)]


def _axis(w: _Writer, stage_name: str, key: str) -> str:
    st = w.ns["s"].stage_by_name(stage_name)
    iv = _find_axis(st, key)
    if id(iv) not in w.names:
        var = _stage(w, stage_name)
        for group, attr in ((st.op.axis, "axis"), (st.op.reduce_axis, "reduce_axis")):
            if any(x is iv for x in group):
                names = [w.name_for(x, x.name) for x in group]
                lhs = ", ".join(names) + ("," if len(names) == 1 else "")
                w.emit(f"{lhs} = {var}.op.{attr}")
    if id(iv) not in w.names:
        raise ValueError(f"to_python: axis {key!r} of stage {stage_name} is neither a root "
                         "axis nor the result of an earlier primitive")
    return w.names[id(iv)]


def _find_axis(stage, key: str):
    base, _, pos = key.partition("#")
    if pos.isdigit() and int(pos) < len(stage.all_iter_vars):
        return stage.all_iter_vars[int(pos)]
    return next(iv for iv in stage.all_iter_vars if iv.name == key)


def _primitive(w: _Writer, rec: dict) -> None:
    prim, args, st_name = rec["primitive"], rec["args"], rec["stage"]
    var = _stage(w, st_name)
    if prim == "split":
        axis = _axis(w, st_name, args["axis"])
        how = f"factor={args['factor']}" if args.get("factor") is not None \
            else f"nparts={args['nparts']}"
        w.emit(f"_r = {var}.split({axis}, {how})")
        _name_results(w, "_r")
    elif prim in ("fuse", "reorder"):
        axes = ", ".join(_axis(w, st_name, a) for a in args["axes"])
        if prim == "reorder":
            w.emit(f"{var}.reorder({axes})")
        else:
            w.emit(f"_r = ({var}.fuse({axes}),)")
            _name_results(w, "_r")
    elif prim in ("vectorize", "unroll", "parallel"):
        w.emit(f"{var}.{prim}({_axis(w, st_name, args['axis'])})")
    elif prim == "bind":
        w.emit(f"{var}.bind({_axis(w, st_name, args['axis'])}, "
               f"oc.thread_axis({args['thread']!r}))")
    elif prim == "compute_at":
        w.emit(f"{var}.compute_at({_stage(w, args['target'])}, "
               f"{_axis(w, args['target'], args['axis'])})")
    elif prim in ("compute_inline", "compute_root"):
        w.emit(f"{var}.{prim}()")
    elif prim == "cache_write":
        w.emit(f"s.cache_write({var}.op.output(), {args['scope']!r})")
    elif prim == "rfactor":
        w.emit(f"s.rfactor({var}.op.output(), {_axis(w, st_name, args['axis'])}, "
               f"factor_axis={args['factor_axis']})")
    elif prim == "cache_read":
        readers = ", ".join(f"{_stage(w, r)}.op" for r in args["readers"])
        w.emit(f"s.cache_read({var}.op.output(), {args['scope']!r}, [{readers}])")
    else:
        raise ValueError(f"to_python: unknown primitive {prim!r}")


def _name_results(w: _Writer, tmp: str) -> None:
    """Rename the temporary result tuple to readable names (one line)."""
    results = w.ns[tmp]
    names = [w.name_for(iv, iv.name) for iv in results]
    call = w.lines.pop()
    lhs = ", ".join(names)
    rhs = call.split(" = ", 1)[1]
    if rhs.startswith("(") and rhs.endswith(",)"):    # fuse: one result, not a tuple
        rhs = rhs[1:-2]
    w.lines.append(f"{lhs} = {rhs}")
    w.ns.update(zip(names, results))


def _header(rec: Record, task: Task) -> list:
    status = f"{rec.gflops:.1f} GFLOP/s, median {rec.median * 1e3:.3f} ms" if rec.ok \
        else f"error {rec.error.name}"
    module = _TEMPLATES[rec.name].module
    imports = ["import autotune", "import opcomp as oc"]
    if module not in ("__main__", "__mp_main__"):
        imports.append(f"import {module}  # registers template {rec.name!r}")
    kw = "".join(f", {k}={json.loads(json.dumps(v))!r}" for k, v in rec.kwargs)
    args = repr(tuple(json.loads(json.dumps(rec.args))))
    return [f"# Schedule of a tuning record: template {rec.name!r}, {status}",
            f"# on {oc.Target(rec.target).brief}; workload {rec.workload}"] + imports + [
        "", f"TARGET = {rec.target!r}",
        f"task = autotune.Task({rec.name!r}, args={args}{kw}, target=TARGET)",
        f"s, args = task.computation({json.dumps(rec.config)})   "
        "# the computation, no primitives yet"]


def to_python(record: Record) -> str:
    """The Python code that rebuilds the record's schedule (see the module docstring).

    The record's template must be registered in this process (for the library's
    ops: `import schedules`)."""
    if not isinstance(record, Record):
        raise TypeError(f"to_python: expected an autotune Record, got {type(record).__name__}")
    if record.trace is None:
        raise ValueError(f"to_python: the record ({record.error.name}) has no trace "
                         "(its configuration failed before it was scheduled)")
    task = Task(record.name, record.args, record.kwargs, record.target)
    w = _Writer()
    w.ns.update(autotune=__import__("autotune"), oc=oc, TARGET=record.target, task=task)
    header = _header(record, task)
    w.ns["s"], w.ns["args"] = task.computation(record.config)
    for rec in record.trace:
        _primitive(w, rec)
    got = w.ns["s"].trace
    if got.records != [dict(r) for r in record.trace] or got.workload != record.workload:
        raise ValueError("to_python: the generated code does not rebuild the record's trace "
                         "(the template's computation changed since the record was made?)")
    return "\n".join(header + w.lines + ["", "# mod = oc.build(s, args, target=TARGET)", ""])
