"""Index arithmetic: bounds, proofs, canonical forms and the simplifier.

The facade the rest of opcomp imports from:

    const_bound(e, ranges)        (lo, hi) ints or +-inf         interval.py
    symbolic_bound(e, ranges)     (lo, hi) expressions            interval.py, symbolic.py
    prove(cond, ranges)           True only when cond always holds
    linear_form(e), is_affine(e)  sum-of-products views           poly.py
    simplify(node), simplify_expr(e, ranges)                      simplify.py

fold.py folds constants with the dtype's wrapping; rules.py holds the
division/modulo rules the simplifier applies to index expressions.
"""
from .interval import (Bounder, const_bound, dtype_bound, is_affine, linear_form,  # noqa: F401
                       norm_ranges, prove, symbolic_bound)
from .simplify import Simplifier, simplify, simplify_expr  # noqa: F401
