"""Escapes to other code: declared buffers, calls to C functions, extern stages.

    oc.load_library("libmine.so")                       # its symbols become callable
    B = oc.extern(A.shape, [A], lambda ins, outs: oc.call_extern(
            "int32", "my_scale", ins[0].data, outs[0].data, A.shape[0]), name="B")

An extern stage is opaque code: it reads whole input buffers and writes its
whole output buffer through pointers, so it has no loops to split, tile or
place; normal computes may read its output and feed its inputs.  Lowering
binds each declared buffer to the real one:

    B = extern(...)   ->   call_extern my_scale(&A[0], &B[0], 64)

A declared buffer (TVM's decl_buffer) has a shape, a dtype, strides (row-major
by default; oc.var entries are bound to the real strides) and an elem_offset
(a var by default when offset_factor is set, bound to where the region starts),
so that ``data + elem_offset`` is always the region's first element; that is
what ``access_ptr()`` gives.  Tensorize binds its intrinsic's buffers the same
way (opcomp/tensor_intrin.py).  A body built with oc.ir_builder also reads and
writes declared buffers element by element (p[i] is data[i]); binding turns
each access into one of the real buffer at that storage offset.
"""
from __future__ import annotations

import os

from . import dtype as dt
from . import te
from .errors import OpcompError
from .abi import extern_symbols  # noqa: F401  (export and tests read it here)
from .packed import PACKED_PREFIX, name_of
from .ir import expr as E
from .ir import tir as T
from .ir.visit import rewrite, substitute, walk

__all__ = ["DeclBuffer", "decl_buffer", "call_extern", "extern", "load_library", "ExternOp",
           "LibraryError"]

_LOADED_LIBRARIES: list = []      # paths given to load_library, in order (export links them)


class LibraryError(OpcompError, OSError):
    """A shared library could not be loaded, or no loaded library defines a symbol."""


class DeclBuffer:
    """A buffer declaration: the view a C function or an intrinsic gets of a tensor."""

    def __init__(self, shape, dtype, name, strides, elem_offset, offset_factor):
        self.shape, self.dtype, self.name = shape, dtype, name
        self.strides, self.elem_offset, self.offset_factor = strides, elem_offset, offset_factor

    @property
    def data(self) -> E.AddressOf:
        """The storage's base pointer: data + elem_offset is the first element."""
        return E.AddressOf(self, E.const(0))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def access_ptr(self, access_mask="rw", ptr_type="handle", content_lanes=1, offset=0):
        """A pointer to the first element of the region (plus offset elements), as
        TVM's Buffer.access_ptr; the access mask is accepted for compatibility."""
        if not isinstance(access_mask, (str, int)):
            raise te.TensorError(f"buffer {self.name}: access_ptr's mask must be a string like "
                                 f"'r', 'w' or 'rw', got {access_mask!r}")
        return E.AddressOf(self, self.elem_offset + E.as_expr(offset))

    def vload(self, begin, dtype=None) -> E.Load:
        """The element at index begin (one entry per dimension) of the region, as
        TVM's Buffer.vload: data[elem_offset + sum(begin[k] * strides[k])]."""
        if dtype is not None and dt.check(dtype) != self.dtype:
            raise te.TensorError(f"buffer {self.name}: vload of {dtype} from a buffer of "
                                 f"{self.dtype}; a load has the buffer's dtype (convert the "
                                 "value with .astype)")
        return E.Load(self, (self._element_offset(begin, "vload"),), self.dtype)

    def vstore(self, begin, value) -> "T.Store":
        """A store of value at index begin of the region (TVM's Buffer.vstore); emit it
        with an ir_builder (ib.emit(buf.vstore(...)))."""
        value = E.const(value, self.dtype) if isinstance(value, (bool, int, float)) \
            else E.as_expr(value)
        if value.dtype != self.dtype:
            raise te.TensorError(f"buffer {self.name}: vstore of a {value.dtype} value into "
                                 f"a buffer of {self.dtype}")
        return T.Store(self, (self._element_offset(begin, "vstore"),), value)

    def _element_offset(self, begin, what) -> E.Expr:
        from .arith.simplify import simplify_expr
        begin = tuple(begin) if isinstance(begin, (list, tuple)) else (begin,)
        if len(begin) != len(self.shape):
            raise te.TensorError(f"buffer {self.name}: {what} takes one index per dimension "
                                 f"({len(self.shape)}), got {len(begin)}")
        flat = self.elem_offset
        for i, stride in zip(begin, self.strides):
            flat = flat + E.as_expr(i) * stride
        return simplify_expr(flat)

    def __repr__(self):
        return f"DeclBuffer({self.name}, shape={tuple(map(str, self.shape))}, dtype={self.dtype})"


def _compact_strides(shape) -> tuple:
    strides, acc = [], E.const(1)
    for s in reversed(shape):
        strides.append(acc)
        acc = E.const(acc.value * s.value) if isinstance(acc, E.Const) and \
            isinstance(s, E.Const) else acc * s
    return tuple(reversed(strides))


class build_config:   # noqa: N801  (TVM's name; a context manager)
    """Defaults for buffers declared inside it (TVM's build_config): offset_factor
    and data_alignment of oc.decl_buffer and of the buffers oc.decl_tensor_intrin
    declares.  An explicit argument still wins.

        with oc.build_config(offset_factor=16):
            vadd = oc.decl_tensor_intrin(z.op, fintrin)   # elem_offset: a var per buffer
    """

    _active: list = []

    def __init__(self, offset_factor=None, data_alignment=None, **unknown):
        if unknown:
            raise te.TensorError(f"build_config: unknown option {sorted(unknown)[0]!r}; "
                                 "opcomp takes offset_factor= and data_alignment=")
        for key, v in (("offset_factor", offset_factor), ("data_alignment", data_alignment)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise te.TensorError(f"build_config: {key} must be an int >= 0, got {v!r}")
        self.offset_factor, self.data_alignment = offset_factor, data_alignment

    def __enter__(self):
        build_config._active.append(self)
        return self

    def __exit__(self, *exc):
        build_config._active.pop()
        return False

    @staticmethod
    def current(key: str, default):
        """The innermost active build_config's value of key, else default."""
        for cfg in reversed(build_config._active):
            if getattr(cfg, key) is not None:
                return getattr(cfg, key)
        return default


def decl_buffer(shape, dtype="float32", name="buffer", strides=None, elem_offset=None,
                offset_factor=None, data=None, scope="", data_alignment=None):
    """Declare a buffer (TVM's tvm.tir.decl_buffer).

    strides: None for row-major, else one entry per dimension (ints or oc.var,
    bound to the real strides where the buffer is used).  elem_offset: None
    gives a fresh var when offset_factor is nonzero, else 0.  offset_factor and
    data_alignment default to the active oc.build_config's (else 0 and -1)."""
    if offset_factor is None:
        offset_factor = build_config.current("offset_factor", 0)
    if data_alignment is None:
        data_alignment = build_config.current("data_alignment", -1)
    shape = te._as_shape(shape, f"decl_buffer {name}")
    dtype = dt.check(dtype)
    if strides is None or (isinstance(strides, (list, tuple)) and not strides):
        strides = _compact_strides(shape)
    elif not isinstance(strides, (list, tuple)) or len(strides) != len(shape):
        raise te.TensorError(f"decl_buffer {name}: strides must have one entry per dimension "
                             f"({len(shape)}), got {strides!r}")
    else:
        strides = tuple(te._as_extent(s, f"decl_buffer {name} strides") for s in strides)
    if elem_offset is None:
        elem_offset = E.Var(f"{name}.elem_offset") if offset_factor else E.const(0)
    elem_offset = te._as_extent(elem_offset, f"decl_buffer {name} elem_offset")
    return DeclBuffer(shape, dtype, name, strides, elem_offset, offset_factor)


def call_extern(dtype, func_name, *args) -> E.CallExtern:
    """A call to the C function func_name(args...) returning dtype (TVM's
    tvm.tir.call_extern).  Pass pointers as buf.data or buf.access_ptr(...);
    a declared buffer passed itself means its access_ptr()."""
    if not isinstance(func_name, str) or not func_name.replace("_", "a").isalnum() \
            or func_name[0].isdigit():
        raise te.TensorError(f"call_extern: the function name must be a C identifier, "
                             f"got {func_name!r}")
    dtype = dt.check(dtype)
    return E.CallExtern(func_name, tuple(_call_arg(func_name, a) for a in args), dtype)


def _call_arg(func_name, a) -> E.Expr:
    if isinstance(a, DeclBuffer):
        return a.access_ptr("rw")
    if isinstance(a, te.Tensor):
        raise te.TensorError(f"call_extern {func_name}: tensor {a.name} passed as an argument; "
                             "pass a buffer's pointer (ins[k].data, outs[k].access_ptr('w'))")
    try:
        return E.as_expr(a)
    except (TypeError, ValueError, OverflowError):
        raise te.TensorError(f"call_extern {func_name}: cannot pass {a!r} to a C function "
                             "(expected a number, an expression or a buffer pointer)") from None


def load_library(path) -> str:
    """Load a shared library so that extern calls and intrinsics can name its symbols."""
    import llvmlite.binding as llvm
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise LibraryError(f"load_library: no such shared library {path!r}")
    try:
        llvm.load_library_permanently(path)
    except RuntimeError as e:
        raise LibraryError(f"load_library: cannot load {path!r}: {e}") from None
    absolute = os.path.abspath(path)
    if absolute not in _LOADED_LIBRARIES:
        _LOADED_LIBRARIES.append(absolute)
    return absolute


def loaded_libraries() -> list:
    """The shared libraries given to load_library, in order."""
    return list(_LOADED_LIBRARIES)


def libraries_for(symbols) -> list:
    """The libraries given to load_library that define these symbols, for linking an
    exported kernel; a symbol the process itself provides (libc, libm) needs none.
    Raises LibraryError naming a symbol nothing defines."""
    import ctypes
    found = []
    for name in symbols:
        if name.startswith(PACKED_PREFIX):
            raise LibraryError(f"the kernel calls a Python function ({name}, through "
                               "call_packed), which a shared library cannot carry")
        lib = next((p for p in _LOADED_LIBRARIES if hasattr(ctypes.CDLL(p), name)), None)
        if lib is None and not hasattr(ctypes.CDLL(None), name):
            raise LibraryError(f"the kernel calls extern function {name!r}, which no "
                               "library loaded with oc.load_library defines; load that "
                               "library first")
        if lib is not None and lib not in found:
            found.append(lib)
    return found


# ---------------------------------------------------------------------------
# the extern operation
# ---------------------------------------------------------------------------

class ExternOp(te.Operation):
    """An output computed by opaque code (a call) from whole input buffers."""

    opaque = ("an extern stage is opaque code (a call to a C function); it has no loops "
              "to split, tile, reorder or annotate, and stays at root")

    def __init__(self, name, tag, inputs, input_buffers, output_buffers, body, shapes):
        self.name, self.tag, self.inputs, self.body = name, tag, list(inputs), body
        self.input_buffers, self.output_buffers = list(input_buffers), list(output_buffers)
        self.output_buffer = self.output_buffers[0]
        self.num_outputs = len(self.output_buffers)
        self.out_shapes = [tuple(sh) for sh in shapes]
        self.shape, self.dtype = self.out_shapes[0], self.output_buffer.dtype
        # root axes only size the first output's buffer: no primitive may touch them
        self.axis = tuple(E.IterVar(E.Var(f"{name}.ax{k}"), E.const(0), s, "data")
                          for k, s in enumerate(self.shape))
        self._tensor = te.Tensor(self)
        self._outputs = (self._tensor,) + tuple(te.Tensor(self, k)
                                                for k in range(1, self.num_outputs))

    @property
    def dtypes(self) -> tuple:
        return tuple(b.dtype for b in self.output_buffers)

    @property
    def bodies(self) -> tuple:
        """One entry per output (the one call writes them all), as a tuple compute's."""
        return (self.body,) * self.num_outputs

    def output_shape(self, value_index: int) -> tuple:
        """The shape of output value_index (TVM's extern takes one shape per output)."""
        return self.out_shapes[value_index]

    def prepare_lowering(self, st, ctx) -> None:
        """Outputs past the first that are not arguments: temporaries of their own shape."""
        for k in range(1, self.num_outputs):
            ctx.buffers.setdefault((st, k), T.Buffer(f"{st.name}.v{k}", self.dtypes[k],
                                                     self.output_shape(k), st.scope))

    @property
    def input_tensors(self) -> list:
        return list(self.inputs)

    def describe_for_key(self, describer) -> list:
        """The workload key's view: the inputs, the output and the calls."""
        return ["extern", [[describer.expr(d) for d in sh] for sh in self.out_shapes]
                if self.num_outputs > 1 else [describer.expr(d) for d in self.shape],
                list(self.dtypes) if self.num_outputs > 1 else self.dtype, self.tag,
                [describer.ops[t.op] for t in self.inputs], _stmt_text(self.body)]

    def lower_stage(self, st, ctx) -> T.Stmt:
        """The stage's statement: the body with declared buffers bound to real ones."""
        if ctx.target is not None and ctx.target.is_gpu:
            from .schedule.stage import ScheduleError
            raise ScheduleError(f"extern: stage {st.name}: calls to C functions need a CPU "
                                f"target (llvm), but the target is {ctx.target}")
        bindings = [(decl,) + block_view(ctx, t, (E.const(0),) * t.ndim)
                    for decl, t in zip(self.input_buffers, self.inputs)]
        bindings += [(decl,) + block_view(ctx, self.output(k), (E.const(0),) * len(decl.shape))
                     for k, decl in enumerate(self.output_buffers)]
        return bind_buffers(self.body, bindings, f"extern stage {st.name}")


def _stmt_text(body) -> str:
    from .ir.printer import stmt_str
    return stmt_str(body)


def _as_shapes(shape, name):
    """One shape or a list of shapes -> list of shapes."""
    if isinstance(shape, (list, tuple)) and shape and \
            all(isinstance(s, (list, tuple)) for s in shape):
        return [tuple(s) for s in shape]
    return [shape]


def extern(shape, inputs, fcompute, name=None, dtype=None, in_buffers=None,
           out_buffers=None, tag="") -> te.Tensor:
    """A tensor computed by opaque code: fcompute(ins, outs) gets declared buffers
    for the inputs and the outputs and returns a call (oc.call_extern) or a list
    of calls, run in order, or a statement built with oc.ir_builder (TVM's
    te.extern).  A list of shapes gives one output per shape (dtype= may then be
    a list) and returns the list of tensors."""
    name = name or te._fresh("extern")
    shapes = _as_shapes(shape, name)
    if len({len(sh) for sh in shapes}) > 1:
        raise te.TensorError(f"extern {name}: output shapes {shapes} differ in rank; the "
                             "outputs of one extern stage must have one rank")
    inputs = _check_inputs(inputs, name)
    dtypes = _out_dtypes(dtype, len(shapes), inputs, name)
    ins = _declared(in_buffers, inputs, name, "in_buffers")
    specs = [_Spec(te._as_shape(sh, f"extern {name}"), d, name if len(shapes) == 1 else
                   f"{name}.v{k}") for k, (sh, d) in enumerate(zip(shapes, dtypes))]
    outs = _declared(out_buffers, specs, name, "out_buffers")
    body = _as_body(fcompute(ins, outs), name)
    _check_buffers_used(body, ins + outs, f"extern {name}")
    op = ExternOp(name, tag, inputs, ins, outs, body, [sp.shape for sp in specs])
    return op.output() if len(shapes) == 1 else [op.output(k) for k in range(len(shapes))]


def _out_dtypes(dtype, count: int, inputs, name) -> list:
    """One dtype per output: dtype= (a list of count, or one for all) or the first input's."""
    if isinstance(dtype, (list, tuple)):
        if len(dtype) != count:
            raise te.TensorError(f"extern {name}: {len(dtype)} dtypes given for {count} "
                                 "output shapes; give one per output (or one for all)")
        return [dt.check(d) for d in dtype]
    return [dt.check(dtype or (inputs[0].dtype if inputs else "float32"))] * count


class _Spec:
    """Shape, dtype and name of a tensor to come (the extern's output)."""

    def __init__(self, shape, dtype, name):
        self.shape, self.dtype, self.name = shape, dtype, name


def _check_inputs(inputs, name) -> list:
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    for t in inputs:
        if not isinstance(t, te.Tensor):
            raise te.TensorError(f"extern {name}: inputs must be tensors, got {t!r}")
    return inputs


def _declared(given, tensors, name, what) -> list:
    if given is None:
        return [decl_buffer(t.shape, t.dtype, t.name) for t in tensors]
    given = list(given) if isinstance(given, (list, tuple)) else [given]
    if len(given) != len(tensors):
        raise te.TensorError(f"extern {name}: {what} has {len(given)} buffers for "
                             f"{len(tensors)} tensors")
    for b, t in zip(given, tensors):
        if not isinstance(b, DeclBuffer) or b.dtype != t.dtype or len(b.shape) != len(t.shape):
            raise te.TensorError(f"extern {name}: {what} entry {b!r} does not fit tensor "
                                 f"{t.name} ({t.dtype}, {len(t.shape)} dimensions)")
    return given


def _as_body(result, name) -> T.Stmt:
    calls = list(result) if isinstance(result, (list, tuple)) else [result]
    stmts = []
    for c in calls:
        if isinstance(c, T.Stmt):
            stmts.append(c)
        elif isinstance(c, E.CallExtern) and c.func.startswith(PACKED_PREFIX):
            # a Python function that raised stops the kernel with this message
            stmts.append(T.Assert(E.compare("eq", c, 0), f"packed function "
                                  f"{name_of(c.func)!r} raised an exception "
                                  "(opcomp.packed.last_error() holds it)", T.Nop()))
        elif isinstance(c, E.CallExtern):
            stmts.append(T.Evaluate(c))
        else:
            raise te.TensorError(f"extern {name}: fcompute must return a call "
                                 f"(oc.call_extern(...)), a list of calls or a statement "
                                 f"(oc.ir_builder's ib.get()), got {c!r}")
    if not stmts:
        raise te.TensorError(f"extern {name}: fcompute returned no call")
    return T.seq(*stmts)


def _check_buffers_used(body, declared, name) -> None:
    """A pointer into a buffer that is neither an input nor the output cannot be bound."""
    known = {id(b) for b in declared}

    def visit(n):
        if isinstance(n, (E.AddressOf, E.Load, T.Store)) and \
                isinstance(n.buffer, DeclBuffer) and id(n.buffer) not in known:
            raise te.TensorError(f"{name}: the call uses buffer {n.buffer.name}, which "
                                 "is not one of the buffers it may use here (the inputs and "
                                 "the output; a reset only the output)")
    walk(body, visit)


# ---------------------------------------------------------------------------
# binding declared buffers to real ones (extern stages and tensorize)
# ---------------------------------------------------------------------------

def row_major_strides(buf: T.Buffer) -> tuple:
    """The strides of a lowered buffer (flatten_storage's row-major layout)."""
    return _compact_strides(tuple(buf.shape))


def block_view(ctx, tensor, start) -> tuple:
    """(buffer, flat offset of start, strides) of tensor's storage during lowering:
    start holds absolute indices; a stage computed at a loop stores only its
    region (ctx.offset), and storage_align/double_buffer give explicit strides."""
    from .arith.simplify import simplify
    st = ctx.sch[tensor]
    index = getattr(tensor, "value_index", 0)
    real = ctx.buffer_of(st, index) if index else ctx.buffer(st)
    rel = tuple(i - o for i, o in zip(start, ctx.offset(st)))
    layouts = getattr(ctx, "layouts", {})
    if st in layouts:                       # schedule/storage.py's explicit layout
        return real, simplify(ctx.index(st, rel)[0]), tuple(layouts[st][1])
    strides = row_major_strides(real)
    flat = E.const(0, "int64")
    for i, stride in zip(rel, strides):
        flat = flat + E.cast(i, "int64") * E.cast(stride, "int64")
    return real, simplify(flat), strides


def bind_buffers(body, bindings, where: str):
    """body with each declared buffer bound: bindings are (decl, real buffer,
    flat offset of the region start in the real buffer, the real strides) as
    block_view gives them.  Stride and offset vars take the real values;
    pointers become &real[start - elem_offset + offset]."""
    from .arith.simplify import simplify
    from .schedule.stage import ScheduleError
    mapping, start_of = {}, {}
    for decl, real, start, strides in bindings:
        real_strides = tuple(strides)[len(strides) - len(decl.shape):]
        for k, (want, have) in enumerate(zip(decl.strides, real_strides)):
            if isinstance(want, E.Var):
                mapping[want] = E.cast(have, want.dtype)
            elif not E.is_const(simplify(want - have), 0):
                raise ScheduleError(
                    f"{where}: buffer {decl.name} is declared with stride {want} in dimension "
                    f"{k}, but {real.name} has stride {simplify(have)} there; declare its "
                    "strides with oc.var(...) to accept any")
        if isinstance(decl.elem_offset, E.Var):
            mapping[decl.elem_offset] = E.cast(start, decl.elem_offset.dtype)
        start_of[id(decl)] = (real, start, decl.elem_offset)

    def data_of(n):
        real, start, elem_offset = start_of[id(n.buffer)]
        return real, simplify(start - substitute(elem_offset, mapping))

    def fn(n):
        if isinstance(n, (E.AddressOf, E.Load, T.Store)) and id(n.buffer) in start_of:
            real, data = data_of(n)
            if isinstance(n, E.AddressOf):
                return E.AddressOf(real, simplify(data + substitute(n.offset, mapping)))
            return _element_access(n, real, _storage_offset(n, data, start_of, mapping))
        return None
    return substitute(rewrite(body, fn), mapping)


def _storage_offset(n, data, start_of, mapping):
    """Where an ir_builder access (data[index]) lands in the real buffer.  The usual
    index, elem_offset + i, lands at the region start + i: computed that way, no
    cast of the start to the offset's dtype and back is left in the index."""
    from .arith.simplify import simplify
    from .ir.visit import free_vars
    real, start, elem_offset = start_of[id(n.buffer)]
    index = n.indices[0]
    if isinstance(elem_offset, E.Var):
        within = simplify(index - E.cast(elem_offset, index.dtype))
        if elem_offset not in free_vars(within):
            return simplify(start + substitute(within, mapping))
    index = substitute(index, mapping)
    if isinstance(data, E.Const) and abs(data.value) < 2**31:   # keep int32 indices
        data = E.const(data.value, index.dtype)
    return simplify(data + index)


def _element_access(n, real, flat):
    """An ir_builder access (one flat index from the declared buffer's data pointer)
    as a Load/Store of the real buffer at that storage offset, split into one index
    per dimension of the real buffer (row-major, as flatten_storage lays it out)."""
    indices = unflatten_index(real, flat)
    if isinstance(n, E.Load):
        return E.Load(real, indices, n.dtype)
    return T.Store(real, indices, n.value)


def unflatten_index(real: T.Buffer, flat) -> tuple:
    """The per-dimension indices of storage offset flat in a row-major buffer."""
    from .arith.simplify import simplify
    if len(real.shape) <= 1:
        return (simplify(flat),)
    strides = row_major_strides(real)
    out = [simplify(E.binary("floordiv", flat, E.cast(strides[0], flat.dtype)))]
    for stride, extent in zip(strides[1:], real.shape[1:]):
        step = E.binary("floordiv", flat, E.cast(stride, flat.dtype))
        out.append(simplify(E.binary("floormod", step, E.cast(extent, flat.dtype))))
    return tuple(out)
