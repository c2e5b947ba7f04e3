"""The LLVM CPU backend: lowered PrimFunc -> optimized LLVM IR -> machine code.

    backend = LLVMBackend()
    text = backend.render(func, target)        # LLVM IR, optimized at O3 for the target
    artifact = backend.compile(text, target)   # IR + object code + assembly
    kernel = backend.load(artifact)            # JIT-linked; kernel.fn(*pointers, *sizes)

The generated function follows the ABI in llvm_emit: buffer pointers, then
i64 sizes; it returns 0 or the 1-based code of the failed assert.  Parallel
loops call ``opcomp_parallel_for`` (codegen/threadpool.py provides it).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import threading
import weakref
from dataclasses import dataclass

import llvmlite.binding as llvm

from opcomp.backend import register_backend
from opcomp.ir import tir as T
from opcomp.target import Target

from . import llvm_target, threadpool
from .llvm_emit import emit_module
from .llvm_parallel import RUNTIME_PARALLEL_FOR

__all__ = ["LLVMBackend", "LLVMArtifact", "LoadedKernel", "host_target_machine",
           "cpu_and_features", "optimize"]

_init_lock = threading.Lock()
_initialized = []
_local = threading.local()


def _init_llvm() -> None:
    # llvmlite 0.50 initializes LLVM itself; only the native target is ours to set up.
    with _init_lock:
        if not _initialized:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            llvm.initialize_native_asmparser()
            _load_compiler_runtime()
            _initialized.append(True)


def _load_compiler_runtime() -> None:
    """Make libgcc's helpers (half conversions on CPUs without F16C...) visible to the JIT.

    MCJIT resolves a missing symbol to address 0, so a libcall LLVM emits for
    an operation the CPU lacks would crash instead of failing to link.
    """
    name = ctypes.util.find_library("gcc_s")
    if name:
        try:
            llvm.load_library_permanently(name)
        except RuntimeError:
            pass


def cpu_and_features(target) -> tuple:
    """(cpu name, feature string) LLVM is given for a target."""
    target = _cpu_target(target)
    return target.cpu, target.mattr


def host_target_machine(target="llvm") -> llvm.TargetMachine:
    """A fresh TargetMachine for the target's CPU: opt level 3, PIC, default code model."""
    _init_llvm()
    cpu, features = cpu_and_features(target)
    tgt = llvm.Target.from_triple(llvm.get_process_triple())
    return tgt.create_target_machine(cpu=cpu, features=features, opt=3, reloc="pic",
                                     codemodel="default")


def _cached_machine(target) -> llvm.TargetMachine:
    """One TargetMachine per thread and target (LLVM's are not shared across threads)."""
    cache = _local.__dict__.setdefault("machines", {})
    key = str(target)
    if key not in cache:
        cache[key] = host_target_machine(target)
    return cache[key]


def function_attrs(target) -> tuple:
    """String attributes that make the optimizer and code generator use the target's ISA
    at the target's vector width (some CPUs, znver5 among them, prefer narrower
    vectors by default; explicit vector code should stay at the width we chose)."""
    target = _cpu_target(target)
    bits = target.vector_bits
    return (f'"target-cpu"="{target.cpu}"', f'"target-features"="{target.mattr}"',
            f'"prefer-vector-width"="{bits}"', f'"min-legal-vector-width"="{bits}"')


def optimize(module: llvm.ModuleRef, tm: llvm.TargetMachine) -> None:
    """The O3 pipeline (new pass manager) with loop and SLP vectorization, in place."""
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pto.loop_unrolling = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(module, pb)


@dataclass(frozen=True)
class LLVMArtifact:
    """A compiled kernel: optimized IR, object code (for export), ABI counts.

    The assembly is made on first request: emitting it is a second full code
    generation, which a build (or a tuner compiling thousands) rarely needs.
    """
    name: str
    ir: str
    object: bytes
    n_buffers: int
    n_sizes: int
    target: str = "llvm"

    @property
    def asm(self) -> str:
        text = self.__dict__.get("_asm")
        if text is None:
            target = _cpu_target(self.target)
            text = _cached_machine(target).emit_assembly(_parse(self.ir))
            object.__setattr__(self, "_asm", text)
        return text


class LoadedKernel:
    """Machine code in this process; the execution engine lives as long as this object.

    fn: ctypes function (int32 result; void* per buffer, int64 per size).
    """

    def __init__(self, engine, name: str, n_buffers: int, n_sizes: int, context=None):
        self.engine = engine
        self.name = name
        # The engine's module lives in `context`: the context must be disposed after
        # the engine, never before.  llvmlite's own teardown (and the garbage
        # collector, which finalizes a dead cycle's objects in any order) can free
        # the context first and crash in ~Module; a finalizer that holds both
        # keeps them alive until it closes them in the right order.
        weakref.finalize(self, _close_engine_then_context, engine, context)
        self.address = engine.get_function_address(name)
        if not self.address:
            raise RuntimeError(f"LLVM backend: JIT found no function {name!r}")
        proto = ctypes.CFUNCTYPE(ctypes.c_int32, *([ctypes.c_void_p] * n_buffers
                                                   + [ctypes.c_int64] * n_sizes))
        self.fn = proto(self.address)

    def __call__(self, *raw_args) -> int:
        return self.fn(*raw_args)


class LLVMBackend:
    """The "llvm" target: the opcomp.backend protocol (see the module docstring)."""
    kind = "llvm"
    artifact_type = LLVMArtifact

    def describe(self, cpu, mattr) -> dict:
        """Hardware facts of the host (cpu None) or of a named CPU (llvm_target.py)."""
        return llvm_target.describe(cpu, mattr)

    def render(self, func: T.PrimFunc, target="llvm") -> str:
        """Optimized LLVM IR text for a flattened, vectorized PrimFunc."""
        target = _cpu_target(target)
        refuse_bfloat16(func)
        tm = _cached_machine(target)
        module = emit_module(func, function_attrs(target), tm.triple, str(tm.target_data))
        ref = _parse(str(module))
        ref.verify()
        optimize(ref, tm)
        return str(ref)

    def compile(self, ir_text: str, target="llvm") -> LLVMArtifact:
        """Object code for (already optimized) IR text."""
        target = _cpu_target(target)
        tm = _cached_machine(target)
        ref = _parse(ir_text)
        name, n_buffers, n_sizes = _kernel_signature(ref)
        return LLVMArtifact(name, ir_text, bytes(tm.emit_object(ref)), n_buffers, n_sizes,
                            str(target))

    def load(self, artifact: LLVMArtifact) -> LoadedKernel:
        """Link the artifact's object code into this process (MCJIT)."""
        if RUNTIME_PARALLEL_FOR.encode() in artifact.object:
            _require_parallel_runtime()
        _require_extern_symbols(artifact.ir)
        tm = host_target_machine(artifact.target)     # the engine takes ownership
        context = llvm.create_context()
        engine = llvm.create_mcjit_compiler(llvm.parse_assembly("", context=context), tm)
        engine.add_object_file(llvm.ObjectFileRef.from_data(artifact.object))
        engine.finalize_object()
        return LoadedKernel(engine, artifact.name, artifact.n_buffers, artifact.n_sizes, context)

    def artifact_from_fields(self, **fields) -> LLVMArtifact:
        """Rebuild an artifact from its dataclass fields (the compile cache's disk layer)."""
        return LLVMArtifact(**fields)

    def objects(self, artifact: LLVMArtifact, target) -> list:
        """(file name, bytes) to link into a shared library: the kernel, the thread
        pool when the kernel has parallel loops."""
        out = [(f"{artifact.name}.o", bytes(artifact.object))]
        if RUNTIME_PARALLEL_FOR.encode() in artifact.object:
            machine = threadpool.host_target_machine()
            out.append(("opcomp_threadpool.o", bytes(threadpool.runtime_object(machine))))
        return out

    def toolchain(self) -> str:
        """The versions that change generated code."""
        import llvmlite
        return f"llvmlite {llvmlite.__version__} llvm {'.'.join(map(str, llvm.llvm_version_info))}"

    def device_available(self) -> bool:
        """This process runs its code: the host CPU."""
        return True

    def num_threads(self) -> int:
        """The thread pool's size (OPCOMP_NUM_THREADS, else the usable cores)."""
        return threadpool.num_threads()


def _close_engine_then_context(engine, context) -> None:
    engine.close()
    if context is not None:
        context.close()


def _parse(text: str) -> llvm.ModuleRef:
    """Parse IR into a fresh LLVM context: contexts are not thread-safe, and builds
    may run in several Python threads at once (ctypes releases the GIL)."""
    return llvm.parse_assembly(text, context=llvm.create_context())


def refuse_bfloat16(func: T.PrimFunc) -> None:
    """bfloat16 runs on CUDA only (llvmlite has no bfloat type): a TypeError naming the
    first bfloat16 parameter, before any code is emitted.  (A bfloat16 value inside
    the body meets llvm_types.reg_type's refusal; walking the whole body here would
    cost every CPU build a pass over its IR.)"""
    found = [b.name for b in func.params if b.dtype == "bfloat16"]
    if found:
        raise TypeError(f"LLVM backend: bfloat16 is not supported on the CPU target ({found[0]} "
                        f"of {func.name} is bfloat16); build it for cuda (emulate=True runs "
                        "the CUDA C on this CPU), or compute in float32 on the CPU")


def _cpu_target(target) -> Target:
    target = Target(target)
    if target.kind != "llvm":
        raise ValueError(f"LLVM backend: cannot compile for target {target} "
                         f"(a {target.kind} target)")
    return target


def _kernel_signature(ref: llvm.ModuleRef) -> tuple:
    """(name, pointer args, i64 args) of the module's one exported function."""
    exported = [f for f in ref.functions
                if not f.is_declaration and f.linkage == llvm.Linkage.external]
    if len(exported) != 1:
        raise ValueError(f"LLVM backend: expected one exported kernel, found "
                         f"{[f.name for f in exported]}")
    fn = exported[0]
    kinds = [str(a.type) for a in fn.arguments]
    return fn.name, kinds.count("ptr"), kinds.count("i64")


def _require_extern_symbols(ir_text: str) -> None:
    """MCJIT binds a missing symbol to address 0 (a crash at the call): refuse first."""
    from opcomp.abi import extern_symbols
    _init_llvm()
    for name in extern_symbols(ir_text):
        if not llvm.address_of_symbol(name):
            raise RuntimeError(f"LLVM backend: the kernel calls extern function {name!r}, but no "
                               "loaded library defines it; load its shared library first "
                               "with oc.load_library(path)")


def _require_parallel_runtime() -> None:
    """Make sure opcomp_parallel_for resolves (codegen.threadpool JIT-loads the pool)."""
    if llvm.address_of_symbol(RUNTIME_PARALLEL_FOR):
        return
    threadpool.ensure_loaded()
    if not llvm.address_of_symbol(RUNTIME_PARALLEL_FOR):
        raise RuntimeError("LLVM backend: this kernel has parallel loops but no thread pool "
                           f"provides {RUNTIME_PARALLEL_FOR} (codegen/threadpool.py's "
                           "ensure_loaded() registers it with llvmlite.binding.add_symbol)")


register_backend("llvm", LLVMBackend())
