"""Every ArgumentError a call to a built module can raise: message and no write.

Each test checks that the message names the parameter, what was expected and
what came, and that the output array is untouched (all checks run before the
kernel).  Kernels are hand-written loop IR, independent of the lowering.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import opcomp as oc
from opcomp.ir import expr as E
from opcomp.ir import tir as T
from opcomp.build import build


_ids = itertools.count()
N = 16


@pytest.fixture(scope="module", autouse=True)
def _private_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:       # module scope: before the module fixtures
        mp.setenv("OPCOMP_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


def _func(shapes, size_vars, dtype="float32"):
    """C[i] = A[i] over the first dimension's extent (the tests never run it on bad input)."""
    i = E.Var("i", "int32")
    A, C = T.Buffer("A", dtype, shapes[0]), T.Buffer("C", dtype, shapes[1])
    body = T.For(i, E.const(0, "int32"), shapes[0][0], "serial",
                 T.Store(C, (i,), E.Load(A, (i,), dtype)))
    return T.PrimFunc(f"copy{next(_ids)}", (A, C), body, size_vars)


@pytest.fixture(scope="module")
def copy_n():
    n = E.Var("n", "int32")
    return build(_func([(n,), (n,)], (n,)), target="llvm")


@pytest.fixture(scope="module")
def copy_rows():
    """A: (n, 4), C: (n + 1, 4): a constant dim and an expression dim."""
    n = E.Var("n", "int32")
    return build(_func([(n, E.const(4)), (n + 1, E.const(4))], (n,)), target="llvm")


@pytest.fixture(scope="module")
def copy_affine():
    """A and C have shape (2 * n,): n is solved from the shape, never given alone."""
    n = E.Var("n", "int32")
    return build(_func([(n * 2,), (n * 2,)], (n,)), target="llvm")


@pytest.fixture
def arrays(rng):
    a = rng.standard_normal(N).astype(np.float32)
    c = rng.standard_normal(N).astype(np.float32)
    return a, c


def rejects(mod, args, out, match):
    before = np.array(out, copy=True)
    with pytest.raises(oc.ArgumentError, match=match):
        mod(*args)
    np.testing.assert_array_equal(np.asarray(out), before)


def test_argument_error_is_a_value_error():
    assert issubclass(oc.ArgumentError, ValueError)


def test_wrong_count(copy_n, arrays):
    a, c = arrays
    rejects(copy_n, (a,), c, rf"{copy_n.name} expects 2 arguments \(A, C\), got 1: "
            "pass one array per parameter, outputs included")
    rejects(copy_n, (a, c, c), c, r"expects 2 arguments \(A, C\), got 3")


def test_not_an_array(copy_n, arrays):
    _, c = arrays
    rejects(copy_n, ([1.0] * N, c), c, r"argument A must be a NumPy array or an object with "
            r"__dlpack__ \(a tensor\), got list")


def test_wrong_dtype(copy_n, arrays):
    a, c = arrays
    rejects(copy_n, (a.astype(np.float64), c), c,
            "argument A must have dtype float32, got float64; opcomp does not convert implicitly")
    rejects(copy_n, (a.astype(">f4"), c), c, r"must have dtype float32, got >f4 \(non-native")


def test_wrong_rank(copy_n, arrays):
    a, c = arrays
    rejects(copy_n, (a.reshape(4, 4), c), c,
            r"argument A must have rank 1 \(shape \(n,\)\), got rank 2 with shape \(4, 4\)")


def test_constant_dimension_mismatch(copy_rows, rng):
    a = rng.standard_normal((5, 3)).astype(np.float32)
    c = rng.standard_normal((6, 4)).astype(np.float32)
    rejects(copy_rows, (a, c), c, r"argument A has shape \(5, 3\), expected \(n, 4\): "
            r"A.shape\[1\] must be 4, got 3")


def test_size_var_bound_inconsistently(copy_n, rng):
    a = rng.standard_normal(128).astype(np.float32)
    c = rng.standard_normal(64).astype(np.float32)
    rejects(copy_n, (a, c), c, r"n is 128 from A.shape\[0\] but 64 from C.shape\[0\] "
            r"\(inconsistent sizes\)")


def test_expression_dimension_mismatch(copy_rows, rng):
    a = rng.standard_normal((5, 4)).astype(np.float32)
    c = rng.standard_normal((5, 4)).astype(np.float32)
    rejects(copy_rows, (a, c), c, r"C.shape\[0\] is 5, but its size n \+ 1 evaluates to 6 "
            r"\(n = 5 from A.shape\[0\]\)")


def test_affine_dimension_not_a_multiple(copy_affine, rng):
    a = rng.standard_normal(7).astype(np.float32)
    c = rng.standard_normal(7).astype(np.float32)
    rejects(copy_affine, (a, c), c, r"A.shape\[0\] is 7, but its size n \* 2 evaluates to 6")


def test_affine_size_var_accepts_multiples(copy_affine, rng):
    a = rng.standard_normal(8).astype(np.float32)
    c = rng.standard_normal(8).astype(np.float32)
    copy_affine(a, c)
    np.testing.assert_array_equal(c, a)


def test_negative_size_from_affine_dimension(rng):
    n = E.Var("n", "int32")
    mod = build(_func([(n + 1,), (n + 1,)], (n,)), target="llvm")
    empty = np.empty(0, np.float32)
    rejects(mod, (empty, empty.copy()), empty, r"A.shape\[0\] is 0, which gives size n = -1; "
            r"sizes cannot be negative \(shape of A: \(n \+ 1,\)\)")


def test_size_too_large_for_its_type(copy_n):
    huge = np.broadcast_to(np.float32(1), (2**31,))     # no memory behind it
    out = np.zeros(4, np.float32)
    with pytest.raises(oc.ArgumentError, match=r"size n = 2147483648 \(from A.shape\[0\]\) "
                       "does not fit the variable's type int32"):
        copy_n(huge, huge)
    assert not out.any()


def test_non_contiguous(copy_n, rng):
    a = rng.standard_normal(2 * N).astype(np.float32)
    c = rng.standard_normal(N).astype(np.float32)
    rejects(copy_n, (a[::2], c), c, r"argument A is not C-contiguous \(shape \(16,\), strides "
            r"\(8,\)\); opcomp does not copy silently: pass np\.ascontiguousarray\(x\) or "
            r"tensor\.contiguous\(\)")
    rejects(copy_n, (a[:N], c[::-1]), c, r"argument C is not C-contiguous")


def test_fortran_order_rejected(copy_rows, rng):
    a = np.asfortranarray(rng.standard_normal((5, 4)).astype(np.float32))
    c = rng.standard_normal((6, 4)).astype(np.float32)
    rejects(copy_rows, (a, c), c, r"argument A is not C-contiguous \(shape \(5, 4\)")


def test_misaligned(copy_n, arrays):
    a, c = arrays
    raw = bytearray(a.nbytes + 1)
    mis = np.frombuffer(raw, np.float32, count=N, offset=1)
    rejects(copy_n, (mis, c), c, r"argument A has a data pointer 0x[0-9a-f]+ not aligned to "
            "its 4-byte elements; copy it into a fresh array")


def test_read_only_output(copy_n, arrays):
    a, c = arrays
    c.flags.writeable = False
    rejects(copy_n, (a, c), c, r"argument C is written by the kernel but the array is "
            r"read-only \(writeable=False\); pass a writable array")
    a.flags.writeable = False          # a read-only input is fine
    copy_n(a, np.empty_like(a))


class FakeTensor:
    """A DLPack producer on a chosen device (2 = CUDA), or one whose export fails."""

    def __init__(self, arr, device=(1, 0), fail=None):
        self.arr, self.device, self.fail = arr, device, fail

    def __dlpack__(self, **kw):
        if self.fail:
            raise BufferError(self.fail)
        return self.arr.__dlpack__(**kw)

    def __dlpack_device__(self):
        return self.device


def test_device_not_cpu(copy_n, arrays):
    a, c = arrays
    rejects(copy_n, (FakeTensor(a, device=(2, 0)), c), c, r"argument A lives on cuda:0, but "
            r"this module runs on the CPU \(target llvm\); move the tensor to the CPU first "
            r"\(e\.g\. tensor\.cpu\(\)\)")


def test_torch_meta_tensor(copy_n, arrays):
    torch = pytest.importorskip("torch")
    _, c = arrays
    rejects(copy_n, (torch.empty(N, device="meta"), c), c, r"argument A lives on meta, but this "
            r"module runs on the CPU")


def test_dlpack_export_fails(copy_n, arrays):
    a, c = arrays
    rejects(copy_n, (FakeTensor(a, fail="cannot export"), c), c,
            r"argument A \(FakeTensor\) cannot be shared zero-copy through DLPack: cannot export")


def test_torch_tensor_requiring_grad(copy_n):
    torch = pytest.importorskip("torch")
    a, c = torch.randn(N, requires_grad=True), torch.randn(N)
    before = c.clone()
    with pytest.raises(oc.ArgumentError, match=r"argument A \(Tensor\) cannot be shared "
                       "zero-copy through DLPack: .*require"):
        copy_n(a, c)
    assert torch.equal(c, before)


def test_torch_errors_name_the_parameter(copy_n):
    torch = pytest.importorskip("torch")
    a, c = torch.randn(N), torch.randn(2 * N)
    before = c.clone()
    with pytest.raises(oc.ArgumentError, match=r"argument C is not C-contiguous"):
        copy_n(a, c[::2])
    with pytest.raises(oc.ArgumentError, match=r"argument A must have dtype float32, got float64"):
        copy_n(a.double(), c[:N])
    assert torch.equal(c, before)


def test_output_overlapping_an_input(copy_n, rng):
    base = rng.standard_normal(2 * N).astype(np.float32)
    a, c = base[:N], base[N // 2: N // 2 + N]
    rejects(copy_n, (a, c), c, r"output C overlaps argument A in memory; kernels assume an "
            "output shares no memory with another argument: pass a separate output array")
    rejects(copy_n, (a, a), a, r"output C overlaps argument A")
    copy_n(base[:N], base[N:])              # adjacent, not overlapping: fine
    np.testing.assert_array_equal(base[N:], base[:N])


def test_dlpack_dtype_without_an_opcomp_equivalent(copy_n, arrays):
    torch = pytest.importorskip("torch")
    _, c = arrays
    rejects(copy_n, (torch.zeros(N, dtype=torch.complex64), c), c,   # (bfloat16 has one)
            r"argument A \(Tensor\) cannot be shared zero-copy through DLPack: DLPack dtype "
            r"\(code 5, 64 bits, 1 lanes\) has no opcomp equivalent")


def test_transposed_torch_tensor_is_not_contiguous():
    torch = pytest.importorskip("torch")
    A = oc.placeholder((4, 6), name="A")
    C = oc.compute((4, 6), lambda i, j: A[i, j] * 2.0, name="C")
    mod = oc.build(oc.create_schedule(C), [A, C])
    c = torch.zeros(4, 6)
    with pytest.raises(oc.ArgumentError, match=r"argument A is not C-contiguous \(shape "
                       r"\(4, 6\), strides \(4, 16\)\)"):
        mod(torch.randn(6, 4).t(), c)
    assert not c.any()


def test_gpu_module_given_host_arrays():
    from opcomp.runtime.module import signature_of
    A = oc.placeholder((64,), name="A")
    B = oc.compute((64,), lambda i: A[i] * 2.0, name="B")
    s = oc.create_schedule(B)
    bx, tx = s[B].split(B.op.axis[0], factor=32)
    s[B].bind(bx, oc.thread_axis("blockIdx.x"))
    s[B].bind(tx, oc.thread_axis("threadIdx.x"))
    sig = signature_of(oc.lower(s, [A, B], target="cuda"), oc.Target("cuda"))
    with pytest.raises(oc.ArgumentError, match=r"argument A lives on cpu:0, but this module "
                       r"runs on cuda \(target cuda\); move the tensor to the GPU first "
                       r"\(e\.g\. tensor\.cuda\(\)\)"):
        sig.prepare([np.ones(64, np.float32), np.ones(64, np.float32)])


# -- scalar arguments (tests/opcomp/test_scalar_args.py) -----------------------------

def _scalar_module():
    n, x = oc.size_var("n"), oc.size_var("x")
    A = oc.placeholder((n,), name="A")
    B = oc.compute((n // x,), lambda i: A[i] + 1.0, name="B")
    return oc.build(oc.create_schedule(B.op), [A, B, x], name="k")


def test_scalar_argument_of_a_float():
    with pytest.raises(oc.ArgumentError, match="argument x is an integer scalar"):
        _scalar_module()(np.ones(4, np.float32), np.ones(2, np.float32), 2.0)


def test_scalar_argument_out_of_its_range():
    with pytest.raises(oc.ArgumentError, match="does not fit its type int32"):
        _scalar_module()(np.ones(4, np.float32), np.ones(2, np.float32), 2**40)


def test_scalar_argument_zero_divides_a_shape():
    with pytest.raises(oc.ArgumentError, match="is 0, but parameter shapes divide by it"):
        _scalar_module()(np.ones(4, np.float32), np.ones(2, np.float32), 0)


def test_scalar_argument_of_a_float_var():
    from opcomp.ir.expr import Var
    A = oc.placeholder((4,), name="A")
    alpha = Var("alpha", "float32")          # oc.var makes integer vars only
    B = oc.compute((4,), lambda i: A[i] * 2.0, name="B")
    with pytest.raises(oc.ScheduleError, match=r"only integer scalars can be arguments "
                                               r"\(pass a float as a one-element tensor"):
        oc.lower(oc.create_schedule(B.op), [A, B, alpha])


def test_scalar_arguments_without_tensors():
    A = oc.placeholder((4,), name="A")
    B = oc.compute((4,), lambda i: A[i] * 2.0, name="B")
    with pytest.raises(oc.ScheduleError, match=r"lower: args must include the tensors "
                                               r"\(inputs and outputs\), not only scalars"):
        oc.lower(oc.create_schedule(B.op), [oc.var("x")])


def test_lower_argument_that_is_neither_tensor_nor_var():
    A = oc.placeholder((4,), name="A")
    B = oc.compute((4,), lambda i: A[i] * 2.0, name="B")
    with pytest.raises(oc.ScheduleError, match="lower: args must be tensors or integer vars, got"):
        oc.lower(oc.create_schedule(B.op), [A, B, 3])


def test_torch_op_of_a_module_with_a_scalar_argument():
    from opcomp.frameworks.kernel_spec import FrameworkError, KernelSpec
    with pytest.raises(FrameworkError, match="takes scalar argument"):
        KernelSpec(_scalar_module(), "lib::k")
