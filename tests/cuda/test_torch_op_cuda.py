"""oc.torch_op of a module built for the GPU: CUDA tensors in, CUDA tensors out (shared
through DLPack).  Marked gpu: these run where the CUDA driver sees a device."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import opcomp as oc

torch = pytest.importorskip("torch")
_names = itertools.count()


def _scaled_add(n=1000):
    A = oc.placeholder((n,), name="A")
    B = oc.placeholder((n,), name="B")
    C = oc.compute((n,), lambda i: A[i] * 2.0 + B[i], name="C")
    s = oc.create_schedule(C.op)
    xo, xi = s[C].split(C.op.axis[0], factor=128)
    s[C].bind(xo, oc.thread_axis("blockIdx.x"))
    s[C].bind(xi, oc.thread_axis("threadIdx.x"))
    return s, [A, B, C]


@pytest.mark.gpu
def test_torch_op_runs_on_cuda_tensors():
    op = oc.torch_op(_scaled_add(), f"opcomp_gpu_test::sadd{next(_names)}", target="cuda")
    a = torch.rand(1000, device="cuda") + 0.5
    b = torch.rand(1000, device="cuda") + 0.5
    c = op(a, b)
    assert c.device.type == "cuda"
    np.testing.assert_allclose(c.cpu().numpy(), (a * 2 + b).cpu().numpy(), rtol=1e-6)


@pytest.mark.gpu
def test_cpu_tensors_to_a_cuda_operator_are_refused():
    op = oc.torch_op(_scaled_add(), f"opcomp_gpu_test::sadd{next(_names)}", target="cuda")
    with pytest.raises(oc.ArgumentError, match="operator runs on the CUDA; move it with .cuda()"):
        op(torch.rand(1000), torch.rand(1000))


@pytest.mark.gpu
def test_the_backward_of_a_cuda_operator_says_why_it_is_missing():
    op = oc.torch_op(_scaled_add(), f"opcomp_gpu_test::sadd{next(_names)}", target="cuda")
    a = torch.rand(1000, device="cuda", requires_grad=True)
    with pytest.raises(RuntimeError, match="the backward of a CUDA operator is not built yet"):
        op(a, torch.rand(1000, device="cuda")).sum().backward()
