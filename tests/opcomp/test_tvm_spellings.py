"""TVM's classic te spellings (API.md "TVM spellings"): ported code runs after an
import change.  Each spelling is checked against NumPy or against the opcomp
spelling it stands for."""
from __future__ import annotations

import numpy as np
import pytest

import opcomp as oc
from opcomp.ir import expr as E
from opcomp.schedule.trace import Trace

RNG = np.random.default_rng(9)


def _rand(shape, dtype="float32"):
    # non-zero values so a wrong read (of a zero-filled buffer) shows
    return (RNG.random(shape) + 0.5).astype(dtype)


def _matmul(n=16):
    A = oc.placeholder((n, n), name="A")
    B = oc.placeholder((n, n), name="B")
    k = oc.reduce_axis(n, "k")
    C = oc.compute((n, n), lambda i, j: oc.sum(A[i, k] * B[k, j], axis=k), name="C")
    return A, B, C


# -- create_schedule with operations ------------------------------------------------

def test_create_schedule_of_an_operation_builds_and_runs():
    A, B, C = _matmul()
    s = oc.create_schedule(C.op)
    xo, xi = s[C].split(C.op.axis[0], factor=4)
    mod = oc.build(s, [A, B, C])
    a, b, c = _rand((16, 16)), _rand((16, 16)), np.zeros((16, 16), np.float32)
    mod(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-5)


def test_create_schedule_of_a_list_of_operations_marks_each_output():
    A = oc.placeholder((8,), name="A")
    C = oc.compute((8,), lambda i: A[i] * 2.0, name="C")
    D = oc.compute((8,), lambda i: A[i] + 3.0, name="D")
    s = oc.create_schedule([C.op, D.op])
    assert s.outputs == [C, D]
    assert s[C].is_output and s[D].is_output and not s[A].is_output
    mod = oc.build(s, [A, C, D])
    a, c, d = _rand(8), np.zeros(8, np.float32), np.zeros(8, np.float32)
    mod(a, c, d)
    np.testing.assert_allclose(c, a * 2.0)
    np.testing.assert_allclose(d, a + 3.0)


def test_create_schedule_op_and_tensor_give_the_same_workload():
    _, _, C = _matmul()
    assert oc.create_schedule(C.op).trace.workload == oc.create_schedule(C).trace.workload


# -- size_var -----------------------------------------------------------------------

def test_size_var_is_a_shape_variable_bound_from_arrays():
    n = oc.size_var("n")
    assert (n.name, n.dtype) == ("n", "int32")
    assert oc.size_var("m", dtype="int64").dtype == "int64"
    A = oc.placeholder((n,), name="A")
    B = oc.compute((n,), lambda i: A[i] * A[i], name="B")
    mod = oc.build(oc.create_schedule(B), [A, B])
    for size in (5, 13):
        a, b = _rand(size), np.zeros(size, np.float32)
        mod(a, b)
        np.testing.assert_allclose(b, a * a)


# -- A(i, j) and A[i][j] ---------------------------------------------------------------

def test_call_and_chained_index_read_the_same_element_as_a_tuple_index():
    A = oc.placeholder((4, 6), name="A")
    i, j = oc.Var("i"), oc.Var("j")
    assert str(A(i, j)) == str(A[i, j]) == str(A[i][j]) == "A[i, j]"
    assert A(i, j).indices == A[i][j].indices == A[i, j].indices


def test_chained_index_of_rank_three():
    A = oc.placeholder((2, 3, 4), name="A")
    i, j, k = oc.Var("i"), oc.Var("j"), oc.Var("k")
    assert str(A[i][j][k]) == str(A[i][j, k]) == str(A[i, j][k]) == "A[i, j, k]"


def test_call_and_chained_index_build_and_run():
    A = oc.placeholder((5, 7), name="A")
    B = oc.compute((7, 5), lambda i, j: A(j, i) * 2.0 + A[j][i], name="B")
    mod = oc.build(oc.create_schedule(B.op), [A, B])
    a, b = _rand((5, 7)), np.zeros((7, 5), np.float32)
    mod(a, b)
    np.testing.assert_allclose(b, a.T * 3.0, rtol=1e-6)


# -- op.output, num_outputs, input_tensors ---------------------------------------------

def test_op_output_num_outputs_and_input_tensors():
    A, B, C = _matmul()
    assert C.op.output(0) is C and C.op.output() is C and A.op.output(0) is A
    assert C.op.num_outputs == 1 and A.op.num_outputs == 1
    assert C.op.input_tensors == [A, B]
    assert A.op.input_tensors == []


# -- normalize -------------------------------------------------------------------------

def test_normalize_returns_the_schedule_changes_nothing_and_replays():
    A, B, C = _matmul()
    s = oc.create_schedule(C)
    xo, xi = s[C].split(C.op.axis[0], factor=4)
    before = str(oc.lower(s, [A, B, C]))
    assert s.normalize() is s
    assert str(oc.lower(s, [A, B, C])) == before
    assert [r["primitive"] for r in s.trace.records] == ["split"]   # nothing recorded
    s2 = oc.create_schedule(C)
    Trace.from_json(s.trace.to_json()).apply(s2)
    assert str(oc.lower(s2.normalize(), [A, B, C])) == before


# -- oc.const as a factor ----------------------------------------------------------------

def test_const_factor_in_split_and_tile_same_as_int():
    def lowered(factor, use_tile):
        A, B, C = _matmul()
        s = oc.create_schedule(C)
        i, j = C.op.axis
        if use_tile:
            s[C].tile(i, j, factor, factor)
        else:
            s[C].split(i, factor=factor)
            s[C].split(j, nparts=factor)
        return str(oc.lower(s, [A, B, C])), s.trace.to_json()
    for use_tile in (False, True):
        assert lowered(oc.const(3), use_tile) == lowered(3, use_tile)


def test_const_factor_split_runs():
    A, B, C = _matmul(10)
    s = oc.create_schedule(C)
    s[C].split(C.op.axis[1], oc.const(3))
    mod = oc.build(s, [A, B, C])
    a, b, c = _rand((10, 10)), _rand((10, 10)), np.zeros((10, 10), np.float32)
    mod(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-5)


# -- unsigned dtypes -------------------------------------------------------------------

UNSIGNED = ["uint8", "uint16", "uint32", "uint64"]
BINARY = {
    "add": (lambda a, b: a + b), "sub": (lambda a, b: a - b), "mul": (lambda a, b: a * b),
    "floordiv": (lambda a, b: a // b), "mod": (lambda a, b: a % b),
    "lt": (lambda a, b: a < b), "ge": (lambda a, b: a >= b),
    "max": (lambda a, b: oc.maximum(a, b) if isinstance(a, E.Expr)
            else np.maximum(a, b)),
}


def _uint_inputs(dtype, n=64):
    top = np.iinfo(dtype).max
    a = RNG.integers(1, top, n, dtype=dtype, endpoint=True)
    b = RNG.integers(1, top, n, dtype=dtype, endpoint=True)
    b[:n // 4] = RNG.integers(1, 9, n // 4)  # small divisors too, so quotients are not all 0
    a[:4] = top                              # the top bit set: wrong if treated as signed
    return a, b


@pytest.mark.parametrize("dtype", UNSIGNED)
@pytest.mark.parametrize("op", sorted(BINARY))
@pytest.mark.parametrize("vector", [False, True])
def test_unsigned_binary_ops_match_numpy(dtype, op, vector):
    f = BINARY[op]
    A = oc.placeholder((64,), dtype, name="A")
    B = oc.placeholder((64,), dtype, name="B")
    C = oc.compute((64,), lambda i: f(A[i], B[i]), name="C")
    s = oc.create_schedule(C)
    if vector:
        _, xi = s[C].split(C.op.axis[0], factor=8)
        s[C].vectorize(xi)
    mod = oc.build(s, [A, B, C])
    a, b = _uint_inputs(dtype)
    want = f(a, b)
    assert C.dtype == want.dtype.name
    c = np.zeros(64, want.dtype)
    mod(a, b, c)
    np.testing.assert_array_equal(c, want)


@pytest.mark.parametrize("dtype", UNSIGNED)
def test_unsigned_casts_match_numpy(dtype):
    A = oc.placeholder((64,), dtype, name="A")
    F = oc.compute((64,), lambda i: A[i].astype("float64"), name="F")
    W = oc.compute((64,), lambda i: A[i].astype("int64"), name="W")
    H = oc.compute((64,), lambda i: (A[i].astype("float64") * 0.5).astype(dtype), name="H")
    N = oc.compute((64,), lambda i: A[i].astype("uint8"), name="N")
    a, _ = _uint_inputs(dtype)
    for T, ref in ((F, a.astype(np.float64)), (W, a.astype(np.int64)),
                   (H, (a.astype(np.float64) * 0.5).astype(dtype)), (N, a.astype(np.uint8))):
        mod = oc.build(oc.create_schedule(T), [A, T])
        out = np.zeros(64, ref.dtype)
        mod(a, out)
        np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("dtype", UNSIGNED)
def test_unsigned_reduction_and_promotion(dtype):
    A = oc.placeholder((8, 16), dtype, name="A")
    k = oc.reduce_axis(16, "k")
    S = oc.compute((8,), lambda i: oc.sum(A[i, k], axis=k), name="S")
    P = oc.compute((8, 16), lambda i, j: A[i, j] + 1, name="P")       # weak scalar
    assert S.dtype == dtype and P.dtype == dtype
    a = RNG.integers(1, 100, (8, 16), dtype=dtype)
    s_out, p_out = np.zeros(8, dtype), np.zeros((8, 16), dtype)
    oc.build(oc.create_schedule(S), [A, S])(a, s_out)
    oc.build(oc.create_schedule(P), [A, P])(a, p_out)
    np.testing.assert_array_equal(s_out, a.sum(axis=1, dtype=dtype))
    np.testing.assert_array_equal(p_out, a + np.array(1, dtype))


@pytest.mark.parametrize("dtype", UNSIGNED)
def test_unsigned_argument_dtype_is_checked(dtype):
    A = oc.placeholder((4,), dtype, name="A")
    B = oc.compute((4,), lambda i: A[i] + A[i], name="B")
    mod = oc.build(oc.create_schedule(B), [A, B])
    signed = dtype.replace("u", "")
    b = np.zeros(4, dtype)
    with pytest.raises(oc.ArgumentError, match=f"must have dtype {dtype}, got {signed}"):
        mod(np.ones(4, signed), b)
    assert not b.any()


@pytest.mark.parametrize("dtype", UNSIGNED[1:])
def test_unsigned_c_header_types(tmp_path, dtype):
    A = oc.placeholder((4,), dtype, name="A")
    B = oc.compute((4,), lambda i: A[i] * 3, name="B")
    mod = oc.build(oc.create_schedule(B), [A, B], name=f"triple_{dtype}")
    mod.export_library(tmp_path / "libt.so")
    h = (tmp_path / "libt.h").read_text()
    assert f"int32_t triple_{dtype}(const {dtype}_t* A, {dtype}_t* B);" in h


@pytest.mark.parametrize("dtype", UNSIGNED)
def test_unsigned_generated_cuda_c_emulated(dtype):
    """The CUDA C path (its helper header) for unsigned types, on the CPU emulator."""
    A = oc.placeholder((64,), dtype, name="A")
    B = oc.placeholder((64,), dtype, name="B")
    C = oc.compute((64,), lambda i: (A[i] // B[i] + A[i] % B[i]) + oc.maximum(A[i], B[i])
                   - (A[i] < B[i]).astype(dtype), name="C")
    s = oc.create_schedule(C)
    xo, xi = s[C].split(C.op.axis[0], factor=32)
    s[C].bind(xo, oc.thread_axis("blockIdx.x"))
    s[C].bind(xi, oc.thread_axis("threadIdx.x"))
    mod = oc.build(s, [A, B, C], target="cuda", emulate=True)
    a, b = _uint_inputs(dtype)
    c = np.zeros(64, dtype)
    mod(a, b, c)
    np.testing.assert_array_equal(c, (a // b + a % b) + np.maximum(a, b) - (a < b).astype(dtype))


@pytest.mark.parametrize("dtype", UNSIGNED)
def test_unsigned_torch_op(dtype):
    torch = pytest.importorskip("torch")
    if not hasattr(torch, dtype):
        pytest.skip(f"this torch has no {dtype}")
    A = oc.placeholder((8,), dtype, name="A")
    B = oc.compute((8,), lambda i: A[i] * 3 + 1, name="B")
    op = oc.torch_op(oc.build(oc.create_schedule(B), [A, B]), f"tvm_spellings::triple_{dtype}")
    a = _uint_inputs(dtype, 8)[0]
    out = op(torch.from_numpy(a))
    assert out.dtype == getattr(torch, dtype)
    np.testing.assert_array_equal(out.numpy(), a * np.array(3, dtype) + np.array(1, dtype))


@pytest.mark.parametrize("unsigned, signed, want", [("uint8", "int8", "int16"),
                                                    ("uint16", "int32", "int32"),
                                                    ("uint32", "int32", "int64"),
                                                    ("uint64", "int64", "float64")])
def test_unsigned_meets_signed_promotes_like_numpy(unsigned, signed, want):
    A = oc.placeholder((16,), unsigned, name="A")
    B = oc.placeholder((16,), signed, name="B")
    C = oc.compute((16,), lambda i: A[i] + B[i], name="C")
    assert C.dtype == want
    a = _uint_inputs(unsigned, 16)[0]
    info = np.iinfo(signed)
    b = RNG.integers(info.min, info.max, 16, dtype=signed)
    c = np.zeros(16, want)
    oc.build(oc.create_schedule(C), [A, B, C])(a, b, c)
    np.testing.assert_array_equal(c, a + b)
