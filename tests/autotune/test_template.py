"""Templates and tasks: registration by name, get_config only inside a template, task
identity canonicalized against the signature, the fallback configuration, explicit
configs, and the FLOP count."""
import pytest

import opcomp as oc
from autotune import SpaceError, Task, TemplateError, apply_config, get_config, template
from autotune.task import estimate_flop
from autotune.template import lookup, registered
from tests.autotune import templates

HOST = str(oc.Target("llvm"))


def test_templates_register_by_name():
    assert {"test/matmul", "test/faulty"} <= set(registered())
    assert lookup("test/matmul").module == "tests.autotune.templates"
    with pytest.raises(TemplateError, match="no template named 'nope'.*import schedules"):
        lookup("nope")
    with pytest.raises(TemplateError, match="already defined by"):
        template("test/matmul")(lambda: None)
    with pytest.raises(TemplateError, match="non-empty string"):
        template("")


def test_get_config_outside_a_template_is_an_error():
    with pytest.raises(TemplateError, match="inside a function decorated"):
        get_config()


def test_task_identity_is_canonical():
    a = Task("test/matmul", args=(8, 8, 8))
    b = Task("test/matmul", args=[8, 8], kwargs={"K": 8, "dtype": "float32"}, target="llvm")
    assert a == b and hash(a) == hash(b)
    assert a.args == (8, 8, 8, "float32") and a.target == HOST
    assert a.key == {"name": "test/matmul", "args": [8, 8, 8, "float32"], "kwargs": {}}
    assert Task("test/matmul", (8, 8, 8), target="llvm -mcpu=haswell") != a
    with pytest.raises(TemplateError, match="missing a required argument"):
        Task("test/matmul", args=(8,))
    with pytest.raises(TemplateError, match="JSON values"):
        Task("test/matmul", args=(8, 8, oc.var("k")))
    with pytest.raises(TemplateError, match="not among kwargs"):
        Task("test/faulty", kwargs={"target": "llvm"})


def test_fallback_space_and_flop():
    task = Task("test/matmul", args=(16, 24, 8))
    assert set(task.space.knobs) == {"tile_i", "tile_j", "order", "vec"}
    assert task.fallback == {"tile_i": [-1, 8], "tile_j": [-1, 8], "order": "ijk",
                             "vec": ["none"]}
    assert task.flop == 2 * 16 * 24 * 8
    s, args = task.instantiate()
    assert [a.name for a in args] == ["A", "B", "C"] and len(s.trace) == 3


def test_flop_counts_float_arithmetic_only():
    A = oc.placeholder((4, 6), name="A")
    k = oc.reduce_axis(6, "k")
    B = oc.compute((4,), lambda i: oc.sum(A[i, k] * A[i, k] + 1.0, axis=k), name="B")
    C = oc.compute((4,), lambda i: oc.exp(B[i]) * 2.0, name="C")
    assert estimate_flop([C]) == 4 * 6 * 3 + 4 * 2


def test_a_direct_call_runs_the_fallback_and_apply_config_overrides_it():
    s, _ = templates.small_matmul(16, 16, 16)
    split = [r for r in s.trace.records if r["primitive"] == "split"]
    assert [r["args"]["factor"] for r in split] == [8, 8]
    with apply_config({"tile_j": [-1, 4], "vec": ["vec"]}):
        s, _ = templates.small_matmul(16, 16, 16)
    prims = [(r["primitive"], r["args"].get("factor")) for r in s.trace.records]
    assert ("split", 4) in prims and ("vectorize", None) in prims
    with apply_config({"tile_j": [-1, 3]}):
        with pytest.raises(SpaceError, match="tile_j"):
            templates.small_matmul(16, 16, 16)


def test_a_template_must_return_a_schedule_and_tensors():
    @template("test/bad-return")
    def bad(n):
        return oc.placeholder((n,), name="A")
    with pytest.raises(TemplateError, match=r"must return \(schedule, \[tensors\]\)"):
        bad(4)
