"""The backend protocol and registry: how opcomp reaches code generators.

opcomp never imports a backend.  Each target kind names the module that
implements it; the module is imported on first use and registers itself:

    # codegen/llvm.py, at import
    register_backend("llvm", LLVMBackend())

A backend turns a lowered function into machine code in four steps, each a
plain function of its inputs so the steps can run in different processes:

    describe(cpu, mattr) -> dict          resolve a target's hardware facts (CPU kinds)
    render(func, target) -> str           source text (LLVM IR, CUDA C)
    compile(source, target) -> artifact   a frozen dataclass of plain data (str, bytes,
                                          int), picklable: no live handles
    load(artifact) -> kernel              machine code in this process; kernel.fn(*raw)
                                          follows the ABI in opcomp/abi.py

and for ``export_library`` and the compile cache:

    objects(artifact, target) -> [(file name, bytes)]   what to link into a .so
    artifact_from_fields(**fields) -> artifact           rebuild from cached fields
    toolchain() -> str                    versions that change generated code
    num_threads() -> int                  (CPU) the thread pool's size
    device_available() -> bool            whether this process can run its code
                                          (oc.enabled; CUDA: a driver that sees a GPU)
"""
from __future__ import annotations

import importlib
from typing import Protocol, runtime_checkable

from .errors import OpcompError


class ExportError(OpcompError, RuntimeError):
    """A library could not be written (no C compiler, link failure, bad name, or a
    module its backend cannot export)."""

BACKEND_MODULES = {"llvm": "codegen.llvm", "cuda": "codegen.cuda"}
_BACKENDS: dict = {}


@runtime_checkable
class Backend(Protocol):
    """What a code generator provides (see the module docstring)."""
    kind: str

    def render(self, func, target) -> str: ...
    def compile(self, source: str, target): ...
    def load(self, artifact): ...
    def objects(self, artifact, target) -> list: ...
    def artifact_from_fields(self, **fields): ...
    def toolchain(self) -> str: ...
    def device_available(self) -> bool: ...


def register_backend(kind: str, backend, module: str | None = None) -> None:
    """Make `backend` the one used for targets of this kind ("llvm", "cuda").

    module: the module to import on first use when none is registered yet.
    """
    _BACKENDS[kind] = backend
    if module is not None:
        BACKEND_MODULES[kind] = module


def get_backend(kind: str):
    """The backend for a target kind, importing its module on first use."""
    if kind not in _BACKENDS and kind in BACKEND_MODULES:
        try:
            importlib.import_module(BACKEND_MODULES[kind])
        except ModuleNotFoundError as exc:
            if exc.name != BACKEND_MODULES[kind]:
                raise
    if kind not in _BACKENDS:
        raise NotImplementedError(f"no backend is registered for target kind {kind!r}")
    return _BACKENDS[kind]
