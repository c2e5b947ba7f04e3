"""Templates: schedule functions with knobs, registered by name, dispatched to a config.

    @template("my/matmul")
    def matmul(M, N, K, dtype="float32"):
        ...compute...
        cfg = get_config()
        cfg.define_split("tile_x", x, num_outputs=3)
        ...cfg["tile_x"].apply(s, C, x)...
        return s, [A, B, C]

Calling ``matmul(1024, 1024, 1024)`` picks its configuration from the
innermost dispatch context: ``apply_config(values)``, then
``apply_history_best(log)`` (the best record for this template, these
arguments and this target whose computation has the same workload key), and
otherwise the fallback configuration (the knobs' target-derived defaults).

A template that takes a ``target`` parameter gets the resolved oc.Target
there; otherwise the target is the dispatch context's (default "llvm").  The
arguments identify the task: they must be JSON values.  Templates must be
defined at a module's top level, so that worker processes can import them.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import json
import math
import warnings
from contextvars import ContextVar
from dataclasses import dataclass

import opcomp as oc

from .config import Config
from .space import SpaceError

_TEMPLATES: dict = {}
_CURRENT: ContextVar = ContextVar("autotune_config", default=None)
_DISPATCH: ContextVar = ContextVar("autotune_dispatch", default=())


class TemplateError(ValueError):
    """A template misused: unknown name, bad arguments, a bad return value."""


class DispatchWarning(UserWarning):
    """A record matched a template call but could not be applied (the fallback is used)."""


def get_config() -> Config:
    """The config of the template that is running (call it inside a @template function)."""
    cfg = _CURRENT.get()
    if cfg is None:
        raise TemplateError("get_config() must be called inside a function decorated "
                            "with @autotune.template(name) while it runs")
    return cfg


def _freeze(value, where: str):
    """A JSON-checked, hashable copy of a template argument (lists become tuples)."""
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v, where) for v in value)
    if isinstance(value, float) and not math.isfinite(value):
        raise TemplateError(f"{where}: {value!r} is not a JSON value (arguments key records)")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TemplateError(f"{where}: template arguments must be JSON values (numbers, strings, "
                        f"bools, None, lists), got {type(value).__name__} {value!r:.60}")


def thaw(value):
    """A frozen argument as JSON data (tuples become lists)."""
    return [thaw(v) for v in value] if isinstance(value, tuple) else value


@dataclass(frozen=True)
class Template:
    """A registered template: its name, function, defining module, whether it takes target."""
    name: str
    func: object
    module: str
    takes_target: bool

    def identify(self, args, kwargs) -> tuple:
        """(args, kwargs pairs, target or None): the call's canonical identity, defaults filled."""
        sig = inspect.signature(self.func)
        try:
            bound = sig.bind(*args, **dict(kwargs))
        except TypeError as e:
            raise TemplateError(f"template {self.name!r}: {e}") from None
        bound.apply_defaults()
        named = dict(bound.arguments)
        target = named.pop("target", None) if self.takes_target else None
        pos, kw = [], {}
        for p in sig.parameters.values():
            if p.name not in named:
                continue
            value = named[p.name]
            if p.kind is p.VAR_POSITIONAL:
                pos.extend(value)
            elif p.kind is p.VAR_KEYWORD:
                kw.update(value)
            elif p.kind is p.KEYWORD_ONLY:
                kw[p.name] = value
            else:
                pos.append(value)
        where = f"template {self.name!r} argument"
        frozen = tuple(_freeze(v, f"{where} {k}") for k, v in enumerate(pos))
        kwf = tuple(sorted((k, _freeze(v, f"{where} {k}")) for k, v in kw.items()))
        return frozen, kwf, target

    def run(self, args, kwargs, target, choice=None, partial=False) -> tuple:
        """Run the function with a config: returns (schedule, tensors, config).

        args, kwargs: a canonical identity (see identify); target: an oc.Target.
        """
        cfg = Config(target, choice, partial)
        call_kw = {k: thaw(v) for k, v in kwargs}
        if self.takes_target:
            call_kw["target"] = target
        token = _CURRENT.set(cfg)
        try:
            out = self.func(*[thaw(a) for a in args], **call_kw)
        finally:
            _CURRENT.reset(token)
        sch, tensors = self._checked_output(out)
        cfg.finish()
        return sch, tensors, cfg

    def _checked_output(self, out) -> tuple:
        ok = isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], oc.Schedule) \
            and isinstance(out[1], (list, tuple)) and all(isinstance(t, oc.Tensor) for t in out[1])
        if not ok:
            raise TemplateError(f"template {self.name!r} must return (schedule, [tensors]), "
                                f"got {type(out).__name__}")
        return out[0], list(out[1])


def template(name: str):
    """Register a function as the template `name` (see the module docstring)."""
    if not isinstance(name, str) or not name:
        raise TemplateError(f"template: the name must be a non-empty string, got {name!r}")

    def register(func):
        params = inspect.signature(func).parameters
        tmpl = Template(name, func, func.__module__, "target" in params)
        old = _TEMPLATES.get(name)
        if old is not None and (old.module, old.func.__qualname__) != (tmpl.module,
                                                                        func.__qualname__):
            raise TemplateError(f"template {name!r} is already defined by "
                                f"{old.module}.{old.func.__qualname__}")
        _TEMPLATES[name] = tmpl

        @functools.wraps(func)
        def dispatch(*args, **kwargs):
            sch, tensors, _ = dispatch_call(tmpl, args, kwargs)
            return sch, tensors
        dispatch.template = tmpl
        return dispatch
    return register


def lookup(name: str, module: str = None) -> Template:
    """The registered template `name` (importing `module` first when it is given and
    the name is not registered yet, as worker processes do)."""
    if name not in _TEMPLATES and module:
        importlib.import_module(module)
    if name not in _TEMPLATES:
        known = ", ".join(sorted(_TEMPLATES)) or "none"
        raise TemplateError(f"no template named {name!r} (registered: {known}); the operator "
                            "library's templates are registered by `import schedules`")
    return _TEMPLATES[name]


def registered() -> list:
    """Names of the registered templates."""
    return sorted(_TEMPLATES)


# -- dispatch -------------------------------------------------------------------------
@contextlib.contextmanager
def dispatch_scope(context):
    """Push a dispatch context (an object with choose(name, args, kwargs, target))."""
    token = _DISPATCH.set(_DISPATCH.get() + (context,))
    try:
        yield context
    finally:
        _DISPATCH.reset(token)


def current_target():
    """The innermost dispatch context's target, else this host ("llvm")."""
    for ctx in reversed(_DISPATCH.get()):
        if getattr(ctx, "target", None) is not None:
            return oc.Target(ctx.target)
    return oc.Target("llvm")


def dispatch_call(tmpl: Template, args, kwargs) -> tuple:
    """Run a template under the dispatch contexts: (schedule, tensors, config)."""
    pos, kw, target = tmpl.identify(args, kwargs)
    target = oc.Target(target) if target is not None else current_target()
    for ctx in reversed(_DISPATCH.get()):
        pick = ctx.choose(tmpl.name, pos, kw, str(target))
        if pick is None:
            continue
        values, partial, workload = pick
        try:
            sch, tensors, cfg = tmpl.run(pos, kw, target, values, partial)
        except SpaceError as e:
            if workload is None:          # an explicit apply_config: the caller's mistake
                raise
            warnings.warn(f"template {tmpl.name!r}: a record does not fit the template "
                          f"({e}); using the fallback configuration", DispatchWarning, 2)
            break
        if workload is None or sch.trace.workload == workload:
            return sch, tensors, cfg
        warnings.warn(f"template {tmpl.name!r}: the record was made for workload "
                      f"{workload[:12]}..., this call computes {sch.trace.workload[:12]}... "
                      "(the template changed); using the fallback configuration",
                      DispatchWarning, 2)
        break
    return tmpl.run(pos, kw, target)


@dataclass(frozen=True)
class ApplyConfig:
    """Dispatch context: every template call in it runs with these knob values."""
    values: dict
    partial: bool = True
    target: str = None

    def choose(self, name, args, kwargs, target):
        return dict(self.values), self.partial, None


def apply_config(values: dict, partial: bool = True, target=None):
    """Context manager: template calls inside use these knob values (the knobs a
    partial config leaves out keep their defaults).  A value that is not one of
    its knob's choices raises SpaceError naming the knob."""
    if not isinstance(values, dict):
        raise TypeError(f"apply_config: expected a dict of knob values, got {values!r:.60}")
    json.dumps(values)            # JSON values only: a config must be recordable
    return dispatch_scope(ApplyConfig(dict(values), partial,
                                      None if target is None else str(oc.Target(target))))
