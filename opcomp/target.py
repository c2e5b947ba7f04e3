"""Targets: which backend, which CPU or GPU architecture.

    "llvm"                 this CPU, its name and all its features from the host
    "llvm -mcpu=skylake"   a named CPU (features are that CPU's)
    "llvm -mattr=+avx2"    extra features
    "cuda", "cuda -arch=sm_90"
"""
from __future__ import annotations

from dataclasses import dataclass

KINDS = ("llvm", "cuda")


class TargetError(ValueError):
    """A target string that cannot be parsed."""


@dataclass(frozen=True)
class Target:
    kind: str
    options: tuple = ()       # (key, value) pairs in the order given

    def get(self, key, default=None):
        return dict(self.options).get(key, default)

    @property
    def is_gpu(self) -> bool:
        return self.kind == "cuda"

    def __str__(self):
        return " ".join([self.kind] + [f"-{k}={v}" for k, v in self.options])


def parse_target(target) -> Target:
    """A Target from a string (or a Target, returned as is)."""
    if isinstance(target, Target):
        return target
    if not isinstance(target, str) or not target.split():
        raise TargetError(f"target must be a string like 'llvm' or 'cuda', got {target!r}")
    kind, *opts = target.split()
    if kind not in KINDS:
        raise TargetError(f"unknown target kind {kind!r} in {target!r}; known: {', '.join(KINDS)}")
    options = []
    for opt in opts:
        key, eq, value = opt.lstrip("-").partition("=")
        if not opt.startswith("-") or not eq or not value:
            raise TargetError(f"target option {opt!r} in {target!r} must look like -key=value")
        options.append((key, value))
    return Target(kind, tuple(options))


def vector_registers(target="llvm") -> tuple:
    """(bits, count) of the vector registers of the target's CPU, e.g. (512, 32) for
    AVX-512 and (256, 16) for AVX2: what a schedule sizes its vectors and register
    tiles by.  Asks the target's backend."""
    from .build import get_backend
    target = parse_target(target)
    backend = get_backend(target.kind)
    if not hasattr(backend, "vector_registers"):
        raise TargetError(f"target {target}: its backend does not describe vector registers")
    return backend.vector_registers(target)
