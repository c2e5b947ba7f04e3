"""Code generators, one backend per module, each registering itself with
opcomp.backend when imported (opcomp imports them by name on first use):

    llvm.py     the CPU: lowered PrimFunc -> LLVM IR (llvmlite) -> object code -> MCJIT
"""
