"""GPU schedules that cannot run are refused before anything is compiled: one
ScheduleError per limit or misuse, naming the stage, the axis and the rule."""
import pytest

import opcomp as oc

from tests.cuda import kernels as K


def lower_cuda(s, args, target="cuda"):
    return oc.lower(s, args, target=target, name="bad")


def test_too_many_threads_per_block():
    s, args, _ = K.vector_add(n=4096, threads=2048)
    with pytest.raises(oc.ScheduleError, match=r"stage C, axis i\.inner: 2048 threads per block "
                                               r"\(threadIdx\.x=2048 .*\) exceed the limit of 1024"):
        lower_cuda(s, args)


def test_threads_per_block_counts_every_thread_axis():
    s, args, _ = K.transpose_shared(M=64, N=64, tile=64)      # 64 x 64 = 4096 threads
    with pytest.raises(oc.ScheduleError, match="4096 threads per block"):
        lower_cuda(s, args)


def test_too_much_shared_memory_per_block():
    s, args, _ = K.block_rowsum(R=2, L=60000)                  # 240000 bytes of X.shared
    with pytest.raises(oc.ScheduleError, match=r"stage X\.shared, axis -: shared memory per block "
                                               r"is 240000 bytes .* over the limit of 232448"):
        lower_cuda(s, args)


def test_shared_limit_follows_the_architecture():
    s, args, _ = K.block_rowsum(R=2, L=30000)                  # 120000 bytes: fine on sm_80
    lower_cuda(s, args, "cuda -arch=sm_80")
    with pytest.raises(oc.ScheduleError, match="over the limit of 101376 bytes on cuda -arch=sm_86"):
        lower_cuda(s, args, "cuda -arch=sm_86")


def test_shared_buffer_of_symbolic_size():
    n = oc.var("n")
    X = oc.placeholder((4, n), name="X")
    k = oc.reduce_axis(n, "k")
    S = oc.compute((4,), lambda i: oc.sum(X[i, k], axis=k), name="S")
    s = oc.create_schedule(S)
    XS = s.cache_read(X, "shared", [S])
    s[S].bind(S.op.axis[0], oc.thread_axis("blockIdx.x"))
    s[XS].compute_at(s[S], S.op.axis[0])
    with pytest.raises(oc.ScheduleError, match=r"stage X\.shared, axis -: its shared buffer has "
                       r"shape \[1, n\], not a constant size; a GPU kernel sizes shared "
                       r"memory at compile time: compute it at a loop whose region is a constant "
                       r"\(split by a constant factor\)"):
        lower_cuda(s, [X, S])


def test_thread_axis_bound_twice():
    """A local stage's loop bound to the threadIdx.x that already encloses it."""
    s, args, _ = K.classic_gemm()
    (local,) = [st for st in s.stages if st.name == "C.local"]
    yo, xo = local.op.axis
    local.bind(xo, oc.thread_axis("threadIdx.x"))
    with pytest.raises(oc.ScheduleError, match=r"stage C\.local, axis j\.c: threadIdx\.x is bound "
                       r"twice: .* is local to one thread, so the other threads' part would be "
                       r"lost; do not bind the loops of a local stage"):
        lower_cuda(s, args)


def test_thread_axis_on_a_reduction_axis():
    s, args, _ = K.classic_gemm()
    (local,) = [st for st in s.stages if st.name == "C.local"]
    ko = local.leaf_iter_vars[0]
    local.bind(ko, oc.thread_axis("threadIdx.z"))     # a cross-thread reduction, but
    with pytest.raises(oc.ScheduleError, match=r"bind: stage C\.local, axis k\.outer: stage "
                       r"A\.shared is computed at reduction loop k\.outer; a cross-thread "
                       r"reduction moves those loops"):
        lower_cuda(s, args)


def test_one_thread_axis_with_two_extents_in_a_kernel():
    """The A.shared copy binds threadIdx.x to 4 threads while C uses 8."""
    s, args, _ = K.classic_gemm(copy_threads_x=4)
    with pytest.raises(oc.ScheduleError, match=r"threadIdx\.x has extent 4 here but 8 at axis "
                       r".* of stage C; loops bound to threadIdx\.x in one kernel must have "
                       r"equal extents"):
        lower_cuda(s, args)


def test_stage_at_root_without_bound_loops():
    A = oc.placeholder((16,), name="A")
    B = oc.compute((16,), lambda i: A[i] + 1.0, name="B")
    s = oc.create_schedule(B)
    with pytest.raises(oc.ScheduleError, match=r"stage B, axis i: on a GPU target .* every stage "
                       r"computed at root must bind loops .*bind\(axis, "
                       r"oc\.thread_axis\(\"blockIdx\.x\"\)\) \.\.\.\); this one would run "
                       r"on the host"):
        lower_cuda(s, [A, B])


def test_thread_extent_not_a_constant():
    n = oc.var("n")
    A = oc.placeholder((n,), name="A")
    B = oc.compute((n,), lambda i: A[i] + 1.0, name="B")
    s = oc.create_schedule(B)
    s[B].bind(B.op.axis[0], oc.thread_axis("threadIdx.x"))
    with pytest.raises(oc.ScheduleError, match=r"stage B, axis i: threadIdx\.x has extent n, not "
                       r"a constant; the threads of a block are fixed at launch: split the axis "
                       r"by a constant factor and bind the inner part"):
        lower_cuda(s, [A, B])


def test_emulate_needs_a_gpu_target():
    s, args, _ = K.vector_add(n=16, threads=16)
    A, B, C = args
    plain = oc.create_schedule(C)
    with pytest.raises(ValueError, match="emulate=True needs a GPU target"):
        oc.build(plain, args, target="llvm", emulate=True)


def test_too_many_blocks_in_y():
    A = oc.placeholder((70000 * 2,), name="A")
    B = oc.compute((70000 * 2,), lambda i: A[i] + 1.0, name="B")
    s = oc.create_schedule(B)
    by, tx = s[B].split(B.op.axis[0], factor=2)
    s[B].bind(by, oc.thread_axis("blockIdx.y"))
    s[B].bind(tx, oc.thread_axis("threadIdx.x"))
    with pytest.raises(oc.ScheduleError, match=r"stage B, axis i\.outer: blockIdx\.y has 70000 "
                       r"blocks, over CUDA's limit of 65535; bind the larger axis to blockIdx\.x "
                       r"or split it"):
        lower_cuda(s, [A, B])


# -- the operator library's GPU templates refuse what they do not cover ---------------
def test_gpu_conv2d_refuses_nhwc():
    import schedules
    from schedules.validate import OpError
    with pytest.raises(OpError, match=r"conv2d: argument layout: expected 'NCHW' on a CUDA "
                                      r"target"):
        schedules.get("conv2d")(1, 3, 8, 8, 4, 3, 3, layout="NHWC", target="cuda")


def test_gpu_reduce_refuses_an_axis_other_than_the_last():
    import schedules
    from schedules.validate import OpError
    with pytest.raises(OpError, match=r"sum: argument axis: expected the last axis \(1 or -1\) "
                                      r"on a CUDA target, got 0"):
        schedules.get("sum")((4, 5), axis=0, target="cuda")


def test_gpu_reduce_of_a_vector_needs_keepdims():
    import schedules
    from schedules.validate import OpError
    with pytest.raises(OpError, match=r"keepdims: expected True for a 1-D X on a CUDA target"):
        schedules.get("max")((7,), axis=-1, target="cuda")


def test_gpu_matmul_refuses_a_cpu_register_tile():
    import schedules
    from schedules.validate import OpError
    with pytest.raises(OpError, match=r"matmul: argument bm: expected None on a CUDA target "
                                      r"\(bm tunes the CPU schedule"):
        schedules.get("matmul")(64, 64, 64, bm=4, target="cuda")
