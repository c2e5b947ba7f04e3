"""Injective ops: elementwise math, broadcasting binary ops, relu(a + b), transpose,
pad, concatenate, cast and layout transforms.

Each output element depends on a fixed set of input elements, so one
schedule serves them all (schedule_injective): the loops above the last axis
are fused into one parallel loop (or, for a few long rows, the last axis is
cut into tasks of 16 Ki elements), and the last axis is split into vectors
of the target's width.  A tail that does not fill a vector or a task keeps
its guard only in its own copy of the loop (loop partitioning); that is why
a task split of the last axis joins the parallel loop only when it has no
tail.

Broadcasting follows NumPy: shapes align at the right, a size-1 axis
repeats.  Loads along the last axis are contiguous vectors when the input's
last axis is not broadcast (a broadcast one is a single value), and gathers
when an op reorders the last axis (a transpose that moves it, a concatenate
along it).

Symbolic sizes (oc.size_var entries in a shape) are accepted by the
elementwise ops, transpose and cast: the loops above the last axis fused
and parallel, the last axis in vectors, tails guarded and partitioned off;
size-1 broadcasting needs a literal 1 (two different variables do not
broadcast).
"""
from __future__ import annotations

import numpy as np

import opcomp as oc

from . import validate as v
from .padding import pad_columns, schedule_planes

TASK = 16384          # elements per parallel task along a long last axis
CAST_DTYPES = ("bool", "int8", "uint8", "int32", "int64", "float32", "float64")


def schedule_injective(s, out, lanes, cores):
    """See the module docstring."""
    axes = list(s[out].op.axis)
    if not axes:
        return
    if any(not isinstance(a.extent, oc.ir.expr.Const) for a in axes):
        return _schedule_symbolic(s, out, lanes)
    *front, last = axes
    L = last.extent.value
    rows = int(np.prod([a.extent.value for a in front])) if front else 1
    inner = last
    if rows >= cores or L <= 2 * TASK:
        if front:
            outer = s[out].fuse(*front) if len(front) > 1 else front[0]
            if rows > 1:
                s[out].parallel(outer)
    else:
        lo, inner = s[out].split(last, factor=TASK)
        if front and L % TASK == 0:
            s[out].parallel(s[out].fuse(*front, lo))
        else:
            s[out].parallel(lo)
    _, vi = s[out].split(inner, factor=lanes)
    s[out].vectorize(vi)


def _schedule_symbolic(s, out, lanes):
    """schedule_injective for symbolic sizes: the loops above the last axis fused and
    parallel (a 1-D output: tasks of TASK elements), the last axis in vectors; the
    tails (a short last axis is all tail) are guarded and partitioned off."""
    *front, last = s[out].op.axis
    inner = last
    if front:
        outer = s[out].fuse(*front) if len(front) > 1 else front[0]
    else:
        outer, inner = s[out].split(last, factor=TASK)
    s[out].parallel(outer)
    _, vi = s[out].split(inner, factor=lanes)
    s[out].vectorize(vi)


def _same_size(a, b) -> bool:
    return a == b if not (v.is_symbolic(a) or v.is_symbolic(b)) else \
        v.is_symbolic(a) and v.is_symbolic(b) and oc.ir.expr.same(a, b)


def _finish(op, out, inputs, dtype, tgt):
    s = oc.create_schedule(out)
    schedule_injective(s, out, v.lanes(dtype, tgt), tgt.cores)
    return s, inputs + [out]


# -- elementwise ------------------------------------------------------------------------

UNARY = {
    "exp": (oc.exp, v.FLOATS), "log": (oc.log, v.FLOATS), "sqrt": (oc.sqrt, v.FLOATS),
    "rsqrt": (oc.rsqrt, v.FLOATS), "tanh": (oc.tanh, v.FLOATS), "erf": (oc.erf, v.FLOATS),
    "sigmoid": (oc.sigmoid, v.FLOATS), "floor": (oc.floor, v.FLOATS),
    "ceil": (oc.ceil, v.FLOATS), "abs": (oc.abs, v.NUMERIC),
    "negative": (lambda x: -x, v.NUMERIC),
    "relu": (lambda x: oc.maximum(x, oc.const(0, x.dtype)), v.NUMERIC),
    "square": (lambda x: x * x, v.NUMERIC),
}

BINARY = {
    "add": (lambda a, b: a + b, v.NUMERIC), "subtract": (lambda a, b: a - b, v.NUMERIC),
    "multiply": (lambda a, b: a * b, v.NUMERIC), "divide": (lambda a, b: a / b, v.FLOATS),
    "maximum": (oc.maximum, v.NUMERIC), "minimum": (oc.minimum, v.NUMERIC),
    "power": (oc.power, v.FLOATS),
    "relu_add": (lambda a, b: oc.maximum(a + b, oc.const(0, a.dtype)), v.NUMERIC),
}


def unary(name):
    """The op `name`(shape, dtype, target): Y = f(X) elementwise; args [X, Y]."""
    fn, dtypes = UNARY[name]

    def op(shape, dtype="float32", target="llvm"):
        shape = v.sym_shape(name, "shape", shape)
        dtype = v.dtype(name, dtype, dtypes)
        tgt = v.target(name, target)
        X = oc.placeholder(shape, dtype, name="X")
        Y = oc.compute(shape, lambda *i: fn(X[i]), name="Y")
        return _finish(name, Y, [X], dtype, tgt)
    op.__name__ = name
    op.__doc__ = (f"Y = {name}(X) elementwise: returns (schedule, [X, Y]); X and Y have "
                  f"`shape`; dtype: {', '.join(dtypes)}.")
    return op


def broadcast_shape(op, a, b):
    """NumPy's broadcast of shapes a and b (OpError naming shape_b if they do not)."""
    n = max(len(a), len(b))
    pa, pb = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    out = []
    for x, y in zip(pa, pb):
        if _same_size(x, y) or _same_size(y, 1):
            out.append(x)
        elif _same_size(x, 1):
            out.append(y)
        else:
            raise v.fail(op, "shape_b", f"a shape that broadcasts with shape_a {a}", b)
    return tuple(out)


def broadcast_read(T, out_ndim):
    """T's element for an output index: right-aligned, size-1 axes read at 0."""
    shape = [d.value if isinstance(d, oc.ir.expr.Const) else d for d in T.shape]
    skip = out_ndim - len(shape)
    return lambda idx: T[tuple(0 if _same_size(n, 1) else i for n, i in zip(shape, idx[skip:]))]


def binary(name):
    """The op `name`(shape_a, shape_b, dtype, target): C = f(A, B) broadcast; args [A, B, C]."""
    fn, dtypes = BINARY[name]

    def op(shape_a, shape_b, dtype="float32", target="llvm"):
        shape_a = v.sym_shape(name, "shape_a", shape_a)
        shape_b = v.sym_shape(name, "shape_b", shape_b)
        shape = broadcast_shape(name, shape_a, shape_b)
        dtype = v.dtype(name, dtype, dtypes)
        tgt = v.target(name, target)
        A = oc.placeholder(shape_a, dtype, name="A")
        B = oc.placeholder(shape_b, dtype, name="B")
        ra, rb = broadcast_read(A, len(shape)), broadcast_read(B, len(shape))
        C = oc.compute(shape, lambda *i: fn(ra(i), rb(i)), name="C")
        return _finish(name, C, [A, B], dtype, tgt)
    op.__name__ = name
    op.__doc__ = (f"C = {name}(A, B) with NumPy broadcasting: returns (schedule, [A, B, C]); "
                  f"A has shape_a, B shape_b, C their broadcast shape; dtype: "
                  f"{', '.join(dtypes)}.")
    return op


# -- data movement ------------------------------------------------------------------------

def transpose(shape, axes=None, dtype="float32", target="llvm"):
    """Y = np.transpose(X, axes): returns (schedule, [X, Y]).  axes: a permutation of
    range(ndim), default reversed.  dtype: float32, float64, int32."""
    op = "transpose"
    shape = v.sym_shape(op, "shape", shape)
    n = len(shape)
    axes = tuple(reversed(range(n))) if axes is None else axes
    if not isinstance(axes, (tuple, list)) or sorted(axes) != list(range(n)) or \
            any(isinstance(a, bool) for a in axes):
        raise v.fail(op, "axes", f"a permutation of range({n})", axes)
    dtype = v.dtype(op, dtype)
    tgt = v.target(op, target)
    X = oc.placeholder(shape, dtype, name="X")

    def body(*i):
        src = [None] * n
        for k, a in enumerate(axes):
            src[a] = i[k]
        return X[tuple(src)]
    Y = oc.compute(tuple(shape[a] for a in axes), body, name="Y")
    return _finish(op, Y, [X], dtype, tgt)


def _pad_width(op, pad_width, ndim):
    """NumPy's pad_width: an int, a pair, or one (before, after) pair per axis."""
    def pair(p):
        if isinstance(p, (int, np.integer)) and not isinstance(p, bool) and p >= 0:
            return int(p), int(p)
        if isinstance(p, (tuple, list)) and len(p) == 2 and all(
                isinstance(x, (int, np.integer)) and not isinstance(x, bool) and x >= 0
                for x in p):
            return int(p[0]), int(p[1])
        raise v.fail(op, "pad_width", "non-negative ints: an int, a (before, after) pair, "
                     f"or {ndim} pairs", pad_width)
    if isinstance(pad_width, (tuple, list)) and len(pad_width) == ndim and \
            all(isinstance(p, (tuple, list)) for p in pad_width):
        return [pair(p) for p in pad_width]
    if isinstance(pad_width, (tuple, list)) and any(isinstance(p, (tuple, list))
                                                    for p in pad_width):
        raise v.fail(op, "pad_width", f"{ndim} (before, after) pairs", pad_width)
    return [pair(pad_width)] * ndim


def pad(shape, pad_width, value=0.0, dtype="float32", target="llvm"):
    """Y = np.pad(X, pad_width, constant_values=value): returns (schedule, [X, Y]).

    The last axis is padded by loop guards (padding.py), so rows stay vector
    copies; the other axes by a select that is the same for every lane."""
    op = "pad"
    shape = v.shape(op, "shape", shape)
    widths = _pad_width(op, pad_width, len(shape))
    if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool):
        raise v.fail(op, "value", "a number", value)
    dtype = v.dtype(op, dtype)
    tgt = v.target(op, target)
    X = oc.placeholder(shape, dtype, name="X")
    fill = oc.const(value, dtype)
    out_shape = tuple(n + b + a for n, (b, a) in zip(shape, widths))
    lead = out_shape[:-1]

    def read(*i):
        *front, col = i
        src = [oc.minimum(oc.maximum(j - b, 0), n - 1) for j, n, (b, _) in
               zip(front, shape, widths)]
        inside = None
        for j, n, (b, _) in zip(front, shape, widths):
            if b or out_shape[len(src) - 1] != n:
                ok = (j >= b) & (j < n + b)
                inside = ok if inside is None else inside & ok
        value_ = X[tuple(src) + (col,)]
        return value_ if inside is None else oc.select(inside, value_, fill)
    stages = pad_columns(read, lead, shape[-1], widths[-1][0], out_shape[-1], dtype)
    P = stages[-1]
    b, n = widths[-1][0], shape[-1]
    if len(stages) > 1 or b:
        Y = oc.compute(out_shape, lambda *i: oc.select((i[-1] >= b) & (i[-1] < n + b),
                                                       P[i], fill), name="Y")
    else:
        Y = P
    s = oc.create_schedule(Y)
    lanes = v.lanes(dtype, tgt)
    schedule_injective(s, Y, lanes, tgt.cores)
    if Y is not P:
        schedule_planes(s, stages, lanes)
    return s, [X, Y]


def concatenate(shapes, axis=0, dtype="float32", target="llvm"):
    """Y = np.concatenate(Xs, axis): returns (schedule, [X0, X1, ..., Y]).

    shapes: one shape per input, equal except along axis."""
    op = "concatenate"
    if not isinstance(shapes, (tuple, list)) or not shapes:
        raise v.fail(op, "shapes", "a non-empty list of shapes", shapes)
    shapes = [v.shape(op, f"shapes[{k}]", sh) for k, sh in enumerate(shapes)]
    n = len(shapes[0])
    if isinstance(axis, bool) or not isinstance(axis, int) or not -n <= axis < n:
        raise v.fail(op, "axis", f"an int in [{-n}, {n})", axis)
    axis %= n
    for k, sh in enumerate(shapes):
        if len(sh) != n or any(a != b for d, (a, b) in enumerate(zip(sh, shapes[0]))
                               if d != axis):
            raise v.fail(op, f"shapes[{k}]", f"shapes[0] {shapes[0]} except along axis {axis}",
                         sh)
    dtype = v.dtype(op, dtype)
    tgt = v.target(op, target)
    Xs = [oc.placeholder(sh, dtype, name=f"X{k}") for k, sh in enumerate(shapes)]
    offsets = np.cumsum([0] + [sh[axis] for sh in shapes]).tolist()
    out_shape = shapes[0][:axis] + (offsets[-1],) + shapes[0][axis + 1:]

    def body(*i):
        j = i[axis]
        value = None
        for k in reversed(range(len(Xs))):
            local = oc.minimum(oc.maximum(j - offsets[k], 0), shapes[k][axis] - 1)
            read = Xs[k][i[:axis] + (local,) + i[axis + 1:]]
            value = read if value is None else oc.select(j < offsets[k + 1], read, value)
        return value
    Y = oc.compute(out_shape, body, name="Y")
    return _finish(op, Y, Xs, dtype, tgt)


def cast(shape, dtype="float32", out_dtype="float64", target="llvm"):
    """Y = X.astype(out_dtype) (NumPy's conversion): returns (schedule, [X, Y])."""
    op = "cast"
    shape = v.sym_shape(op, "shape", shape)
    dtype = v.dtype(op, dtype, CAST_DTYPES)
    out_dtype = v.dtype(op, out_dtype, CAST_DTYPES, arg="out_dtype")
    tgt = v.target(op, target)
    X = oc.placeholder(shape, dtype, name="X")
    Y = oc.compute(shape, lambda *i: X[i].astype(out_dtype), name="Y")
    wide = dtype if np.dtype(dtype).itemsize >= np.dtype(out_dtype).itemsize else out_dtype
    return _finish(op, Y, [X], wide, tgt)


LAYOUTS = ("NCHW", "NHWC")


def _blocked(layout):
    """The block size b of an "NCHW{b}c" layout, or None."""
    if isinstance(layout, str) and layout.startswith("NCHW") and layout.endswith("c"):
        digits = layout[4:-1]
        if digits.isdigit() and int(digits) > 0:
            return int(digits)
    return None


def layout_transform(shape, src="NCHW", dst="NHWC", dtype="float32", target="llvm"):
    """Y = X converted from layout src to dst: returns (schedule, [X, Y]).

    Layouts: "NCHW", "NHWC", and "NCHW{b}c" (channels in blocks of b, the
    block innermost: (N, C/b, H, W, b)); shape is X's (in src).  NCHW to
    NCHW{b}c pads the channels with zeros to a multiple of b; NCHW{b}c to NCHW
    keeps all C/b*b channels."""
    op = "layout_transform"
    for arg, lay in (("src", src), ("dst", dst)):
        if lay not in LAYOUTS and _blocked(lay) is None:
            raise v.fail(op, arg, "'NCHW', 'NHWC' or 'NCHW<b>c' (e.g. 'NCHW8c')", lay)
    shape = v.shape(op, "shape", shape)
    want = 5 if _blocked(src) else 4
    if len(shape) != want:
        raise v.fail(op, "shape", f"{want} sizes for layout {src}", shape)
    if _blocked(src) and shape[4] != _blocked(src):
        raise v.fail(op, "shape", f"a last size equal to the block {_blocked(src)} of {src}",
                     shape)
    dtype = v.dtype(op, dtype)
    tgt = v.target(op, target)
    X = oc.placeholder(shape, dtype, name="X")
    # every layout reads through NCHW coordinates
    if src == "NCHW":
        N, C, H, W = shape
        read = lambda n, c, h, w: X[n, c, h, w]                          # noqa: E731
    elif src == "NHWC":
        N, H, W, C = shape
        read = lambda n, c, h, w: X[n, h, w, c]                          # noqa: E731
    else:
        b = _blocked(src)
        N, C, H, W = shape[0], shape[1] * b, shape[2], shape[3]
        read = lambda n, c, h, w: X[n, c // b, h, w, c % b]              # noqa: E731
    if dst == "NCHW":
        Y = oc.compute((N, C, H, W), lambda n, c, h, w: read(n, c, h, w), name="Y")
    elif dst == "NHWC":
        Y = oc.compute((N, H, W, C), lambda n, h, w, c: read(n, c, h, w), name="Y")
    else:
        b = _blocked(dst)
        cb = -(-C // b)

        def body(n, co, h, w, ci):
            c = co * b + ci
            if C % b == 0:
                return read(n, c, h, w)
            return oc.select(c < C, read(n, oc.minimum(c, C - 1), h, w), v.zero(dtype))
        Y = oc.compute((N, cb, H, W, b), body, name="Y")
    return _finish(op, Y, [X], dtype, tgt)
