"""Schedule primitives: the loops they leave, their extents, TVM's semantics."""
from __future__ import annotations

import pytest

import opcomp as oc
from opcomp.ir import expr as E
from opcomp.arith.simplify import simplify


def matmul(n=64, m=None, k=None):
    m, k = m or n, k or n
    A = oc.placeholder((n, k), name="A")
    B = oc.placeholder((k, m), name="B")
    r = oc.reduce_axis(k, "k")
    C = oc.compute((n, m), lambda i, j: oc.sum(A[i, r] * B[r, j], axis=r), name="C")
    return A, B, C


def leaves(stage):
    return [iv.name for iv in stage.leaf_iter_vars]


def value(e):
    e = simplify(E.as_expr(e))
    assert isinstance(e, E.Const), e
    return e.value


def test_default_schedule_has_root_loops_in_definition_order():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    assert [st.name for st in s.stages] == ["A", "B", "C"]
    assert leaves(s[C]) == ["i", "j", "k"] and leaves(s[A]) == []
    assert s[C].attach_type == "root" and len(s.trace) == 0


def test_tile_leaf_order():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    xo, yo, xi, yi = s[C].tile(*C.op.axis, 8, 4)
    assert leaves(s[C]) == ["i.outer", "j.outer", "i.inner", "j.inner", "k"]
    assert [value(iv.extent) for iv in (xo, yo, xi, yi)] == [8, 16, 8, 4]


def test_split_extents_divisible(rng):
    factor = int(rng.choice([2, 4, 8, 16]))
    n = factor * int(rng.integers(1, 9))
    A, B, C = matmul(n)
    s = oc.create_schedule(C)
    o, i = s[C].split(C.op.axis[0], factor=factor)
    assert (value(o.extent), value(i.extent)) == (n // factor, factor)
    assert "if " not in str(oc.lower(s, [A, B, C]))


def test_split_extents_non_divisible(rng):
    factor = int(rng.integers(3, 9))
    n = factor * int(rng.integers(1, 6)) + int(rng.integers(1, factor))
    A, B, C = matmul(n)
    s = oc.create_schedule(C)
    o, i = s[C].split(C.op.axis[1], factor=factor)
    assert (value(o.extent), value(i.extent)) == (-(-n // factor), factor)
    oc.lower(s, [A, B, C])


def test_split_extents_nparts(rng):
    n, parts = int(rng.integers(10, 60)), int(rng.integers(2, 9))
    A, B, C = matmul(n)
    s = oc.create_schedule(C)
    o, i = s[C].split(C.op.axis[0], nparts=parts)
    assert (value(o.extent), value(i.extent)) == (parts, -(-n // parts))
    oc.lower(s, [A, B, C])


def test_split_symbolic_extent():
    n = oc.var("n")
    A = oc.placeholder((n,), name="A")
    C = oc.compute((n,), lambda i: A[i] + 1.0, name="C")
    s = oc.create_schedule(C)
    o, i = s[C].split(C.op.axis[0], factor=8)
    assert str(simplify(o.extent)) == "(n + 7) // 8" and value(i.extent) == 8


def test_split_reduce_axis_keeps_kind():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    ko, ki = s[C].split(C.op.reduce_axis[0], factor=16)
    assert ko.kind == ki.kind == "reduce"
    assert leaves(s[C]) == ["i", "j", "k.outer", "k.inner"]


def test_fuse_replaces_adjacent_loops():
    A, B, C = matmul(n=12, m=10)
    s = oc.create_schedule(C)
    f = s[C].fuse(*C.op.axis)
    assert leaves(s[C]) == ["i.j.fused", "k"] and value(f.extent) == 120


def test_fuse_three_axes():
    A = oc.placeholder((2, 3, 4), name="A")
    C = oc.compute((2, 3, 4), lambda a, b, c: A[a, b, c] * 2.0, name="C")
    s = oc.create_schedule(C)
    f = s[C].fuse(*C.op.axis)
    assert leaves(s[C]) == ["a.b.fused.c.fused"] and value(f.extent) == 24


def test_fuse_single_axis_is_identity():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    i = C.op.axis[0]
    assert s[C].fuse(i) is i and leaves(s[C]) == ["i", "j", "k"]


def test_split_then_fuse_back():
    A, B, C = matmul(n=30)
    s = oc.create_schedule(C)
    o, i = s[C].split(C.op.axis[0], factor=5)
    f = s[C].fuse(o, i)
    assert value(f.extent) == 30 and leaves(s[C]) == ["i.outer.i.inner.fused", "j", "k"]


def test_reorder_fills_current_positions():
    """TVM: the listed axes take, in the given order, the slots they occupy now."""
    A, B, C = matmul()
    s = oc.create_schedule(C)
    io, ii = s[C].split(C.op.axis[0], factor=4)
    jo, ji = s[C].split(C.op.axis[1], factor=4)
    assert leaves(s[C]) == ["i.outer", "i.inner", "j.outer", "j.inner", "k"]
    s[C].reorder(ji, ii)
    assert leaves(s[C]) == ["i.outer", "j.inner", "j.outer", "i.inner", "k"]


def test_reorder_all_axes():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    i, j = C.op.axis
    k = C.op.reduce_axis[0]
    s[C].reorder(k, j, i)
    assert leaves(s[C]) == ["k", "j", "i"]
    s[C].reorder([i, k])
    assert leaves(s[C]) == ["i", "j", "k"]


def test_annotations_are_recorded():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    jo, ji = s[C].split(C.op.axis[1], factor=16)
    s[C].parallel(C.op.axis[0])
    s[C].vectorize(ji)
    s[C].unroll(C.op.reduce_axis[0])
    ann = {iv.name: a for iv, a in s[C].annotations.items()}
    assert ann == {"i": ("parallel", None), "j.inner": ("vectorized", None),
                   "k": ("unrolled", None)}


def test_same_annotation_twice_is_allowed():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    s[C].unroll(C.op.axis[1])
    s[C].unroll(C.op.axis[1])
    assert list(s[C].annotations.values()) == [("unrolled", None)]


def test_bind_records_thread_tag():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    s[C].bind(C.op.axis[0], oc.thread_axis("blockIdx.y"))
    assert s[C].annotations[C.op.axis[0]] == ("thread", "blockIdx.y")
    assert "blockIdx.y" in str(oc.lower(s, [A, B, C], target="cuda"))


def test_vectorize_fused_constant_extent():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    xo, yo, xi, yi = s[C].tile(*C.op.axis, 4, 4)
    s[C].reorder(xo, yo, C.op.reduce_axis[0], xi, yi)
    s[C].vectorize(s[C].fuse(xi, yi))


def test_compute_at_sets_attach_point():
    A = oc.placeholder((32, 32), name="A")
    B = oc.compute((32, 32), lambda i, j: A[i, j] + 1.0, name="B")
    C = oc.compute((32, 32), lambda i, j: B[i, j] * 2.0, name="C")
    s = oc.create_schedule(C)
    xo, xi = s[C].split(C.op.axis[0], factor=8)
    s[B].compute_at(s[C], xo)
    assert (s[B].attach_type, s[B].attach_stage, s[B].attach_ivar) == ("scope", s[C], xo)
    text = str(oc.lower(s, [A, C]))
    assert text.index("for i.outer") < text.index("B[") < text.index("for i.inner")
    s[B].compute_root()
    assert (s[B].attach_type, s[B].attach_stage, s[B].attach_ivar) == ("root", None, None)


def test_compute_inline_removes_the_stage_loops():
    A = oc.placeholder((32,), name="A")
    B = oc.compute((32,), lambda i: A[i] + 1.0, name="B")
    C = oc.compute((32,), lambda i: B[i] * 2.0, name="C")
    s = oc.create_schedule(C)
    s[B].compute_inline()
    assert s[B].attach_type == "inline"
    text = str(oc.lower(s, [A, C]))
    assert "B[" not in text and text.count("for ") == 1


def test_cache_write_makes_copy_stage():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    CL = s.cache_write(C, "local")
    assert [st.name for st in s.stages] == ["A", "B", "C.local", "C"]
    assert s[C].op.reduce_axis == () and isinstance(s[C].op.bodies[0], E.TensorRead)
    assert s[C].op.bodies[0].tensor is CL
    assert [iv.name for iv in s[CL].op.reduce_axis] == ["k"] and s[CL].scope == "local"
    assert isinstance(s[CL].op.bodies[0], E.Reduce)
    assert leaves(s[C]) == ["i", "j"] and leaves(s[CL]) == ["i.c", "j.c", "k"]
    assert s[C].is_output and not s[CL].is_output


def test_cache_read_redirects_readers():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    AA = s.cache_read(A, "shared", [C])
    assert [st.name for st in s.stages] == ["A", "A.shared", "B", "C"]
    assert AA in s[C].op.input_tensors and A not in s[C].op.input_tensors
    assert s[AA].op.input_tensors == [A] and s[AA].scope == "shared"


def test_tile_records_split_split_reorder():
    A, B, C = matmul()
    s = oc.create_schedule(C)
    s[C].tile(*C.op.axis, 8, 8)
    assert [r["primitive"] for r in s.trace.records] == ["split", "split", "reorder"]


def test_stage_names_are_unique():
    A = oc.placeholder((8,), name="X")
    B = oc.compute((8,), lambda i: A[i] + 1.0, name="X")
    s = oc.create_schedule(B)
    assert [st.name for st in s.stages] == ["X", "X_1"]
    assert s.stage_by_name("X_1") is s[B]


def test_multiple_outputs():
    A = oc.placeholder((8,), name="A")
    B = oc.compute((8,), lambda i: A[i] + 1.0, name="B")
    C = oc.compute((8,), lambda i: A[i] * 2.0, name="C")
    s = oc.create_schedule([B, C])
    assert s[B].is_output and s[C].is_output and not s[A].is_output
    oc.lower(s, [A, B, C])


def test_lower_with_symbolic_shape():
    n, m = oc.var("n"), oc.var("m")
    A = oc.placeholder((n, m), name="A")
    C = oc.compute((n, m), lambda i, j: A[i, j] * 2.0, name="C")
    s = oc.create_schedule(C)
    s[C].split(C.op.axis[1], factor=4)
    fn = oc.lower(s, [A, C])
    assert [p.name for p in fn.params] == ["A", "C"]
    assert [v.name for v in fn.size_vars] == ["n", "m"]


def test_infer_bound_gives_every_loop_its_range():
    """TVM's infer_bound: root axes of an attached stage get the region read there."""
    from opcomp.infer_bound import infer_bound
    A = oc.placeholder((30,), name="A")
    B = oc.compute((30,), lambda i: A[i] + 1.0, name="B")
    C = oc.compute((30,), lambda i: B[i] * 2.0, name="C")
    s = oc.create_schedule(C)
    xo, xi = s[C].split(C.op.axis[0], factor=8)
    s[B].compute_at(s[C], xo)
    r = infer_bound(s)
    assert (value(r[C.op.axis[0]].min), value(r[C.op.axis[0]].extent)) == (0, 30)
    assert (value(r[xo].extent), value(r[xi].extent)) == (4, 8)
    assert str(r[B.op.axis[0]].min) == str(xo.var * 8) and value(r[B.op.axis[0]].extent) == 8
