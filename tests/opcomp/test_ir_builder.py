"""oc.ir_builder (TVM's tir.ir_builder): statements built imperatively, used as the
body of an extern op and of a tensor intrinsic, built on the CPU and checked
against NumPy."""
from __future__ import annotations

import re

import numpy as np
import pytest

import opcomp as oc
from opcomp.ir import tir as T

RNG = np.random.default_rng(20261201)


def run(s, args, *arrays):
    mod = oc.build(s, args)
    mod(*arrays)
    return arrays


def test_builder_structure():
    ib = oc.ir_builder.create()
    n = oc.var("n")
    buf = ib.allocate("float32", (n,), name="A")
    with ib.for_range(0, n) as i:
        with ib.if_scope(i % 2 == 0):
            buf[i] = buf[i] + 1.0
        with ib.else_scope():
            buf[i] = buf[i] - 1.0
    stmt = ib.get()
    assert isinstance(stmt, T.Allocate) and stmt.buffer.name == "A"
    loop = stmt.body
    assert isinstance(loop, T.For) and loop.var.name == "i" and loop.kind == "serial"
    assert isinstance(loop.body, T.IfThenElse) and isinstance(loop.body.else_case, T.Store)


def test_loop_names_and_kinds():
    ib = oc.ir_builder.create()
    out = ib.allocate("int32", (4, 4), name="o")
    with ib.for_range(0, 4, kind="parallel") as i:
        with ib.for_range(0, 4, kind="unroll") as j:
            out[i, j] = i * 4 + j
    loop = ib.get().body
    assert (loop.var.name, loop.kind) == ("i", "parallel")
    assert (loop.body.var.name, loop.body.kind) == ("j", "unrolled")
    # out[i, j] is linearized row-major
    store = loop.body.body
    assert str(store.indices[0]) == str(loop.var * 4 + loop.body.var)


def test_extern_loop_if_else_scratch():
    """Per row: a running sum of the positive entries (scratch buffer), negatives
    replaced by the row's running sum so far; a loop starting at 1."""
    m, n = 6, 37
    A = oc.placeholder((m, n), name="A")

    def body(ins, outs):
        ib = oc.ir_builder.create()
        a, b = ib.buffer_ptr(ins[0]), ib.buffer_ptr(outs[0])
        with ib.for_range(0, m, name="r") as r:
            acc = ib.allocate("float32", (1,), name="acc", scope="local")
            acc[0] = a[r, 0]
            b[r, 0] = a[r, 0]
            with ib.for_range(1, n, name="c") as c:
                with ib.if_scope(a[r, c] > 0.0):
                    acc[0] = acc[0] + a[r, c]
                    b[r, c] = a[r, c] * 2.0
                with ib.else_scope():
                    b[r, c] = acc[0]
        return ib.get()
    B = oc.extern((m, n), [A], body, name="B")
    s = oc.create_schedule(B)
    a = RNG.standard_normal((m, n)).astype("float32")
    b = np.full((m, n), np.nan, "float32")
    run(s, [A, B], a, b)
    ref = np.empty((m, n))
    for r in range(m):
        acc = float(a[r, 0])
        ref[r, 0] = a[r, 0]
        for c in range(1, n):
            if a[r, c] > 0:
                acc += float(a[r, c])
                ref[r, c] = 2.0 * a[r, c]
            else:
                ref[r, c] = acc
    np.testing.assert_allclose(b, ref, rtol=1e-5, atol=1e-5)


def test_extern_symbolic_size_and_let():
    n = oc.var("n")
    A = oc.placeholder((n,), name="A")

    def body(ins, outs):
        ib = oc.ir_builder.create()
        a, b = ib.buffer_ptr(ins[0]), ib.buffer_ptr(outs[0])
        last = ib.let("last", ins[0].shape[0] - 1)
        with ib.for_range(0, ins[0].shape[0], name="i") as i:
            b[i] = a[last - i]                    # reversed copy
        return ib.get()
    B = oc.extern((n,), [A], body, name="B")
    s = oc.create_schedule(B)
    a = RNG.standard_normal(29).astype("float32")
    b = np.zeros(29, "float32")
    run(s, [A, B], a, b)
    np.testing.assert_array_equal(b, a[::-1])


def test_extern_feeding_compute():
    """An ir_builder extern's output read by a normal compute (and vice versa)."""
    n = 24
    A = oc.placeholder((n,), name="A")
    A2 = oc.compute((n,), lambda i: A[i] + 1.0, name="A2")

    def body(ins, outs):
        ib = oc.ir_builder.create()
        a, b = ib.buffer_ptr(ins[0]), ib.buffer_ptr(outs[0])
        with ib.for_range(0, n // 2, name="i") as i:      # pairwise swap
            b[2 * i] = a[2 * i + 1]
            b[2 * i + 1] = a[2 * i]
        return ib.get()
    B = oc.extern((n,), [A2], body, name="B")
    C = oc.compute((n,), lambda i: B[i] * 3.0, name="C")
    s = oc.create_schedule(C)
    a = RNG.standard_normal(n).astype("float32")
    c = np.zeros(n, "float32")
    run(s, [A, C], a, c)
    swapped = (a.astype(np.float64) + 1.0).reshape(-1, 2)[:, ::-1].reshape(-1)
    np.testing.assert_allclose(c, swapped * 3.0, rtol=1e-6)


def test_intrinsic_body_from_ir_builder():
    """A tensor intrinsic whose body is an ir_builder loop (no C code), tensorized."""
    w = 8
    x = oc.placeholder((w,), name="x")
    y = oc.placeholder((w,), name="y")
    z = oc.compute((w,), lambda i: x[i] * y[i], name="z")

    def fintrin(ins, outs):
        ib = oc.ir_builder.create()
        px, py, pz = (ib.buffer_ptr(b) for b in (ins[0], ins[1], outs[0]))
        with ib.for_range(0, w, name="v") as v:
            pz[outs[0].elem_offset + v] = px[ins[0].elem_offset + v] * \
                py[ins[1].elem_offset + v]
        return ib.get()
    vmul = oc.decl_tensor_intrin(z.op, fintrin, name="ib_vmul8")
    n = 40
    A = oc.placeholder((n,), name="A")
    B = oc.placeholder((n,), name="B")
    C = oc.compute((n,), lambda i: A[i] * B[i], name="C")
    s = oc.create_schedule(C)
    _, xi = s[C].split(C.op.axis[0], factor=w)
    s[C].tensorize(xi, vmul)
    a, b = RNG.standard_normal((2, n)).astype("float32")
    c = np.zeros(n, "float32")
    run(s, [A, B, C], a, b, c)
    np.testing.assert_allclose(c, a.astype(np.float64) * b, rtol=1e-6)


def test_scope_attr_is_kept_not_emitted():
    ib = oc.ir_builder.create()
    p = ib.allocate("float32", (4,), name="p")
    ib.scope_attr(p.buffer, "storage_scope", "global")
    p[0] = 1.0
    stmt = ib.get()
    assert ib.attrs == [(p.buffer, "storage_scope", "global")]
    assert isinstance(stmt, T.Allocate) and isinstance(stmt.body, T.Store)


def test_new_scope_ends_allocation():
    ib = oc.ir_builder.create()
    outer = ib.allocate("float32", (2,), name="outer")
    with ib.new_scope():
        inner = ib.allocate("float32", (2,), name="inner")
        inner[0] = 1.0
    outer[0] = 2.0
    stmt = ib.get()
    first, second = stmt.body.stmts
    assert isinstance(first, T.Allocate) and first.buffer.name == "inner"
    assert isinstance(second, T.Store) and second.buffer.name == "outer"


@pytest.mark.parametrize("kind", ["serial", "vectorize", "unroll", "parallel"])
def test_loop_kinds_build(kind):
    n = 16
    A = oc.placeholder((n,), name="A")

    def body(ins, outs):
        ib = oc.ir_builder.create()
        a, b = ib.buffer_ptr(ins[0]), ib.buffer_ptr(outs[0])
        with ib.for_range(0, n, name="i", kind=kind) as i:
            b[i] = a[i] * a[i]
        return ib.get()
    B = oc.extern((n,), [A], body, name="B")
    a = RNG.standard_normal(n).astype("float32")
    b = np.zeros(n, "float32")
    run(oc.create_schedule(B), [A, B], a, b)
    np.testing.assert_allclose(b, a.astype(np.float64) ** 2, rtol=1e-6)


def test_bounds_check_catches_overrun():
    """build(bounds_check=True) checks ir_builder accesses against the real buffers."""
    n = 8
    A = oc.placeholder((2, n), name="A")

    def body(ins, outs):
        ib = oc.ir_builder.create()
        a, b = ib.buffer_ptr(ins[0]), ib.buffer_ptr(outs[0])
        with ib.for_range(0, 2 * n + 1, name="i") as i:       # one element too many
            b[i] = a[i]
        return ib.get()
    B = oc.extern((2, n), [A], body, name="B")
    mod = oc.build(oc.create_schedule(B), [A, B], bounds_check=True)
    a = RNG.standard_normal((2, n)).astype("float32")
    with pytest.raises(RuntimeError, match=re.escape("out-of-bounds access A[i // 8, i % 8]")):
        mod(a, np.zeros((2, n), "float32"))


def test_intrinsic_with_vload_vstore():
    """Buffer.vload / vstore index the region (elem_offset and strides applied):
    an intrinsic adding a 4x4 block of a wider matrix row by row."""
    x = oc.placeholder((4, 4), name="x")
    z = oc.compute((4, 4), lambda i, j: x[i, j] + 1.0, name="z")
    bufs = {t: oc.decl_buffer(t.shape, t.dtype, t.name + "b", offset_factor=1,
                              strides=[oc.var(t.name + "_ld"), 1]) for t in (x, z)}

    def fintrin(ins, outs):
        ib = oc.ir_builder.create()
        with ib.for_range(0, 4, name="r") as r:
            with ib.for_range(0, 4, name="c") as c:
                ib.emit(outs[0].vstore([r, c], ins[0].vload([r, c]) + 1.0))
        return ib.get()
    inc = oc.decl_tensor_intrin(z.op, fintrin, name="ib_inc4x4", binds=bufs)
    A = oc.placeholder((8, 12), name="A")
    C = oc.compute((8, 12), lambda i, j: A[i, j] + 1.0, name="C")
    s = oc.create_schedule(C)
    _, _, xi, _ = s[C].tile(C.op.axis[0], C.op.axis[1], 4, 4)
    s[C].tensorize(xi, inc)
    a = RNG.standard_normal((8, 12)).astype("float32")
    c = np.zeros((8, 12), "float32")
    run(s, [A, C], a, c)
    np.testing.assert_allclose(c, a.astype(np.float64) + 1.0, rtol=1e-6)


def test_buffer_ptr_shape_override():
    """buffer_ptr(buf, shape=...) reads the buffer as another row-major shape: a
    (4, 6) tensor seen as (6, 4) gives a reshape, transposed into the output."""
    A = oc.placeholder((4, 6), name="A")

    def body(ins, outs):
        ib = oc.ir_builder.create()
        a = ib.buffer_ptr(ins[0], shape=(6, 4))
        b = ib.buffer_ptr(outs[0])
        with ib.for_range(0, 6, name="r") as r:
            with ib.for_range(0, 4, name="c") as c:
                b[c, r] = a[r, c]
        return ib.get()
    B = oc.extern((4, 6), [A], body, name="B")
    a = RNG.standard_normal((4, 6)).astype("float32")
    b = np.zeros((4, 6), "float32")
    run(oc.create_schedule(B), [A, B], a, b)
    np.testing.assert_array_equal(b, a.reshape(6, 4).T)
