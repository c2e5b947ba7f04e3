"""Imperative construction of loop-IR statements (TVM's tvm.tir.ir_builder).

    def body(ins, outs):                            # an extern op's body
        ib = oc.ir_builder.create()
        a, b = ib.buffer_ptr(ins[0]), ib.buffer_ptr(outs[0])
        tmp = ib.allocate("float32", (16,), name="tmp", scope="local")
        with ib.for_range(0, n, name="i") as i:
            with ib.if_scope(a[i] > 0.0):
                b[i] = a[i]
            with ib.else_scope():
                b[i] = -a[i]
        return ib.get()
    B = oc.extern((n,), [A], body)

The result of ``ib.get()`` is an opcomp statement (opcomp/ir/tir.py nodes):
For, IfThenElse, Allocate, LetStmt, Store, Evaluate.  Accesses through
``ib.buffer_ptr(decl)`` are Load/Store nodes on the declared buffer with one
flat index counted from its ``data`` pointer (TVM's semantics: p[i] is
data[i]; p[i, j] is linearized with the buffer's strides); lowering binds the
declared buffer to the real one (extern.bind_buffers), as it binds pointers.
``ib.allocate`` gives a scratch buffer living for the rest of the scope.
"""
from __future__ import annotations

from . import dtype as dt
from . import te
from .extern import DeclBuffer, _as_body, _compact_strides, decl_buffer
from .ir import expr as E
from .ir import tir as T

__all__ = ["BufferVar", "IRBuilder", "WithScope", "create"]

# TVM's for_range kinds, and opcomp's own loop kinds, -> opcomp's For.kind
_LOOP_KINDS = {"serial": "serial", "parallel": "parallel", "vectorize": "vectorized",
               "vectorized": "vectorized", "unroll": "unrolled", "unrolled": "unrolled"}
_SCOPES = {"": "global", "global": "global", "local": "local", "shared": "shared"}
# attribute keys that change what the code means on a GPU only; refused, not ignored
_GPU_ATTRS = ("thread_extent", "virtual_thread")


class WithScope:
    """A `with` block: enter gives a value (the loop var, or None), exit builds the node."""

    def __init__(self, enter_value, exit_cb):
        self._enter_value, self._exit_cb = enter_value, exit_cb

    def __enter__(self):
        return self._enter_value

    def __exit__(self, ptype, value, trace):
        if ptype is None:           # a body that raised leaves its scope unclosed
            self._exit_cb()
        return False


class BufferVar:
    """A buffer seen through a pointer: p[i] reads element i (a Load), p[i] = v
    stores (emitted into the builder).  A tuple index is linearized with the
    buffer's strides (row-major for allocate and for shape= overrides)."""

    def __init__(self, builder, buffer, shape, strides, dtype):
        self._builder, self._buffer = builder, buffer
        self._shape, self._strides, self._content_type = shape, strides, dtype

    @property
    def dtype(self) -> str:
        return self._content_type

    @property
    def buffer(self):
        """The buffer accessed (a DeclBuffer or an allocated tir Buffer)."""
        return self._buffer

    def asobject(self):
        """TVM's spelling: the underlying buffer."""
        return self._buffer

    def _flat_index(self, index) -> E.Expr:
        name = self._buffer.name
        if isinstance(index, tuple):
            if self._shape is None or len(index) != len(self._shape):
                rank = "no shape" if self._shape is None else f"{len(self._shape)} dimensions"
                raise te.TensorError(f"ir_builder: buffer {name} has {rank} but was indexed "
                                     f"with {len(index)} indices")
            from .arith.simplify import simplify_expr
            flat = E.const(0)
            for i, stride in zip(index, self._strides):
                flat = flat + _index(i, name) * stride
            return simplify_expr(flat)
        return _index(index, name)

    def _checked(self, index) -> E.Expr:
        flat = self._flat_index(index)
        size = _const_size(self._shape)
        if isinstance(flat, E.Const) and size is not None and not 0 <= flat.value < size:
            raise te.TensorError(f"ir_builder: index {flat.value} is out of range for buffer "
                                 f"{self._buffer.name} of {size} elements")
        return flat

    def __getitem__(self, index) -> E.Load:
        return E.Load(self._buffer, (self._checked(index),), self._content_type)

    def __setitem__(self, index, value):
        value = _value(value, self._content_type, self._buffer.name)
        self._builder.emit(T.Store(self._buffer, (self._checked(index),), value))

    def __repr__(self):
        return f"BufferVar({self._buffer.name}, {self._content_type})"


def _index(i, name) -> E.Expr:
    try:
        e = E.as_expr(i)
    except (TypeError, ValueError, OverflowError):
        e = None
    if e is None or not dt.is_int(e.dtype) or dt.lanes(e.dtype) != 1:
        raise te.TensorError(f"ir_builder: index {i!r} of buffer {name} must be a scalar "
                             "integer expression")
    return e


def _value(value, dtype, name) -> E.Expr:
    """A stored value: Python numbers take the buffer's dtype; an expression must have it."""
    if isinstance(value, (bool, int, float)):
        return E.const(value, dtype)
    value = E.as_expr(value)
    if value.dtype != dtype:
        raise te.TensorError(f"ir_builder: storing a {value.dtype} value into buffer {name} "
                             f"of {dtype}; convert it first (value.astype({dtype!r}))")
    return value


def _const_size(shape):
    if shape is None:
        return None
    size = 1
    for s in shape:
        if not isinstance(s, E.Const):
            return None
        size *= s.value
    return size


class IRBuilder:
    """Builds a statement from nested `with` scopes (see the module docstring)."""

    def __init__(self):
        self._seq_stack = [[]]
        self._loop_count = 0
        self.attrs: list = []      # (node, key, value) given to scope_attr (see there)

    # -- sequences ------------------------------------------------------------
    def _pop_seq(self) -> T.Stmt:
        """The innermost scope's statements as one; an emitted callable (an
        allocation, a let) wraps everything emitted after it."""
        seq = self._seq_stack.pop()
        stmts: list = []
        for item in reversed(seq):
            if callable(item):
                stmts = [item(T.seq(*reversed(stmts)))]
            else:
                stmts.append(item)
        return T.seq(*reversed(stmts))

    def emit(self, stmt):
        """Append a statement, a call (run for its side effect) or a callable that
        builds a statement around everything emitted after it in this scope."""
        if isinstance(stmt, E.CallExtern):
            stmt = _as_body(stmt, "ir_builder")
        if not isinstance(stmt, T.Stmt) and not callable(stmt):
            raise te.TensorError(f"ir_builder: emit takes a statement or a call "
                                 f"(oc.call_extern / oc.call_packed), got {stmt!r}")
        self._seq_stack[-1].append(stmt)

    def get(self) -> T.Stmt:
        """The statement built (TVM's ib.get())."""
        if len(self._seq_stack) != 1:
            raise te.TensorError("ir_builder: get() called inside a with-scope; call it "
                                 "after the last scope is closed")
        stmt = self._pop_seq()
        self._seq_stack = [[]]
        return stmt

    # -- scopes ---------------------------------------------------------------
    def for_range(self, begin, end, name="i", dtype="int32", kind="serial") -> WithScope:
        """A loop over [begin, end); `with ... as i` gives its variable.  kind:
        serial, parallel, vectorize, unroll (or opcomp's names)."""
        if kind not in _LOOP_KINDS:
            raise te.TensorError(f"ir_builder: for_range kind {kind!r} is unknown; use one "
                                 f"of {', '.join(sorted(_LOOP_KINDS))}")
        if name == "i":         # TVM's default names: i, j, k, then i_0, i_1, ...
            n = self._loop_count
            name = "ijk"[n] if n < 3 else f"i_{n - 3}"
            self._loop_count += 1
        begin, end = _index(begin, "for_range"), _index(end, "for_range")
        var = E.Var(name, dt.check(dtype))
        extent = end if E.is_const(begin, 0) else end - begin
        self._seq_stack.append([])

        def close():
            self.emit(T.For(var, E.cast(begin, var.dtype), E.cast(extent, var.dtype),
                            _LOOP_KINDS[kind], self._pop_seq()))
        return WithScope(var, close)

    def if_scope(self, cond) -> WithScope:
        """Statements run when cond holds; an else_scope may follow."""
        cond = E.as_expr(cond)
        if not dt.is_bool(cond.dtype) or dt.lanes(cond.dtype) != 1:
            raise te.TensorError(f"ir_builder: if_scope needs a bool condition, got {cond} "
                                 f"({cond.dtype})")
        self._seq_stack.append([])
        return WithScope(None, lambda: self.emit(T.IfThenElse(cond, self._pop_seq())))

    def else_scope(self) -> WithScope:
        """Statements run when the if_scope just closed did not; only right after one."""
        seq = self._seq_stack[-1]
        prev = seq[-1] if seq else None
        if not isinstance(prev, T.IfThenElse) or prev.else_case is not None:
            raise te.TensorError("ir_builder: else_scope must follow an if_scope directly")
        seq.pop()
        self._seq_stack.append([])
        return WithScope(None, lambda: self.emit(
            T.IfThenElse(prev.cond, prev.then_case, self._pop_seq())))

    def new_scope(self) -> WithScope:
        """A nested block: allocations and lets made in it end with it."""
        self._seq_stack.append([])
        return WithScope(None, lambda: self.emit(self._pop_seq()))

    def scope_attr(self, node, attr_key, value) -> None:
        """TVM's AttrStmt.  opcomp's IR has no attribute statements: the keys TVM
        code uses here either restate what opcomp keeps elsewhere (a storage scope is
        the allocation's scope=) or are hints; they are kept in ib.attrs, and emit
        nothing.  GPU launch attributes (thread_extent) are refused: an ir_builder
        body runs on the CPU, and threads are bound with s[T].bind."""
        if attr_key in _GPU_ATTRS:
            raise te.TensorError(f"ir_builder: scope_attr {attr_key!r} launches GPU threads; "
                                 "an ir_builder body runs on the CPU (bind threads with "
                                 "s[T].bind in a schedule instead)")
        self.attrs.append((node, attr_key, value))

    # -- values ---------------------------------------------------------------
    def let(self, var_name, value) -> E.Var:
        """A variable bound to value for the rest of the scope."""
        value = E.as_expr(value)
        var = E.Var(var_name, value.dtype)
        self.emit(lambda body: T.LetStmt(var, value, body))
        return var

    def allocate(self, dtype, shape, name="buf", scope="") -> BufferVar:
        """A scratch buffer of shape, living for the rest of the current scope."""
        if scope not in _SCOPES:
            raise te.TensorError(f"ir_builder: allocate {name}: unknown scope {scope!r}; use "
                                 "'global', 'local' or 'shared'")
        shape = te._as_shape(shape, f"ir_builder allocate {name}")
        size = E.const(1)
        for s in shape:
            size = E.const(size.value * s.value) if isinstance(size, E.Const) and \
                isinstance(s, E.Const) else size * s
        buf = T.Buffer(name, dt.check(dtype), (size,), _SCOPES[scope])
        self.emit(lambda body: T.Allocate(buf, body))
        return BufferVar(self, buf, shape, _compact_strides(shape), buf.dtype)

    def buffer_ptr(self, buf, shape=None) -> BufferVar:
        """Element access to a declared buffer (an extern's or an intrinsic's):
        p[i] is data[i]; shape= reads it as that row-major shape instead."""
        if not isinstance(buf, DeclBuffer):
            raise te.TensorError(f"ir_builder: buffer_ptr takes a declared buffer (ins[k], "
                                 f"outs[k], oc.decl_buffer(...)), got {buf!r}")
        if shape is None:
            return BufferVar(self, buf, buf.shape, buf.strides, buf.dtype)
        shape = te._as_shape(shape, f"ir_builder buffer_ptr {buf.name}")
        return BufferVar(self, buf, shape, _compact_strides(shape), buf.dtype)

    def pointer(self, content_type, name="ptr", scope="") -> BufferVar:
        """A pointer of content_type with no storage of its own: a declared buffer of
        unknown extent that code can index; lowering accepts it only where it is one
        of the buffers the body may use."""
        buf = decl_buffer((E.Var(f"{name}.extent"),), dt.check(content_type), name)
        return BufferVar(self, buf, None, None, buf.dtype)

    def likely(self, expr) -> E.Expr:
        """TVM's branch hint; opcomp has none, so the condition itself."""
        return E.as_expr(expr)


def create() -> IRBuilder:
    """A new IRBuilder (TVM's tvm.tir.ir_builder.create())."""
    return IRBuilder()
