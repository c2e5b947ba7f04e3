"""Misuse of TVM's runtime spellings (oc.nd, oc.device, Module[...]): one test each."""
import numpy as np
import pytest

import opcomp as oc


def test_unknown_device_name():
    with pytest.raises(ValueError, match="device: unknown device 'hexagon'"):
        oc.device("hexagon")


def test_nd_array_on_a_device_without_a_backend():
    with pytest.raises(ValueError, match="nd.array: opcomp's nd arrays live on the CPU; opencl"):
        oc.nd.array(np.ones(3, np.float32), oc.device("opencl"))


def test_negative_device_index():
    with pytest.raises(ValueError, match="index must be a non-negative int"):
        oc.cpu(-1)


def test_nd_array_on_a_gpu_device():
    with pytest.raises(ValueError, match="nd.array: opcomp's nd arrays live on the CPU"):
        oc.nd.array(np.ones(3, np.float32), oc.cuda(0))


def test_nd_empty_with_a_device_that_is_not_a_device():
    with pytest.raises(TypeError, match="nd.empty: device must be"):
        oc.nd.empty((3,), "float32", "cpu")


def test_copyfrom_of_another_shape():
    a = oc.nd.empty((3,), "float32")
    with pytest.raises(ValueError, match=r"copyfrom: shape \(4,\) does not match"):
        a.copyfrom(np.ones(4, np.float32))


def test_module_getitem_of_an_unknown_function():
    A = oc.placeholder((4,), name="A")
    B = oc.compute((4,), lambda i: A[i] + 1.0, name="B")
    mod = oc.build(oc.create_schedule(B.op), [A, B], name="add_one")
    with pytest.raises(KeyError, match="module add_one has one function"):
        mod["other"]


def test_convert_of_an_unconvertible_value():
    with pytest.raises(TypeError, match="convert: cannot make an IR value from object"):
        oc.convert(object())
