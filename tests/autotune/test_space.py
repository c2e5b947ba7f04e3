"""Knobs and spaces: split policies (2 to 4 outputs; factors, powers of two, any size
with a tail), reorder, annotate, option knobs, target-derived defaults, mixed-radix
indices, and clear errors for bad definitions."""
import numpy as np
import pytest

import opcomp as oc
from autotune import Config, ConfigSpace, SpaceError, config_key
from autotune.space import annotations, reorder_perms, split_sizes

AVX2 = oc.Target("llvm -mcpu=haswell")


def test_factor_splits_divide_the_extent_exactly():
    sizes = split_sizes(12, 2, "factors")
    assert sizes == [(-1, f) for f in (1, 2, 3, 4, 6, 12)]
    three = split_sizes(12, 3, "factors")
    assert (-1, 2, 3) in three and all(12 % (a * b) == 0 for _, a, b in three)


def test_power2_and_any_splits_allow_a_tail():
    assert split_sizes(20, 2, "power2") == [(-1, 1), (-1, 2), (-1, 4), (-1, 8), (-1, 16)]
    anys = split_sizes(10, 2, "any")
    assert anys == [(-1, f) for f in range(1, 11)]
    four = split_sizes(16, 4, "any", max_factor=3)
    assert all(len(s) == 4 and a * b * c <= 16 for s in four for a, b, c in [s[1:]])
    assert (-1, 3, 3, 1) in four and (-1, 3, 3, 2) not in four     # 18 > 16


@pytest.mark.parametrize("bad, message", [
    (dict(num_outputs=5), "num_outputs must be 2, 3 or 4"),
    (dict(num_outputs=1), "num_outputs"),
    (dict(policy="odd"), "unknown policy 'odd'"),
])
def test_bad_splits_are_refused(bad, message):
    args = dict(num_outputs=2, policy="factors") | bad
    with pytest.raises(SpaceError, match=message):
        split_sizes(8, args["num_outputs"], args["policy"])


def test_reorder_and_annotate_choices():
    assert len(reorder_perms(3, "all")) == 6
    assert reorder_perms(3, "identity") == [(0, 1, 2)]
    with pytest.raises(SpaceError, match="not a permutation"):
        reorder_perms(3, "all", candidate=[[0, 0, 1]])
    assert annotations(2, "vectorize") == [("none", "none"), ("none", "vec")]
    assert annotations(2, "parallel") == [("none", "none"), ("parallel", "none")]
    assert len(annotations(2, "unroll")) == 4 and len(annotations(2, "unroll_vectorize")) == 8


def _defined(choice=None, target=AVX2):
    cfg = Config(target, choice)
    cfg.define_split("x", 64, num_outputs=3, policy="power2")
    cfg.define_reorder("order", ["a", "b", "c"])
    cfg.define_annotate("par", ["a", "b"], policy="parallel")
    cfg.define_knob("unroll", [0, 1])
    return cfg


def test_defaults_come_from_the_target():
    cfg = _defined()
    assert cfg.is_fallback
    assert cfg["x"].size == (-1, 1, 8)                   # 8 float32 lanes on AVX2
    assert cfg["order"].perm == (0, 1, 2)
    assert cfg["par"].anns == ("parallel", "none")       # the target has several cores
    assert cfg["unroll"].val == 0
    one_core = _defined(target=oc.Target("llvm -mcpu=haswell -cores=1"))
    assert one_core["par"].anns == ("none", "none")
    assert _defined(target=oc.Target("llvm -mcpu=znver5"))["x"].size == (-1, 1, 16)


def test_a_space_indexes_every_configuration_once():
    space = _defined().space
    assert len(space) == 28 * 6 * 2 * 2 == len(set(
        config_key(space.values(i)) for i in range(len(space))))
    for i in (0, 1, 77, len(space) - 1):
        assert space.index(space.values(i)) == i
    with pytest.raises(SpaceError, match="outside the space"):
        space.values(len(space))


def test_a_choice_picks_entities_and_is_checked():
    cfg = _defined({"x": [-1, 4, 2], "order": [2, 0, 1], "par": ["none", "none"], "unroll": 1})
    assert cfg["x"].size == (-1, 4, 2) and cfg["order"].perm == (2, 0, 1)
    assert cfg["unroll"].val == 1 and not cfg.is_fallback
    with pytest.raises(SpaceError, match=r"knob 'x' \(split\): \[-1, 3, 2\] is not one of"):
        _defined({"x": [-1, 3, 2]})
    cfg = _defined({"x": [-1, 4, 2], "nope": 1}, )
    with pytest.raises(SpaceError, match=r"unknown \['nope'\]"):
        cfg.finish()


@pytest.mark.parametrize("define, message", [
    (lambda c: c.define_knob("k", []), "at least one candidate"),
    (lambda c: c.define_knob("k", [[1, 2]]), "JSON scalars"),
    (lambda c: c.define_knob("k", [1, 2], default=3), "default 3 is not one of its 2 choices"),
    (lambda c: c.define_split("s", oc.var("n")), "no constant extent"),
    (lambda c: c.define_split("s", 0), "extent must be >= 1"),
    (lambda c: c.define_split("s", 8, candidate=[[4, 2]]), r"must be \[-1, f1, ...\]"),
    (lambda c: c.define_split("s", 8, filter=lambda e: False), "no choices left"),
    (lambda c: (c.define_knob("k", [1]), c.define_knob("k", [2])), "defined twice"),
    (lambda c: c["missing"], "'missing' is not defined"),
])
def test_bad_definitions_name_the_knob(define, message):
    with pytest.raises(SpaceError, match=message):
        define(Config(AVX2))


def test_entities_apply_schedule_primitives_and_keep_results_right(rng):
    n = 37
    A = oc.placeholder((n, n), name="A")
    B = oc.compute((n, n), lambda i, j: A[i, j] * 3.0 + A[j, i], name="B")
    s = oc.create_schedule(B)
    i, j = B.op.axis
    cfg = Config(AVX2, {"ti": [-1, 4, 3], "tj": [-1, 8], "order": [1, 0], "ann": ["vec"]})
    cfg.define_split("ti", i, num_outputs=3, policy="any", max_factor=8)
    cfg.define_split("tj", j, policy="power2")
    io, im, ii = cfg["ti"].apply(s, B, i)
    jo, ji = cfg["tj"].apply(s, B, j)
    assert [a.extent.value for a in (io, im, ii, ji)] == [4, 4, 3, 8]
    cfg.define_reorder("order", [im, ii])
    assert cfg["order"].apply(s, B, [im, ii]) == [ii, im]
    cfg.define_annotate("ann", [ji], policy="vectorize")
    cfg["ann"].apply(s, B, [ji])
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = np.empty_like(a)
    oc.build(s, [A, B])(a, b)
    np.testing.assert_allclose(b, a.astype(np.float64) * 3 + a.T, rtol=1e-6, atol=1e-6)
    assert [r["primitive"] for r in s.trace.records] == ["split"] * 3 + ["reorder", "vectorize"]


def test_space_check_names_missing_and_extra_knobs():
    space = ConfigSpace(_defined().space.knobs.values())
    with pytest.raises(SpaceError, match=r"unknown knobs \['z'\], missing knobs \['order'"):
        space.check({"x": [-1, 1, 1], "z": 0, "par": ["none", "none"], "unroll": 0})
