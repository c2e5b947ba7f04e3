"""Knobs and configuration spaces: what a template may vary, and the points of it.

A template defines knobs on the config that `get_config()` returns:

    cfg.define_split("tile_x", x, num_outputs=3)          # x -> x.0, x.1, x.2
    cfg.define_reorder("order", [io, jo, k])
    cfg.define_annotate("ann", [ii, ji], policy="unroll")
    cfg.define_knob("unroll_k", [0, 1])

and reads the chosen point back with ``cfg[name]``: an entity whose ``apply``
performs the schedule primitives (``cfg["tile_x"].apply(s, C, x)``) or whose
``val`` is the option.  Each knob is a finite, ordered list of entities; a
configuration is one entity per knob, stored in records as JSON values
(``{"tile_x": [-1, 8, 4], "unroll_k": 1}``).  The index of a configuration is
its mixed-radix number over the knobs in definition order.
"""
from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass

SPLIT_POLICIES = ("factors", "power2", "any")
ANNOTATE_POLICIES = ("unroll", "vectorize", "parallel", "unroll_vectorize")
MAX_REORDER_AXES = 7          # 7! = 5040 orders; more is a space nobody can search
MAX_KNOB_ENTITIES = 1 << 20   # a knob's entities are listed in memory
JSON_SCALARS = (int, float, str, bool, type(None))


class SpaceError(ValueError):
    """A knob defined wrongly, or a configuration that is not a point of the space."""


# -- entities: one choice of one knob ------------------------------------------------
def _stage(s, op):
    """The stage of a tensor, an operation or a stage, in schedule s."""
    return op if hasattr(op, "leaf_iter_vars") else s[op]


@dataclass(frozen=True)
class SplitEntity:
    """Split sizes outer to inner; the outer is -1 (whatever remains, with a tail)."""
    size: tuple

    @property
    def value(self):
        return list(self.size)

    def apply(self, s, op, axis) -> list:
        """Split `axis` of op's stage into len(size) loops; returns them outer to inner."""
        stage, out = _stage(s, op), []
        for k in range(1, len(self.size)):
            outer, axis = stage.split(axis, factor=math.prod(self.size[k:]))
            out.append(outer)
        return out + [axis]


@dataclass(frozen=True)
class ReorderEntity:
    """A permutation: position k of the new order holds axes[perm[k]]."""
    perm: tuple

    @property
    def value(self):
        return list(self.perm)

    def apply(self, s, op, axes) -> list:
        """Reorder the axes of op's stage; returns them in their new order."""
        ordered = [axes[p] for p in self.perm]
        if len(ordered) > 1:
            _stage(s, op).reorder(*ordered)
        return ordered


@dataclass(frozen=True)
class AnnotateEntity:
    """One annotation per axis: "none", "unroll", "vec" or "parallel"."""
    anns: tuple

    @property
    def value(self):
        return list(self.anns)

    def apply(self, s, op, axes) -> None:
        """Annotate each axis of op's stage as chosen."""
        stage = _stage(s, op)
        call = {"unroll": stage.unroll, "vec": stage.vectorize, "parallel": stage.parallel}
        for axis, ann in zip(axes, self.anns):
            if ann != "none":
                call[ann](axis)


@dataclass(frozen=True)
class OptionEntity:
    """One value of a define_knob list."""
    val: object

    @property
    def value(self):
        return self.val


# -- knobs -------------------------------------------------------------------------
@dataclass(frozen=True)
class Knob:
    """A named, ordered list of entities and the index of its default."""
    name: str
    kind: str              # split | reorder | annotate | knob
    entities: tuple
    default: int

    def __len__(self):
        return len(self.entities)

    def index_of(self, value) -> int:
        """The position of a JSON value among the entities (SpaceError if absent)."""
        key = _canon(value)
        for k, ent in enumerate(self.entities):
            if _canon(ent.value) == key:
                return k
        raise SpaceError(f"knob {self.name!r} ({self.kind}): {_short(value)} is not one of its "
                         f"{len(self)} choices (e.g. {_short(self.entities[0].value)})")


def _canon(value) -> str:
    return json.dumps(value, sort_keys=True)


def _short(value) -> str:
    text = json.dumps(value) if _jsonable(value) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _jsonable(value) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_jsonable(v) for v in value)
    return isinstance(value, JSON_SCALARS) and not (isinstance(value, float) and
                                                    not math.isfinite(value))


def axis_extent(what, name: str) -> int:
    """The constant extent of an axis (an IterVar) or an int, for a split knob."""
    if isinstance(what, bool):
        raise SpaceError(f"define_split {name!r}: expected an axis or an int extent, got {what!r}")
    if isinstance(what, int):
        extent = what
    else:
        extent = getattr(getattr(what, "extent", None), "value", None)
        if not isinstance(extent, int):
            raise SpaceError(f"define_split {name!r}: axis {getattr(what, 'name', what)!r} has "
                             "no constant extent; give an int extent or a constant-size axis")
    if extent < 1:
        raise SpaceError(f"define_split {name!r}: extent must be >= 1, got {extent}")
    return extent


def _factor_choices(extent: int, policy: str, max_factor: int) -> list:
    if policy == "factors":
        return [d for d in range(1, min(extent, max_factor) + 1) if extent % d == 0]
    if policy == "power2":
        return [1 << p for p in range(0, 63) if (1 << p) <= min(extent, max_factor)]
    return list(range(1, min(extent, max_factor) + 1))


def split_sizes(extent: int, num_outputs: int, policy: str, max_factor=None) -> list:
    """Every (-1, f1, ..., f_{n-1}) for the policy, inner factors multiplying to <= extent.

    factors: the product of all parts is exactly extent (no tail); power2: each
    inner factor a power of two; any: any inner factor (the outer loop has a tail).
    """
    if policy not in SPLIT_POLICIES:
        raise SpaceError(f"define_split: unknown policy {policy!r}; known: "
                         f"{', '.join(SPLIT_POLICIES)}")
    if not 2 <= num_outputs <= 4:
        raise SpaceError(f"define_split: num_outputs must be 2, 3 or 4, got {num_outputs}")
    limit = extent if max_factor is None else max_factor
    choices = _factor_choices(extent, policy, limit)
    out = []
    for inner in itertools.product(choices, repeat=num_outputs - 1):
        prod = math.prod(inner)
        if prod <= extent and (policy != "factors" or extent % prod == 0):
            out.append((-1,) + inner)
            if len(out) > MAX_KNOB_ENTITIES:
                raise SpaceError(f"define_split: more than {MAX_KNOB_ENTITIES} choices for "
                                 f"extent {extent}; give max_factor or candidate")
    return out


def reorder_perms(n: int, policy: str, candidate=None) -> list:
    """The permutations of n axes a reorder knob offers."""
    if candidate is not None:
        perms = [tuple(p) for p in candidate]
        for p in perms:
            if sorted(p) != list(range(n)):
                raise SpaceError(f"define_reorder: candidate {list(p)} is not a permutation "
                                 f"of 0..{n - 1}")
        return perms
    if policy == "identity":
        return [tuple(range(n))]
    if policy != "all":
        raise SpaceError(f"define_reorder: unknown policy {policy!r}; known: all, identity "
                         "(or give candidate=[orders])")
    if n > MAX_REORDER_AXES:
        raise SpaceError(f"define_reorder: {n} axes give {math.factorial(n)} orders; at most "
                         f"{MAX_REORDER_AXES} axes, or give candidate=[orders]")
    return list(itertools.permutations(range(n)))


def annotations(n: int, policy: str) -> list:
    """The annotation tuples an annotate knob offers for n axes.

    unroll: each axis unrolled or not; vectorize: the innermost vectorized or
    not; parallel: the outermost parallel or not; unroll_vectorize: both of
    the first two.
    """
    if policy not in ANNOTATE_POLICIES:
        raise SpaceError(f"define_annotate: unknown policy {policy!r}; known: "
                         f"{', '.join(ANNOTATE_POLICIES)}")
    if n < 1:
        raise SpaceError("define_annotate: needs at least one axis")
    none = ("none",) * n
    if policy == "vectorize":
        return [none, none[:-1] + ("vec",)]
    if policy == "parallel":
        return [none, ("parallel",) + none[1:]]
    unrolls = list(itertools.product(("none", "unroll"), repeat=n))
    if policy == "unroll":
        return unrolls
    return unrolls + [u[:-1] + ("vec",) for u in unrolls]


# -- spaces -------------------------------------------------------------------------
class ConfigSpace:
    """The knobs of a template instance, in definition order: the space it is tuned over."""

    def __init__(self, knobs):
        self.knobs = {k.name: k for k in knobs}

    def __len__(self):
        return math.prod(len(k) for k in self.knobs.values())

    def __repr__(self):
        parts = ", ".join(f"{k.name}: {k.kind} x{len(k)}" for k in self.knobs.values())
        return f"ConfigSpace({len(self)} points; {parts})"

    def values(self, index: int) -> dict:
        """The configuration at a mixed-radix index (JSON values by knob name)."""
        if not 0 <= index < len(self):
            raise SpaceError(f"config index {index} is outside the space (0..{len(self) - 1})")
        out = {}
        for knob in self.knobs.values():
            index, k = divmod(index, len(knob))
            out[knob.name] = knob.entities[k].value
        return out

    def index(self, values: dict) -> int:
        """The mixed-radix index of a full configuration (SpaceError if it does not fit)."""
        self.check(values)
        index, scale = 0, 1
        for knob in self.knobs.values():
            index += knob.index_of(values[knob.name]) * scale
            scale *= len(knob)
        return index

    def check(self, values: dict) -> None:
        """SpaceError unless values names exactly this space's knobs with valid choices."""
        if not isinstance(values, dict):
            raise SpaceError(f"a configuration is a dict of knob values, got {_short(values)}")
        extra = sorted(set(values) - set(self.knobs))
        missing = [n for n in self.knobs if n not in values]
        if extra or missing:
            raise SpaceError(f"configuration does not fit the space: unknown knobs {extra}, "
                             f"missing knobs {missing}")
        for name, knob in self.knobs.items():
            knob.index_of(values[name])

    @property
    def default(self) -> dict:
        """The default configuration: each knob's default (derived from the target)."""
        return {k.name: k.entities[k.default].value for k in self.knobs.values()}


def config_key(values: dict) -> str:
    """A canonical string naming a configuration (sorted JSON): equal configs, equal keys."""
    return json.dumps(values, sort_keys=True, separators=(",", ":"))
