"""CUDA C for a function lowered with the GPU tail: ``__global__`` kernels and a host launcher.

The input is the split form (opcomp/passes/gpu_kernels.py): host statements
around kernels, each kernel a nest of launch loops over the hardware indices
with its shared and local buffers allocated at the top.  Output, for the
classic GEMM:

    #include "opcomp_cuda.h"

    extern "C" __global__ void __launch_bounds__(64) mm_kernel0(const float* __restrict__ A, ...) {
      extern __shared__ __align__(16) unsigned char opcomp_shared[];
      float C_local[64];
      float* A_shared = (float*)(opcomp_shared + 0);      // 2048 bytes
      ...
          __syncthreads();
      ...
    }

    #ifndef __CUDA_ARCH__
    extern "C" OPCOMP_EXPORT int mm(float* A, float* B, float* C) {
      if (int rc = OPCOMP_LAUNCH(mm_kernel0, dim3(2, 2, 1), dim3(8, 8, 1), 4096, A, B, C)) return rc;
      return 0;
    }
    #endif

Shared memory is one dynamic arena per kernel (its size is a launch
parameter, so kernels past 48 KiB work after the driver's opt-in, and the
emulator can poison it per block).  The host launcher follows opcomp's ABI
(one pointer per buffer, then int64 sizes; returns 0, the 1-based code of a
failed assertion, or -1 when a temporary could not be allocated); it computes
each grid from the sizes and launches through OPCOMP_LAUNCH (the CUDA driver
on a GPU, the emulator on the CPU: codegen/cuda_headers.py).

float16 is CUDA's ``half`` (the file starts with ``#define OPCOMP_HALF 1`` so
the prelude includes cuda_fp16.h; the emulator uses the host's _Float16):
arithmetic and comparisons in half, conversions other than to/from float and
math functions through float, as NumPy computes float16.  bfloat16 likewise is
``__nv_bfloat16`` (``#define OPCOMP_BF16 1``: cuda_bf16.h; the emulator's is a
16-bit struct converting through float, as ml_dtypes computes).  Tensor cores: a
buffer in a "wmma.*" scope is declared as an array of nvcuda::wmma fragments
and the WMMA calls of a tensorized stage print as nvcuda::wmma calls
(opcomp/passes/gpu_wmma.py; ``#define OPCOMP_WMMA 1`` pulls in mma.h):

    nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 16, half, nvcuda::wmma::row_major> AF[2];
    nvcuda::wmma::load_matrix_sync(AF[i], A_shared + (i * 16) * 32, 32);
"""
from __future__ import annotations

from dataclasses import dataclass

from opcomp import dtype as dt
from opcomp.ir import expr as E
from opcomp.ir import tir as T
from opcomp.ir.visit import Mutator, walk
from opcomp.ir.wmma import FRAGMENT_SCOPES, is_fragment, is_wmma_call, memory_operands

from .c_printer import CPrinter, Namer, c_type

SHARED_ALIGN = 16
LAUNCH_ORDER = ("blockIdx.z", "blockIdx.y", "blockIdx.x",
                "threadIdx.z", "threadIdx.y", "threadIdx.x")


@dataclass(frozen=True)
class KernelInfo:
    """What the host needs to launch one kernel (also reported on the artifact)."""
    name: str
    threads: tuple        # (x, y, z) block size
    shared_bytes: int


VECTOR_TYPES = {"float32x4": "float4", "float32x2": "float2", "float64x2": "double2",
                "int32x4": "int4", "int32x2": "int2", "int64x2": "longlong2",
                "float16x8": "uint4", "float16x4": "uint2",    # half copies: raw bits
                "bfloat16x8": "uint4", "bfloat16x4": "uint2"}
_HALF_MATH = {"exp", "log", "sqrt", "tanh", "erf", "abs", "rsqrt", "sigmoid", "pow"}
_BF16_MATH = _HALF_MATH | {"floor", "ceil"}
NARROW_FLOATS = ("float16", "bfloat16")     # computed through float where CUDA has no op
WMMA = "nvcuda::wmma::"
WMMA_CALLS = {"opcomp_wmma_fill": "fill_fragment({0}, {1})",         # passes/gpu_wmma.py
              "opcomp_wmma_load_a": "load_matrix_sync({0}, {1}, {2})",
              "opcomp_wmma_load_b": "load_matrix_sync({0}, {1}, {2})",
              "opcomp_wmma_mma": "mma_sync({0}, {1}, {2}, {3})",
              "opcomp_wmma_store": "store_matrix_sync({0}, {1}, {2}, " + WMMA + "mem_row_major)"}


def vector_type(dtype: str) -> str:
    """The CUDA vector type of a vector dtype (float32x4 -> float4)."""
    try:
        return VECTOR_TYPES[dtype]
    except KeyError:
        raise NotImplementedError(f"CUDA printer: no vector type for {dtype}") from None


def render_cuda(func: T.PrimFunc, target) -> tuple:
    """(CUDA C text, [KernelInfo]) for a function lowered for a cuda target."""
    printer = CUDAPrinter(func, target)
    return printer.render(), printer.kernels


def _is_kernel(s) -> bool:
    return isinstance(s, T.For) and s.kind == "thread"


class _NumberAsserts(Mutator):
    """Fresh Assert nodes numbered in pre-order, as the runtime numbers their messages
    (a node shared by two places of the IR gets one number per place)."""

    def __init__(self):
        self.codes: dict = {}            # id(new Assert) -> code
        self.keep: list = []             # the new nodes, so their ids stay theirs

    def visit_Assert(self, s):
        code = len(self.keep) + 1
        self.keep.append(None)
        new = T.Assert(self.visit(s.cond), s.message, self.visit(s.body))
        self.keep[code - 1] = new
        self.codes[id(new)] = code
        return new

    def default(self, node):
        return super().default(node) if isinstance(node, T.Stmt) else node


def host_kernels(stmt) -> list:
    """The kernels (launch nests) of host code, in program order."""
    if _is_kernel(stmt):
        return [stmt]
    if isinstance(stmt, T.Seq):
        return [k for s in stmt.stmts for k in host_kernels(s)]
    if isinstance(stmt, T.IfThenElse):
        return host_kernels(stmt.then_case) + (host_kernels(stmt.else_case)
                                               if stmt.else_case is not None else [])
    if isinstance(stmt, (T.For, T.Allocate, T.LetStmt, T.Assert)):
        return host_kernels(stmt.body)
    return []


class CUDAPrinter(CPrinter):
    """One file: the kernels in order, then the host launcher (module docstring)."""

    def __init__(self, func: T.PrimFunc, target):
        super().__init__(Namer(reserved={"threadIdx", "blockIdx", "blockDim", "gridDim",
                                         "opcomp_shared", "rc"}))
        self.func, self.target = func, target
        numbering = _NumberAsserts()
        self.body = numbering.visit(func.body)
        self.assert_codes, self._keep = numbering.codes, numbering.keep
        self.kernels: list = []
        self.launch_vars: dict = {}        # Var -> "threadIdx.x"
        self.in_kernel = False
        self.shared_offsets: dict = {}
        self.launches: dict = {}           # id(kernel) -> (name, loops, buffers, scalars, bytes)
        for b in func.params:
            self.name(b)
        for v in func.size_vars:
            self.name(v)

    # -- the file ---------------------------------------------------------------------
    def render(self) -> str:
        self.emit(f"// Generated by opcomp: {self.func.name} for {self.target}")
        for define in _feature_defines(self.func):
            self.emit(define)
        self.emit('#include "opcomp_cuda.h"')
        for k, kernel in enumerate(host_kernels(self.body)):
            self.emit("")
            self.print_kernel(kernel, f"{self.func.name}_kernel{k}")
        self.emit("")
        self.print_host()
        return "\n".join(self.lines) + "\n"

    # -- kernels ----------------------------------------------------------------------
    def print_kernel(self, kernel: T.For, name: str) -> None:
        loops, body = _launch_nest(kernel)
        extents = {lp.thread: lp.extent for lp in loops}
        threads = tuple(_const(extents.get(f"threadIdx.{a}", E.const(1))) for a in "xyz")
        self.launch_vars.update({lp.var: lp.thread for lp in loops})
        buffers, scalars = kernel_params(kernel, self.func)
        written = _written(body)
        params = [f"{'' if b in written else 'const '}{c_type(b.dtype)}* __restrict__ "
                  f"{self.name(b)}" for b in buffers]
        params += [f"{c_type(v.dtype)} {self.name(v)}" for v in scalars]
        nthreads = threads[0] * threads[1] * threads[2]
        self.emit(f'extern "C" __global__ void __launch_bounds__({nthreads}) '
                  f"{name}({', '.join(params)}) {{")
        self.level += 1
        shared = _shared_layout(body)
        self.shared_offsets = shared[0]
        if shared[0]:
            self.emit("extern __shared__ __align__(16) unsigned char opcomp_shared[];")
        self.in_kernel = True
        self.stmt(body)
        self.in_kernel = False
        self.level -= 1
        self.emit("}")
        self.kernels.append(KernelInfo(name, threads, shared[1]))
        self.launches[id(kernel)] = (name, loops, buffers, scalars, shared[1])

    def var_text(self, v: E.Var) -> str:
        tag = self.launch_vars.get(v)
        return f"((int){tag})" if tag is not None else self.name(v)

    def visit_Allocate(self, s):
        buf = s.buffer
        if self.in_kernel:
            (size,) = buf.shape
            if is_fragment(buf):
                self.emit(f"{fragment_type(buf)} {self.name(buf)}[{_fragment_count(buf)}];")
            elif buf.scope == "shared":
                self.emit(f"{c_type(buf.dtype)}* {self.name(buf)} = ({c_type(buf.dtype)}*)"
                          f"(opcomp_shared + {self.shared_offsets[buf]});")
            else:
                self.emit(f"{c_type(buf.dtype)} {self.name(buf)}[{self.expr(size)}];")
            self.stmt(s.body)
            return
        self.host_allocate(s)

    def visit_Barrier(self, s):
        self.emit("__syncthreads();")

    # -- vector accesses (passes/gpu_vector.py: aligned, contiguous) --------------------
    def visit_Store(self, s):
        (index,) = s.indices
        if not isinstance(index, E.Ramp):
            return super().visit_Store(s)
        vt = vector_type(s.value.dtype)
        self.emit(f"*({vt}*)({self.name(s.buffer)} + {self.expr(index.base, 9)}) = "
                  f"{self.expr(s.value)};")

    def visit_Load(self, e, prec):
        (index,) = e.indices
        if not isinstance(index, E.Ramp):
            return super().visit_Load(e, prec)
        return f"*(const {vector_type(e.dtype)}*)({self.name(e.buffer)} + {self.expr(index.base, 9)})"

    def visit_Broadcast(self, e, prec):
        vt = vector_type(e.dtype)
        value = self.expr(e.value)
        return f"make_{vt}({', '.join([value] * e.lanes)})"

    # -- float16 / bfloat16: CUDA's half and __nv_bfloat16 arithmetic and compares;
    #    conversions and math via float (as NumPy and ml_dtypes compute them) ----------
    def visit_Cast(self, e, prec):
        src, dst = e.value.dtype, e.dtype
        narrow = src in NARROW_FLOATS or dst in NARROW_FLOATS
        if narrow and "float32" not in (src, dst) and src != dst:
            return super().visit_Cast(E.Cast(E.Cast(e.value, "float32"), dst), prec)
        return super().visit_Cast(e, prec)

    def visit_Call(self, e, prec):
        if e.dtype == "float16" and e.name in _HALF_MATH or \
                e.dtype == "bfloat16" and e.name in _BF16_MATH:
            wide = E.Call(e.name, tuple(E.cast(a, "float32") for a in e.args), "float32")
            return f"(({c_type(e.dtype)}){self.expr(wide, 11)})"
        return super().visit_Call(e, prec)

    def visit_Binary(self, e, prec):
        if e.dtype in NARROW_FLOATS and e.op in ("floordiv", "floormod"):
            wide = E.Binary(e.op, E.cast(e.a, "float32"), E.cast(e.b, "float32"), "float32")
            return f"(({c_type(e.dtype)}){self.expr(wide, 11)})"
        return super().visit_Binary(e, prec)

    # -- tensor cores (opcomp/passes/gpu_wmma.py) ------------------------------------
    def visit_Evaluate(self, s):
        call = s.value
        if not is_wmma_call(call):
            return self.default(s)
        operands = [self.wmma_operand(x) for x in call.args]
        self.emit(WMMA + WMMA_CALLS[call.func].format(*operands) + ";")

    def wmma_operand(self, x) -> str:
        """A fragment operand as its tile (AF[1]: the offset counts tiles, see the pass
        index_fragments), a memory operand as a pointer."""
        if not isinstance(x, E.AddressOf):
            return self.expr(x)
        if is_fragment(x.buffer):
            return f"{self.name(x.buffer)}[{self.expr(x.offset)}]"
        if E.is_const(x.offset, 0):
            return self.name(x.buffer)
        return f"{self.name(x.buffer)} + {self.expr(x.offset, 10)}"

    def visit_Assert(self, s):
        code = self.assert_codes[id(s)]
        fail = f"OPCOMP_FAIL({code});" if self.in_kernel else f"return {code};"
        self.emit(f"if (!({self.expr(s.cond)})) {fail}  // {_comment(s.message)}")
        self.stmt(s.body)

    # -- the host launcher --------------------------------------------------------------
    def print_host(self) -> None:
        self.emit("#ifndef __CUDA_ARCH__")
        params = [f"{c_type(b.dtype)}* {self.name(b)}" for b in self.func.params]
        narrow = []
        for v in self.func.size_vars:
            if v.dtype == "int64":
                params.append(f"int64_t {self.name(v)}")
            else:
                raw = self.name(E.Var(self.name(v) + "_i64"))
                params.append(f"int64_t {raw}")
                narrow.append(f"const {c_type(v.dtype)} {self.name(v)} = "
                              f"({c_type(v.dtype)}){raw};")
        self.emit(f'extern "C" OPCOMP_EXPORT int {self.func.name}({", ".join(params)}) {{')
        self.level += 1
        for k, (buf, align) in enumerate(_vector_alignment(self.body, self.func.params)):
            if align:
                self.emit(f"if ((uintptr_t){self.name(buf)} % {align} != 0) return "
                          f"{MISALIGNED_BASE - k};  // {buf.name}: vector accesses")
        for line in narrow:
            self.emit(line)
        self.stmt(self.body)
        self.emit("return 0;")
        self.level -= 1
        self.emit("}")
        self.emit("#endif")

    def visit_For(self, s):
        if self.in_kernel or not _is_kernel(s):
            return super().visit_For(s)
        name, loops, buffers, scalars, shared_bytes = self.launches[id(s)]
        grid = _dim3([lp for lp in loops if lp.thread.startswith("blockIdx")], self)
        block = _dim3([lp for lp in loops if lp.thread.startswith("threadIdx")], self)
        args = ", ".join([self.name(b) for b in buffers] + [self.name(v) for v in scalars])
        self.emit(f"if (int rc = OPCOMP_LAUNCH({name}, {grid}, {block}, {shared_bytes}"
                  f"{', ' + args if args else ''})) return rc;")

    def host_allocate(self, s):
        buf = s.buffer
        if all(isinstance(x, E.Const) for x in buf.shape):
            count = 1
            for x in buf.shape:
                count *= int(x.value)
            nbytes = str(count * dt.itemsize(buf.dtype))
        else:
            size = E.cast(buf.shape[0], "int64")
            for x in buf.shape[1:]:
                size = size * E.cast(x, "int64")
            nbytes = f"(uint64_t)({self.expr(size, 10)}) * {dt.itemsize(buf.dtype)}"
        name = self.name(buf)
        self.emit(f"opcomp_device_buffer {name}_mem({nbytes});")
        self.emit(f"{c_type(buf.dtype)}* {name} = ({c_type(buf.dtype)}*){name}_mem.ptr;")
        self.emit(f"if (!{name}) return -1;  // out of memory")
        self.stmt(s.body)


MISALIGNED_BASE = -100        # the launcher returns this - k when parameter k is misaligned


def _vector_alignment(body, params) -> list:
    """(parameter, the alignment its vector accesses need, 0 for none), in order."""
    need = {b: 0 for b in params}

    def see(n):
        if isinstance(n, (E.Load, T.Store)) and n.buffer in need and \
                isinstance(n.indices[0], E.Ramp):
            lanes = n.indices[0].lanes
            need[n.buffer] = max(need[n.buffer], lanes * dt.itemsize(n.buffer.dtype))
    walk(body, see)
    return list(need.items())


def _launch_nest(kernel: T.For) -> tuple:
    loops, s = [], kernel
    while _is_kernel(s):
        loops.append(s)
        s = s.body
    return loops, s


def _const(e) -> int:
    if not isinstance(e, E.Const):
        raise ValueError(f"CUDA printer: a thread extent must be a constant, got {e}")
    return int(e.value)


def _dim3(loops, printer) -> str:
    """dim3(x, y, z) of launch loops, each extent printed for the host."""
    by_axis = {lp.thread[-1]: lp.extent for lp in loops}
    parts = []
    for a in "xyz":
        ext = by_axis.get(a, E.const(1))
        parts.append(str(ext.value) if isinstance(ext, E.Const)
                     else f"(unsigned)({printer.expr(ext)})")
    return f"dim3({', '.join(parts)})"


def _written(body) -> set:
    out = set()

    def see(n):
        if isinstance(n, T.Store):
            out.add(n.buffer)
        elif is_wmma_call(n):
            out.update(b for b, _ in memory_operands(n)[1])
    walk(body, see)
    return out


def _feature_defines(func) -> list:
    """#defines that make the prelude pull in cuda_fp16.h / cuda_bf16.h / mma.h (only
    where used)."""
    used, wmma = set(), []

    def see(n):
        if isinstance(n, E.Expr) and dt.element(n.dtype) in NARROW_FLOATS:
            used.add(dt.element(n.dtype))
        elif isinstance(n, T.Buffer) and n.dtype in NARROW_FLOATS:
            used.add(n.dtype)
        elif is_wmma_call(n):
            wmma.append(n)
    walk(func.body, see)
    used.update(b.dtype for b in func.params if b.dtype in NARROW_FLOATS)
    half = "float16" in used or wmma and "bfloat16" not in used
    return (["#define OPCOMP_HALF 1"] if half else []) + \
        (["#define OPCOMP_BF16 1"] if "bfloat16" in used else []) + \
        (["#define OPCOMP_WMMA 1"] if wmma else [])


def fragment_type(buf) -> str:
    """The nvcuda::wmma::fragment type of a fragment buffer's tiles."""
    use, dtypes = FRAGMENT_SCOPES[buf.scope]
    if buf.dtype not in dtypes:
        raise ValueError(f"CUDA printer: fragment buffer {buf.name} in scope {buf.scope} must "
                         f"be {' or '.join(dtypes)}, not {buf.dtype}")
    layout = "" if use == "accumulator" else f", {WMMA}row_major"
    return f"{WMMA}fragment<{WMMA}{use}, 16, 16, 16, {c_type(buf.dtype)}{layout}>"


def _fragment_count(buf) -> int:
    size = _const(buf.shape[0])
    if size % 256:
        raise ValueError(f"CUDA printer: fragment buffer {buf.name} holds {size} elements, "
                         "not whole 16x16 tiles")
    return size // 256


def kernel_params(kernel: T.For, func: T.PrimFunc) -> tuple:
    """(buffers, scalar vars) a kernel takes: what it uses but does not define,
    buffers in the function's parameter order first, vars as sizes first."""
    used_bufs, allocated, used_vars, defined = [], set(), [], set()

    def see(n):
        if isinstance(n, (E.Load, T.Store, E.AddressOf)) and n.buffer not in used_bufs:
            used_bufs.append(n.buffer)
        elif isinstance(n, T.Allocate):
            allocated.add(n.buffer)
        elif isinstance(n, T.For):
            defined.add(n.var)
        elif isinstance(n, T.LetStmt):
            defined.add(n.var)
        elif isinstance(n, E.Var) and n not in used_vars:
            used_vars.append(n)
    walk(kernel, see)
    params = [b for b in func.params if b in used_bufs]
    others = [b for b in used_bufs if b not in allocated and b not in params]
    scalars = [v for v in func.size_vars if v in used_vars and v not in defined]
    scalars += [v for v in used_vars if v not in defined and v not in scalars]
    return params + others, scalars


def _shared_layout(body) -> tuple:
    """({buffer: byte offset}, total bytes) of the kernel's shared buffers."""
    offsets, total = {}, 0
    bufs = []
    walk(body, lambda n: bufs.append(n.buffer) if isinstance(n, T.Allocate)
         and n.buffer.scope == "shared" and n.buffer not in bufs else None)
    for buf in bufs:
        total = -(-total // SHARED_ALIGN) * SHARED_ALIGN
        offsets[buf] = total
        (size,) = buf.shape
        total += _const(size) * dt.itemsize(buf.dtype)
    return offsets, total


def _comment(text: str) -> str:
    return text.replace("*/", "* /").replace("\n", " ")
