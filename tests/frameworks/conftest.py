"""Fixtures of the framework tests: relu_add as a torch operator and as a built module."""
import pytest

import opcomp as oc

from .helpers import relu_add, unique


@pytest.fixture(scope="session")
def relu_add_op():
    """relu_add as a float32 torch operator with its backward."""
    pytest.importorskip("torch")
    return oc.torch_op(relu_add(), unique("relu_add"))


@pytest.fixture(scope="session")
def relu_add_module():
    s, args = relu_add()
    return oc.build(s, args, name="relu_add")
