"""The backward of a torch_op: oc.gradient's tensors, rewritten and scheduled for speed.

    results, gemms = backward_graph(outputs, inputs, heads)   # the gradients' tensors
    s = create_schedule(results + anchor)
    schedule_backward(s, results, gemms, target)

Three steps, each undoing what makes a naive backward slow:

1. Unpack.  A library op reads its operands through packed copies (dense's
   packedB[p, k, c] = select(p*bn + c < N, B[k, min(p*bn + c, N - 1)], 0)).
   Differentiated as written, the copy's index ``min(...)`` is not affine, so
   B's gradient becomes a conditional sum over every panel.  Before the
   gradient, each read of such a copy stage (a stage whose body is one read,
   perhaps under a select) is replaced by the read it copies, simplified
   under the reader's loop ranges: ``packedB[j // bn, k, j % bn]`` becomes
   ``B[k, j]``.  A read that does not simplify to a plain affine read keeps
   its copy.
2. Recognise matmuls.  A gradient stage ``T[i, j] = sum over r of P * Q``
   with P indexed by (i, r) or (r, i) and Q by (r, j) or (j, r) (dX = dY @ W^T,
   dW = X^T @ dY, and the forward product the backward recomputes) is rebuilt
   as the library's GEMM (schedules/dense.py): B's panels packed, A in
   micro-panels, a register tile.
3. Schedule the rest: elementwise stages that stay at root (a reduction reads
   them) and elementwise outputs fused, parallel and vectorized (the library's
   injective schedule); a reduction whose output keeps the reads' last axis (a
   bias gradient: column sums) accumulates a block of vectors over the rows
   (reduce.py's schedule); a reduction along the reads' last axis (softmax's
   and layer norm's row sums) runs rows in parallel, each row factored into
   vectors of partial results (softmax.py's plan); other reductions parallel
   over their output, serial inside.
"""
from __future__ import annotations

from opcomp import te
from opcomp.arith.interval import is_affine
from opcomp.arith.simplify import simplify_expr
from opcomp.ir import expr as E
from opcomp.ir.visit import rewrite, substitute, walk

__all__ = ["backward_graph", "schedule_backward", "unpack"]


# -- 1. unpacking copies ----------------------------------------------------------------
def _copied_read(op):
    """The read a copy stage copies (its body, or the taken branch of a select), else None."""
    if not isinstance(op, te.ComputeOp) or op.reduce_axis:
        return None
    body = op.bodies[0]
    if isinstance(body, E.Select) and isinstance(body.b, E.Const):
        body = body.a
    return body if isinstance(body, E.TensorRead) else None


def _ranges(op) -> dict:
    return {iv.var: (iv.min, iv.extent) for iv in tuple(op.axis) + tuple(op.reduce_axis)}


def _inlined(read, ranges):
    """The copy stage's read seen through `read` of it, simplified; None unless plain."""
    op = read.tensor.op
    mapping = {iv.var: idx for iv, idx in zip(op.axis, read.indices)}
    value = simplify_expr(substitute(op.bodies[0], mapping), ranges)
    if not isinstance(value, E.TensorRead) or not all(is_affine(i) for i in value.indices):
        return None
    return value


def unpack(outputs) -> dict:
    """{old op: new tensor} for the graph of outputs with reads of copy stages replaced by
    the reads they copy (see the module docstring); unchanged stages map to themselves."""
    new = {}
    for t in te.tensors_in_order(outputs):
        new[t.op] = t if isinstance(t.op, te.PlaceholderOp) else _rebuilt(t, new)
    return new


def _rebuilt(t, new: dict, inline_copies: bool = True):
    """t with its reads redirected to new[op] (and copies inlined): t itself if unchanged."""
    op, ranges = t.op, _ranges(t.op)
    if getattr(op, "num_outputs", 1) > 1:       # tuple computes: kept (gradient rejects them)
        return t
    changed = []

    def fn(n):
        if not isinstance(n, E.TensorRead):
            return None
        read = n
        if inline_copies and _copied_read(n.tensor.op) is not None:
            plain = _inlined(n, ranges)
            read = n if plain is None else plain
        target = new.get(read.tensor.op, read.tensor)
        if target.op is read.tensor.op:          # unchanged (any output of a tuple compute)
            target = read.tensor
        if read is n and target is n.tensor:
            return None
        changed.append(n)
        return E.TensorRead(target, read.indices, read.dtype)
    body = rewrite(op.bodies[0], fn)
    if not changed:
        return t
    return te.ComputeOp(op.name, op.tag, op.axis, body).output()


# -- 2. matmul-shaped stages ------------------------------------------------------------
def _matmul_operands(op):
    """(read_a(i, r), read_b(r, j), K) if op is T[i, j] = sum over r of P * Q, else None."""
    body = op.bodies[0]
    if not isinstance(body, E.Reduce) or body.combiner != "sum" or body.condition is not None \
            or len(op.axis) != 2 or len(body.axes) != 1:
        return None
    src = body.source
    if not (isinstance(src, E.Binary) and src.op == "mul"):
        return None
    (i, j), r = (iv.var for iv in op.axis), body.axes[0]
    if not E.is_const(r.min, 0):
        return None
    p, q = src.a, src.b
    for x, y in ((p, q), (q, p)):
        ra, rb = _operand(x, i, r.var), _operand(y, j, r.var)
        if ra and rb and x.dtype == y.dtype == op.dtype:
            return ra, (lambda kk, jj, f=rb: f(jj, kk)), r.extent
    return None


def _operand(read, row, red):
    """f(row value, red value) reading `read`'s tensor if read is T[row, red] or T[red, row]."""
    if not isinstance(read, E.TensorRead) or len(read.indices) != 2:
        return None
    a, b = read.indices
    t = read.tensor
    if a is row and b is red:
        return lambda x, k: t[x, k]
    if a is red and b is row:
        return lambda x, k: t[k, x]
    return None


def _gemm(op, operands, tile: dict):
    """The GEMM computing op's tensor: (packedB, acc), acc named like op."""
    from .dense import pack_panels
    read_a, read_b, K = operands
    M, N = op.shape
    bm, bn = tile["bm"], tile["bn"]
    packed = pack_panels(read_b, K, N, bn, op.dtype, "packedB")
    # A in micro-panels of bm rows (k-major), as dense's pack_a; rows past M clamped
    packed_a = te.compute(((M + bm - 1) // bm, K, bm), lambda p, kk, r: read_a(
        E.minimum(p * bm + r, M - 1), kk), name="packedA")
    k = te.reduce_axis(K, "k")
    acc = te.compute((M, N), lambda i, j: te.sum(
        packed_a[i // bm, k, i % bm] * packed[j // bn, k, j % bn], axis=k), name=op.name)
    return packed, acc


def gemm_stages(outputs, target) -> tuple:
    """(new outputs, [(packedB, acc, tile)]): matmul-shaped stages rebuilt as GEMMs.  A
    stage whose output's last size is symbolic keeps its plain form."""
    from .dense import register_tile
    new, gemms = {}, []
    for t in te.tensors_in_order(outputs):
        op = t.op
        if isinstance(op, te.PlaceholderOp):
            new[op] = t
            continue
        t = _rebuilt(t, new, inline_copies=False)
        operands = _matmul_operands(t.op)
        if operands is not None and isinstance(t.shape[1], E.Const):
            M = t.shape[0].value if isinstance(t.shape[0], E.Const) else None
            tile = register_tile(t.dtype, target, M, t.shape[1].value)
            packed, acc = _gemm(t.op, operands, tile)
            gemms.append((packed, acc, tile))
            t = acc
        new[op] = t
    return [new[o.op] for o in outputs], gemms


def backward_graph(outputs, inputs, heads, target) -> tuple:
    """(gradients, gemms): oc.gradient of the unpacked outputs w.r.t. inputs, with
    matmul-shaped stages rebuilt as GEMMs (see gemm_stages)."""
    from opcomp.autodiff import gradient
    new = unpack(outputs)
    grads = gradient([new[o.op] for o in outputs], inputs, heads)
    return gemm_stages(grads, target)


# -- 3. scheduling ----------------------------------------------------------------------
def schedule_backward(s, results, gemms, target) -> None:
    """The backward's schedule (see the module docstring); elementwise stages inlined
    where no reduction reads them."""
    from .dense import schedule_gemm
    from . import validate as v
    tgt = v.target("backward", target)
    outs = {t.op for t in results}
    gemm_ops = {acc.op for _, acc, _ in gemms} | {p.op for p, _, _ in gemms}
    gemm_ops |= {t.op for _, acc, _ in gemms for t in acc.op.input_tensors
                 if t.name == "packedA"}
    read_by_reduction = {t.op for st in s.stages if not st.is_placeholder and st.op.reduce_axis
                         and st.op not in gemm_ops for t in st.op.input_tensors}
    read_by_gemm = {t.op for op in gemm_ops for t in op.input_tensors} - gemm_ops
    for st in s.stages:
        op = st.op
        if st.is_placeholder or op in gemm_ops:
            continue
        if not op.reduce_axis and op not in outs and op not in read_by_reduction \
                and op not in read_by_gemm:
            st.compute_inline()
    # the other root stages, listed before cache_write adds the GEMMs' copy stages
    rest = [st.op.output() for st in s.stages if not st.is_placeholder and st.op.axis
            and st.op not in gemm_ops and st.attach_type == "root"]
    for packed, acc, tile in gemms:
        lanes = min(v.lanes(acc.dtype, tgt), tile["bn"])
        schedule_gemm(s, packed, acc, acc, tile["bm"], tile["bn"], 4, lanes, tgt.cores)
    for t in rest:
        _schedule_stage(s, t, tgt)


def _schedule_stage(s, t, tgt) -> None:
    from . import validate as v
    from .injective import schedule_injective
    from .reduce import _schedule_rows
    lanes = v.lanes(t.dtype, tgt)
    if not t.op.reduce_axis:
        schedule_injective(s, t, lanes, tgt.cores)
    elif _keeps_last_axis(t.op):
        last = t.shape[-1]
        _schedule_rows(s, t, t, last.value if isinstance(last, E.Const) else last, lanes)
    elif _reduces_last_axis(t.op):
        _schedule_row_reduction(s, t, lanes)
    else:
        axes = list(s[t].op.axis)
        fused = s[t].fuse(*axes) if len(axes) > 1 else axes[0]
        s[t].parallel(fused)


def _keeps_last_axis(op) -> bool:
    """A sum without condition whose every read's last index is op's last axis (column
    sums: vectors along it)."""
    body = op.bodies[0]
    if body.condition is not None or body.combiner != "sum":
        return False
    last = op.axis[-1].var
    reads = []
    walk(body.source, lambda n: reads.append(n) if isinstance(n, E.TensorRead) else None)
    return bool(reads) and all(r.indices and r.indices[-1] is last for r in reads)


def _reduces_last_axis(op) -> bool:
    """One reduce axis, no condition, and every read that walks it has it as the last
    index (a row of softmax's backward: contiguous vectors along the reduction)."""
    body = op.bodies[0]
    if body.condition is not None or body.combiner not in ("sum", "max", "min") \
            or len(body.axes) != 1:
        return False
    r = body.axes[0].var
    reads = []
    walk(body.source, lambda n: reads.append(n) if isinstance(n, E.TensorRead) else None)
    walking = [x for x in reads if any(_mentions(i, r) for i in x.indices)]
    return bool(walking) and all(x.indices[-1] is r and not any(_mentions(i, r) for i in
                                                                 x.indices[:-1])
                                 for x in walking)


def _mentions(e, var) -> bool:
    found = []
    walk(e, lambda n: found.append(n) if n is var else None)
    return bool(found)


def _schedule_row_reduction(s, t, lanes) -> None:
    """Rows in parallel; each row's reduction factored (rfactor) into ACCUMULATORS
    vectors of partial results, added up at the end of the row (softmax.py's plan)."""
    from .softmax import ACCUMULATORS
    width = lanes * max(1, min(ACCUMULATORS, 64 // lanes))
    _, ki = s[t].split(s[t].op.reduce_axis[0], factor=width)
    tf = s.rfactor(t, ki, factor_axis=len(t.op.axis))
    *axes, w = s[tf].op.axis
    (kr,) = s[tf].op.reduce_axis
    s[tf].reorder(*axes, kr, w)
    s[tf].vectorize(w)
    rows = list(s[t].op.axis)
    outer = s[t].fuse(*rows) if len(rows) > 1 else rows[0]
    s[t].parallel(outer)
    s[tf].compute_at(s[t], outer)
