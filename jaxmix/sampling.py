"""Fast exact Beta sampling (floor 1½: used by ``laws._beta_sample``; imports nothing of jaxmix).

``beta(key, a, b, shape)`` draws B ~ Beta(a, b) exactly (up to floating-point rounding of the
output), faster than ``jax.random.beta`` and numpy's ``Generator.beta`` (figures per machine in
benchmarks/README.md). Three ideas:

1. **Cheap exact bits.** The random bits are the Threefry-2x32 (20 rounds) block function --
   the same bijection as ``jax.random``'s default generator -- written unrolled in ``jnp`` so
   that XLA fuses it with the arithmetic that consumes it (JAX lowers Threefry on CPU as a rolled
   loop, which materialises every round). Each block gives two 32-bit words: one attempt of a
   two-uniform rejection sampler costs one block. Uniforms are (k + 1/2) 2^-23, k = word >> 9,
   exact in float32 and strictly inside (0, 1) (float64: (k + 1/2) 2^-52 from 52 bits).

2. **Two-uniform rejection samplers, chosen per (a, b)** (a ``lax.switch`` inside one rejection
   loop):
   Jöhnk (1964) in log space when max(a, b) <= 1 and its acceptance
   Γ(a+1)Γ(b+1)/Γ(a+b+1) >= 3/4 (log U/a, log V/b; accept when e^{lx} + e^{ly} <= 1;
   B = sigmoid(lx - ly)); Cheng's BC when min(a, b) <= 1 otherwise; Cheng's BB when
   min(a, b) > 1 (Cheng 1978, Comm. ACM 21, 317-322). Every sampler produces the log-odds
   z = log B - log(1 - B), and B = sigmoid(z) never overflows or loses the tails to underflow
   before the final rounding.

3. **Vectorised rejection without compaction of the whole array.** Lanes form groups of
   ``_G`` = 128; each lane makes one attempt of its own, each group makes ``_E1`` = 32 spare
   attempts, and the m-th rejected lane of a group takes the m-th accepted spare of its group
   (ranks by popcount on packed bit masks). Accepted candidates are i.i.d. draws of the target
   law whatever the acceptance pattern, and the assignment depends on the pattern only, so the
   outputs are i.i.d. Beta(a, b). A group whose spares run out (probability ~0.1-10 % for
   acceptance rates 0.75-0.9, more for Cheng BC at small min(a, b)) is finished exactly by a
   ``while_loop`` over only those groups, with further batches of spares from the same counter
   stream. The loop is bounded (``_MAX_PASSES`` batches, 131072 spares per group): a lane still
   unsettled then is NaN, which for valid parameters (acceptance above 1/4) has probability
   below 10^-300 -- no failure probability is traded for speed, and no input can loop forever.

4. **Extremes, without loops that cannot end.** Parameters that are NaN, infinite or <= 0
   give NaN draws at once (the law constructors refuse them first; see ``jaxmix._checks``).
   min(a, b) < 1e-25: the limit law -- Bernoulli(a/(a + b)) on {0, 1} when both are tiny
   (subnormal parameters included, which XLA's CPU arithmetic reads as 0), the point mass at
   the tiny side's end otherwise (error below 1e-22 in total variation). max(a, b) above 1e3
   (float32; 1e8 in float64), where Cheng's tests lose accuracy to rounding: B from the
   log-odds log G_a - log G_b of two gamma draws (Marsaglia-Tsang in log space with a
   cancellation-free acceptance test, at most 8 attempts, truncation below 4e-11 per draw), so
   Beta(a, a) tends to the point mass at 1/2 as a -> inf and Beta(1e30, 1e30) or
   Beta(3e38, 3e38) return 1/2 exactly.

Determinism: every attempt reads the counter (2t, lane) (own attempt t = 0, lane = flat index)
or (2(1 + j), group) (spare j of a group) of the key, so the result is a pure function of
(key, a, b, shape), and draw r depends on r (and its group of 128 lanes), not on the size of the
call: a longer call starts with the same draws, and ``beta_rows`` computes any range of them
alone. It is *not* the stream of ``jax.random.beta``.

Gradients: ``beta`` has a custom JVP that gives the pathwise (implicit reparameterisation)
derivative through the gamma construction B = G_a / (G_a + G_b): with S ~ Gamma(a + b) drawn
independently, (B S, (1 - B) S) has exactly the law of two independent gammas, so
dB = B (1 - B) (∂_a log G_a · da - ∂_b log G_b · db) with ∂_a log G from
``jax.lax.random_gamma_grad`` (and its small-G limit (ψ(a+1) - log G)/a where G underflows) is an
unbiased estimator of the gradient of E[f(B)] (numpyro/TFP's construction; tests check it).

Tolerances: Cheng's constants are computed in the parameter dtype, so in float32 the envelope is
exact to ~1e-7 relative, far below what 10^6 or 10^8 draws can detect.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

__all__ = ["beta", "beta_rows"]

_G = 128  # lanes per group (4 words of 32 bits)
_E1 = 32  # spare attempts per group in the first pass
_E2 = 32  # spare attempts per group in each later pass
_MAX_PASSES = 4096  # bound on the later passes (131072 spares per group of 128 lanes)
_U = np.uint32
_LOG4 = 1.3862944
_ONE_PLUS_LOG5 = 2.609438


# --- bits ----------------------------------------------------------------------------------------


def _rotl(v, r: int):
    return (v << _U(r)) | (v >> _U(32 - r))


def threefry2x32(k0, k1, x0, x1):
    """Threefry-2x32 with 20 rounds (Salmon et al. 2011), identical to ``jax.random``'s.

    Unrolled so XLA fuses it with its consumers. All arguments uint32 and broadcastable.
    """
    ks = (k0, k1, k0 ^ k1 ^ _U(0x1BD11BDA))
    rot = ((13, 15, 26, 6), (17, 29, 16, 24))
    x0 = x0 + ks[0]
    x1 = x1 + ks[1]
    for i in range(5):
        for r in rot[i % 2]:
            x0 = x0 + x1
            x1 = _rotl(x1, r)
            x1 = x0 ^ x1
        x0 = x0 + ks[(i + 1) % 3]
        x1 = x1 + ks[(i + 2) % 3] + _U(i + 1)
    return x0, x1


def raw_key(key) -> Array:
    """The (2,) uint32 Threefry key behind ``key``.

    A Threefry key gives its own data; any other implementation (rbg, unsafe_rbg) is mapped
    deterministically to a Threefry key through ``jax.random.bits``.
    """
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if str(jax.random.key_impl(key)) == "threefry2x32":
            return jax.random.key_data(key)
        return jax.random.bits(key, (2,), jnp.uint32)
    return jnp.asarray(key, jnp.uint32)  # legacy raw uint32[2] key


def _unit(word, dtype):
    """A uniform in (0, 1) from a uint32 word: (k + 1/2) 2^-23, k = word >> 9.

    Every value is exact in float32 (k + 1/2 needs 24 significant bits), so the largest is
    1 - 2^-24 < 1 and the grid is symmetric about 1/2. (A 24-bit k would need 25 bits: the
    upper half would round to even and the top value to 1.0.)
    """
    return ((word >> _U(9)).astype(dtype) + 0.5) * (1.0 / (1 << 23))


def _unit64(hi, lo):
    """A float64 uniform in (0, 1) from two words: (k + 1/2) 2^-52, k 52 bits (exact, < 1)."""
    k = (hi.astype(jnp.uint64) << np.uint64(20)) | (lo >> _U(12)).astype(jnp.uint64)
    return (k.astype(jnp.float64) + 0.5) * (1.0 / (1 << 52))


def uniform_pair(kd, t, lane, dtype):
    """Two independent uniforms on (0, 1) for attempt ``t`` of counter ``lane`` (uint32)."""
    if jnp.dtype(dtype) == jnp.float64:
        a0, a1 = threefry2x32(kd[0], kd[1], _U(2) * t, lane)
        b0, b1 = threefry2x32(kd[0], kd[1], _U(2) * t + _U(1), lane)
        return _unit64(a0, a1), _unit64(b0, b1)
    w0, w1 = threefry2x32(kd[0], kd[1], _U(2) * t, lane)
    return _unit(w0, dtype), _unit(w1, dtype)


def _mulhilo(a, b):
    """(high, low) 32-bit words of the 64-bit product of uint32 a and b, in 32-bit arithmetic."""
    m16 = _U(0xFFFF)
    a0, a1, b0, b1 = a & m16, a >> _U(16), b & m16, b >> _U(16)
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (p00 >> _U(16)) + (p01 & m16) + (p10 & m16)
    lo = (mid << _U(16)) | (p00 & m16)
    hi = p11 + (p01 >> _U(16)) + (p10 >> _U(16)) + (mid >> _U(16))
    return hi, lo


def uniform_index(kd, t, lane, n):
    """Integers uniform on {0, ..., n-1} (n a uint32 array or int < 2^32), one Threefry block each.

    floor(X n / 2^64) for the 64-bit X of block (t, lane): each value has probability within
    2^-64 of 1/n (relative error below n 2^-64 < 1.2e-10 for n < 2^31), the standard of
    ``jax.random.randint`` (which also reduces 64 bits), at a quarter of its cost on CPU.
    """
    hi, lo = threefry2x32(kd[0], kd[1], t, lane)
    n = jnp.asarray(n, jnp.uint32)
    h1, l1 = _mulhilo(hi, n)
    h2, _ = _mulhilo(lo, n)
    carry = (l1 + h2 < l1).astype(jnp.uint32)
    return (h1 + carry).astype(jnp.int32)


# --- the three two-uniform samplers: (u1, u2) -> (log-odds z, accepted) -------------------------


def _log_johnk_p(a, b):
    """log of Jöhnk's acceptance probability Γ(a+1)Γ(b+1)/Γ(a+b+1)."""
    g = jax.scipy.special.gammaln
    return g(a + 1.0) + g(b + 1.0) - g(a + b + 1.0)


def _johnk(a, b, u1, u2):
    lx = jnp.log(u1) / a
    ly = jnp.log(u2) / b
    m = jnp.maximum(lx, ly)
    acc = m + jnp.log1p(jnp.exp(jnp.minimum(lx, ly) - m)) <= 0.0
    return lx - ly, acc


def _logit(u):
    return jnp.log(u) - jnp.log1p(-u)


def _cheng_bc(a, b, u1, u2):
    big, small = jnp.maximum(a, b), jnp.minimum(a, b)
    alpha = big + small
    bet = 1.0 / small
    delta = 1.0 + big - small
    k1 = delta * (0.0138889 + 0.0416667 * small) / (big * bet - 0.777778)
    k2 = 0.25 + (0.5 + 0.25 / delta) * small
    y = u1 * u2
    low = u1 < 0.5
    z = jnp.where(low, u1 * y, u1 * u1 * u2)
    quick_acc = (~low) & (z <= 0.25)
    quick_rej = jnp.where(low, 0.25 * u2 + z - y >= k1, z >= k2)
    v = bet * _logit(u1)
    lw = jnp.log(big) + v  # log W, W = big e^v
    lsmall = jnp.log(small)
    full = alpha * (jnp.log(alpha) - jnp.logaddexp(lsmall, lw) + v) - _LOG4 >= jnp.log(z)
    acc = quick_acc | ((~quick_rej) & full)
    # a is the larger: B = W/(small+W); else B = small/(small+W)
    zz = jnp.where(a >= b, lw - lsmall, lsmall - lw)
    return zz, acc


def _cheng_bb(a, b, u1, u2):
    small, big = jnp.minimum(a, b), jnp.maximum(a, b)
    alpha = small + big
    bet = jnp.sqrt((alpha - 2.0) / (2.0 * small * big - alpha))
    gam = small + 1.0 / bet
    v = bet * _logit(u1)
    lw = jnp.log(small) + v
    w = jnp.exp(lw)
    z = u1 * u1 * u2
    r = gam * v - _LOG4
    s = small + r - w
    t = jnp.log(z)
    acc = (
        (s + _ONE_PLUS_LOG5 >= 5.0 * z)
        | (s > t)
        | (r + alpha * (jnp.log(alpha) - jnp.log(big + w)) >= t)
    )
    lbig = jnp.log(big)
    # a is the smaller: B = W/(big+W); else B = big/(big+W)
    zz = jnp.where(a <= b, lw - lbig, lbig - lw)
    return zz, acc


def _bits(x):
    """The IEEE bits of a float32/float64 array as a signed integer of the same width."""
    return jax.lax.bitcast_convert_type(x, jnp.int32 if x.dtype == jnp.float32 else jnp.int64)


def _is_positive_finite(x):
    """x > 0 and finite, read from the bits: true for subnormals too (which XLA's CPU arithmetic
    flushes to zero, so ``x > 0`` would be false for them)."""
    return (_bits(x) > 0) & (_bits(x) < _bits(jnp.asarray(jnp.inf, x.dtype)))


def _log_any(x):
    """log x for x > 0 including subnormals (x = k 2^-149 in float32, k 2^-1074 in float64)."""
    if x.dtype == jnp.float32:
        tiny, shift = np.float32(np.finfo(np.float32).tiny), 149
    else:
        tiny, shift = np.finfo(np.float64).tiny, 1074
    sub = _bits(x).astype(x.dtype) * 1.0  # the integer k of a subnormal x, exact
    return jnp.where(
        x >= tiny,
        jnp.log(jnp.maximum(x, tiny)),
        jnp.log(jnp.maximum(sub, 1.0)) - shift * math.log(2.0),
    )


def _tiny_limit(a, b, u1, u2):
    """Beta(a, b) for max(a, b) < ``_TINY``: Jöhnk's B = 1{log U / a > log V / b} (log-odds ±inf).

    Jöhnk's log-odds are lx - ly = log U/a - log V/b, whose magnitude exceeds 1e9 here (|log U| >=
    2^-24 in float32, 2^-52 in float64), so B is 0 or 1 exactly in the output dtype; the sign is
    compared in log-log space (log a - log(-log U) vs log b - log(-log V)), which neither
    overflows nor reads a subnormal parameter as 0. P(B = 1) = a/(a + b). Jöhnk's acceptance
    Γ(a+1)Γ(b+1)/Γ(a+b+1) = 1 - O(ab) is taken as 1 (a change of the law below 1e-50).
    """
    one = _log_any(a) - jnp.log(-jnp.log(u1)) > _log_any(b) - jnp.log(-jnp.log(u2))
    return jnp.where(one, jnp.inf, -jnp.inf).astype(u1.dtype), jnp.ones(u1.shape, bool)


def _invalid(a, b, u1, u2):
    """Parameters that are NaN, infinite or <= 0: NaN draws, accepted at once (no loop)."""
    del a, b, u2
    return jnp.full(u1.shape, jnp.nan, u1.dtype), jnp.ones(u1.shape, bool)


_SAMPLERS = (_johnk, _cheng_bc, _cheng_bb, _tiny_limit, _invalid)
_TINY = 1e-25  # min(a, b) below this: the limit law (see _tiny_limit, _tiny_one_side)


def _large(dtype) -> float:
    """max(a, b) above this: the gamma-ratio route (``_large_logodds``).

    Cheng's BB/BC acceptance tests take differences of logarithms of size ~log(a + b) scaled by
    a + b, whose rounding error (a + b) eps log(a + b) reaches 1e-3 of the log-acceptance at
    a + b ~ 1e3 in float32 (1e8 in float64).
    """
    return 1e3 if jnp.dtype(dtype) == jnp.float32 else 1e8


def _algorithm(a, b):
    """0: Jöhnk, 1: Cheng BC, 2: Cheng BB, 3: the tiny-parameter limit, 4: invalid (NaN draws),
    5: the gamma-ratio route for large parameters (scalar int32)."""
    valid = _is_positive_finite(a) & _is_positive_finite(b)
    johnk_ok = (jnp.maximum(a, b) <= 1.0) & (_log_johnk_p(a, b) >= math.log(0.75))
    alg = jnp.where(johnk_ok, 0, jnp.where(jnp.minimum(a, b) <= 1.0, 1, 2))
    tiny = jnp.minimum(a, b) < _TINY
    alg = jnp.where(jnp.maximum(a, b) > _large(a.dtype), 5, alg)
    alg = jnp.where(tiny & (jnp.maximum(a, b) < _TINY), 3, alg)
    alg = jnp.where(tiny & (jnp.maximum(a, b) >= _TINY), 6, alg)
    return jnp.where(valid, alg, 4).astype(jnp.int32)


# --- bounded gamma draws for the extreme-parameter routes -----------------------------------------

_GAMMA_ROUNDS = 8  # Marsaglia-Tsang attempts per draw (acceptance >= 0.95: truncation < 4e-11)


def _series_tail(y):
    """3 sum_{k>=4} (-1)^(k+1) y^k / k = 3 log(1 + y) - 3y + 3y^2/2 - y^3, without cancellation."""
    direct = 3.0 * jnp.log1p(y) - y * (3.0 - y * (1.5 - y))
    ys = jnp.where(jnp.abs(y) < 0.1, y, 0.0)
    p = jnp.zeros_like(ys)
    for k in range(16, 3, -1):  # Horner: y^4 sum_{k=4}^{16} (-1)^(k+1) y^(k-4) / k
        p = p * ys + (1.0 if k % 2 else -1.0) / k
    series = 3.0 * p * ys**4
    return jnp.where(jnp.abs(y) < 0.1, series, direct)


def _loggamma(kd, tag: int, s, lane, dtype):
    """log G, G ~ Gamma(s, 1), one per ``lane`` (uint32), for any s > 0: Marsaglia-Tsang (2000)
    in log space with at most ``_GAMMA_ROUNDS`` attempts (the last attempt is kept when all are
    rejected, probability < 0.05^8 per draw), boosted by log U / s for s < 1.

    With d = s' - 1/3, c = 1/(3 sqrt d), y = c x (x normal): accept when
    log U < x^2/2 + d (1 - v + log v), v = (1 + y)^3. The right side equals
    d * 3 sum_{k>=4} (-1)^(k+1) y^k / k (the x^2/2 cancels exactly), evaluated as a series for
    |y| < 0.1, so the test stays exact for s up to the largest float (log G = log d + 3 log1p y).
    """
    k2 = jnp.stack(threefry2x32(kd[0], kd[1], _U(0xFFFFFFFE), _U(tag)))
    boost = s < 1.0
    s1 = jnp.where(boost, s + 1.0, s)
    d = s1 - 1.0 / 3.0
    c = 1.0 / (3.0 * jnp.sqrt(d))

    def round_(r, state):
        out, done = state
        u1, u2 = uniform_pair(k2, r.astype(jnp.uint32), lane, dtype)
        x = jax.scipy.special.ndtri(u1)
        y = c * x
        inside = y > -1.0
        ys = jnp.where(inside, y, 0.0)
        ok = inside & (jnp.log(u2) < d * _series_tail(ys))
        lg = jnp.log(d) + 3.0 * jnp.log1p(ys)
        take = (~done & ok) | ((r == _GAMMA_ROUNDS - 1) & ~done)
        return jnp.where(take, lg, out), done | ok

    shape = jnp.broadcast_shapes(jnp.shape(s), lane.shape)
    init = (jnp.zeros(shape, dtype), jnp.zeros(shape, bool))
    out, _ = jax.lax.fori_loop(0, _GAMMA_ROUNDS, round_, init)
    u3, _ = uniform_pair(k2, _U(_GAMMA_ROUNDS), lane, dtype)
    return jnp.where(boost, out + jnp.log(u3) / s, out)


def _large_logodds(kd, a, b, n: int, dtype, lane0=None):
    """Log-odds log G_a - log G_b for max(a, b) above ``_large``: exact up to the truncation of
    ``_loggamma``. As a, b -> inf with a/(a+b) -> m the draws concentrate on m
    (Beta(a, a) -> 1/2).

    Draw r reads lane r of two gamma streams (tags 1 and 2), so it does not depend on n;
    ``lane0`` (uint32) gives draws lane0, ..., lane0 + n - 1.
    """
    lane = jnp.arange(n, dtype=jnp.uint32)
    if lane0 is not None:
        lane = lane + lane0
    return _loggamma(kd, 1, a, lane, dtype) - _loggamma(kd, 2, b, lane, dtype)


def _tiny_one_side(a, b, n: int, dtype):
    """min(a, b) < ``_TINY`` <= max(a, b): B = 0 (a the small one) or 1 exactly; P(B is another
    float) < _TINY * 750 (the mass of Beta(a, b) above the smallest positive float)."""
    z = jnp.where(a < b, -jnp.inf, jnp.inf).astype(dtype)
    return jnp.broadcast_to(z, (n,))


# --- bit masks ------------------------------------------------------------------------------


_BELOW = np.array([(1 << k) - 1 for k in range(32)], dtype=np.uint32)


def _pack(flags):
    """(..., W*32) bool -> (..., W) uint32 bit words (lane k of a word is bit k)."""
    x = flags.reshape(flags.shape[:-1] + (-1, 32)).astype(jnp.uint32)
    return jnp.sum(x << jnp.arange(32, dtype=jnp.uint32), axis=-1, dtype=jnp.uint32)


def _popc(x):
    return jax.lax.population_count(x).astype(jnp.int32)


def _ranks(words):
    """(..., W) words -> (..., W*32) int32: number of set bits strictly before each lane."""
    within = _popc(words[..., None] & _BELOW)  # (..., W, 32)
    counts = _popc(words)
    before = jnp.cumsum(counts, axis=-1) - counts
    return (within + before[..., None]).reshape(words.shape[:-1] + (-1,))


def _select(words, r):
    """Index of the set bit of rank r (0-based) in (..., W) words, for r (..., L) int32.

    Undefined (but in range) where r >= popcount(words).
    """
    counts = _popc(words)  # (..., W)
    incl = jnp.cumsum(counts, axis=-1)
    wi = jnp.sum(incl[..., None, :] <= r[..., :, None], axis=-1)  # (..., L) word index
    wi = jnp.minimum(wi, words.shape[-1] - 1)
    excl = jnp.take_along_axis(incl - counts, wi, axis=-1)
    word = jnp.take_along_axis(words, wi, axis=-1)
    rr = r - excl
    # binary search for the smallest bit position p with popcount(word & mask(<= p)) > rr
    lo = jnp.zeros_like(rr)
    for step in (16, 8, 4, 2, 1):
        mid = lo + step  # candidate: are there <= rr set bits below position mid?
        below = _popc(word & ((_U(1) << mid.astype(jnp.uint32)) - _U(1)))
        lo = jnp.where(below <= rr, mid, lo)
    return wi * 32 + lo


# --- vectorised rejection with group spares --------------------------------------------------


def _attempts(sampler, kd, t, lane, dtype):
    u1, u2 = uniform_pair(kd, t, lane, dtype)
    return sampler(u1, u2)


def _fill(sampler, kd, groups, ranks, base, first_spare, num_spares, dtype):
    """One batch of ``num_spares`` spare attempts for each group in ``groups`` (C,).

    ``ranks`` (C, _G): rank of each rejected lane among its group's rejected lanes (-1 for lanes
    already settled by their own attempt); ``base`` (C,): accepted spares already consumed.
    Returns the spare log-odds to use per lane (C, _G), whether the lane takes one from this
    batch, and the new base.
    """
    j = first_spare + jnp.arange(num_spares, dtype=jnp.uint32)  # spare indices
    t = (_U(1) + j)[None, :]
    z, acc = _attempts(sampler, kd, t, groups.astype(jnp.uint32)[:, None], dtype)
    words = _pack(acc)  # (C, num_spares // 32)
    got = jnp.sum(_popc(words), axis=-1)  # accepted in this batch
    r = ranks - base[:, None]
    take = (r >= 0) & (r < got[:, None])
    idx = _select(words, jnp.maximum(r, 0))
    return jnp.take_along_axis(z, idx, axis=-1), take, base + got


def _rejection(sampler, kd, n: int, dtype, group0=None):
    """n i.i.d. log-odds draws from ``sampler`` (see the module docstring).

    ``group0`` (uint32): the draws of groups group0, group0 + 1, ... (lanes from 128 group0 on)
    instead of groups 0, 1, ...; each group's draws depend on its own counters only.
    """
    num_groups = -(-n // _G)
    lanes = jnp.arange(num_groups * _G, dtype=jnp.uint32).reshape(num_groups, _G)
    groups = jnp.arange(num_groups)
    counters = groups  # the group counters of the spares
    if group0 is not None:
        lanes = lanes + group0 * _U(_G)
        counters = groups.astype(jnp.uint32) + group0
    z, acc = _attempts(sampler, kd, _U(0), lanes, dtype)
    fail_words = _pack(~acc)  # (N, 4)
    ranks = jnp.where(acc, -1, _ranks(fail_words))
    need = jnp.sum(_popc(fail_words), axis=-1)  # rejected lanes per group
    zs, take, base = _fill(sampler, kd, counters, ranks, jnp.zeros_like(need), _U(0), _E1, dtype)
    z = jnp.where(take, zs, z)

    # exact finish: groups whose spares ran out get further batches until every lane is settled
    cap = min(num_groups, max(8, num_groups // 8))

    def outer_cond(state):
        _, base, _ = state
        return jnp.any(base < need)

    def outer_body(state):
        z, base, next_spare = state
        sel = jnp.nonzero(base < need, size=cap, fill_value=num_groups)[0]
        valid = sel < num_groups
        selc = jnp.minimum(sel, num_groups - 1)
        rk = ranks[selc]
        need_s = jnp.where(valid, need[selc], 0)
        zsub = z[selc]
        sel_counters = selc if group0 is None else counters[selc]

        def cond(s):
            return jnp.any(s[1] < need_s) & (s[2] < _U(_E1 + _E2 * _MAX_PASSES))

        def body(s):
            zsub, b, k = s
            zs, take, b = _fill(sampler, kd, sel_counters, rk, b, k, _E2, dtype)
            return jnp.where(take, zs, zsub), b, k + _U(_E2)

        zsub, bsub, _ = jax.lax.while_loop(cond, body, (zsub, base[selc], next_spare))
        # the iteration bound: lanes still unsettled (probability below 1e-300 for valid
        # parameters, whose acceptance rates exceed 1/4) get NaN, and their groups are closed
        zsub = jnp.where((rk >= 0) & (rk >= bsub[:, None]), jnp.nan, zsub)
        bsub = jnp.maximum(bsub, need_s)
        z = z.at[sel].set(zsub, mode="drop")
        base = base.at[sel].set(bsub, mode="drop")
        return z, base, next_spare

    z, _, _ = jax.lax.while_loop(outer_cond, outer_body, (z, base, _U(_E1)))
    return z.reshape(-1)[:n]


def _beta_logodds(kd, a, b, n: int, dtype, group0=None):
    """n log-odds draws; with ``group0`` (uint32), draws 128 group0, 128 group0 + 1, ..."""
    alg = _algorithm(a, b)
    proposals = [lambda u1, u2, s=s: s(a, b, u1, u2) for s in _SAMPLERS]

    # One rejection machinery for the three samplers: the proposal itself is a ``switch`` on the
    # (scalar) algorithm index, so only the chosen sampler runs, and the ranks/select/while-loop
    # code is compiled once instead of once per sampler (a third of the compile time). Under
    # vmap with batched (a, b) the switch becomes a select: every sampler runs on every lane and
    # each lane keeps its own.
    def attempt(u1, u2):
        return jax.lax.switch(alg, proposals, u1, u2)  # alg 5, 6 clamp to 4: no attempts

    route = jnp.where(alg == 5, 1, jnp.where(alg == 6, 2, 0))
    lane0 = None if group0 is None else group0 * _U(_G)
    return jax.lax.switch(
        route,
        [
            lambda: _rejection(attempt, kd, n, dtype, group0),
            lambda: _large_logodds(kd, a, b, n, dtype, lane0),
            lambda: _tiny_one_side(a, b, n, dtype),
        ],
    )


# --- gradients ---------------------------------------------------------------------------------


def _dlog_gamma(alpha, log_g):
    """∂ log G / ∂ alpha for a Gamma(alpha, 1) draw G = exp(log_g) (implicit reparameterisation).

    ``jax.lax.random_gamma_grad`` where G is representable; for G < 1e-30 the limit
    (ψ(alpha + 1) - log G)/alpha of P(alpha, G) ≈ G^alpha/Γ(alpha + 1) (relative error O(G)).
    """
    tiny = log_g < -69.0
    g = jnp.exp(jnp.where(tiny, 0.0, log_g))
    # jax's signature asks for dtype=, which its broadcasting wrapper fills in (and refuses)
    exact = jax.lax.random_gamma_grad(alpha, g) / g  # pyright: ignore[reportCallIssue]
    limit = (jax.scipy.special.digamma(alpha + 1.0) - log_g) / alpha
    return jnp.where(tiny, limit, exact)


@functools.partial(jax.custom_jvp, nondiff_argnums=(3, 4))
def _beta_core(kd, a, b, n: int, dtype):
    return jax.nn.sigmoid(_beta_logodds(kd, a, b, n, dtype))


@_beta_core.defjvp
def _beta_core_jvp(n, dtype, primals, tangents):
    kd, a, b = primals
    _, da, db = tangents
    z = _beta_logodds(kd, a, b, n, dtype)
    return _pathwise_jvp(kd, a, b, da, db, z, jnp.arange(n, dtype=jnp.uint32), dtype)


def _pathwise_jvp(kd, a, b, da, db, z, lanes, dtype):
    """(B, dB) for log-odds draws z at counters ``lanes`` (see the module docstring)."""
    out = jax.nn.sigmoid(z)
    # S ~ Gamma(a + b) independent of B, from counters of the same key no attempt ever uses
    log_s = _loggamma(kd, 3, a + b, lanes, dtype)
    log_b, log_1mb = jax.nn.log_sigmoid(z), jax.nn.log_sigmoid(-z)
    d1 = _dlog_gamma(a, log_b + log_s)
    d2 = _dlog_gamma(b, log_1mb + log_s)
    w = jnp.exp(log_b + log_1mb)  # B (1 - B)
    # where B rounds to 0 or 1 the draw does not move (and d1 or d2 is infinite there)
    dout = jnp.where(w > 0, w * (d1 * da - d2 * db), 0.0)
    return out, dout


# one compiled sampler per (n, dtype): new parameter values or keys never recompile
_beta_jit = jax.jit(_beta_core, static_argnums=(3, 4))


@functools.partial(jax.custom_jvp, nondiff_argnums=(4, 5))
def _beta_groups(kd, a, b, group0, n: int, dtype):
    """Draws 128 group0, ..., 128 group0 + n - 1 of ``_beta_core`` (of any longer call)."""
    return jax.nn.sigmoid(_beta_logodds(kd, a, b, n, dtype, group0))


@_beta_groups.defjvp
def _beta_groups_jvp(n, dtype, primals, tangents):
    kd, a, b, group0 = primals
    _, da, db, _ = tangents
    z = _beta_logodds(kd, a, b, n, dtype, group0)
    lanes = group0 * _U(_G) + jnp.arange(n, dtype=jnp.uint32)
    return _pathwise_jvp(kd, a, b, da, db, z, lanes, dtype)


_beta_groups_jit = jax.jit(_beta_groups, static_argnums=(4, 5))


# --- public -------------------------------------------------------------------------------------


def beta(
    key: PRNGKeyArray,
    a: ArrayLike,
    b: ArrayLike,
    shape: tuple[int, ...] = (),
    dtype=None,
) -> Float[Array, "*shape"]:
    """Exact draws of Beta(a, b) of the given shape (see the module docstring).

    Args:
        key: a JAX PRNG key (any implementation; Threefry keys are used directly).
        a, b: positive shape parameters. Scalars take the fast path; arrays broadcast to
            ``shape`` fall back to ``jax.random.beta`` (exact, slower).
        shape: output shape (at most 2^32 - 1 elements per call).
        dtype: float32 (default without x64) or float64.
    Returns:
        Draws of shape ``shape``; differentiable in a and b (pathwise, unbiased).
    """
    if dtype is None:
        dtype = jax.dtypes.canonicalize_dtype(jnp.float64)
    dtype = jnp.dtype(dtype)
    shape = tuple(int(s) for s in shape)
    a = jnp.asarray(a, dtype)
    b = jnp.asarray(b, dtype)
    if a.ndim or b.ndim:
        return jax.random.beta(key, a, b, shape, dtype)
    n = math.prod(shape)
    if n == 0:
        return jnp.zeros(shape, dtype)
    if n >= 2**32 - _G:
        raise ValueError(f"beta: at most 2^32 - {_G} draws per call, got shape {shape}; split it.")
    return _beta_jit(raw_key(key), a, b, n, dtype).reshape(shape)


def slice_rows(full, start, count: int):
    """full[start : start + count] for a traced start <= len(full), padded past the end (never
    clamped: ``dynamic_slice`` would shift an overhanging window back)."""
    full = jnp.concatenate([full, jnp.zeros((count,), full.dtype)])
    return jax.lax.dynamic_slice(full, (jnp.asarray(start, jnp.int32),), (count,))


def beta_rows(
    key: PRNGKeyArray,
    a: ArrayLike,
    b: ArrayLike,
    num_samples: int,
    start: ArrayLike,
    count: int,
    dtype=None,
) -> Float[Array, " count"]:
    """Draws start, ..., start + count - 1 of ``beta(key, a, b, (num_samples,), dtype)``, exactly.

    Computes only the 128-lane groups that hold those draws (memory O(count), not
    O(num_samples)), so a device can draw its own rows of a long call. ``start`` may be traced
    (an int array, 0 <= start <= num_samples; positions at or past ``num_samples`` hold other
    draws of the law); ``num_samples`` and ``count`` are static. Array parameters fall back to
    slicing the whole call. Differentiable in a and b like ``beta``.
    """
    if dtype is None:
        dtype = jax.dtypes.canonicalize_dtype(jnp.float64)
    dtype = jnp.dtype(dtype)
    num_samples, count = int(num_samples), int(count)
    a = jnp.asarray(a, dtype)
    b = jnp.asarray(b, dtype)
    if a.ndim or b.ndim or count == 0:
        return slice_rows(beta(key, a, b, (num_samples,), dtype), start, count)
    if num_samples >= 2**32 - _G:
        raise ValueError(f"beta_rows: at most 2^32 - {_G} draws per call, got {num_samples}.")
    start = jnp.asarray(start).astype(jnp.uint32)
    group0 = start // _U(_G)
    num_lanes = (-(-(count + _G - 1) // _G)) * _G  # whole groups covering any start
    z = _beta_groups_jit(raw_key(key), a, b, group0, num_lanes, dtype)
    return jax.lax.dynamic_slice(z, ((start - group0 * _U(_G)).astype(jnp.int32),), (count,))
