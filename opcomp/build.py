"""Building in three steps that can run in different processes:

    func = oc.lower(s, [A, B, C], target=t)    # loop IR (this process)
    art = oc.compile(func, target=t)           # an Artifact: plain, picklable data
    mod = art.load()                           # machine code in the loading process

``oc.build(s, args, target)`` does all three.  A tuner's builder process
compiles, pickles the artifact and sends it to a runner process, which loads
and measures it.  Backends are found through opcomp.backend's registry.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from .backend import get_backend, register_backend  # noqa: F401  (re-exported)
from .compile_cache import compile_cached
from .ir import tir as T
from .lower import lower
from .runtime.export import metadata_of
from .runtime.module import Module
from .schedule import Schedule
from .target import Target


@dataclass(frozen=True)
class Artifact:
    """A compiled kernel as plain data: no live handles, safe to pickle.

    target: the canonical target string; kernel: the backend's artifact (a
    frozen dataclass of str/bytes/int); meta: the kernel's signature as JSON
    (parameters, shapes, size variables, assertion messages, loop IR text).
    """
    target: str
    kernel: object
    meta: str

    def load(self) -> Module:
        """The callable Module, in this process."""
        target = Target(self.target)
        meta = json.loads(self.meta)
        backend = get_backend(target.kind)
        if meta.get("emulate"):
            backend = backend.emulator()
        return Module.from_metadata(meta, backend.load(self.kernel), self, target)


def compile(func: T.PrimFunc, target="llvm") -> Artifact:  # noqa: A001 (API name)
    """Machine code for a lowered function (memoized by the compile cache)."""
    if not isinstance(func, T.PrimFunc):
        raise TypeError(f"compile: expected a lowered function (oc.lower), got {func!r}")
    target = Target(target)
    lowered_for = func.attr("target")
    if lowered_for is not None and lowered_for != str(target):
        raise ValueError(f"compile: {func.name} was lowered for target {lowered_for!r}, "
                         f"not {str(target)!r}; lower it with target={str(target)!r}")
    kernel = compile_cached(func, target, _backend_for(func, target))
    return Artifact(str(target), kernel, json.dumps(metadata_of(func, target)))


def _backend_for(func: T.PrimFunc, target: Target):
    """The target's backend; its CPU emulator when the function was lowered with
    emulate=True (CUDA: the generated CUDA C runs on this CPU, for correctness)."""
    backend = get_backend(target.kind)
    if not func.attr("emulate"):
        return backend
    emulator = getattr(backend, "emulator", None)
    if emulator is None:
        raise ValueError(f"compile: emulate=True needs a GPU target with an emulator; "
                         f"target {target.brief} runs natively")
    return emulator()


def build(sch, args=None, target="llvm", name: str = "main", **options) -> Module:
    """Compile a schedule (or an already lowered PrimFunc) into a callable Module.

    options: bounds_check=True (every access asserted; an out-of-bounds access
    raises instead of touching memory), fast_math=True, emulate=True (a cuda
    target's CUDA C compiled for this CPU and run on its emulator: arrays in
    host memory, correctness only).
    """
    target = Target(target)
    if isinstance(sch, T.PrimFunc):
        func = sch
        if options.get("emulate") and not func.attr("emulate"):
            func = dataclasses.replace(func, attrs=func.attrs + (("emulate", True),))
    elif isinstance(sch, Schedule):
        func = lower(sch, args, name=name, target=target, **options)
    else:
        raise TypeError(f"build: expected a schedule or a lowered function, got {sch!r}")
    artifact = compile(func, target)
    loaded = _backend_for(func, target).load(artifact.kernel)
    return Module(func, loaded, artifact, target)


def runtime_threads() -> int:
    """Threads the CPU thread pool runs parallel loops on (OPCOMP_NUM_THREADS)."""
    return get_backend("llvm").num_threads()
