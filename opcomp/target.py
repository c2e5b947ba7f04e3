"""Targets: the hardware facts that generated code depends on, resolved once.

    Target("llvm")                   this host: CPU name, features, vector width and
                                     registers, usable cores, cache sizes
    Target("llvm -mcpu=znver5")      a named CPU, described without running on it
    Target("llvm -mcpu=skylake -mattr=+avx2,-fma")   a named CPU with changed features
    Target("cuda"), Target("cuda -arch=sm_80")       an NVIDIA GPU architecture

Schedules, passes and backends read a target's attributes; nothing else in
opcomp probes the host.  ``str(t)`` is canonical: it spells every resolved
attribute that changes generated code, parses back to an equal target, and
keys the compile cache and tuning records, so a record made on an AVX2
machine never applies on an AVX-512 one.  An attribute given in the string
(``-vector-bits=256``, ``-cores=1``, ``-l2=1048576``) overrides the resolved
one: that is how a user asks for AVX2-width code on an AVX-512 CPU.

A CPU target is described by its backend (``describe(cpu, mattr)``, reached
through the backend registry): LLVM knows CPU names and features.  Cores and
cache sizes of the host come from the operating system.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

from .errors import OpcompError

KINDS = ("llvm", "cuda")
_CPU_INT_KEYS = ("vector-bits", "vector-registers", "cores", "l1", "l2", "l3")
_CUDA_INT_KEYS = ("warp-size", "max-threads-per-block", "max-shared-memory-per-block",
                  "max-shared-memory-per-block-optin", "registers-per-thread",
                  "registers-per-sm", "sm-count")
_KEYS = {"llvm": ("mcpu", "mattr") + _CPU_INT_KEYS, "cuda": ("arch",) + _CUDA_INT_KEYS}

# Per-architecture limits (NVIDIA's CUDA C programming guide, compute capabilities
# table): shared memory per block by default and the opt-in maximum, in bytes.
CUDA_ARCHS = {
    "sm_70": {"max-shared-memory-per-block-optin": 98304},
    "sm_75": {"max-shared-memory-per-block-optin": 65536},
    "sm_80": {"max-shared-memory-per-block-optin": 166912},
    "sm_86": {"max-shared-memory-per-block-optin": 101376},
    "sm_89": {"max-shared-memory-per-block-optin": 101376},
    "sm_90": {"max-shared-memory-per-block-optin": 232448},
}
_CUDA_COMMON = {"warp-size": 32, "max-threads-per-block": 1024,
                "max-shared-memory-per-block": 49152, "registers-per-thread": 255,
                "registers-per-sm": 65536}
DEFAULT_CUDA_ARCH = "sm_90"


class TargetError(OpcompError, ValueError):
    """A target string that cannot be parsed or describes no known hardware."""


class Target:
    """A resolved target: immutable; equal targets have equal canonical strings.

    CPU ("llvm"): cpu, features (frozenset of enabled LLVM feature names),
    mattr (the feature string LLVM is given), vector_bits, vector_registers,
    cores, cache_bytes ({"l1", "l2", "l3"}: per-core data cache, per-core L2,
    shared L3).
    GPU ("cuda"): arch, warp_size, max_threads_per_block,
    max_shared_memory_per_block (default) and max_shared_memory_per_block_optin,
    registers_per_thread, registers_per_sm, sm_count (None when unknown).
    """

    def __new__(cls, spec="llvm"):
        if isinstance(spec, Target):
            return spec
        return _resolve(_checked_string(spec))

    @classmethod
    def _make(cls, kind: str, attrs: dict) -> "Target":
        self = object.__new__(cls)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "_attrs", dict(attrs))
        object.__setattr__(self, "_str", _canonical(kind, attrs))
        return self

    def __setattr__(self, name, value):
        raise AttributeError(f"Target is immutable (tried to set {name!r})")

    def __getattr__(self, name):
        attrs = object.__getattribute__(self, "_attrs")
        key = name.replace("_", "-")
        if key in attrs:
            return attrs[key]
        raise AttributeError(f"a {self.kind} target has no attribute {name!r}")

    def __reduce__(self):
        return (Target, (self._str,))

    @property
    def is_gpu(self) -> bool:
        return self.kind == "cuda"

    @property
    def cpu(self) -> str:
        return self._attrs.get("mcpu", "")

    @property
    def features(self) -> frozenset:
        return self._attrs.get("features", frozenset())

    @property
    def cache_bytes(self) -> dict:
        return {k: self._attrs[k] for k in ("l1", "l2", "l3") if k in self._attrs}

    @property
    def keys(self) -> tuple:
        """The device classes this target belongs to, as TVM's Target.keys: ("cpu",) or ("cuda", "gpu")."""
        return ("cpu",) if self.kind == "llvm" else ("cuda", "gpu")

    @property
    def brief(self) -> str:
        """A short name for messages: "llvm -mcpu=znver3", "cuda -arch=sm_90"."""
        detail = self._attrs.get("mcpu") or self._attrs.get("arch")
        return f"{self.kind} -{'mcpu' if self.kind == 'llvm' else 'arch'}={detail}"

    def __str__(self):
        return self._str

    def __repr__(self):
        return f"Target({self._str!r})"

    def __eq__(self, other):
        return isinstance(other, Target) and other._str == self._str

    def __hash__(self):
        return hash(self._str)


def parse_target(target) -> Target:
    """A Target from a string (or a Target, returned as is)."""
    return Target(target)


def _checked_string(spec) -> str:
    if not isinstance(spec, str) or not spec.split():
        raise TargetError(f"target must be a string like 'llvm' or 'cuda', got {spec!r}")
    return " ".join(spec.split())


@functools.lru_cache(maxsize=256)
def _resolve(spec: str) -> Target:
    kind, *opts = spec.split()
    if kind not in KINDS:
        raise TargetError(f"unknown target kind {kind!r} in {spec!r}; known: {', '.join(KINDS)}")
    options = _options(kind, opts, spec)
    attrs = _cpu_attrs(options, spec) if kind == "llvm" else _cuda_attrs(options, spec)
    return Target._make(kind, attrs)


def _options(kind: str, opts: list, spec: str) -> dict:
    out = {}
    for opt in opts:
        key, eq, value = opt.lstrip("-").partition("=")
        if not opt.startswith("-") or not eq or not value:
            raise TargetError(f"target option {opt!r} in {spec!r} must look like -key=value")
        if key not in _KEYS[kind]:
            raise TargetError(f"unknown option -{key} for a {kind} target in {spec!r}; "
                              f"known: {', '.join('-' + k for k in _KEYS[kind])}")
        if key in out:
            raise TargetError(f"option -{key} given twice in {spec!r}")
        out[key] = _int_option(key, value, spec) if key not in ("mcpu", "mattr", "arch") \
            else value
    return out


def _int_option(key: str, value: str, spec: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n <= 0:
        raise TargetError(f"option -{key} in {spec!r} must be a positive integer, got {value!r}")
    return n


def _cpu_attrs(options: dict, spec: str) -> dict:
    from .backend import get_backend           # the registry; the backend itself loads lazily
    described = get_backend("llvm").describe(options.get("mcpu"), options.get("mattr"))
    attrs = {**host_cores_and_caches(), **described}
    # -vector-bits narrows the vectors; the register file stays the CPU's.
    attrs.update({k: v for k, v in options.items() if k in _CPU_INT_KEYS})
    return attrs


def _cuda_attrs(options: dict, spec: str) -> dict:
    arch = options.get("arch", DEFAULT_CUDA_ARCH)
    if arch not in CUDA_ARCHS:
        raise TargetError(f"unknown CUDA architecture {arch!r} in {spec!r}; known: "
                          f"{', '.join(CUDA_ARCHS)}")
    attrs = {"arch": arch, **_CUDA_COMMON, **CUDA_ARCHS[arch], "sm-count": None}
    attrs.update({k: v for k, v in options.items() if k != "arch"})
    return attrs


def _canonical(kind: str, attrs: dict) -> str:
    parts = [kind]
    for key in _KEYS[kind]:
        value = attrs.get(key)
        if value is None or value == "":
            continue
        parts.append(f"-{key}={value}")
    return " ".join(parts)


# -- the host, from the operating system ----------------------------------------
def host_cores_and_caches() -> dict:
    """Usable cores (the process's CPU affinity) and the data cache sizes of CPU 0."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return {"cores": max(1, cores), **_host_caches()}


def _host_caches() -> dict:
    out = {}
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level = int((index / "level").read_text())
            kind = (index / "type").read_text().strip()
            size = _size_bytes((index / "size").read_text().strip())
        except (OSError, ValueError):
            continue
        if kind in ("Data", "Unified") and 1 <= level <= 3:
            out.setdefault(f"l{level}", size)
    return out


def _size_bytes(text: str) -> int:
    units = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}
    if text[-1:].upper() in units:
        return int(text[:-1]) * units[text[-1].upper()]
    return int(text)
