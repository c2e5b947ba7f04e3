"""An opcomp kernel as a PyTorch operator: eager, torch.compile, autograd.

    python examples/pytorch_op.py

oc.torch_op registers a torch.library custom operator with its fake (meta)
implementation, so torch.compile(fullgraph=True) traces it as one node, and
with the backward that oc.gradient derives from the tensor expression.
schedules.torch_library_op does the same for an op of the library (schedules/) with its
sizes symbolic: one build serves every shape.
"""
import os

import torch

import opcomp as oc
import schedules

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

# A library op, its sizes left symbolic: one operator for every (rows, length).
softmax = schedules.torch_library_op("softmax", "examples::softmax")
dynamic = torch.compile(lambda t: softmax(t) * 2, fullgraph=True, dynamic=True, backend=BACKEND)
for shape in [(3, 10), (17, 129)]:
    t = torch.randn(shape)
    assert torch.allclose(softmax(t), torch.softmax(t, -1), atol=1e-6)
    assert torch.allclose(dynamic(t), 2 * torch.softmax(t, -1), atol=1e-6)
print("softmax ok: one library operator, every shape, eager and compiled (dynamic=True)")
