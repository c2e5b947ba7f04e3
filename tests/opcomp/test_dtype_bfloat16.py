"""The bfloat16 dtype: size, promotion (float16's rules with bfloat16 in its place),
constant folding in ml_dtypes' arithmetic, and host arrays of ml_dtypes.bfloat16."""
import numpy as np
import pytest

import opcomp as oc
from opcomp import dtype as dt
from opcomp.arith.fold import fold_binary, fold_cast

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = ml_dtypes.bfloat16


def test_bfloat16_is_a_two_byte_float():
    assert dt.check("bfloat16") == "bfloat16"
    assert dt.check(np.dtype(BF16)) == "bfloat16"
    assert dt.is_float("bfloat16") and dt.is_float("bfloat16x8")
    assert not dt.is_int("bfloat16")
    assert (dt.itemsize("bfloat16"), dt.bits("bfloat16"), dt.itemsize("bfloat16x8")) == (2, 16, 2)
    assert dt.numpy_dtype("bfloat16") == np.dtype(BF16)


@pytest.mark.parametrize("other, want", [
    ("bfloat16", "bfloat16"), ("bool", "bfloat16"), ("int8", "bfloat16"),
    ("uint8", "bfloat16"), ("int16", "float32"), ("int32", "float64"),
    ("float16", "float32"), ("float32", "float32"), ("float64", "float64")])
def test_bfloat16_promotes_as_float16_does(other, want):
    assert dt.promote("bfloat16", other) == dt.promote(other, "bfloat16") == want
    if other not in ("bfloat16", "float16"):    # float16's rule, bfloat16 in its place
        f16 = dt.promote("float16", other)
        assert want == ("bfloat16" if f16 == "float16" else f16)


def test_python_scalars_are_weak_with_bfloat16():
    A = oc.placeholder((4,), "bfloat16", name="A")
    assert (A[0] * 2.0).dtype == "bfloat16"
    assert (A[0] + 1).dtype == "bfloat16"
    assert (A[0] + A[1].astype("float32")).dtype == "float32"
    assert oc.const(BF16(1.5)).dtype == "bfloat16"


def test_folding_bfloat16_constants_rounds_as_ml_dtypes(rng):
    for x, y in rng.standard_normal((20, 2)):
        want = BF16(x) * BF16(y)
        got = fold_binary("mul", float(BF16(x)), float(BF16(y)), "bfloat16")
        assert got == float(want)
    assert fold_cast(1.0 + 2.0**-8, "float32", "bfloat16") == 1.0      # ties to even
    assert fold_cast(1.0 + 3 * 2.0**-8, "float32", "bfloat16") == 1.015625


def test_runtime_accepts_ml_dtypes_arrays_and_refuses_float16(rng):
    n = 64
    A = oc.placeholder((n,), "bfloat16", name="A")
    B = oc.compute((n,), lambda i: A[i].astype("float32") * 2.0, name="B")
    s = oc.create_schedule(B)
    s[B].bind(B.op.axis[0], oc.thread_axis("threadIdx.x"))
    mod = oc.build(s, [A, B], target="cuda", emulate=True, name="bf_args")
    a = rng.standard_normal(n).astype(BF16)
    b = np.full(n, np.nan, np.float32)
    mod(a, b)
    np.testing.assert_array_equal(b, a.astype(np.float32) * 2)
    with pytest.raises(oc.ArgumentError, match=r"argument A must have dtype bfloat16, "
                                               r"got float16"):
        mod(a.astype(np.float16), b)


def test_torch_bfloat16_tensors_pass_through_dlpack(rng):
    torch = pytest.importorskip("torch")
    n = 32
    A = oc.placeholder((n,), "bfloat16", name="A")
    B = oc.compute((n,), lambda i: A[i] + A[i], name="B")
    s = oc.create_schedule(B)
    s[B].bind(B.op.axis[0], oc.thread_axis("threadIdx.x"))
    mod = oc.build(s, [A, B], target="cuda", emulate=True, name="bf_torch")
    a = torch.from_numpy(rng.standard_normal(n).astype(np.float32)).to(torch.bfloat16)
    b = torch.full((n,), float("nan"), dtype=torch.bfloat16)
    mod(a, b)
    assert torch.equal(b, a + a)
