"""The config a template reads its choices from: `get_config()` inside a template.

While a template runs, its config collects the knobs it defines (the space)
and answers ``cfg[name]`` with the chosen entity: a record's choice when one
is applied, else the knob's default.  Defaults are derived from the target
(``cfg.target``), so a template with no record runs its fallback
configuration: the template may pass ``default=`` (the matmul template gives
its hand-tuned register tile), otherwise a split puts the target's vector
width innermost, a parallel annotation takes the outermost loop and the rest
take their first or identity choice.
"""
from __future__ import annotations

from .space import (AnnotateEntity, ConfigSpace, Knob, OptionEntity, ReorderEntity,
                    SpaceError, SplitEntity, _jsonable, _short, annotations, axis_extent,
                    reorder_perms, split_sizes)


def vector_lanes(target, itemsize: int = 4) -> int:
    """Elements of `itemsize` bytes in one vector register of a CPU target (1 elsewhere)."""
    bits = getattr(target, "vector_bits", None) if target.kind == "llvm" else None
    return max(1, (bits or 8 * itemsize) // (8 * itemsize))


class Config:
    """Knob definitions and choices for one run of a template.

    target: the resolved oc.Target the template builds for.  choice: knob
    values to apply (JSON values by name) or None for the defaults; partial
    choices leave the knobs they do not name at their defaults.
    """

    def __init__(self, target, choice=None, partial: bool = False):
        self.target = target
        self.flop = None
        self._choice = None if choice is None else dict(choice)
        self._partial = partial
        self._knobs: dict = {}
        self._picked: dict = {}

    # -- definitions ---------------------------------------------------------------
    def define_split(self, name: str, axis, num_outputs: int = 2, policy: str = "factors",
                     max_factor=None, candidate=None, filter=None, default=None):  # noqa: A002
        """A split of `axis` (an axis or an int extent) into num_outputs (2 to 4) loops.

        policy: "factors" (exact divisors), "power2" (powers of two, tail
        allowed), "any" (any size, tail allowed); max_factor bounds each inner
        factor; candidate: an explicit list of [-1, f1, ...] sizes; filter: a
        predicate on the SplitEntity.  Returns the chosen SplitEntity.
        """
        extent = axis_extent(axis, name)
        if candidate is not None:
            sizes = [self._checked_size(name, c, num_outputs) for c in candidate]
        else:
            sizes = split_sizes(extent, num_outputs, policy, max_factor)
        ents = [SplitEntity(s) for s in sizes]
        ents = [e for e in ents if filter is None or filter(e)]
        lanes = vector_lanes(self.target)
        natural = [k for k, e in enumerate(ents) if all(f == 1 for f in e.size[1:-1])
                   and e.size[-1] <= lanes]
        guess = max(natural, key=lambda k: ents[k].size[-1]) if natural else 0
        return self._define(Knob(name, "split", tuple(ents),
                                 self._default(name, ents, default, guess)))

    def define_reorder(self, name: str, axes, policy: str = "all", candidate=None,
                       default=None):
        """A choice among orders of `axes` (all permutations, or candidate orders as
        lists of positions).  Returns the chosen ReorderEntity."""
        ents = [ReorderEntity(p) for p in reorder_perms(len(axes), policy, candidate)]
        ident = next((k for k, e in enumerate(ents) if list(e.perm) == sorted(e.perm)), 0)
        return self._define(Knob(name, "reorder", tuple(ents),
                                 self._default(name, ents, default, ident)))

    def define_annotate(self, name: str, axes, policy: str, default=None):
        """Annotations of `axes`: policy "unroll", "vectorize", "parallel" or
        "unroll_vectorize" (see space.annotations).  Returns the chosen AnnotateEntity."""
        ents = [AnnotateEntity(a) for a in annotations(len(axes), policy)]
        cores = getattr(self.target, "cores", 1) if self.target.kind == "llvm" else 1
        guess = 1 if policy == "parallel" and cores > 1 else 0
        return self._define(Knob(name, "annotate", tuple(ents),
                                 self._default(name, ents, default, guess)))

    def define_knob(self, name: str, candidates, default=None):
        """A choice among JSON values (ints, floats, strings, bools).  Returns the
        chosen OptionEntity; read its value as cfg[name].val."""
        cands = list(candidates)
        if not cands:
            raise SpaceError(f"define_knob {name!r}: needs at least one candidate")
        for c in cands:
            if not _jsonable(c) or isinstance(c, (list, tuple)):
                raise SpaceError(f"define_knob {name!r}: candidates must be JSON scalars "
                                 f"(int, float, str, bool, None), got {_short(c)}")
        ents = [OptionEntity(c) for c in cands]
        return self._define(Knob(name, "knob", tuple(ents), self._default(name, ents, default, 0)))

    def add_flop(self, flop) -> None:
        """Floating-point operations of one call (else estimated from the computation)."""
        if isinstance(flop, bool) or not isinstance(flop, (int, float)) or flop <= 0:
            raise ValueError(f"add_flop: expected a positive number, got {flop!r}")
        self.flop = (self.flop or 0) + flop

    # -- reading ------------------------------------------------------------------
    def __getitem__(self, name: str):
        if name not in self._knobs:
            raise SpaceError(f"knob {name!r} is not defined (yet); defined: "
                             f"{', '.join(self._knobs) or 'none'}")
        return self._knobs[name].entities[self._picked[name]]

    def __contains__(self, name: str) -> bool:
        return name in self._knobs

    @property
    def is_fallback(self) -> bool:
        """True when no record or explicit config chose the knobs (defaults only)."""
        return self._choice is None

    @property
    def space(self) -> ConfigSpace:
        """The knobs defined so far, as a space."""
        return ConfigSpace(self._knobs.values())

    def values(self) -> dict:
        """The chosen configuration: JSON values by knob name."""
        return {n: self[n].value for n in self._knobs}

    def finish(self) -> None:
        """After the template ran: a full choice must name exactly the knobs it defined."""
        if self._choice is None:
            return
        extra = sorted(set(self._choice) - set(self._knobs))
        missing = [] if self._partial else [n for n in self._knobs if n not in self._choice]
        if extra or missing:
            raise SpaceError(f"configuration does not fit the template's knobs: unknown "
                             f"{extra}, missing {missing}")

    # -- helpers --------------------------------------------------------------------
    def _define(self, knob: Knob):
        if knob.name in self._knobs:
            raise SpaceError(f"knob {knob.name!r} is defined twice")
        if not knob.entities:
            raise SpaceError(f"knob {knob.name!r} ({knob.kind}) has no choices left")
        picked = knob.default
        if self._choice is not None and knob.name in self._choice:
            picked = knob.index_of(self._choice[knob.name])
        self._knobs[knob.name] = knob
        self._picked[knob.name] = picked
        return knob.entities[picked]

    @staticmethod
    def _default(name: str, ents: list, default, guess: int) -> int:
        if not ents or default is None:
            return guess
        try:
            return Knob(name, "", tuple(ents), 0).index_of(
                list(default) if isinstance(default, tuple) else default)
        except SpaceError:
            raise SpaceError(f"knob {name!r}: default {_short(default)} is not one of its "
                             f"{len(ents)} choices") from None

    @staticmethod
    def _checked_size(name: str, size, n: int) -> tuple:
        # A candidate may exceed the extent (one guarded tile): the template chose it.
        size = tuple(size) if isinstance(size, (list, tuple)) else None
        ok = size is not None and len(size) == n and size[0] == -1 and all(
            isinstance(f, int) and not isinstance(f, bool) and f >= 1 for f in size[1:])
        if not ok:
            raise SpaceError(f"define_split {name!r}: candidate {_short(size)} must be "
                             f"[-1, f1, ...] with {n} entries and positive factors")
        return size
