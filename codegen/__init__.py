"""Code generators, one backend per module, each registering itself with
opcomp.backend when imported (opcomp imports them by name on first use):

    llvm.py     the CPU: lowered PrimFunc -> LLVM IR (llvmlite) -> object code -> MCJIT
    cuda.py     NVIDIA GPUs: lowered PrimFunc -> CUDA C (cuda_printer.py, on the C-like
                base c_printer.py) -> PTX/cubin (nvcc, cuda_compile.py) + a host launcher;
                run through the CUDA driver (cuda_driver.py) or, emulate=True, on the
                CPU emulator (cuda_headers.py)
"""
