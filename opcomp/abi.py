"""The kernel ABI shared by backends, the runtime and exported libraries.

A kernel is ``int32 name(ptr buffer0, ..., int64 size0, ...)``: one pointer per
parameter buffer (C-contiguous, row-major), then one int64 per size variable.
It returns 0 on success, k > 0 when its k-th runtime assertion (pre-order)
failed, or OUT_OF_MEMORY when a temporary buffer could not be allocated.
"""
OUT_OF_MEMORY = -1
PARALLEL_FOR = "opcomp_parallel_for"   # the thread pool entry parallel loops call
META_SYMBOL = "opcomp_meta_{name}"     # an exported library's JSON signature
# A C symbol a kernel calls (extern stage, tensorize) is named in the LLVM module's
# metadata "opcomp.extern.<symbol>", so loading and export can find it in the IR.
EXTERN_META = "opcomp.extern."


def extern_symbols(ir_text: str) -> list:
    """The C symbols an LLVM kernel's IR names under EXTERN_META."""
    import re
    return re.findall(r"^!" + re.escape(EXTERN_META) + r"(\S+) = ", ir_text, re.MULTILINE)
