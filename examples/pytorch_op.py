"""An opcomp kernel as a PyTorch operator: eager, torch.compile, autograd.

    python examples/pytorch_op.py

oc.torch_op registers a torch.library custom operator with its fake (meta)
implementation, so torch.compile(fullgraph=True) traces it as one node, and
with the backward that oc.gradient derives from the tensor expression.
"""
import os

import torch

import opcomp as oc

# The tests run this file with "aot_eager": the same capture (dynamo, fake tensors,
# AOT autograd) without inductor's C++ compile, which takes tens of seconds cold.
BACKEND = os.environ.get("OPCOMP_EXAMPLE_TORCH_BACKEND", "inductor")

n = oc.var("n")
x = oc.placeholder((n,), name="x")
y = oc.placeholder((n,), name="y")
z = oc.compute((n,), lambda i: oc.maximum(x[i] + y[i], 0.0), name="z")
s = oc.create_schedule(z)
relu_add = oc.torch_op((s, [x, y, z]), "examples::relu_add")   # one build, every n
print(relu_add)

a = torch.randn(1000, requires_grad=True)
b = torch.randn(1000, requires_grad=True)
out = relu_add(a, b)                                            # eager
assert torch.equal(out, torch.relu(a + b))


@torch.compile(fullgraph=True, backend=BACKEND)   # fullgraph: a graph break would raise
def model(a, b):
    return relu_add(a, b).sum() * 2


loss = model(a, b)
loss.backward()                            # the backward is an opcomp kernel too
assert torch.equal(a.grad, 2.0 * (a + b > 0).float())
assert torch.equal(a.grad, b.grad)
print(f"relu_add ok: loss {loss.item():.3f}, eager, compiled and backward agree with torch")
