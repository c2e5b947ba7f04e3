"""TVM's runtime and container spellings (README "TVM spellings"): nd arrays, devices,
time_evaluator, Map/convert, the common error base.  Each is checked against what it
stands for: NumPy results, opcomp's own names."""
from __future__ import annotations

import numpy as np
import pytest

import opcomp as oc
from opcomp.ir import expr as E

RNG = np.random.default_rng(23)


def _add_one(n=37):
    A = oc.placeholder((n,), name="A")
    B = oc.compute((n,), lambda i: A[i] + 1.0, name="B")
    s = oc.create_schedule(B.op)
    return oc.build(s, [A, B]), n


def test_nd_array_runs_through_a_module_and_reads_back_with_numpy():
    mod, n = _add_one()
    dev = oc.cpu(0)
    src = RNG.random(n).astype("float32") + 0.5
    a = oc.nd.array(src, dev)
    b = oc.nd.empty((n,), "float32", dev)
    mod(a, b)
    out = b.numpy()
    assert type(out) is np.ndarray
    np.testing.assert_allclose(out, src.astype(np.float64) + 1.0, rtol=1e-6)
    np.testing.assert_array_equal(b.asnumpy(), out)


def test_nd_array_copies_its_source():
    src = RNG.random(5).astype("float32")
    a = oc.nd.array(src)
    src[0] = -7.0
    assert a.numpy()[0] != -7.0 and a.device == oc.cpu(0)


def test_copyfrom_and_copyto():
    a = oc.nd.empty((3,), "float32")
    vals = RNG.random(3).astype("float32")
    a.copyfrom(vals)
    np.testing.assert_array_equal(a.numpy(), vals)
    out = np.empty(3, np.float32)
    a.copyto(out)
    np.testing.assert_array_equal(out, vals)
    assert isinstance(a.copyto(oc.cpu(0)), oc.nd.NDArray)


def test_devices_and_enabled():
    assert oc.device("llvm") == oc.cpu(0) == oc.device("cpu", 0)
    assert oc.cpu(0).device_type == 1 and oc.cuda(1).device_type == 2
    assert oc.cuda(1).device_id == 1
    assert oc.enabled("llvm") is True
    assert oc.enabled("opencl") is False
    # kinds without a backend here are devices that do not exist, not errors (TVM code probes them)
    for kind, code in (("opencl", 4), ("vulkan", 7), ("metal", 8), ("rocm", 10)):
        dev = oc.device(kind, 0)
        assert (dev.device_type, dev.exist) == (code, False)
    # cuda: what the driver says (codegen.cuda_driver.gpu_available), through the backend
    from codegen.cuda_driver import gpu_available
    assert oc.enabled("cuda") is gpu_available() is oc.enabled("gpu")
    assert oc.Target("llvm").keys == ("cpu",)
    assert oc.Target("cuda -arch=sm_80").keys == ("cuda", "gpu")


def test_time_evaluator_times_the_entry_function():
    mod, n = _add_one()
    a = oc.nd.array(RNG.random(n).astype("float32"))
    b = oc.nd.empty((n,), "float32")
    timer = mod.time_evaluator(mod.entry_name, oc.cpu(0), number=3, repeat=2)
    res = timer(a, b)
    assert len(res.results) == 2 and res.mean > 0 and res.std >= 0
    np.testing.assert_allclose(b.numpy(), a.numpy() + 1.0, rtol=1e-6)
    assert mod["main"] is mod[mod.entry_name] is mod


def test_convert_and_map():
    x = oc.var("x")
    assert oc.convert(3) == E.const(3, "int32")
    assert oc.convert(2**40).dtype == "int64"
    assert oc.convert(1.5).dtype == "float32"
    m = oc.convert({x: 4})
    assert isinstance(m, oc.Map) and m[x] == E.const(4, "int32")
    assert oc.convert([1, x]) == (E.const(1, "int32"), x)
    with pytest.raises(TypeError, match="read-only"):
        m[x] = 5


def test_infer_bound_returns_a_map():
    A = oc.placeholder((10,), name="A")
    B = oc.compute((10,), lambda i: A[i] * 2.0, name="B")
    s = oc.create_schedule(B.op)
    xo, xi = s[B].split(B.op.axis[0], factor=4)
    bounds = oc.InferBound(s)
    assert isinstance(bounds, oc.Map)
    assert bounds == oc.infer_bound(s)
    assert int(bounds[xi].extent.value) == 4


def test_every_opcomp_error_is_an_opcomp_error():
    for err in (oc.ScheduleError, oc.TensorError, oc.ArgumentError, oc.TargetError,
                oc.GradientError):
        assert issubclass(err, oc.OpcompError) and issubclass(err, ValueError)
    assert oc.TVMError is oc.OpcompError
    with pytest.raises(oc.TVMError):
        oc.Target("not-a-target")
