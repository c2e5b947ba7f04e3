"""On a machine with a GPU: the same kernels through the CUDA driver (cubin, host
launcher, device memory).  Marked ``gpu``: skipped where the driver sees no device."""
import numpy as np
import pytest

import opcomp as oc

from . import kernels as K

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("name, kw", [("classic_gemm", dict(M=100, N=77, K=37)),
                                      ("classic_gemm", dict(M=128, N=64, K=32, vector=True)),
                                      ("block_softmax", dict(R=37, L=50)),
                                      ("row_softmax", dict(R=37, L=50)),
                                      ("transpose_shared", dict(M=70, N=45))])
def test_kernel_on_the_gpu_matches_numpy(name, kw, rng):
    from codegen.cuda_driver import DeviceBuffer
    s, args, reference = getattr(K, name)(**kw)
    mod = oc.build(s, args, target="cuda", name=f"{name}_gpu")
    ins = K.random_inputs(args[:-1], rng)
    out = np.full(K.shape_of(args[-1]), np.nan, np.float32)
    dev = [DeviceBuffer.of(x) for x in ins + [out]]
    assert mod.kernel.fn(*[d.ptr for d in dev]) == 0
    ref = reference(*ins)
    np.testing.assert_allclose(dev[-1].numpy(), ref, rtol=1e-5,
                               atol=1e-5 * max(1.0, float(np.abs(ref).max())))
