"""Planted faults for the measurement tests: a build hook that swaps a candidate's
machine code for a kernel that segfaults, aborts, hangs, exhausts memory or
writes a wrong answer, or that hangs or crashes the build worker itself.

The planted kernels are real LLVM IR compiled by the real backend and run by the
real runner, so each failure happens the way a miscompiled candidate's would.
"""
import dataclasses
import os
import time

import opcomp as oc

_BODIES = {
    "segfault": "  store volatile i32 1, ptr inttoptr (i64 16 to ptr)\n  ret i32 0\n",
    "abort": "  call void @abort()\n  unreachable\n",
    "hang": "  br label %spin\nspin:\n  %v = load volatile i32, ptr %a0\n  br label %spin\n",
    # 64 MiB blocks, each touched and kept (stored in the output), until malloc fails:
    # the kernel then returns OUT_OF_MEMORY (-1), as opcomp's own kernels do.
    "memory": ("  br label %more\nmore:\n  %p = call ptr @malloc(i64 67108864)\n"
               "  %null = icmp eq ptr %p, null\n  br i1 %null, label %oom, label %touch\n"
               "touch:\n  call ptr @memset(ptr %p, i32 1, i64 67108864)\n"
               "  store volatile ptr %p, ptr %a1\n  br label %more\noom:\n  ret i32 -1\n"),
}
_DECLS = "declare void @abort()\ndeclare ptr @malloc(i64)\ndeclare ptr @memset(ptr, i32, i64)\n"


def _kernel_ir(name: str, n_buffers: int, fault: str) -> str:
    params = ", ".join(f"ptr %a{k}" for k in range(n_buffers))
    return f"{_DECLS}\ndefine i32 @{name}({params}) {{\nentry:\n{_BODIES[fault]}}}\n"


def _wrong_ir(kernel) -> str:
    """The real kernel, renamed and internal, behind a wrapper that then corrupts
    element 3 of the output (the last argument)."""
    name = kernel.name
    ir = kernel.ir.replace(f"@{name}(", f"@{name}_real(")
    ir = ir.replace("define ", "define internal ", 1) if ir.count("define ") == 1 else ir
    params = ", ".join(f"ptr %a{k}" for k in range(kernel.n_buffers))
    out = f"%a{kernel.n_buffers - 1}"
    return ir + (f"\ndefine i32 @{name}({params}) {{\nentry:\n"
                 f"  %r = call i32 @{name}_real({params})\n"
                 f"  %p = getelementptr float, ptr {out}, i64 3\n"
                 f"  store float 1.0e+03, ptr %p\n  ret i32 %r\n}}\n")


def plant(artifact, config):
    """The build hook: replace the artifact's kernel as config["fault"] says."""
    fault = config.get("fault", "none")
    if fault == "build_hang":
        time.sleep(3600)
    if fault == "build_crash":
        os.abort()
    if fault not in _BODIES and fault != "wrong":
        return artifact
    k = artifact.kernel
    ir = _wrong_ir(k) if fault == "wrong" else _kernel_ir(k.name, k.n_buffers, fault)
    kernel = oc.get_backend("llvm").compile(ir, artifact.target)
    return dataclasses.replace(artifact, kernel=kernel)
