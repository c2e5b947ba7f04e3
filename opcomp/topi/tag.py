"""Operation tags: what kind of computation a compute is (TVM's ``topi.tag``).

Tensor arithmetic (``A + B``) tags its computes ELEMWISE (same shape, or a
scalar operand) or BROADCAST (shapes stretched by NumPy's rules).  A pass or a
schedule can read ``op.tag`` to decide, for instance, what is safe to inline.
"""
ELEMWISE = "elemwise"
BROADCAST = "broadcast"
INJECTIVE = "injective"
COMM_REDUCE = "comm_reduce"
COMM_REDUCE_IDX = "comm_reduce_idx"


def is_broadcast(tag: str) -> bool:
    """True for ELEMWISE and BROADCAST tags (and their "elemwise..."/"broadcast..." variants)."""
    return tag.startswith((ELEMWISE, BROADCAST))


def is_injective(tag: str) -> bool:
    """True when each output element reads each input element at most once per index map:
    broadcast, elemwise and injective tags."""
    return is_broadcast(tag) or tag.startswith(INJECTIVE)
