"""An opcomp kernel on JAX arrays: eager (zero-copy through DLPack) and inside jax.jit.

    pip install jax && python examples/jax_function.py
"""
import jax
import jax.numpy as jnp
import numpy as np

import opcomp as oc
from opcomp.frameworks.jax import jax_function

n = oc.var("n")
x = oc.placeholder((n,), name="x")
y = oc.placeholder((n,), name="y")
z = oc.compute((n,), lambda i: oc.maximum(x[i] + y[i], 0.0), name="z")
relu_add = jax_function(oc.build(oc.create_schedule(z), [x, y, z], name="relu_add"))

a = jnp.linspace(-1.0, 1.0, 1000, dtype=jnp.float32)
b = jnp.full(1000, 0.25, jnp.float32)
eager = relu_add(a, b)                                   # inputs read in place
jitted = jax.jit(lambda a, b: relu_add(a, b) * 2)(a, b)  # a pure_callback inside the jit
want = np.maximum(np.asarray(a) + np.asarray(b), 0)
assert np.array_equal(np.asarray(eager), want)
assert np.array_equal(np.asarray(jitted), 2 * want)
print("relu_add ok: eager and jax.jit agree with NumPy")
