"""The lowering passes, one by one, on small functions (no backend needed)."""
import numpy as np
import pytest

import opcomp as oc
from opcomp.ir import expr as E
from opcomp.ir import tir as T
from opcomp.passes import pipeline, run_pipeline
from opcomp.target import Target
from opcomp.passes.bounds_check import assert_messages
from opcomp.passes.verify import VerifyError, verify
from opcomp.ir.visit import walk


def nodes(node, cls):
    out = []
    walk(node, lambda n: out.append(n) if isinstance(n, cls) else None)
    return out


def split_add(n, factor, vectorize=False):
    A = oc.placeholder((n,), name="A")
    C = oc.compute((n,), lambda i: A[i] + 1.0, name="C")
    s = oc.create_schedule(C)
    xo, xi = s[C].split(C.op.axis[0], factor=factor)
    if vectorize:
        s[C].vectorize(xi)
    return s, [A, C]


def test_divisible_split_has_no_guard():
    s, args = split_add(64, 16)
    assert not nodes(oc.lower(s, args).body, T.IfThenElse)


def test_partition_removes_guard_from_main_body():
    s, args = split_add(100, 16)
    f = oc.lower(s, args)
    loops = [x for x in nodes(f.body, T.For) if x.var.name == "i.outer"]
    assert loops and E.is_const(loops[0].extent, 6)       # 6 full tiles, no guard inside
    assert not nodes(loops[0].body, T.IfThenElse)
    assert not nodes(f.body, T.IfThenElse)                  # the tail became a 4-iteration loop


def test_symbolic_tail_is_partitioned():
    n = oc.var("n")
    s, args = split_add(n, 8)
    f = oc.lower(s, args)
    main = nodes(f.body, T.For)[0]
    assert not nodes(main.body, T.IfThenElse)


def two_level_split(n=100):
    A = oc.placeholder((n,), name="A")
    C = oc.compute((n,), lambda i: A[i] + 1.0, name="C")
    s = oc.create_schedule(C)
    xo, xi = s[C].split(C.op.axis[0], factor=16)
    s[C].split(xo, factor=4)
    return s, [A, C]


def test_two_level_split_partitions_every_tail():
    # In the main part of the outer loop every inner tail guard holds: no split
    # there; in its tail, one more split of each loop.
    f = oc.lower(*two_level_split())
    assert not nodes(f.body, T.IfThenElse)
    assert [str(x.extent) for x in nodes(f.body, T.For)] == ["4", "16", "2", "16", "4"]


def test_partition_budget_spent_keeps_guards_main_body_first(monkeypatch, rng):
    from opcomp.passes import partition
    monkeypatch.setattr(partition, "MAX_SPLITS_PER_FUNC", 0)
    s, args = two_level_split()
    assert len(nodes(oc.lower(s, args).body, T.IfThenElse)) == 2     # nothing split
    monkeypatch.setattr(partition, "MAX_SPLITS_PER_FUNC", 1)
    f = oc.lower(s, args)
    main = nodes(f.body, T.For)[0]
    assert E.is_const(main.extent, 4) and not nodes(main.body, T.IfThenElse)
    assert nodes(f.body, T.IfThenElse)                    # the tail keeps its guards
    a, c = rng.random(100).astype("float32"), np.zeros(100, "float32")
    oc.build(s, args)(a, c)
    np.testing.assert_allclose(c, a + 1.0, rtol=1e-6)


def test_partition_keeps_a_guard_whose_places_need_different_splits():
    # The same condition under inner loops of 4 and of 8 iterations: v < 7 would
    # do for the first, not the second; dropping it in both would overrun B.
    from opcomp.passes.partition import partition_loops
    v, a = E.Var("v"), E.Var("a")
    buf = T.Buffer("B", "float32", (E.const(40),))
    cond = v * 4 + a < 30

    def nest(extent):        # thread loops are not split themselves: only v can drop it
        store = T.Store(buf, (v * 4 + a,), E.const(1.0, "float32"))
        return T.For(a, E.const(0), E.const(extent), "thread", T.IfThenElse(cond, store),
                     "threadIdx.x")
    loop = T.For(v, E.const(0), E.const(10), "serial", T.seq(nest(4), nest(8)))
    out = partition_loops(T.PrimFunc("f", (buf,), loop))
    for inner in nodes(out.body, T.For):
        if E.is_const(inner.extent, 8):
            assert nodes(inner.body, T.IfThenElse), str(out)


def test_vectorized_loop_becomes_ramp():
    s, args = split_add(64, 16, vectorize=True)
    f = oc.lower(s, args)
    stores = nodes(f.body, T.Store)
    assert len(stores) == 1 and isinstance(stores[0].indices[0], E.Ramp)
    assert stores[0].value.dtype == "float32x16"
    assert not [x for x in nodes(f.body, T.For) if x.kind == "vectorized"]


def test_vectorize_falls_back_to_serial_when_lanes_collide():
    A = oc.placeholder((8, 16), name="A")
    C = oc.compute((8, 16), lambda i, j: A[i, 0] + 1.0, name="C")
    s = oc.create_schedule(C)
    s[C].vectorize(C.op.axis[1])
    f = oc.lower(s, [A, C])
    assert nodes(f.body, E.Ramp)                         # stores still vector: index depends on j


def test_flatten_gives_one_index():
    s, args = split_add(10, 4)
    f = oc.lower(s, args)
    for st in nodes(f.body, T.Store):
        assert len(st.indices) == 1


def test_index_dtype_widens_for_huge_buffers():
    A = oc.placeholder((70000, 70000), "int8", name="A")
    C = oc.compute((70000, 70000), lambda i, j: A[i, j], name="C")
    f = oc.lower(oc.create_schedule(C), [A, C])
    assert nodes(f.body, T.Store)[0].indices[0].dtype == "int64"


def test_small_buffers_keep_int32_indices():
    s, args = split_add(100, 16)
    f = oc.lower(s, args)
    assert all(st.indices[0].dtype.startswith("int32") for st in nodes(f.body, T.Store))


def test_verifier_rejects_undefined_var():
    buf = T.Buffer("X", "float32", (E.const(4),))
    bad = T.PrimFunc("bad", (buf,), T.Store(buf, (E.Var("ghost"),), E.const(1.0, "float32")))
    with pytest.raises(VerifyError, match="variable ghost used outside its scope"):
        verify(bad)


def test_verifier_rejects_unallocated_buffer():
    buf = T.Buffer("X", "float32", (E.const(4),))
    tmp = T.Buffer("T", "float32", (E.const(4),))
    bad = T.PrimFunc("bad", (buf,), T.Store(tmp, (E.const(0),), E.const(1.0, "float32")))
    with pytest.raises(VerifyError, match="buffer T accessed outside its allocation"):
        verify(bad)


def test_verifier_rejects_dtype_mismatch():
    buf = T.Buffer("X", "float32", (E.const(4),))
    bad = T.PrimFunc("bad", (buf,), T.Store(buf, (E.const(0),), E.const(1, "int32")))
    with pytest.raises(VerifyError, match="store of int32 into X: float32"):
        verify(bad)


def test_verifier_rejects_wrong_index_count():
    buf = T.Buffer("X", "float32", (E.const(4), E.const(4)))
    bad = T.PrimFunc("bad", (buf,), T.Store(buf, (E.const(0),), E.const(1.0, "float32")))
    with pytest.raises(VerifyError, match="accessed with 1 indices, expected 2"):
        verify(bad)


def test_bounds_check_asserts_every_access():
    A = oc.placeholder((10,), name="A")
    C = oc.compute((9,), lambda i: A[i + 1] * 2.0, name="C")
    s = oc.create_schedule(C)
    plain = oc.lower(s, [A, C])
    checked = oc.lower(s, [A, C], bounds_check=True)
    assert not nodes(plain.body, T.Assert)
    # i + 1 < 10 and i < 9 are provable from the loop range: nothing to assert.
    assert not nodes(checked.body, T.Assert)


def test_bounds_check_catches_planted_overrun_statically_unprovable():
    n = oc.var("n")
    A = oc.placeholder((n,), name="A")
    C = oc.compute((n,), lambda i: A[i + 1], name="C")       # reads one past the end
    f = oc.lower(oc.create_schedule(C), [A, C], bounds_check=True)
    msgs = assert_messages(f)
    assert any("out-of-bounds access A[" in m for m in msgs)


def test_bounds_check_respects_select_guard():
    A = oc.placeholder((10,), name="A")
    C = oc.compute((10,), lambda i: oc.select(i > 0, A[oc.maximum(i - 1, 0)], 0.0), name="C")
    f = oc.lower(oc.create_schedule(C), [A, C], bounds_check=True)
    assert not nodes(f.body, T.Assert)


def test_debug_prints_ir_after_each_pass(capsys):
    s, args = split_add(20, 8)
    from opcomp.lower import schedule_to_stmt
    body, params = schedule_to_stmt(s, args)
    func = T.PrimFunc("dbg", tuple(params), body, ())
    run_pipeline(func, Target("llvm"), debug=True)
    out = capsys.readouterr().out
    for name, _ in pipeline(Target("llvm")):
        assert f"# after {name}\n" in out


def test_pipeline_is_deterministic():
    texts = {str(oc.lower(*split_add(37, 8, vectorize=True))) for _ in range(3)}
    assert len(texts) == 1


def test_symbolic_size_vector_access_stays_a_ramp():
    # int64 indices (symbolic sizes) must not turn contiguous loads into gathers.
    n = oc.var("n")
    s, args = split_add(n, 16, vectorize=True)
    f = oc.lower(s, args)
    vector_stores = [st for st in nodes(f.body, T.Store) if st.value.dtype == "float32x16"]
    assert vector_stores
    for st in vector_stores:
        assert isinstance(st.indices[0], E.Ramp) and st.indices[0].dtype == "int64x16"
        loads = nodes(st.value, E.Load)
        assert loads and all(isinstance(ld.indices[0], E.Ramp) for ld in loads)
