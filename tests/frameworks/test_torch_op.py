"""oc.torch_op: eager calls, torch.compile without graph breaks, opcheck, autograd in float64."""
import pytest

import opcomp as oc

from .helpers import relu_add, unique

torch = pytest.importorskip("torch")
from opcomp.frameworks.torch import host_array  # noqa: E402  (needs torch only when called)

F64 = torch.float64


def _randn(*shape, grad=True):
    return torch.randn(*shape, dtype=F64, requires_grad=grad)


def test_eager_serves_every_shape(relu_add_op):
    for n in (1, 7, 1000):
        x, y = torch.randn(n), torch.randn(n)
        z = relu_add_op(x, y)
        assert z.shape == (n,) and z.dtype == torch.float32
        assert torch.equal(z, torch.relu(x + y))


def test_schema_and_dispatcher_call(relu_add_op):
    assert relu_add_op.schema.endswith("(Tensor x, Tensor y) -> Tensor")
    x, y = torch.randn(4), torch.randn(4)
    assert torch.equal(relu_add_op.overload(x, y), torch.relu(x + y))


def test_inputs_are_shared_zero_copy():
    x = torch.randn(5, 3)
    assert host_array(x).ctypes.data == x.data_ptr()
    assert host_array(x.requires_grad_()).ctypes.data == x.data_ptr()


def test_non_contiguous_input(relu_add_op):
    x, y = torch.randn(8, 2)[:, 0], torch.randn(8).expand(2, 8)[1]
    assert not x.is_contiguous()
    assert torch.equal(relu_add_op(x, y), torch.relu(x + y))


def test_built_module_becomes_an_operator(relu_add_module):
    op = oc.torch_op(relu_add_module, unique("from_module"))
    x, y = torch.randn(6), torch.randn(6)
    assert torch.equal(op(x, y), torch.relu(x + y))
    assert op.backward is None


def _multi():
    """Two outputs and an integer input: s = max over rows + idx, t = 2 x^T."""
    n, m = oc.var("n"), oc.var("m")
    x = oc.placeholder((n, m), "float64", name="x")
    idx = oc.placeholder((n,), "int32", name="idx")
    r = oc.reduce_axis(m, "r")
    mx = oc.compute((n,), lambda i: oc.max(x[i, r], axis=r), name="mx")
    s = oc.compute((n,), lambda i: mx[i] + idx[i].astype("float64"), name="s")
    t = oc.compute((m, n), lambda j, i: x[i, j] * 2.0, name="t")
    return oc.create_schedule([s, t]), [x, idx, s, t]


def test_several_outputs_and_an_integer_input():
    op = oc.torch_op(_multi(), unique("multi"))
    x, idx = _randn(3, 4), torch.arange(3, dtype=torch.int32)
    s, t = op(x, idx)
    assert torch.allclose(s, x.amax(1) + idx) and torch.equal(t, 2 * x.t())
    assert torch.autograd.gradcheck(lambda x: op(x, idx), (x,))


def test_compile_fullgraph_dynamic_shapes_and_backward():
    op = oc.torch_op(relu_add("float64"), unique("compiled"))
    from torch._dynamo.testing import CompileCounterWithBackend
    counter = CompileCounterWithBackend("aot_eager")
    f = torch.compile(lambda a, b: (op(a, b) * a).sum(), backend=counter, fullgraph=True,
                      dynamic=True)
    for n in (5, 9):
        a, b = _randn(n), _randn(n)
        f(a, b).backward()
        mask = (a + b > 0).double()
        assert torch.allclose(a.grad, (mask * a + torch.relu(a + b)).detach())
        assert torch.allclose(b.grad, (mask * a).detach())
    assert counter.frame_count == 1                  # one graph, both shapes
    graph = str(counter.graphs[0].graph)
    assert f"{op.name.replace('::', '.')}" in graph


def test_opcheck():
    op = oc.torch_op(relu_add("float64"), unique("opcheck"))
    torch.library.opcheck(op.custom_op, (_randn(6), _randn(6)))


def _gradcheck(outputs_fn, shapes, name):
    tensors = outputs_fn()
    op = oc.torch_op((oc.create_schedule(tensors[-1]), tensors), unique(name))
    assert torch.autograd.gradcheck(op, tuple(_randn(*s) for s in shapes))
    return op


def test_gradcheck_elementwise():
    def f():
        n = oc.var("n")
        x, y = (oc.placeholder((n,), "float64", name=k) for k in "xy")
        z = oc.compute((n,), lambda i: oc.tanh(x[i]) * oc.exp(y[i]) / (y[i] * y[i] + 1.0)
                       + oc.maximum(x[i], 0.0), name="z")
        return [x, y, z]
    _gradcheck(f, [(7,), (7,)], "elementwise")


def test_gradcheck_row_sum_of_squares():
    def f():
        n, m = oc.var("n"), oc.var("m")
        a = oc.placeholder((n, m), "float64", name="a")
        k = oc.reduce_axis(m, "k")
        return [a, oc.compute((n,), lambda i: oc.sum(a[i, k] * a[i, k], axis=k), name="s")]
    _gradcheck(f, [(3, 5)], "sumsq")


def test_gradcheck_max():
    def f():
        n, m = oc.var("n"), oc.var("m")
        a = oc.placeholder((n, m), "float64", name="a")
        k = oc.reduce_axis(m, "k")
        return [a, oc.compute((n,), lambda i: oc.max(a[i, k], axis=k), name="mx")]
    _gradcheck(f, [(4, 6)], "max")


def test_gradcheck_matmul():
    def f():
        m, n, k = oc.var("m"), oc.var("n"), oc.var("k")
        a = oc.placeholder((m, k), "float64", name="a")
        b = oc.placeholder((k, n), "float64", name="b")
        r = oc.reduce_axis(k, "r")
        return [a, b, oc.compute((m, n), lambda i, j: oc.sum(a[i, r] * b[r, j], axis=r),
                                 name="c")]
    op = _gradcheck(f, [(3, 4), (4, 5)], "matmul")
    a, b = _randn(2, 3), _randn(3, 6)
    (op(a, b) ** 2).sum().backward()
    c = (a @ b).detach()
    assert torch.allclose(a.grad, 2 * c @ b.detach().t())


def test_library_op_with_its_schedule():
    import schedules
    op = oc.torch_op(schedules.get("softmax")(4, 16, dtype="float64"), unique("softmax"))
    x = _randn(4, 16)
    assert torch.allclose(op(x), torch.softmax(x, -1))
    assert torch.autograd.gradcheck(op, (x,))


def test_float32_backward_matches_torch(relu_add_op):
    x, y = torch.randn(50, requires_grad=True), torch.randn(50, requires_grad=True)
    g = torch.randn(50)
    relu_add_op(x, y).backward(g)
    assert torch.equal(x.grad, g * (x + y > 0)) and torch.equal(y.grad, x.grad)
