"""Issue 13's PyTorch acceptance: an nn.Module on two opcomp operators (examples/torch_module.py).

The module is softmax(gelu_tanh(x @ W + b)): a dense op with bias and gelu fused
into its epilogue, then a softmax.  "Tuned": the dense op takes its register tile
and k step from the best record of a tiny tuning run of the "matmul" template
(autotune.tune, 4 trials, on the module's own small shape, about 5 s), so the
path from a tuning log to the module is exercised; the tile itself is whatever
those 4 trials found.  torch.compile uses the aot_eager backend as the other
framework tests do (dynamo, fake tensors and AOT autograd, without inductor's
C++ compile).
"""
import importlib.util
from pathlib import Path

import pytest

from .helpers import unique

torch = pytest.importorskip("torch")

M, K, N = 16, 64, 48            # batch, in_features, out_features


def _example():
    path = Path(__file__).resolve().parents[2] / "examples" / "torch_module.py"
    spec = importlib.util.spec_from_file_location("opcomp_example_torch_module", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def ex():
    return _example()


@pytest.fixture(scope="module")
def heads(ex, tmp_path_factory):
    """(opcomp module, plain PyTorch module) with the same float32 parameters."""
    log = str(tmp_path_factory.mktemp("tune") / "tune.jsonl")
    result = ex.tune_matmul(M, N, K, log, trials=4)
    assert result.best is not None
    torch.manual_seed(0)
    plain = ex.PlainHead(K, N)
    head = ex.OpcompHead.from_plain(plain, M, name=unique("mlp_head"), tuning_log=log)
    assert head.tile and head.tile["bm"] * head.tile["bn"] > 0     # the record was applied
    return head, plain


def _x():
    return torch.randn(M, K, generator=torch.Generator().manual_seed(1))


def test_eager_matches_plain_pytorch(heads):
    head, plain = heads
    x = _x()
    assert torch.allclose(head(x), plain(x), atol=1e-6, rtol=1e-4)


def test_compile_fullgraph_matches_eager(heads):
    head, _ = heads
    from torch._dynamo.testing import CompileCounterWithBackend
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(head, backend=counter, fullgraph=True)
    x = _x()
    y = compiled(x)
    assert torch.allclose(y, head(x), atol=1e-6, rtol=1e-5)
    assert counter.frame_count == 1
    graph = str(counter.graphs[0].graph)
    for op in (head.dense, head.softmax):
        assert op.name.replace("::", ".") in graph
    # the compiled backward: the gradients of the eager module
    compiled(x).pow(2).sum().backward()
    grads = [p.grad.clone() for p in (head.weight, head.bias)]
    head.zero_grad()
    head(x).pow(2).sum().backward()
    for g, p in zip(grads, (head.weight, head.bias)):
        assert torch.allclose(g, p.grad, atol=1e-6, rtol=1e-4)
    head.zero_grad()


def test_one_sgd_step_matches_plain_pytorch(heads):
    head, plain = heads
    before = {k: p.detach().clone() for k, p in head.named_parameters()}
    x = _x()
    target = torch.randint(0, N, (M,), generator=torch.Generator().manual_seed(2))
    for mod in (head, plain):
        opt = torch.optim.SGD(mod.parameters(), lr=0.5)
        opt.zero_grad()
        torch.nn.functional.nll_loss(torch.log(mod(x)), target).backward()
        opt.step()
    for k, p in head.named_parameters():
        q = getattr(plain, k)
        assert torch.allclose(p.grad, q.grad, atol=1e-6, rtol=1e-3), k
        assert not torch.equal(p, before[k]), k                     # the step moved it
        assert torch.allclose(p, q, atol=1e-6, rtol=1e-4), k
    with torch.no_grad():                                           # back to the shared start
        for k, p in head.named_parameters():
            p.copy_(before[k])
            getattr(plain, k).copy_(before[k])


def test_float64_gradients_match_plain_pytorch(ex):
    torch.manual_seed(3)
    plain = ex.PlainHead(8, 12, dtype=torch.float64)
    head = ex.OpcompHead.from_plain(plain, 5, name=unique("mlp_head64"))
    x = torch.randn(5, 8, dtype=torch.float64, requires_grad=True)
    xr = x.detach().clone().requires_grad_()
    g = torch.randn(5, 12, dtype=torch.float64)
    head(x).backward(g)
    plain(xr).backward(g)
    for a, b in ((x, xr), (head.weight, plain.weight), (head.bias, plain.bias)):
        assert torch.allclose(a.grad, b.grad, atol=1e-12, rtol=1e-10)


def test_opcheck_each_operator(heads):
    head, _ = heads
    x = _x()
    h = head.dense(x, head.weight, head.bias)
    # opcheck needs tensors that require grad to test the autograd registration
    torch.library.opcheck(head.dense.custom_op, (x.requires_grad_(), head.weight, head.bias))
    torch.library.opcheck(head.softmax.custom_op, (h.detach().requires_grad_(),))


def test_backward_keeps_what_a_reduction_reads_at_root():
    """The backward schedule (schedules/backward.py) inlines elementwise stages,
    except those a reduction or a GEMM reads: inlined there, the gelu derivative was
    recomputed at every k of both gradient matmuls (the layer's backward 5x slower)."""
    import opcomp as oc
    from opcomp import te
    from schedules.backward import backward_graph, schedule_backward
    n = 8
    a = oc.placeholder((n, n), "float64", name="a")
    b = oc.placeholder((n, n), "float64", name="b")
    k = oc.reduce_axis(n, "k")
    c = oc.compute((n, n), lambda i, j: oc.sum(a[i, k] * b[k, j], axis=k), name="c")
    y = oc.compute((n, n), lambda i, j: oc.tanh(c[i, j]), name="y")
    head = te.placeholder((n, n), "float64", name="head")
    grads, gemms = backward_graph([y], [a, b], [head], "llvm")
    assert len(gemms) == 3               # c recomputed, da = dc @ b^T, db = a^T @ dc
    s = oc.create_schedule(grads)
    schedule_backward(s, grads, gemms, "llvm")
    kept = [st for st in s.stages if st.op.name == "d_c_from_y"]
    assert kept and kept[0].attach_type == "root"
    # the derivative of tanh is computed once per element (one store), not in the GEMMs
    ir = str(oc.lower(s, [a, b, head] + grads))
    assert {line.split("[")[0].strip() for line in ir.splitlines() if "tanh" in line} == \
        {"d_c_from_y"}, ir
