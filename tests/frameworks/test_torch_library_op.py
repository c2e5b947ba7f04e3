"""schedules.torch_library_op: a library op with symbolic sizes as one PyTorch operator.

One registration serves every shape: eager at several sizes (1 and primes),
torch.compile(fullgraph=True, dynamic=True) (aot_eager, as the other
framework tests), opcheck, and float64 gradcheck through the backward.  The
backward of dense is derived from the unpacked definition and its matmuls
built as GEMMs (schedules/backward.py).
"""
import math

import numpy as np
import pytest

import opcomp as oc
import schedules
from opcomp import te
from schedules.backward import backward_graph
from schedules.torch_library import symbolic_sizes

from .helpers import unique

torch = pytest.importorskip("torch")

SHAPES = ((1, 1), (2, 7), (13, 37), (5, 64))


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def test_softmax_serves_every_shape_eager_and_compiled():
    from torch._dynamo.testing import CompileCounterWithBackend
    op = schedules.torch_library_op("softmax", unique("softmax"), differentiable=False)
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(lambda x: op(x) * 2.0, fullgraph=True, dynamic=True,
                             backend=counter)
    for k, shape in enumerate(SHAPES):
        x = torch.randn(shape, generator=_gen(k))
        ref = torch.softmax(x.double(), -1).float()
        torch.testing.assert_close(op(x), ref, atol=1e-6, rtol=1e-5)
        if 1 not in shape:          # torch specializes sizes 0 and 1: keep one graph
            torch.testing.assert_close(compiled(x), 2 * ref, atol=1e-6, rtol=1e-5)
    assert counter.frame_count == 1            # one graph served every shape


@pytest.mark.parametrize("name", ["layer_norm", "rms_norm", "log_softmax"])
def test_row_ops_with_fixed_length_serve_every_batch(name):
    L = 48
    op = schedules.torch_library_op(name, unique(name), None, L, differentiable=False)
    g, b = torch.randn(L, generator=_gen(1)), torch.randn(L, generator=_gen(2))
    for rows in (1, 3, 17):
        x = torch.randn(rows, L, generator=_gen(rows))
        if name == "layer_norm":
            got, ref = op(x, g, b), torch.nn.functional.layer_norm(x, (L,), g, b, 1e-5)
        elif name == "rms_norm":
            got, ref = op(x, g), x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-6) * g
        else:
            got, ref = op(x), torch.log_softmax(x, -1)
        torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-4)


def test_dense_any_batch_opcheck_and_compile():
    N, K = 24, 19
    op = schedules.torch_library_op("dense", unique("fc"), None, N, K, bias=True,
                             activation="gelu_tanh")
    w, b = torch.randn(K, N, generator=_gen(3)), torch.randn(N, generator=_gen(4))
    compiled = torch.compile(op, fullgraph=True, dynamic=True, backend="aot_eager")
    for m in (1, 5, 31):
        x = torch.randn(m, K, generator=_gen(m))
        ref = torch.nn.functional.gelu(x.double() @ w.double() + b.double(),
                                       approximate="tanh").float()
        torch.testing.assert_close(op(x, w, b), ref, atol=1e-5, rtol=1e-4)
        if m > 1:
            torch.testing.assert_close(compiled(x, w, b), ref, atol=1e-5, rtol=1e-4)
    torch.library.opcheck(op.overload, (torch.randn(7, K), w, b))


def test_elementwise_and_reduction_take_every_shape():
    relu = schedules.torch_library_op("relu", unique("relu"), (None,), differentiable=False)
    L = oc.size_var("L")                  # the same variable ties the two inputs' sizes
    add = schedules.torch_library_op("add", unique("add"), (None, L), (L,), differentiable=False)
    total = schedules.torch_library_op("sum", unique("sum"), (None, None), axis=-1,
                                differentiable=False)
    compiled = torch.compile(lambda x, y: total(add(x, y)), fullgraph=True, dynamic=True,
                             backend="aot_eager")
    for k, (r, n) in enumerate(SHAPES):
        x, y = torch.randn(r, n, generator=_gen(k)), torch.randn(n, generator=_gen(k + 9))
        torch.testing.assert_close(add(x, y), x + y)
        if r > 1 and n > 1:
            torch.testing.assert_close(compiled(x, y), (x + y).sum(-1), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(relu(x.flatten()), torch.relu(x.flatten()))


@pytest.mark.parametrize("name, sizes, options", [
    ("softmax", (), {}),
    ("layer_norm", (None, 6), {}),
    ("dense", (None, 5, 4), {"bias": True, "activation": "gelu_tanh"}),
    ("matmul", (None, 5, 4), {}),
    ("mean", ((None, None),), {"axis": None}),
])
def test_gradcheck_float64(name, sizes, options):
    op = schedules.torch_library_op(name, unique(name), *sizes, dtype="float64", **options)
    shapes = {"softmax": [(3, 5)], "layer_norm": [(3, 6), (6,), (6,)],
              "dense": [(3, 4), (4, 5), (5,)], "matmul": [(3, 4), (4, 5)],
              "mean": [(3, 37)]}[name]
    xs = [torch.randn(s, dtype=torch.float64, generator=_gen(k)).requires_grad_()
          for k, s in enumerate(shapes)]
    assert torch.autograd.gradcheck(op, xs)


def test_missing_sizes_become_size_vars_named_after_parameters():
    sizes = symbolic_sizes(schedules.get("dense"), (None, 8))
    assert [str(s) for s in sizes] == ["M", "8", "K"]
    (shape,) = symbolic_sizes(schedules.get("relu"), ((None, 3),))
    assert str(shape[0]) == "shape0" and shape[1] == 3


def test_dense_backward_has_gemms_and_no_packed_copy():
    """dX, dW and the recomputed product are GEMMs; no gradient flows through packedB."""
    s, (A, B, bias, out) = schedules.get("dense")(16, 24, 8, bias=True, activation="relu")
    head = te.placeholder(out.shape, out.dtype, name="grad_out")
    grads, gemms = backward_graph([out], [A, B, bias], [head], "llvm")
    assert len(gemms) == 3
    assert {acc.name for _, acc, _ in gemms} >= {"d_A_from_acc", "acc"}
    stages = te.tensors_in_order(grads)
    forward_packs = {t.op for t in te.tensors_in_order([out]) if t.name.startswith("packed")}
    assert not forward_packs & {t.op for t in stages}
    assert not any(t.name.startswith("d_packed") for t in stages)
    # and the gradients are right (float32 against float64 NumPy)
    rng = np.random.default_rng(0)
    a, w, bb, g = (rng.standard_normal(shape).astype("float32") for shape in
                   ((16, 8), (8, 24), (24,), (16, 24)))
    sch = oc.create_schedule(grads)
    from schedules.backward import schedule_backward
    schedule_backward(sch, grads, gemms, "llvm")
    mod = oc.build(sch, [A, B, bias, head] + grads)
    da, dw, db = np.empty_like(a), np.empty_like(w), np.empty_like(bb)
    mod(a, w, bb, g, da, dw, db)
    pre = a.astype(np.float64) @ w + bb
    dpre = g * (pre > 0)
    np.testing.assert_allclose(da, dpre @ w.T, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dw, a.T.astype(np.float64) @ dpre, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db, dpre.sum(0), rtol=1e-4, atol=1e-4)
    assert math.isfinite(float(da.sum()))


def test_inductor_compiles_around_the_op():
    """The default backend (inductor, C++ kernels for the torch ops around ours): one
    small graph, since inductor's first compile takes seconds."""
    op = schedules.torch_library_op("softmax", unique("softmax_inductor"), differentiable=False)
    compiled = torch.compile(lambda x: op(x * 2.0) + 1.0, fullgraph=True)
    x = torch.randn(5, 7, generator=_gen(11))
    torch.testing.assert_close(compiled(x), torch.softmax(x.double() * 2, -1).float() + 1,
                               atol=1e-6, rtol=1e-5)
