"""opcomp.frameworks.jax: modules on JAX arrays, eagerly (DLPack, zero-copy) and under jit.

Run by test_jax.py in a child process (JAX threads must not live where tests fork)."""
import numpy as np
import pytest

import opcomp as oc

jax = pytest.importorskip("jax")
jnp = jax.numpy
from opcomp.frameworks.jax import aligned_empty, jax_function  # noqa: E402
from opcomp.runtime.dlpack import DLView  # noqa: E402


@pytest.fixture(scope="module")
def relu_add(relu_add_module):
    return jax_function(relu_add_module)


def _inputs(n):
    return jnp.linspace(-1.0, 1.0, n, dtype=jnp.float32), jnp.full(n, 0.25, jnp.float32)


def test_eager_every_shape(relu_add):
    for n in (1, 5, 1000):
        a, b = _inputs(n)
        z = relu_add(a, b)
        assert isinstance(z, jax.Array) and z.shape == (n,) and z.dtype == jnp.float32
        np.testing.assert_array_equal(np.asarray(z), np.maximum(np.asarray(a) + 0.25, 0))


def test_inputs_and_outputs_are_not_copied():
    a, _ = _inputs(8)
    assert DLView.of(a).ctypes.data == a.unsafe_buffer_pointer()     # what the kernel reads
    out = aligned_empty((3, 5), np.float32)
    assert out.ctypes.data % 64 == 0
    assert jnp.from_dlpack(out).unsafe_buffer_pointer() == out.ctypes.data


def test_inside_jit_and_vmap(relu_add):
    f = jax.jit(lambda a, b: relu_add(a, b) * 2)
    for n in (4, 9):
        a, b = _inputs(n)
        np.testing.assert_array_equal(np.asarray(f(a, b)), 2 * np.maximum(np.asarray(a) + 0.25, 0))
    x = jnp.arange(-3.0, 3.0, dtype=jnp.float32).reshape(2, 3)
    np.testing.assert_array_equal(np.asarray(jax.vmap(relu_add)(x, x)),
                                  np.maximum(2 * np.asarray(x), 0))


def test_several_outputs():
    n = oc.var("n")
    x = oc.placeholder((n,), "float64", name="x")
    s = oc.compute((n,), lambda i: x[i] + 1.0, name="s")
    p = oc.compute((n,), lambda i: x[i] * 2.0, name="p")
    f = jax_function(oc.build(oc.create_schedule([s, p]), [x, s, p], name="two"))
    jax.config.update("jax_enable_x64", True)
    try:
        v = jnp.arange(3.0, dtype=jnp.float64)
        eager, jitted = f(v), jax.jit(f)(v)
    finally:
        jax.config.update("jax_enable_x64", False)
    for got in (eager, jitted):
        assert isinstance(got, tuple) and len(got) == 2
        np.testing.assert_array_equal(np.asarray(got[0]), [1.0, 2.0, 3.0])
        np.testing.assert_array_equal(np.asarray(got[1]), [0.0, 2.0, 4.0])
