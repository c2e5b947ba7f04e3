"""Vector transcendental functions (exp, log, tanh, erf, sigmoid) emitted as LLVM IR.

A vectorized ``exp`` that becomes one scalar libm call per lane cannot keep up
with memory (TVM's softmax ran at 7 GB/s that way); these functions use only
LLVM arithmetic, integer/bit operations, ``select``, ``fcmp`` and the
``llvm.fma``/``llvm.fabs``/``llvm.copysign`` intrinsics, so a ``<16 x float>``
call compiles to straight-line AVX-512 code with no calls at all.

Each function/type pair is defined once per module as an internal
``alwaysinline`` helper (``__oc_exp_v16f32``, ``__oc_log_f64``, ...) and
called; after the inliner nothing of the helper remains.  The helpers must not
be given fast-math flags: NaN/Inf handling relies on IEEE compares.

Worst errors in ulp against the exact value (float32: all 2^32 inputs,
against float64 libm; float64: 90k random inputs per function over the hard
ranges, against mpmath): exp 1.01 / 1.01, log 0.84 / 0.79, tanh 1.33 / 1.27,
erf 1.02 / 1.21, sigmoid 1.48 / 1.45 (float32 / float64).  Denormal results
of exp and sigmoid and denormal inputs of log are handled; NaN, +-inf and
+-0 give what libm gives.  tests/codegen/test_llvm_math.py asserts <= 2 ulp
(float32) and relative error <= 1e-15 (float64); ``python -m bench.bench_math
--accuracy`` re-measures the figures above.

Polynomial coefficients were fitted at development time by a discrete
weighted minimax fit (Lawson's iteration; mpmath for float64) on the reduced
intervals named at each table; the fit errors are far below the rounding
errors of the evaluation.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from llvmlite import ir

SUPPORTED = ("exp", "log", "tanh", "erf", "sigmoid")


@dataclass(frozen=True)
class _Spec:
    """Format constants and polynomial tables for one floating-point type."""
    bits: int            # storage width (32/64): the integer type for bit tricks
    mant: int            # explicit mantissa bits
    bias: int            # exponent bias
    exp_lo: float        # exp clamps its input to [exp_lo, exp_hi]: beyond, the
    exp_hi: float        # result is 0 / inf anyway, and 2^n stays in our scaling range
    ln2_hi: float        # ln2 rounded to the format ...
    ln2_lo: float        # ... and the rest, for Cody-Waite reduction
    sqrt_half_bits: int  # bit pattern of sqrt(1/2): log's mantissa lands in [sqrt(1/2), sqrt(2))
    exp_poly: tuple      # exp(r) = 1 + r + r^2 * P(r), |r| <= ln2/2
    log_poly: tuple      # log(1+f) = 2s + s*z*P(z), s = f/(2+f), z = s^2 <= 0.0295
    tanh_poly: tuple     # tanh(x) = x + x^3 * P(x^2), |x| < 0.625
    erf_small: tuple     # erf(x) = x + x * P(x^2), |x| < 1
    erf_big: tuple       # erfc(x) = exp(-x^2 + P(x - erf_mid)), 1 <= x <= erf_sat
    erf_mid: float
    erf_sat: float       # erf(x) rounds to 1 beyond (erfc(sat) < half an ulp of 1)


_F32 = _Spec(
    bits=32, mant=23, bias=127,
    exp_lo=-104.0, exp_hi=89.0,     # exp(-104) < FLT_TRUE_MIN/2, exp(89) > FLT_MAX
    ln2_hi=0.6931471824645996, ln2_lo=-1.9046542121259336e-09,
    sqrt_half_bits=0x3F3504F3,
    # Fit errors (relative): exp 3.1e-9, log 8.1e-10, tanh 4.4e-9, erf 1.2e-9 / 1.1e-9.
    exp_poly=(0.49999994, 0.16666521, 0.04166839, 0.00836871, 0.001381461),
    log_poly=(0.66666776, 0.39977542, 0.29871732),
    tanh_poly=(-0.3333328, 0.13331442, -0.05373971, 0.020639079, -0.0057049785),
    erf_small=(0.12837917, -0.37612626, 0.112835854, -0.026853811, 0.0051883277,
               -0.00080101925, 7.853858e-05),
    erf_big=(-1.5568179, -0.35269395, 0.05611686, -0.01071125, 0.002465395,
             -0.00015196553, 0.00018638009),
    erf_mid=2.5, erf_sat=4.0,
)

_F64 = _Spec(
    bits=64, mant=52, bias=1023,
    exp_lo=-745.2, exp_hi=710.0,    # exp(-745.2) < DBL_TRUE_MIN/2, exp(710) > DBL_MAX
    ln2_hi=0.6931471805599453, ln2_lo=2.3190468138462996e-17,
    sqrt_half_bits=0x3FE6A09E667F3BCD,
    # Fit errors (relative): exp 3.6e-18, log 1.2e-18, tanh 1.0e-17, erf 7.3e-18 / 6.8e-18.
    exp_poly=(0.5000000000000011, 0.16666666666666413, 0.04166666666653023,
              0.008333333333494331, 0.0013888888943606793, 0.00019841269506820668,
              2.480149312738961e-05, 2.755758620688758e-06, 2.76302368611442e-07,
              2.500009634171573e-08),
    log_poly=(0.6666666666666734, 0.399999999994146, 0.28571428742402627,
              0.2222219857184066, 0.18183564388673, 0.15314049092689375,
              0.1479596319433313),
    tanh_poly=(-0.33333333333332854, 0.13333333333262073, -0.05396825393126047,
               0.021869487575950614, -0.008863221000952607, 0.0035919891615798774,
               -0.0014549588205059073, 0.0005863163663960281, -0.00022856388357007836,
               7.71440174638827e-05, -1.607240869863635e-05),
    erf_small=(0.1283791670955126, -0.3761263890318352, 0.11283791670944182,
               -0.026866170643111094, 0.00522397760611554, -0.0008548325929179237,
               0.00012055293573006863, -1.4924712229932744e-05, 1.6447130713333754e-06,
               -1.620630741193108e-07, 1.3710953847996256e-08, -7.779420496946622e-10),
    erf_big=(-1.8624374021411385, -0.2660995882589531, 0.03324694553328483,
             -0.005225659228728673, 0.0008736810507878796, -0.0001473089460168345,
             2.4384195704983854e-05, -3.866880542958944e-06, 6.255211611771171e-07,
             -5.191627460944659e-08, 1.0524730434644501e-08, -1.7898995889604577e-08,
             -1.725748875775291e-08, -9.316022386437e-09, -3.209431055227077e-09,
             -6.934151428622249e-10, -8.874267129091788e-11, -4.9279847364809665e-12),
    erf_mid=3.5, erf_sat=6.0,
)

_LOG2E = 1.4426950408889634
_TANH_SMALL = 0.625     # below, the odd polynomial; above, tanh > 0.55: 1 - 2/(e+1) cancels little
_ERF_SMALL = 1.0        # below, the odd polynomial; above, erfc <= 0.157 so 1 - erfc is benign


# ---------------------------------------------------------------------------
# Public API


def emit_math(builder: ir.IRBuilder, name: str, x: ir.Value) -> ir.Value:
    """Emit ``name(x)`` at the builder's position and return the result.

    ``name`` is one of :data:`SUPPORTED`; ``x`` is a float, a double or a
    vector of either (any lane count).  The result has ``x``'s type.  The
    body lives in an internal ``alwaysinline`` helper defined once per module
    (``__oc_<name>_<type>``), so repeated calls add one ``call`` each.
    """
    if name not in SUPPORTED:
        raise ValueError(f"unsupported math function {name!r}; expected one of {SUPPORTED}")
    return builder.call(_helper(builder.module, name, x.type), [x])


def helper_name(name: str, ty: ir.Type) -> str:
    """Symbol of the helper that computes ``name`` on values of type ``ty``."""
    return f"__oc_{name}_{_suffix(ty)}"


# ---------------------------------------------------------------------------
# Helper functions and the typed emitter


def _suffix(ty: ir.Type) -> str:
    if isinstance(ty, ir.VectorType):
        return f"v{ty.count}{_suffix(ty.element)}"
    if isinstance(ty, ir.FloatType):
        return "f32"
    if isinstance(ty, ir.DoubleType):
        return "f64"
    raise TypeError(f"vector math needs float, double or a vector of them, not {ty}")


def _helper(module: ir.Module, name: str, ty: ir.Type) -> ir.Function:
    sym = helper_name(name, ty)
    fn = module.globals.get(sym)
    if fn is not None:
        return fn
    fn = ir.Function(module, ir.FunctionType(ty, [ty]), name=sym)
    fn.linkage = "internal"
    fn.attributes.add("alwaysinline")
    fn.attributes.add("nounwind")
    em = _Emitter(ir.IRBuilder(fn.append_basic_block("entry")), ty)
    em.b.ret(_BODIES[name](em, fn.args[0]))
    return fn


class _Emitter:
    """Thin typed layer over an IRBuilder: splat constants, intrinsics, Horner."""

    def __init__(self, builder: ir.IRBuilder, ty: ir.Type):
        self.b = builder
        self.ty = ty
        vec = isinstance(ty, ir.VectorType)
        elem = ty.element if vec else ty
        self.spec = _F32 if isinstance(elem, ir.FloatType) else _F64
        ielem = ir.IntType(self.spec.bits)
        self.lanes = ty.count if vec else 0
        self.ity = ir.VectorType(ielem, self.lanes) if vec else ielem

    def _splat(self, ty, value):
        if self.lanes:
            return ir.Constant(ty, [value] * self.lanes)
        return ir.Constant(ty, value)

    def c(self, value: float) -> ir.Constant:
        return self._splat(self.ty, float(value))

    def ic(self, value: int) -> ir.Constant:
        return self._splat(self.ity, int(value))

    def _intrinsic(self, base: str, *args):
        sym = f"llvm.{base}.{_suffix(self.ty)}"
        module = self.b.module
        fn = module.globals.get(sym)
        if fn is None:
            fn = ir.Function(module, ir.FunctionType(self.ty, [self.ty] * len(args)), name=sym)
        return self.b.call(fn, list(args))

    def fma(self, a, b, c):
        return self._intrinsic("fma", a, b, c)

    def fabs(self, a):
        return self._intrinsic("fabs", a)

    def copysign(self, mag, sign):
        return self._intrinsic("copysign", mag, sign)

    def add(self, a, b):
        return self.b.fadd(a, b)

    def sub(self, a, b):
        return self.b.fsub(a, b)

    def mul(self, a, b):
        return self.b.fmul(a, b)

    def div(self, a, b):
        return self.b.fdiv(a, b)

    def cmp(self, op: str, a, b):
        """Ordered compare: false whenever an operand is NaN."""
        return self.b.fcmp_ordered(op, a, b)

    def sel(self, cond, a, b):
        return self.b.select(cond, a, b)

    def poly(self, x, coeffs):
        """Horner: coeffs[0] + x*coeffs[1] + ... with one fma per step."""
        acc = self.c(coeffs[-1])
        for coef in reversed(coeffs[:-1]):
            acc = self.fma(acc, x, self.c(coef))
        return acc

    def to_int(self, v):
        return self.b.bitcast(v, self.ity)

    def to_float(self, v):
        return self.b.bitcast(v, self.ty)

    def pow2(self, n):
        """2.0**n from an integer n with 1 - bias <= n <= bias (a normal number)."""
        biased = self.b.add(n, self.ic(self.spec.bias))
        return self.to_float(self.b.shl(biased, self.ic(self.spec.mant)))

    def call(self, name: str, x):
        """Call another math helper of the same type (inlined later)."""
        return self.b.call(_helper(self.b.module, name, self.ty), [x])


# ---------------------------------------------------------------------------
# Function bodies


def _exp(em: _Emitter, x):
    """exp(x) = 2^n * exp(r), x = n*ln2 + r, |r| <= ln2/2."""
    s = em.spec
    # Clamp with ordered compares so NaN passes through untouched.
    x = em.sel(em.cmp("<", x, em.c(s.exp_lo)), em.c(s.exp_lo), x)
    x = em.sel(em.cmp(">", x, em.c(s.exp_hi)), em.c(s.exp_hi), x)
    # Adding 1.5 * 2^mant rounds x*log2e to an integer held in the low
    # mantissa bits: no fptosi, whose result would be poison for NaN.
    magic = 1.5 * 2.0 ** s.mant
    k = em.fma(x, em.c(_LOG2E), em.c(magic))
    nf = em.sub(k, em.c(magic))
    n = em.b.sub(em.to_int(k), em.to_int(em.c(magic)))
    # With fma, x - n*ln2_hi is exact (the difference is small and on the
    # grid of x and n*ln2_hi), so ln2_hi needs no trailing zero bits.
    r = em.fma(nf, em.c(-s.ln2_hi), x)
    r = em.fma(nf, em.c(-s.ln2_lo), r)
    q = em.fma(em.mul(r, r), em.poly(r, s.exp_poly), r)        # exp(r) - 1
    # 2^n * (1 + q) as fma(q, 2^n, 2^n) rounds once, in the result's binade.
    # 2^n is a normal number only for 1-bias <= n <= bias, so split off a
    # second factor 2^n2 outside that range: 2 when n = bias+1 (the product
    # overflows or is exact), 2^-(mant+1) for denormal results, whose
    # rounding then happens (once, to within a tiny first rounding) there.
    n2 = em.sel(em.b.icmp_signed(">", n, em.ic(s.bias)), em.ic(1), em.ic(0))
    n2 = em.sel(em.b.icmp_signed("<", n, em.ic(1 - s.bias)), em.ic(-s.mant - 1), n2)
    s1 = em.pow2(em.b.sub(n, n2))
    return em.mul(em.fma(q, s1, s1), em.pow2(n2))


def _log(em: _Emitter, x):
    """log(x) = k*ln2 + log(m), m in [sqrt(1/2), sqrt(2))."""
    s = em.spec
    # Denormal inputs: scale by 2^mant into the normal range first.
    tiny = em.cmp("<", x, em.c(2.0 ** (1 - s.bias)))
    xs = em.sel(tiny, em.mul(x, em.c(2.0 ** s.mant)), x)
    kadj = em.sel(tiny, em.ic(-s.mant), em.ic(0))
    # Offsetting the bits by 1.0 - sqrt(1/2) carries into the exponent
    # exactly when the mantissa is >= sqrt(2)/2 * 2, which centres m on 1.
    ix = em.b.add(em.to_int(xs), em.ic(_bits(1.0, s) - s.sqrt_half_bits))
    k = em.b.sub(em.b.ashr(ix, em.ic(s.mant)), em.ic(s.bias))
    k = em.b.add(k, kadj)
    mbits = em.b.add(em.b.and_(ix, em.ic((1 << s.mant) - 1)), em.ic(s.sqrt_half_bits))
    f = em.sub(em.to_float(mbits), em.c(1.0))        # exact (Sterbenz)
    # log(1+f) = 2 atanh(s) with s = f/(2+f); written as
    # f - hfsq + s*(hfsq + R) so the big terms stay exact (fdlibm's form).
    sv = em.div(f, em.add(f, em.c(2.0)))
    z = em.mul(sv, sv)
    big_r = em.mul(z, em.poly(z, s.log_poly))
    hfsq = em.mul(em.mul(f, f), em.c(0.5))
    kf = em.b.sitofp(k, em.ty)
    lo = em.fma(sv, em.add(hfsq, big_r), em.mul(kf, em.c(s.ln2_lo)))
    res = em.fma(kf, em.c(s.ln2_hi), em.add(f, em.sub(lo, hfsq)))
    # Special values: +inf -> +inf, +-0 -> -inf, negative or NaN -> NaN.
    res = em.sel(em.cmp("==", x, em.c(math.inf)), em.c(math.inf), res)
    res = em.sel(em.cmp("==", x, em.c(0.0)), em.c(-math.inf), res)
    return em.sel(em.b.fcmp_unordered("<", x, em.c(0.0)), em.c(math.nan), res)


def _tanh(em: _Emitter, x):
    """Odd polynomial near 0, else 1 - 2/(exp(2|x|)+1) with x's sign."""
    a = em.fabs(x)
    z = em.mul(x, x)
    small = em.fma(em.mul(x, z), em.poly(z, em.spec.tanh_poly), x)
    e = em.call("exp", em.add(a, a))
    # exp overflows to inf for large |x|: 2/inf = 0 and the result saturates at 1.
    big = em.sub(em.c(1.0), em.div(em.c(2.0), em.add(e, em.c(1.0))))
    # NaN fails the ordered compare and takes the exp path, which keeps it NaN.
    # copysign restores the sign for the big path and keeps tanh(-0) = -0.
    return em.copysign(em.sel(em.cmp("<", a, em.c(_TANH_SMALL)), small, big), x)


def _erf(em: _Emitter, x):
    """Odd polynomial below 1, else 1 - exp(-x^2 + P(|x|)) with x's sign."""
    s = em.spec
    # x + x*P keeps P's rounding error small next to the result.
    small = em.fma(x, em.poly(em.mul(x, x), s.erf_small), x)
    ax = em.fabs(x)
    a = em.sel(em.cmp(">", ax, em.c(s.erf_sat)), em.c(s.erf_sat), ax)   # inf -> sat, NaN stays
    # -x*x inside the fma is exact; P is the smooth log(erfcx(x)).
    q = em.poly(em.sub(a, em.c(s.erf_mid)), s.erf_big)
    erfc = em.call("exp", em.fma(em.b.fneg(a), a, q))
    big = em.copysign(em.sub(em.c(1.0), erfc), x)
    return em.sel(em.cmp("<", ax, em.c(_ERF_SMALL)), small, big)


def _sigmoid(em: _Emitter, x):
    """e/(1+e) for x < 0 and 1/(1+e) otherwise, e = exp(-|x|): no overflow, exact tails."""
    e = em.call("exp", em.b.fneg(em.fabs(x)))
    neg = em.cmp("<", x, em.c(0.0))
    num = em.sel(neg, e, em.c(1.0))
    t = em.add(e, em.c(1.0))
    q = em.div(num, t)
    # One correction step removes the rounding of t = 1 + e (err, exact by
    # Fast2Sum) and of the quotient (rem, exact by fma): num/(t+err) is
    # q + (rem - q*err)/t, and 1/t is q or 1 - q, close enough for a correction.
    err = em.sub(e, em.sub(t, em.c(1.0)))
    rem = em.fma(em.b.fneg(q), t, num)
    inv_t = em.sel(neg, em.sub(em.c(1.0), q), q)
    return em.fma(em.sub(rem, em.mul(q, err)), inv_t, q)


def _bits(value: float, spec: _Spec) -> int:
    """IEEE bit pattern of value in the spec's format."""
    fmt, ifmt = ("<f", "<I") if spec.bits == 32 else ("<d", "<Q")
    return struct.unpack(ifmt, struct.pack(fmt, value))[0]


_BODIES = {"exp": _exp, "log": _log, "tanh": _tanh, "erf": _erf, "sigmoid": _sigmoid}
