"""build(): schedule -> lowered function -> backend artifact -> callable Module.

Backends register themselves by target kind (codegen/ does this on import), so
this package never imports a backend at import time:

    register_backend("llvm", LLVMBackend())

A backend has three methods: render(func, target) -> source text,
compile(source, target) -> artifact, load(artifact) -> kernel.
"""
from __future__ import annotations

import importlib

from . import tir as T
from .lower import lower
from .schedule import Schedule
from .target import parse_target

_BACKENDS: dict = {}


def register_backend(kind: str, backend) -> None:
    """Make `backend` the one used for targets of this kind ("llvm", "cuda")."""
    _BACKENDS[kind] = backend


def get_backend(kind: str):
    if kind not in _BACKENDS:
        importlib.import_module("codegen")      # registers the built-in backends
    if kind not in _BACKENDS:
        raise NotImplementedError(f"no backend is registered for target kind {kind!r}")
    return _BACKENDS[kind]


def build(sch, args=None, target="llvm", name: str = "main", **options):
    """Compile a schedule (or an already lowered PrimFunc) into a callable Module.

    options: bounds_check=True (every access asserted; an out-of-bounds access
    raises instead of touching memory), fast_math=True.
    """
    from .compile_cache import compile_cached
    from .runtime import Module
    target = parse_target(target)
    if isinstance(sch, T.PrimFunc):
        func = sch
    elif isinstance(sch, Schedule):
        func = lower(sch, args, name=name, target=target, **options)
    else:
        raise TypeError(f"build: expected a schedule or a lowered function, got {sch!r}")
    backend = get_backend(target.kind)
    artifact = compile_cached(func, target, backend)
    return Module(func, backend.load(artifact), artifact, target)


def runtime_threads() -> int:
    """Threads the CPU thread pool runs parallel loops on (OPCOMP_NUM_THREADS)."""
    from codegen.threadpool import num_threads
    return num_threads()
