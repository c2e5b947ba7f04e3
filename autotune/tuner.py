"""Search strategies: which configurations to measure next.

    RandomTuner   uniform samples of the space
    GridTuner     the space in index order
    ModelTuner    evolutionary search guided by the online cost model (model.py)

A tuner proposes batches of configurations that were never measured (the
`visited` set of config keys, which includes every record of a resumed log)
and never repeats one within a batch; `update` tells it what a batch
measured.  ModelTuner starts with batches of neighbours of the best
configuration so far (at first the fallback, which encodes what the template's
author knows) and uniform samples until the model has `warmup` measurements,
then each batch: seeds a population with the best
measured configurations and random ones, breeds children by crossover and
mutation for up to `generations` rounds, scoring each by the model from its
loop-nest features (computed in the build workers, without compiling), and
stops breeding as soon as the best predicted unmeasured candidate has not
improved for `patience` rounds.  It measures the top of the ranking plus an
`epsilon` share of random picks, so the model keeps seeing new regions.
"""
from __future__ import annotations

import math

import numpy as np

from .model import CostModel, rank_quality
from .space import config_key


class Tuner:
    """The interface: propose(n, visited) -> configs; update(records, features)."""

    def __init__(self, task, seed: int = 0):
        self.task = task
        self.space = task.space
        self.knobs = list(self.space.knobs.values())
        self.rng = np.random.default_rng(seed)

    def propose(self, n: int, visited: set) -> list:
        raise NotImplementedError

    def update(self, records, features) -> None:
        """Learn from measured records (features: one vector or None per record)."""

    def random_configs(self, n: int, visited: set) -> list:
        """Up to n distinct unvisited configurations, uniformly at random."""
        out, keys = [], set()
        for _ in range(20 * n + 20):
            if len(out) == n:
                return out
            values = {k.name: k.entities[self.rng.integers(len(k))].value for k in self.knobs}
            key = config_key(values)
            if key not in visited and key not in keys:
                out.append(values)
                keys.add(key)
        if len(self.space) <= 200_000:        # nearly exhausted: list what is left
            rest = [v for v in map(self.space.values, range(len(self.space)))
                    if config_key(v) not in visited and config_key(v) not in keys]
            self.rng.shuffle(rest)
            out += rest[: n - len(out)]
        return out


class RandomTuner(Tuner):
    """Uniform random search without repeats."""

    def propose(self, n, visited):
        return self.random_configs(n, visited)


class GridTuner(Tuner):
    """Every configuration in index order."""

    def __init__(self, task, seed: int = 0):
        super().__init__(task, seed)
        self.next_index = 0

    def propose(self, n, visited):
        out = []
        while len(out) < n and self.next_index < len(self.space):
            values = self.space.values(self.next_index)
            self.next_index += 1
            if config_key(values) not in visited:
                out.append(values)
        return out


def score_of(rec) -> float:
    """log(GFLOP/s) (or -log(seconds) without a FLOP count); None for a failure."""
    if not rec.ok:
        return None
    return math.log(rec.gflops) if rec.gflops > 0 else -math.log(rec.median)


class ModelTuner(Tuner):
    """Model-guided evolutionary search (see the module docstring).

    featurize: configs -> feature vectors (None where a config fails).
    """

    def __init__(self, task, featurize, seed: int = 0, population: int = 24,
                 generations: int = 3, patience: int = 2, epsilon: float = 0.2,
                 warmup: int = 8):
        super().__init__(task, seed)
        self.featurize = featurize
        self.population, self.generations = population, generations
        self.patience, self.epsilon, self.warmup = patience, epsilon, warmup
        self.model = CostModel()
        self.features: dict = {}          # config key -> vector or None
        self.data: dict = {}              # config key -> (vector, score or None)
        self.measured: dict = {}          # config key -> values
        self.predicted: dict = {}         # config key -> prediction when proposed
        self.quality: list = []           # rank quality of each batch's predictions

    # -- learning ------------------------------------------------------------------
    def update(self, records, features) -> None:
        batch = []
        for rec, vec in zip(records, features):
            key = config_key(rec.config)
            self.measured[key] = rec.config
            if vec is None:
                continue
            self.features[key] = vec
            self.data[key] = (vec, score_of(rec))
            if key in self.predicted and score_of(rec) is not None:
                batch.append((self.predicted[key], score_of(rec)))
        if batch:
            self.quality.append(rank_quality(*zip(*batch)))
        self._fit()

    def _fit(self) -> None:
        ok = [s for _, s in self.data.values() if s is not None]
        if len(ok) < 2:
            return
        floor = min(ok) - 1.0                 # failures: slower than the slowest success
        X = np.stack([v for v, _ in self.data.values()])
        y = np.array([floor if s is None else s for _, s in self.data.values()])
        self.model.fit(X, y)

    # -- proposing -------------------------------------------------------------------
    def propose(self, n, visited):
        ok = sum(1 for _, s in self.data.values() if s is not None)
        if not self.model.trained or ok < self.warmup:
            return self._warmup_batch(n, visited)
        scores = self._evolve(visited)
        ranked = sorted((k for k in scores if k not in visited and scores[k] > -math.inf),
                        key=lambda k: -scores[k])
        explore = int(round(self.epsilon * n))
        picks = ranked[: n - explore]
        out = [self._values[k] for k in picks]
        taken = set(visited) | set(picks)
        out += self.random_configs(n - len(out), taken)
        self.predicted.update({k: scores[k] for k in picks})
        return out

    def _warmup_batch(self, n: int, visited: set) -> list:
        """Before the model can rank: half neighbours of the best configuration so far
        (the fallback at first, a strong prior), half uniform samples."""
        best = max(((s, k) for k, (_, s) in self.data.items() if s is not None), default=None)
        base = self.measured[best[1]] if best else self.task.fallback
        out, keys = [], set(visited)
        for _ in range(8 * n):
            if len(out) >= n // 2:
                break
            child = self._mutate(base)
            if config_key(child) not in keys:
                out.append(child)
                keys.add(config_key(child))
        return out + self.random_configs(n - len(out), keys)

    def _evolve(self, visited) -> dict:
        self._values = {}
        elites = sorted(((s, k) for k, (_, s) in self.data.items() if s is not None),
                        reverse=True)[: self.population // 4]
        seed = [self.measured[k] for _, k in elites]
        seed += self.random_configs(self.population - len(seed), visited)
        scores = self._score(seed)
        best, stale = self._best_open(scores, visited), 0
        for _ in range(self.generations):
            parents = sorted(scores, key=lambda k: -scores[k])[: max(2, self.population // 2)]
            scores.update(self._score(self._children(parents, scores)))
            new = self._best_open(scores, visited)
            if new > best + 1e-9:
                best, stale = new, 0
            else:
                stale += 1
                if stale >= self.patience:
                    break
        return scores

    @staticmethod
    def _best_open(scores, visited) -> float:
        return max((s for k, s in scores.items() if k not in visited), default=-math.inf)

    def _children(self, parents, scores) -> list:
        out, keys = [], set()
        for _ in range(4 * self.population):
            if len(out) >= self.population:
                break
            a = self._values[parents[self.rng.integers(len(parents))]]
            b = self._values[parents[self.rng.integers(len(parents))]]
            child = self._mutate(self._cross(a, b) if self.rng.random() < 0.5 else dict(a))
            key = config_key(child)
            if key not in scores and key not in keys:
                out.append(child)
                keys.add(key)
        return out

    def _cross(self, a: dict, b: dict) -> dict:
        return {k: (a[k] if self.rng.random() < 0.5 else b[k]) for k in a}

    def _mutate(self, values: dict) -> dict:
        out = dict(values)
        changed = False
        while not changed:
            for knob in self.knobs:
                if len(knob) < 2 or self.rng.random() >= 1.0 / len(self.knobs):
                    continue
                here = knob.index_of(out[knob.name])
                if self.rng.random() < 0.5:         # a neighbour: factors near the current
                    step = int(self.rng.choice([-2, -1, 1, 2]))
                    there = min(len(knob) - 1, max(0, here + step))
                else:
                    there = int(self.rng.integers(len(knob)))
                out[knob.name] = knob.entities[there].value
                changed = changed or there != here
            if all(len(k) < 2 for k in self.knobs):
                break
        return out

    def _score(self, configs) -> dict:
        """Predicted score per config key (-inf where the template fails)."""
        fresh = []
        for values in configs:
            key = config_key(values)
            self._values[key] = values
            if key not in self.features:
                fresh.append((key, values))
        if fresh:
            for (key, _), vec in zip(fresh, self.featurize([v for _, v in fresh])):
                self.features[key] = vec
        keys = [config_key(v) for v in configs]
        good = [k for k in keys if self.features.get(k) is not None]
        preds = self.model.predict(np.stack([self.features[k] for k in good])) if good else []
        out = {k: -math.inf for k in keys}
        out.update(zip(good, (float(p) for p in preds)))
        return out


def make_tuner(kind, task, featurize=None, seed: int = 0) -> Tuner:
    """A tuner by name: "model" (default), "random" or "grid"; a Tuner instance; or a
    factory called as factory(task, featurize)."""
    if isinstance(kind, Tuner):
        return kind
    if callable(kind):
        return kind(task, featurize)
    if kind == "model":
        return ModelTuner(task, featurize, seed)
    if kind == "random":
        return RandomTuner(task, seed)
    if kind == "grid":
        return GridTuner(task, seed)
    raise ValueError(f"tune: unknown tuner {kind!r}; known: model, random, grid "
                     "(or a Tuner instance)")
