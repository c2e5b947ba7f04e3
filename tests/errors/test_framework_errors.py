"""Misuses of framework operators (torch_op, jax_function): one test per error, by message.

Every message names the operator and the argument; a rejected call runs no kernel.
"""
from __future__ import annotations

import re

import pytest

import opcomp as oc
import schedules
from opcomp.frameworks import FrameworkError
from tests.frameworks.helpers import relu_add, skip_without_jax, unique


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def op(torch):
    return oc.torch_op(relu_add(), unique("errors"))


@pytest.fixture(scope="module")
def relu_add_module():
    s, args = relu_add()
    return oc.build(s, args, name="relu_add")


def _shifted():
    """y[i] = x[i + 2]: x has n + 2 elements."""
    n = oc.var("n")
    x = oc.placeholder((n + 2,), name="x")
    y = oc.compute((n,), lambda i: x[i + 2], name="y")
    return oc.create_schedule(y), [x, y]


def test_wrong_dtype(op, torch):
    with pytest.raises(oc.ArgumentError, match=re.escape(
            f"{op.name}: argument y must have dtype float32, got float64; no implicit conversion")):
        op(torch.ones(3), torch.ones(3, dtype=torch.float64))


def test_wrong_rank(op, torch):
    with pytest.raises(oc.ArgumentError, match=re.escape(
            "argument y must have rank 1 (shape (n,)), got shape (3, 1)")):
        op(torch.ones(3), torch.ones(3, 1))


def test_inconsistent_sizes(op, torch):
    with pytest.raises(oc.ArgumentError, match=re.escape(
            "argument y has shape (5,), expected (n,): y.shape[0] must be 3 (n from "
            "x.shape[0]), got 5")):
        op(torch.ones(3), torch.ones(5))


def test_negative_size(torch):
    shifted = oc.torch_op(_shifted(), unique("shifted"))
    with pytest.raises(oc.ArgumentError, match=re.escape(
            "argument x has shape (1,), which gives size n = -1 < 0 (shape (n + 2,))")):
        shifted(torch.ones(1))


def test_wrong_count(op, torch):
    with pytest.raises(oc.ArgumentError, match=re.escape(
            f"{op.name} takes 2 inputs (x, y), got 3; outputs are allocated and returned, "
            "not passed")):
        op(torch.ones(3), torch.ones(3), torch.empty(3))


def test_not_a_tensor(op, torch):
    with pytest.raises(oc.ArgumentError, match="argument y must be a torch.Tensor, got list"):
        op(torch.ones(3), [1.0, 2.0, 3.0])


def test_wrong_device(op, torch):
    with pytest.raises(oc.ArgumentError, match=re.escape(
            "argument x is on meta, but this operator runs on the CPU; move it with .cpu()")):
        op.custom_op(torch.ones(3, device="meta"), torch.ones(3, device="meta"))


def test_wrong_shape_while_compiling(op, torch):
    f = torch.compile(lambda a, b: op(a, b), backend="eager", fullgraph=True)
    with pytest.raises(Exception, match=r"argument y has shape \(4,\)"):
        f(torch.ones(3), torch.ones(4))


def test_bad_operator_name():
    with pytest.raises(ValueError, match="operator name must be 'namespace::name'"):
        oc.torch_op(relu_add(), "relu_add")


def test_not_a_module():
    with pytest.raises(TypeError, match=re.escape("expected a Module or (schedule, args)")):
        oc.torch_op(lambda x: x, unique("nothing"))


def test_output_size_not_from_inputs():
    m = oc.var("m")
    w = oc.compute((m,), lambda i: oc.const(1.0), name="w")
    with pytest.raises(FrameworkError, match="the output shapes cannot be computed from the "
                       "inputs .*size variable m cannot be bound"):
        oc.torch_op((oc.create_schedule(w), [w]), unique("ones"))


def test_backward_of_a_built_module(relu_add_module, torch):
    op = oc.torch_op(relu_add_module, unique("no_grad"))
    z = op(torch.ones(3, requires_grad=True), torch.ones(3))
    with pytest.raises(RuntimeError, match="no gradient: torch_op was given a built Module, "
                       r"which keeps no tensor expression; pass \(schedule, args\)"):
        z.sum().backward()


def test_library_op_too_many_sizes():
    with pytest.raises(TypeError, match=re.escape("torch_library_op: softmax takes 2 sizes "
                                                  "(R, L), got 3")):
        schedules.torch_library_op("softmax", unique("sm"), None, 4, 5)


def test_library_op_unknown_op():
    with pytest.raises(KeyError, match="unknown op 'softmaks'"):
        schedules.torch_library_op("softmaks", unique("sm"))


def test_library_op_symbolic_size_the_op_needs_as_a_number():
    # dense's N and K are the weight's sizes: a number each (the rows M may be symbolic)
    with pytest.raises(ValueError, match=re.escape("dense: argument N: expected an int >= 1, "
                                                   "got N")):
        schedules.torch_library_op("dense", unique("fc"), None, None, 8)


def test_library_op_matmul_symbolic_depth():
    with pytest.raises(ValueError, match=re.escape("matmul: argument K: expected an int >= 1")):
        schedules.torch_library_op("matmul", unique("mm"), None, 8, None)


def test_library_op_float_size():
    with pytest.raises(ValueError, match=re.escape("dense: argument M: expected an int >= 1 "
                                                   "or an integer oc.size_var")):
        schedules.torch_library_op("dense", unique("fc"), oc.const(2.0), 8, 8)


def test_library_op_float_in_shape():
    with pytest.raises(ValueError, match=re.escape("relu: argument shape: expected a tuple of "
                                                   "positive ints or integer size_vars")):
        schedules.torch_library_op("relu", unique("relu"), (oc.const(2.0), None))


# JAX runs in a child process: its threads must not live in this one, where other tests
# fork (see tests/frameworks/test_jax.py).
_JAX_PRELUDE = """
import jax, jax.numpy as jnp
import opcomp as oc
from opcomp.frameworks.jax import jax_function
from tests.frameworks.helpers import relu_add
s, args = relu_add()
f = jax_function(oc.build(s, args, name="relu_add"))
try:
    CALL
except oc.ArgumentError as exc:
    print("ArgumentError:", exc)
"""


def jax_error(call: str) -> str:
    """The ArgumentError message a JAX call raises, run in a child process."""
    skip_without_jax()
    import subprocess
    import sys
    from pathlib import Path
    done = subprocess.run([sys.executable, "-c", _JAX_PRELUDE.replace("CALL", call)],
                          cwd=Path(__file__).resolve().parents[2], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("ArgumentError: "), done.stdout
    return done.stdout


def test_jax_wrong_dtype():
    out = jax_error("f(jnp.ones(3, jnp.int32), jnp.ones(3, jnp.float32))")
    assert re.search("relu_add: argument x must have dtype float32, got int32", out), out


def test_jax_inconsistent_sizes_under_jit():
    out = jax_error("jax.jit(f)(jnp.ones(3), jnp.ones(2))")
    assert re.search(re.escape("relu_add: argument y has shape (2,)"), out), out
