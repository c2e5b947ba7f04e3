"""The cost model and the loop-nest features it learns from: the model ranks unseen
points of a smooth function well, features see vector width, unrolling, parallel loops
and cache footprints, and the model-guided tuner proposes only new configurations."""
import math

import numpy as np
import pytest

import opcomp as oc
from autotune import ErrorCode, ModelTuner, Record, Task, config_key
from autotune import features
from autotune.model import CostModel, rank_quality
from tests.autotune import templates  # noqa: F401

HASWELL = oc.Target("llvm -mcpu=haswell")


def test_the_model_ranks_unseen_points_of_a_smooth_function():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (160, 6))
    y = -((X[:, :3] - 0.3) ** 2).sum(1) + 0.5 * X[:, 3]
    model = CostModel().fit(X[:100], y[:100])
    assert rank_quality(model.predict(X[100:]), y[100:]) > 0.8
    assert np.all(CostModel().predict(X[:3]) == 0)          # untrained: no opinion
    with pytest.raises(ValueError, match="do not match"):
        CostModel().fit(X[:5], y[:4])


def test_rank_quality():
    assert rank_quality([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert rank_quality([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(rank_quality([1, 2], [1, 2]))


def _features(values, n=64):
    task = Task("test/matmul", args=(n, n, n), target=str(HASWELL))
    s, args = task.instantiate(values)
    return features.extract(s, args, HASWELL)


BASE = {"tile_i": [-1, 8], "tile_j": [-1, 8], "order": "ijk", "vec": ["none"]}


def test_features_see_the_loop_nest():
    plain = _features(BASE)
    vec = _features(dict(BASE, vec=["vec"]))
    assert plain.shape == (features.LENGTH,) and np.isfinite(plain).all()
    assert plain[0] == 2 and plain[1] == pytest.approx(math.log2(64 ** 3 + 64 * 64), abs=0.1)
    lanes = 2 + 2             # the reduction update: store count, log2 iterations, then its
    assert plain[lanes] == 0 and vec[lanes] == pytest.approx(3.0)     # log2 of 8 lanes
    small, big = _features(dict(BASE, tile_j=[-1, 2])), _features(dict(BASE, tile_j=[-1, 16]))
    assert not np.allclose(small, big)


def test_footprint_of_an_access():
    A = oc.placeholder((64, 64), name="A")
    B = oc.compute((64, 64), lambda i, j: A[j, i] + 1.0, name="B")
    s = oc.create_schedule(B)
    nest = features.schedule_to_stmt(s, [A, B], HASWELL)[0]
    stores = []
    features._stores(nest, [], stores)
    (st,) = stores
    read = st.reads[0]
    assert features.footprint(read, st.loops[1:]) == 64 * 4          # one column of A
    assert features.footprint(read, st.loops) == 64 * 64 * 4


def test_the_model_tuner_proposes_only_new_distinct_configurations():
    task = Task("test/matmul", args=(32, 32, 32), target=str(HASWELL))

    def featurize(configs):
        return [_features(c, 32) for c in configs]
    tuner = ModelTuner(task, featurize, seed=1, population=16, warmup=4)
    space = task.space
    measured = [space.values(i) for i in range(0, len(space), 11)]
    recs = [Record(task.name, task.args, task.kwargs, task.target, c, ErrorCode.OK,
                   (1e-3 * (1 + c["tile_i"][1] / 8),), flop=task.flop) for c in measured]
    tuner.update(recs, featurize(measured))
    assert tuner.model.trained
    visited = {config_key(c) for c in measured}
    batch = tuner.propose(8, visited)
    keys = [config_key(c) for c in batch]
    assert len(batch) == 8 == len(set(keys)) and not set(keys) & visited
    for c in batch:
        space.check(c)
