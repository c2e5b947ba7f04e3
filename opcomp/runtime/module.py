"""Compiled modules: call a kernel on arrays, show its code, export it, time it.

    mod = oc.build(s, [A, B, C], target="llvm", name="matmul")
    mod(a, b, c)                   # destination passing: c is written in place
    mod.source("llvm")             # "asm", "tir" too
    mod.export_library("libmatmul.so")     # + libmatmul.h for C callers
    mod2 = oc.load_module("libmatmul.so")
    stats = oc.benchmark(mod, a, b, c)

Arrays are NumPy arrays or any object with ``__dlpack__`` (PyTorch, JAX),
shared zero-copy; a wrong argument raises `ArgumentError` before the kernel
runs (see runtime_args).  Exporting and loading live in runtime_export,
timing in runtime_bench.
"""
from __future__ import annotations

from ..abi import OUT_OF_MEMORY
from ..ir import tir as T
from ..passes.bounds_check import assert_messages
from .args import ParamSpec, Signature
from .bench import benchmark
from .dlpack import KDL_CPU, KDL_CUDA
from .export import export_library, func_from_metadata, written_buffers

__all__ = ["Module", "written_buffers"]


def signature_of(func: T.PrimFunc, target="llvm", outputs=None) -> Signature:
    """The call signature of a lowered function (outputs default to the stored-to params)."""
    outs = written_buffers(func) if outputs is None else outputs
    params = [ParamSpec(b.name, b.dtype, tuple(b.shape), b in outs or b.name in outs)
              for b in func.params]
    device = KDL_CUDA if target.is_gpu and not func.attr("emulate") else KDL_CPU
    return Signature(func.name, params, func.size_vars, target.kind, device,
                     scalars=func.attr("scalar_args", ()))


def _has_source(kernel, attr: str) -> bool:
    # A property (LLVM assembly) is made on request: look it up, don't run it.
    if isinstance(getattr(type(kernel), attr, None), property):
        return True
    return getattr(kernel, attr, None) is not None


class Module:
    """A compiled kernel, callable on arrays (outputs are written in place).

    Attributes: func (the lowered PrimFunc; for a module made from metadata,
    its signature with an empty body), name, target, artifact (the
    opcomp.build.Artifact; None for a module loaded from a library), kernel
    (the loaded machine code, kept alive with the module), signature.
    """

    def __init__(self, func: T.PrimFunc, kernel, artifact, target, *, outputs=None,
                 assert_msgs=None, sources=None, library=None):
        self.func = func
        self.name = func.name
        self.target = target
        self.artifact = artifact
        self.kernel = kernel
        self.library = library            # the path a loaded module came from
        self.signature = signature_of(func, target, outputs)
        self._fn = kernel.fn
        self._fast = self.signature.fast
        self._asserts = assert_messages(func) if assert_msgs is None else list(assert_msgs)
        self._sources = sources

    @classmethod
    def from_metadata(cls, meta: dict, kernel, artifact, target, library=None) -> "Module":
        """A Module from an exported signature (runtime/export.py's JSON) and loaded code."""
        origin = library or "an artifact"
        func = func_from_metadata(meta, origin)
        outputs = {p["name"] for p in meta["params"] if p["output"]}
        return cls(func, kernel, artifact, target, outputs=outputs,
                   assert_msgs=meta.get("asserts", []), sources={"tir": meta.get("tir", "")},
                   library=library)

    def __call__(self, *args) -> None:
        """Run the kernel on these arrays; outputs are written in place; returns None."""
        raw = self._fast(*args)
        keep = None
        if raw is None:
            raw, keep = self.signature.prepare(args)   # converts or raises ArgumentError
        rc = self._fn(*raw)
        if rc:
            self._failed(rc)
        del keep                     # DLPack views stay alive until the kernel returned

    @property
    def entry_name(self) -> str:
        """The kernel's function name (TVM's Module.entry_name)."""
        return self.name

    def __getitem__(self, name: str) -> "Module":
        """TVM's `mod["main"]` / `mod[mod.entry_name]`: a module holds one function, itself."""
        if name not in (self.name, "main", "default_function"):
            raise KeyError(f"module {self.name} has one function, {self.name!r}; no {name!r}")
        return self

    def time_evaluator(self, func_name: str, dev=None, number: int = 10, repeat: int = 1,
                       min_repeat_ms: float = 0):
        """TVM's timer: a callable that times the function on its arguments.

        Returns `timer(*args) -> BenchmarkResult` (`.mean`, `.median`, `.results`
        in seconds per call); one warm-up call, `repeat` repeats of `number` calls,
        `number` grown until a repeat lasts `min_repeat_ms`.
        """
        fn = self[func_name]

        def timer(*args):
            result = benchmark(fn, *args, warmup=1, repeat=repeat, number=number)
            if min_repeat_ms and min(result.runs) * result.number * 1e3 < min_repeat_ms:
                result = benchmark(fn, *args, warmup=0, repeat=repeat,
                                   min_time=min_repeat_ms / 1e3)
            return result
        return timer

    def prepare(self, *args) -> tuple:
        """The raw kernel arguments (pointers, sizes) for these arrays, checked.

        For callers that call ``mod.kernel.fn(*raw)`` themselves in a loop (the
        arrays must stay alive and unchanged in shape meanwhile).
        """
        return self.signature.prepare(args)[0]

    def _failed(self, rc: int):
        if rc == OUT_OF_MEMORY:
            raise MemoryError(f"kernel {self.name} failed: out of memory allocating a "
                              "temporary buffer")
        what = f"assertion {rc}"
        if 0 < rc <= len(self._asserts):
            what += f": {self._asserts[rc - 1]}"
        raise RuntimeError(f"kernel {self.name} failed: {what}")

    def source(self, fmt: str = "llvm") -> str:
        """Generated code as text: "llvm" (LLVM IR), "asm" (assembly), "tir" (loop IR)."""
        available = self._available_sources()
        if fmt not in available:
            hint = " (CUDA sources come from a cuda target)" if fmt in ("cuda", "ptx") else ""
            where = f" loaded from {self.library}" if self.library else ""
            raise ValueError(f"module {self.name}{where} (target {self.target.brief}) has no "
                             f"{fmt!r} source{hint}; available: {', '.join(available)}")
        return available[fmt]()

    def _available_sources(self) -> dict:
        out = {}
        kernel = getattr(self.artifact, "kernel", None)
        for fmt, attr in (("llvm", "ir"), ("asm", "asm"), ("cuda", "cuda"), ("ptx", "ptx")):
            if _has_source(kernel, attr):
                out[fmt] = lambda a=attr: getattr(kernel, a)
        if self._sources is not None:
            out.update({k: (lambda v=v: v) for k, v in self._sources.items()})
        else:
            out["tir"] = lambda: str(self.func)
        return out

    def export_library(self, path) -> str:
        """Write a shared library (+ a C header beside it); returns the library path.

        See runtime_export.export_library for the layout and the embedded metadata.
        """
        return export_library(self, path)

    def __repr__(self):
        params = [f"{p.name}: {p.dtype}{p.shape_str()}" for p in self.signature.params]
        for pos, v in self.signature.scalars:
            params.insert(pos, f"{v.name}: {v.dtype}")
        params = ", ".join(params)
        return f"<opcomp.Module {self.name}({params}) target={self.target.brief}>"
