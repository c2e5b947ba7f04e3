"""TVM's schedule introspection and graph utilities (opcomp/introspect.py): ScheduleOps,
SchedulePostProcToPrimFunc, post_order_visit, lower(...)["main"], AutoInline*, the
read graph, scan body and fixed-point analysis, attach paths, and the TVM attribute
spellings (Reduce.axis, IterVar.dom, spatial_axis_)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import opcomp as oc
from opcomp.ir import expr as E
from opcomp.ir import tir as T
from opcomp.passes import run_pipeline
from opcomp.target import Target

RNG = np.random.default_rng(20261201)


def _rand(*shape):
    return (RNG.standard_normal(shape) + 0.5).astype("float32")


def _collect(node, kind) -> list:
    out = []
    oc.post_order_visit(node, lambda n: out.append(n) if isinstance(n, kind) else None)
    return out


def _stores_to(stmt) -> set:
    return {s.buffer.name for s in _collect(stmt, T.Store)}


# -- ScheduleOps and SchedulePostProcToPrimFunc ------------------------------------

def _split_add_one(n=37):
    A = oc.placeholder((n,), name="A")
    A1 = oc.compute((n,), lambda i: A[i] + 1.0, name="A1")
    s = oc.create_schedule(A1.op)
    s[A1].split(A1.op.axis[0], 8)
    return s, A, A1


def test_schedule_ops_is_the_loop_nest_before_the_passes():
    s, _A, _A1 = _split_add_one()
    stmt = oc.ScheduleOps(s, oc.InferBound(s))
    assert isinstance(stmt, T.For) and stmt.var.name == "i.outer"
    assert isinstance(stmt.extent, E.Const) and stmt.extent.value == 5      # ceil(37 / 8)
    inner = stmt.body
    assert isinstance(inner, T.For) and inner.extent.value == 8
    assert isinstance(inner.body, T.IfThenElse)        # the tail guard: no pass removed it yet
    assert _stores_to(stmt) == {"A1"}


def test_schedule_ops_accepts_no_bounds():
    s, _, _ = _split_add_one()
    assert str(oc.ScheduleOps(s, None)) == str(oc.ScheduleOps(s, oc.InferBound(s)))


def test_prim_func_params_are_the_statement_buffers():
    s, A, A1 = _split_add_one()
    stmt = oc.ScheduleOps(s, oc.InferBound(s))
    func = oc.SchedulePostProcToPrimFunc([A, A1], stmt, None)
    assert isinstance(func, oc.PrimFunc) and func.body is stmt and func.name == "main"
    a_buf, a1_buf = func.params
    assert (a_buf.name, a1_buf.name) == ("A", "A1")
    store = _collect(stmt, T.Store)[0]
    assert store.buffer is a1_buf                     # the same buffer object, not a namesake
    assert {ld.buffer for ld in _collect(stmt, E.Load)} == {a_buf}


def test_prim_func_through_the_pipeline_is_lower_and_runs():
    n = oc.var("n")
    A = oc.placeholder((n,), name="A")
    A1 = oc.compute((n,), lambda i: A[i] * 3.0 - 1.0, name="A1")
    s = oc.create_schedule(A1.op)
    s[A1].split(A1.op.axis[0], 8)
    func = oc.SchedulePostProcToPrimFunc([A, A1], oc.ScheduleOps(s, oc.InferBound(s)), None)
    assert func.size_vars == (n,)
    target = Target("llvm")
    lowered = run_pipeline(dataclasses.replace(func, attrs=(("target", str(target)),)), target)
    assert str(lowered) == str(oc.lower(s, [A, A1]))
    mod = oc.compile(lowered, target).load()
    a = _rand(29)
    out = np.zeros_like(a)
    mod(a, out)
    np.testing.assert_allclose(out, a.astype("float64") * 3 - 1, rtol=1e-6, atol=1e-6)


def test_prim_func_binds_replace_a_buffer():
    s, A, A1 = _split_add_one()
    mine = T.Buffer("A_bound", "float32", tuple(A.shape))
    func = oc.SchedulePostProcToPrimFunc([A, A1], oc.ScheduleOps(s), {A: mine})
    assert func.params[0] is mine


def _matmul(n=16):
    A = oc.placeholder((n, n), name="A")
    B = oc.placeholder((n, n), name="B")
    k = oc.reduce_axis(n, "k")
    C = oc.compute((n, n), lambda i, j: oc.sum(A[i, k] * B[k, j], axis=k), name="C")
    return A, B, C


def test_schedule_ops_compute_at_and_inline():
    n = oc.var("n")
    A = oc.placeholder((n,), name="A")
    A1 = oc.compute((n,), lambda i: A[i] + 1.0, name="A1")
    A2 = oc.compute((n,), lambda i: A1[i] + 2.0, name="A2")
    C = oc.compute((n,), lambda i: A2[i] + A1[i], name="C")
    s = oc.create_schedule(C.op)
    xo, _ = s[C].split(C.op.axis[0], factor=8)
    s[A1].compute_at(s[C], xo)
    s[A2].compute_inline()
    stmt = oc.ScheduleOps(s, oc.InferBound(s))
    assert _stores_to(stmt) == {"A1", "C"}             # A2 lives only inside C's expression
    allocs = _collect(stmt, T.Allocate)
    assert [a.buffer.name for a in allocs] == ["A1"]
    assert isinstance(stmt, T.For) and stmt.var is xo.var    # A1's buffer inside C's xo loop
    assert allocs[0] in _collect(stmt.body, T.Allocate)


def test_schedule_ops_cache_read_write_and_rfactor():
    A, _B, C = _matmul()
    s = oc.create_schedule(C.op)
    AA = s.cache_read(A, "local", [C])
    CC = s.cache_write(C, "local")
    s[AA].compute_at(s[CC], CC.op.axis[0])
    assert _stores_to(oc.ScheduleOps(s, oc.InferBound(s))) == {"A.local", "C.local", "C"}
    n = 12
    X = oc.placeholder((n, n), name="X")
    k = oc.reduce_axis(n, "k")
    R = oc.compute((n,), lambda i: oc.sum(X[i, k], axis=k), name="R")
    s = oc.create_schedule(R.op)
    _, ki = s[R].split(k, factor=4)
    RF = s.rfactor(R, ki)
    stmt = oc.ScheduleOps(s, oc.InferBound(s))
    assert _stores_to(stmt) == {RF.name, "R"}


def test_schedule_ops_tuple_outputs_and_scan():
    A = oc.placeholder((4, 8), name="A")
    C0, C1 = oc.compute((4, 8), lambda i, j: (A[i, j] + 1.0, A[i, j] * 2.0), name="C")
    s = oc.create_schedule([C0.op])
    func = oc.SchedulePostProcToPrimFunc([A, C0, C1], oc.ScheduleOps(s), None)
    assert [p.name for p in func.params] == ["A", "C.v0", "C.v1"]
    assert _stores_to(func.body) == {"C.v0", "C.v1"}
    X = oc.placeholder((6, 5), name="X")
    S = oc.placeholder((6, 5), name="S")
    init = oc.compute((1, 5), lambda _, i: X[0, i], name="init")
    update = oc.compute((6, 5), lambda t, i: S[t - 1, i] + X[t, i], name="update")
    res = oc.scan(init, update, S)
    s = oc.create_schedule(res.op)
    stmt = oc.ScheduleOps(s, oc.InferBound(s))      # the state is not a parameter: no error
    func = oc.SchedulePostProcToPrimFunc([X, res], stmt, None)
    assert [p.name for p in func.params] == ["X", "scan"]
    assert oc.SchedulePostProcToPrimFunc([X, S], stmt, None).params[1] is func.params[1]
    assert _stores_to(stmt) == {"init", "scan"}


# -- post_order_visit ----------------------------------------------------------------

def test_post_order_visit_children_first_each_node_once():
    A = oc.placeholder((8,), name="A")
    i = oc.var("i")
    read = A[i]
    expr = (read + read) * 2.0                    # read is one object used twice
    names = []
    oc.post_order_visit(expr, lambda n: names.append(type(n).__name__))
    assert names == ["Var", "TensorRead", "Binary", "Const", "Binary"]


def test_post_order_visit_statements_and_prim_func():
    buf = T.Buffer("X", "float32", (4,))
    i = E.Var("i")
    loop = T.For(i, E.const(0), E.const(4), "serial",
                 T.Store(buf, (i,), E.Load(buf, (i,), "float32") + 1.0))
    kinds = []
    oc.post_order_visit(loop, lambda n: kinds.append(type(n).__name__))
    # i once (the loop variable, before the index uses it), min, extent, then the body
    assert kinds == ["Var", "Const", "Const", "Load", "Const", "Binary", "Store", "For"]
    func = T.PrimFunc("main", (buf,), loop)
    again = []
    oc.post_order_visit(func, lambda n: again.append(type(n).__name__))
    assert again == kinds                         # a PrimFunc is walked through its body


# -- lower(...)["main"] ------------------------------------------------------------

def test_lowered_function_answers_the_module_spelling():
    s, A, A1 = _split_add_one()
    func = oc.lower(s, [A, A1])
    assert func["main"] is func and func["main"].body is func.body
    assert func.functions == {"main": func} and func.keys() == ["main"]
    named = oc.lower(s, [A, A1], name="add_one")
    assert named["add_one"] is named
    with pytest.raises(KeyError, match="it holds one function, 'add_one'"):
        named["main"]


# -- AutoInlineElemWise / AutoInlineInjective ----------------------------------------

def _chain():
    m, n = 6, 10
    A = oc.placeholder((m, n), name="A")
    B = oc.placeholder((m, n), name="B")
    P = oc.compute((m, n), lambda i, j: A[i, j] * B[i, j], name="P")           # elementwise
    Q = oc.compute((n, m), lambda j, i: P[i, j] + 1.0, name="Q")               # transposed read
    k = oc.reduce_axis(m, "k")
    R = oc.compute((n,), lambda j: oc.sum(Q[j, k], axis=k), name="R")
    O = oc.compute((n,), lambda j: R[j] * 2.0, name="O")
    return A, B, P, Q, R, O


def test_auto_inline_elemwise_inlines_only_elementwise_stages():
    A, B, P, Q, R, O = _chain()
    s = oc.create_schedule(O.op)
    oc.AutoInlineElemWise(s)
    assert [s[t].attach_type for t in (P, Q, R, O)] == ["inline", "root", "root", "root"]
    replayed = oc.load_json(oc.save_json(s))          # recorded in the trace as compute_inline
    assert replayed.stage_by_name("P").attach_type == "inline"
    mod = oc.build(s, [A, B, O])
    a, b = _rand(6, 10), _rand(6, 10)
    out = np.zeros(10, "float32")
    mod(a, b, out)
    want = ((a.astype("float64") * b + 1.0).sum(axis=0)) * 2.0
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


def test_auto_inline_injective_also_inlines_index_changes():
    _A, _B, P, Q, R, O = _chain()
    s = oc.create_schedule(O.op)
    oc.AutoInlineInjective(s)
    assert [s[t].attach_type for t in (P, Q, R, O)] == ["inline", "inline", "root", "root"]
    assert _stores_to(oc.ScheduleOps(s)) == {"R", "O"}


def test_auto_inline_leaves_scheduled_stages():
    _A, _B, P, Q, R, O = _chain()
    s = oc.create_schedule(O.op)
    s[P].split(P.op.axis[1], 4)
    s[Q].compute_at(s[R], R.op.axis[0])
    oc.AutoInlineInjective(s)
    assert [s[t].attach_type for t in (P, Q)] == ["root", "scope"]


# -- read graph ------------------------------------------------------------------

def test_create_read_graph_and_post_dfs_order():
    A = oc.placeholder((4,), name="A")
    B = oc.placeholder((4,), name="B")
    C = oc.compute((4,), lambda i: A[i] + B[i], name="C")
    D = oc.compute((4,), lambda i: C[i] * A[i], name="D")
    g = oc.CreateReadGraph([D.op])
    assert isinstance(g, oc.Map) and set(g) == {A.op, B.op, C.op, D.op}
    assert g[D.op] == [C, A] and g[C.op] == [A, B] and g[A.op] == []
    order = oc.PostDFSOrder([D.op], g)
    assert order == [A.op, B.op, C.op, D.op]


# -- scans ---------------------------------------------------------------------------

def _scan_with_body():
    m, n = oc.var("m"), oc.var("n")
    x = oc.placeholder((m, n), name="x")
    state = oc.placeholder((m, n), name="state")
    init = oc.compute((1, n), lambda _, i: x[0, i], name="init")
    x_trans = oc.compute((m, n), lambda i, j: x[i, j] + 1.0, name="x_trans")
    up1 = oc.compute((m, n), lambda t, i: state[t - 1, i] + 1.0, name="up1")
    update = oc.compute((m, n), lambda t, i: up1[t, i] + x_trans[t, i], name="update")
    res = oc.scan(init, update, state)
    return res, update, up1, x_trans


def test_scan_get_body():
    res, update, up1, x_trans = _scan_with_body()
    body = oc.ScanGetBody(res.op)
    assert body == [up1.op, update.op, res.op]      # producers first, the scan last
    assert x_trans.op not in body                   # it does not read the state


def _fixpoint(update_fn, *helpers):
    l, m, n = oc.var("l"), oc.var("m"), oc.var("n")
    x = oc.placeholder((l, m, n), name="x")
    state = oc.placeholder((l, m, n), name="state")
    init = oc.compute((1, m, n), lambda _, i, j: x[0, i, j], name="init")
    made = [h(state) for h in helpers]
    update = oc.compute((l, m, n), lambda t, i, j: update_fn(x, state, made, t, i, j),
                        name="update")
    res = oc.scan(init, update, state)
    fix = oc.ScanFixPointAnalysis(res.op)
    return [fix[ax].value for ax in res.op.spatial_axis_]


def test_fix_point_same_index_is_a_fixed_point():
    assert _fixpoint(lambda x, s, _, t, i, j: x[t, j, i] + s[t - 1, i, j]) == [1, 1]


def test_fix_point_swapped_axes_are_not():
    assert _fixpoint(lambda x, s, _, t, i, j: s[t - 1, j, i] * 2.0) == [0, 0]


def test_fix_point_through_intermediate_and_constant_index():
    def h1(s):          # the state read transposed into h1, then transposed back
        return oc.compute((s.shape[0], s.shape[2], s.shape[1]),
                          lambda t, j, i: s[t - 1, i, j], name="h1")

    def h2(s):          # the last dimension read at a constant: not exact
        return oc.compute(s.shape, lambda t, i, j: s[t - 1, i, 3] * 2.0, name="h2")
    got = _fixpoint(lambda x, s, h, t, i, j: h[0][t, j, i] + h[1][t, i, j], h1, h2)
    assert got == [1, 0]


def test_fix_point_one_axis_reaching_two_dimensions_fails_both():
    def diag(s):
        return oc.compute(s.shape, lambda t, i, j: s[t - 1, i, i], name="diag")
    assert _fixpoint(lambda x, s, h, t, i, j: h[0][t, i, j], diag) == [0, 0]


def test_fix_point_multi_state_and_spatial_axes():
    m, n, p = 5, 4, 3
    x1, x2 = oc.placeholder((m, n), name="x1"), oc.placeholder((m, p), name="x2")
    s1, s2 = oc.placeholder((m, n), name="s1"), oc.placeholder((m, p), name="s2")
    i1 = oc.compute((1, n), lambda _, i: x1[0, i], name="i1")
    i2 = oc.compute((1, p), lambda _, i: x2[0, i], name="i2")
    u1 = oc.compute((m, n), lambda t, i: s1[t - 1, i] + x1[t, i], name="u1")
    u2 = oc.compute((m, p), lambda t, i: s2[t - 1, p - 1 - i] + x2[t, i], name="u2")
    r0, _r1 = oc.scan([i1, i2], [u1, u2], [s1, s2])
    axes = r0.op.spatial_axis_
    assert len(axes) == 2 and axes[0] is r0.op.axis[1]
    assert [a.dom.extent.value for a in axes] == [n, p]
    fix = oc.ScanFixPointAnalysis(r0.op)
    assert [fix[a].value for a in axes] == [1, 0]     # u2 reads its state reversed


# -- attach paths --------------------------------------------------------------------

def test_create_attach_path():
    n = 32
    A = oc.placeholder((n,), name="A")
    B = oc.compute((n,), lambda i: A[i] + 1.0, name="B")
    Bc = oc.compute((n,), lambda i: B[i] * 2.0, name="Bc")
    C = oc.compute((n,), lambda i: Bc[i] - 1.0, name="C")
    s = oc.create_schedule(C.op)
    xo, xi = s[C].split(C.op.axis[0], 8)
    s[Bc].compute_at(s[C], xi)
    s[B].compute_at(s[Bc], Bc.op.axis[0])
    path = oc.CreateAttachPath(s)
    assert path[C.op] == () and path[A.op] == ()
    assert path[Bc.op] == (xi, xo)
    assert path[B.op] == (Bc.op.axis[0], xi, xo)


def test_attach_path_of_a_scan_update():
    res, update, _up1, _x_trans = _scan_with_body()
    s = oc.create_schedule(res.op)
    path = oc.CreateAttachPath(s)
    assert path[update.op] == (res.op.scan_axis,)


# -- attribute spellings -------------------------------------------------------------

def test_reduce_axis_and_iter_var_dom():
    _A, _B, C = _matmul(16)
    red = C.op.bodies[0]
    assert red.axis == C.op.reduce_axis and red.axis[0].name == "k"
    dom = C.op.axis[1].dom
    assert dom.min.value == 0 and dom.extent.value == 16
    k2 = oc.reduce_axis((2, 9), "k2")
    assert (k2.dom.min.value, k2.dom.extent.value) == (2, 7)


def test_call_is_the_intrinsic_call_node():
    A = oc.placeholder((4,), name="A")
    e = oc.exp(A[0])
    assert isinstance(e, oc.Call) and e.name == "exp"
    assert not isinstance(A[0] + 1.0, oc.Call)
