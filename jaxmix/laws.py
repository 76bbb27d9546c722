"""Laws of a scalar mixup weight W (floor 2).

A law is an Equinox module: its parameters are array leaves, so a law can be passed through
``jit``, batched with ``vmap`` (build it with array parameters inside the vmapped function, or
vmap over a law whose leaves carry a leading axis) and differentiated with ``grad``.

Every law answers what the moment maps need:

- ``moment(k)``            E[W^k] (k a static Python int)
- ``partial_moment(k, t)`` E[W^k 1{W < t}]  (the lower partial moment about a cut point t)
- ``cdf(w)``, ``quantile(q)``, ``log_prob(w)``, ``support``, ``sample(key, shape)``
- derived: ``mean()``, ``variance()``

A user law subclasses :class:`AbstractLaw` and implements the abstract methods.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from jaxmix import _checks, special
from jaxmix.special import betainc, betaincinv

Scalar = Float[Array, ""]


class AbstractLaw(eqx.Module):
    """The law of one scalar mixup weight W. Subclass it to define your own weight law."""

    @abc.abstractmethod
    def sample(self, key: PRNGKeyArray, shape: tuple[int, ...] = ()) -> Float[Array, "*shape"]:
        """Draw independent weights of the given shape."""

    def sample_rows(
        self, key: PRNGKeyArray, num_samples: int, start: ArrayLike, count: int
    ) -> Float[Array, " count"]:
        """Draws start, ..., start + count - 1 of ``sample(key, (num_samples,))``, exactly.

        ``start`` may be traced (0 <= start <= num_samples); positions at or past
        ``num_samples`` hold unspecified values. ``num_samples`` and ``count`` are static. This
        default draws all ``num_samples`` and slices (memory O(num_samples)); the built-in laws
        compute only the requested draws (memory O(count)). A user law whose draws are
        counter-based can override it the same way.
        """
        from jaxmix import sampling

        return sampling.slice_rows(self.sample(key, (int(num_samples),)), start, int(count))

    @abc.abstractmethod
    def moment(self, k: int) -> Scalar:
        """Raw moment E[W^k] for a static integer k >= 0."""

    @abc.abstractmethod
    def partial_moment(self, k: int, t: ArrayLike) -> Float[Array, " ..."]:
        """Lower partial moment E[W^k 1{W < t}] (broadcasts over t)."""

    @abc.abstractmethod
    def cdf(self, w: ArrayLike) -> Float[Array, " ..."]:
        """P(W <= w)."""

    @abc.abstractmethod
    def log_prob(self, w: ArrayLike) -> Float[Array, " ..."]:
        """log density at w; -inf outside the support."""

    def quantile(self, q: ArrayLike) -> Float[Array, " ..."]:
        """Inverse cdf: the w with P(W <= w) = q, for q in [0, 1] (broadcasts over q).

        Every built-in law implements it (differentiable in q and in every parameter); a user
        law that needs it overrides this method.
        """
        raise NotImplementedError(
            f"{type(self).__name__} does not define quantile(q); override AbstractLaw.quantile."
        )

    @property
    @abc.abstractmethod
    def support(self) -> tuple[Scalar, Scalar]:
        """(lower, upper) end points of the support."""

    def mean(self) -> Scalar:
        """E[W]."""
        return self.moment(1)

    def variance(self) -> Scalar:
        """Var[W] = E[W^2] - E[W]^2."""
        return self.moment(2) - self.moment(1) ** 2


def _float_param(name: str) -> Callable[[ArrayLike], Array]:
    """Converter of the law parameter ``name``: the default float dtype, else a TypeError."""

    def convert(v: ArrayLike) -> Array:
        return _checks.to_float(v, name)

    return convert


def check_law(law, name: str = "weights") -> AbstractLaw:
    """TypeError unless ``law`` is an :class:`AbstractLaw`."""
    if not isinstance(law, AbstractLaw):
        raise TypeError(
            f"{name} must be a jaxmix law such as jaxmix.Beta(0.4, 0.4) or jaxmix.EpBeta(...), "
            f"got {type(law).__name__}."
        )
    return law


def _check_probability(q, dtype, owner: str):
    """q as an array of ``dtype``, in [0, 1].

    Otherwise a ValueError (concrete q) or an ``eqx.error_if`` (traced q).
    """
    if isinstance(q, (str, bytes)) or q is None:
        raise TypeError(
            f"{owner}.quantile: q must be a probability in [0, 1], got {type(q).__name__}."
        )
    q = jnp.asarray(q, dtype)
    bad = ~((q >= 0) & (q <= 1))  # also catches NaN
    if _checks.is_concrete(q):
        if bool(jnp.any(bad)):
            raise ValueError(
                f"{owner}.quantile: q must be a probability in [0, 1], "
                f"got {jnp.asarray(q).tolist()}."
            )
        return q
    return eqx.error_if(q, jnp.any(bad), f"{owner}.quantile: q must be a probability in [0, 1].")


# --- Beta building blocks (shared by Beta and EpBeta) ------------------------------------------


def _beta_moment(a, b, k: int):
    """E[B^k] = prod_{i<k} (a+i)/(a+b+i) for B ~ Beta(a, b)."""
    out = jnp.ones_like(a + b)
    for i in range(k):
        out = out * (a + i) / (a + b + i)
    return out


def _beta_central_moments(a, b, k: int):
    """[E[(B - m)^j] for j = 0..k], B ~ Beta(a, b), m = a/(a+b), without cancellation.

    From x(1-x) f'(x) = ((a-1)(1-x) - (b-1)x) f(x), integration by parts gives
    c_{j+1} = j (m(1-m) c_{j-1} + (1-2m) c_j) / (kappa + j), kappa = a + b, with
    m(1-m) = ab/kappa^2 and 1 - 2m = (b-a)/kappa formed from a, b directly.
    """
    kappa = a + b
    m1m = (a / kappa) * (b / kappa)
    skew = (b - a) / kappa
    c = [jnp.ones_like(kappa), jnp.zeros_like(kappa)]
    for j in range(1, k):
        c.append(j * (m1m * c[j - 1] + skew * c[j]) / (kappa + j))
    return c[: k + 1]


def _beta_partial_moment(a, b, k: int, t):
    """E[B^k 1{B < t}] = E[B^k] I_t(a+k, b), t clipped to [0, 1]."""
    t = jnp.clip(t, 0.0, 1.0)
    return _beta_moment(a, b, k) * betainc(a + k, b, t)


_SERIES_TERMS = 300  # terms of the lower-tail series (ratio <= 0.8: 0.8^300 * 300^6 < 1e-14)
_SERIES_RATIO = 0.8  # the series is used where kappa t / a <= this


def _beta_lower_tail_moments(a, b, k: int, t):
    """[M_j = E[(t - B)^j 1{B < t}] for j = 0..k], B ~ Beta(a, b), 0 < t < 1, as positive sums.

    M_j = t^(a+j) (1-t)^(b+j) B(a, j+1)/B(a, b) * 2F1(a+b+j, j+1; a+j+1; t) (substitute x = t u
    and apply Euler's transformation); every term of the series is positive. Its term ratio is
    about kappa t/a for n << a and t beyond, so a fixed number of terms suffices where
    kappa t/a <= ``_SERIES_RATIO`` (the caller uses it only there).
    """
    kappa = a + b
    lt, l1t = jnp.log(t), jnp.log1p(-t)
    # log[t^a (1-t)^b / (a B(a, b))], free of cancellation for large a, b
    lp = special._log_prefactor(a, b, t, lt, l1t)
    out = []
    log_ratio = jnp.zeros_like(lp)  # log[j! a / (a (a+1) ... (a+j))] = log B(a, j+1) a
    for j in range(k + 1):
        if j > 0:
            log_ratio = log_ratio + jnp.log(j / (a + j))

        def body(n, carry, j=j):
            term, total = carry
            nf = jnp.asarray(n, t.dtype)
            term = term * (kappa + j + nf) * (j + 1 + nf) * t / ((a + j + 1 + nf) * (nf + 1))
            return term, total + term

        one = jnp.ones_like(lp)
        _, series = jax.lax.fori_loop(0, _SERIES_TERMS, body, (one, one))
        out.append(jnp.exp(lp + j * (lt + l1t) + log_ratio) * series)
    return out


def _epbeta_partial_moment(a, b, eps0, s, k: int, t):
    """E[W^k 1{W < t}] for W = s B - eps0, B ~ Beta(a, b).

    In the lower tail of B (kappa tb / a <= ``_SERIES_RATIO``, tb = (t + eps0)/s) it expands
    W^k about the cut: W^k = sum_j C(k, j) t^(k-j) (W - t)^j with W - t = -s (tb - B), and
    E[(tb - B)^j 1{B < tb}] from positive series; for t <= 0 every term then has the sign of
    (-1)^k, so nothing cancels. Elsewhere it expands about -eps0 with E[B^j 1{B < tb}].
    """
    dt = a.dtype
    t = jnp.asarray(t, dt)
    tb = jnp.clip((t + eps0) / s, 0.0, 1.0)
    affine = _affine_moment(lambda j: _beta_partial_moment(a, b, j, tb), -eps0, s, k)
    series_ok = ((a + b) * tb <= _SERIES_RATIO * a) & (tb > 0)
    tbs = jnp.where(series_ok, tb, 0.5 * a / (a + b))
    tt = jnp.where(series_ok, t, tbs * s - eps0)
    mj = _beta_lower_tail_moments(a, b, k, tbs)
    tail = sum(math.comb(k, j) * tt ** (k - j) * (-s) ** j * mj[j] for j in range(k + 1))
    return jnp.where(tb <= 0, 0.0, jnp.where(series_ok, tail, affine))


def _beta_log_prob(a, b, x):
    """log Beta(a, b) density at x: -inf outside [0, 1]; at x = 0 +inf, log b or -inf as a <, =, > 1
    (at x = 1 the same with b and a); inside, log B is free of cancellation for large a, b."""
    inside = (x > 0) & (x < 1)
    xs = jnp.where(inside, x, 0.5)
    lx, ly = jnp.log(xs), jnp.log1p(-xs)
    # x^(a-1) (1-x)^(b-1) / B(a, b) = [x^a (1-x)^b / (a B(a, b))] * a / (x (1-x))
    lpf = special._log_prefactor(a, b, xs, lx, ly)
    val = lpf + jnp.log(a) - lx - ly
    inf = jnp.asarray(jnp.inf, val.dtype)
    at0 = jnp.where(a < 1, inf, jnp.where(a == 1, jnp.log(b), -inf))
    at1 = jnp.where(b < 1, inf, jnp.where(b == 1, jnp.log(a), -inf))
    edge = jnp.where(x == 0, at0, jnp.where(x == 1, at1, -inf))
    return jnp.where(inside, val, edge)


def _affine_moment(base_moment, lo, scale, k: int):
    """E[(lo + scale*B)^k] from the moments of B: sum_j C(k,j) scale^j lo^(k-j) base_moment(j)."""
    return sum(math.comb(k, j) * scale**j * lo ** (k - j) * base_moment(j) for j in range(k + 1))


def _beta_sample(key, a, b, shape, dtype):
    """Exact Beta(a, b) draws via ``jaxmix.sampling.beta`` (scalar a, b; pathwise gradients)."""
    from jaxmix import sampling  # local import: sampling sits beside laws, imports no jaxmix

    return sampling.beta(key, a, b, shape, dtype)


def _beta_sample_rows(key, a, b, num_samples, start, count, dtype):
    """Draws start, ..., start + count - 1 of ``_beta_sample(key, a, b, (num_samples,), dtype)``."""
    from jaxmix import sampling

    return sampling.beta_rows(key, a, b, num_samples, start, count, dtype)


def _uniform_rows(key, low, high, num_samples: int, start, count: int):
    """Draws start, ..., start + count - 1 of ``jax.random.uniform(key, (num_samples,), ...)``.

    With JAX's partitionable Threefry (``jax_threefry_partitionable``, the default), element r
    of ``jax.random.bits`` is the Threefry-2x32 block of counter (0, r) (two words XORed for 32
    bits, concatenated for 64); this recomputes those blocks for the requested r only and maps
    them to floats as ``jax.random.uniform`` does. Other keys or settings slice the whole call.
    """
    from jaxmix import sampling

    dtype = jnp.dtype(low.dtype)
    threefry = jnp.issubdtype(key.dtype, jax.dtypes.prng_key) and (
        str(jax.random.key_impl(key)) == "threefry2x32"
    )
    if not (
        threefry
        and getattr(jax.config, "jax_threefry_partitionable", False)
        and num_samples < 2**32
    ):
        full = jax.random.uniform(key, (num_samples,), dtype=dtype, minval=low, maxval=high)
        return sampling.slice_rows(full, start, count)
    kd = jax.random.key_data(key)
    r = jnp.asarray(start).astype(jnp.uint32) + jnp.arange(count, dtype=jnp.uint32)
    hi, lo = sampling.threefry2x32(kd[0], kd[1], jnp.zeros_like(r), r)
    if dtype == jnp.float64:
        bits = (hi.astype(jnp.uint64) << np.uint64(32)) | lo.astype(jnp.uint64)
        one = jnp.asarray(np.array(1.0, np.float64).view(np.uint64))
        shift = np.uint64(64 - 52)
    else:
        bits = hi ^ lo
        one = jnp.asarray(np.array(1.0, np.float32).view(np.uint32))
        shift = np.uint32(32 - 23)
    floats = jax.lax.bitcast_convert_type((bits >> shift) | one, dtype) - jnp.asarray(1.0, dtype)
    return jax.lax.max(low, floats * (high - low) + low)


# --- final laws ------------------------------------------------------------------------------


class Beta(AbstractLaw):
    """W ~ Beta(alpha, beta) on [0, 1]. E[W] = alpha/(alpha+beta).

    Any law on [0, 1] shrinks variance (Corollary 9); Beta(a, a) by the factor (a+1)/(2a+1).
    """

    alpha: Float[Array, " ..."] = eqx.field(converter=_float_param("alpha"))
    beta: Float[Array, " ..."] = eqx.field(converter=_float_param("beta"))

    def __check_init__(self):
        # concrete: raise now; traced: the fields become their run-time-checked selves
        _set = object.__setattr__  # (frozen module: this is how a check replaces a field)
        _set(self, "alpha", _checks.check_positive(self.alpha, "alpha", "Beta"))
        _set(self, "beta", _checks.check_positive(self.beta, "beta", "Beta"))

    def sample(self, key, shape=()):
        return _beta_sample(key, self.alpha, self.beta, tuple(shape), self.alpha.dtype)

    def sample_rows(self, key, num_samples, start, count):
        a, b, dt = self.alpha, self.beta, self.alpha.dtype
        return _beta_sample_rows(key, a, b, int(num_samples), start, int(count), dt)

    def moment(self, k):
        return _beta_moment(self.alpha, self.beta, k)

    def mean(self):
        """alpha/(alpha+beta)."""
        return self.alpha / (self.alpha + self.beta)

    def variance(self):
        """alpha beta/((alpha+beta)^2 (alpha+beta+1)) = m(1-m)/(kappa+1), without cancellation."""
        return _beta_central_moments(self.alpha, self.beta, 2)[2]

    def central_moment(self, k: int) -> Scalar:
        """E[(W - E[W])^k] for a static integer k >= 0, by a recurrence free of cancellation."""
        return _beta_central_moments(self.alpha, self.beta, k)[k]

    def partial_moment(self, k, t):
        return _beta_partial_moment(self.alpha, self.beta, k, jnp.asarray(t, self.alpha.dtype))

    def cdf(self, w):
        return betainc(self.alpha, self.beta, jnp.clip(jnp.asarray(w, self.alpha.dtype), 0.0, 1.0))

    def quantile(self, q):
        """Beta(alpha, beta) quantile, ``jaxmix.special.betaincinv``; q must lie in [0, 1]."""
        return betaincinv(self.alpha, self.beta, _check_probability(q, self.alpha.dtype, "Beta"))

    def log_prob(self, w):
        return _beta_log_prob(self.alpha, self.beta, jnp.asarray(w, self.alpha.dtype))

    @property
    def support(self):
        return jnp.zeros_like(self.alpha), jnp.ones_like(self.alpha)


class EpBeta(AbstractLaw):
    """Extended-support Beta: W = s*B - eps0 with B ~ Beta(alpha, beta), s = 1 + eps0 + eps1.

    Support [-eps0, 1 + eps1]; eps0 = eps1 = 0 is Beta(alpha, beta). With m = alpha/(alpha+beta)
    and kappa = alpha+beta: E[W] = s*m - eps0, Var[W] = s^2 m(1-m)/(kappa+1). Variance (and
    covariance) are preserved by mixup when E[W^2] = E[W] (see ``jaxmix.select_epbeta``).
    """

    alpha: Float[Array, " ..."] = eqx.field(converter=_float_param("alpha"))
    beta: Float[Array, " ..."] = eqx.field(converter=_float_param("beta"))
    eps0: Float[Array, " ..."] = eqx.field(converter=_float_param("eps0"))
    eps1: Float[Array, " ..."] = eqx.field(converter=_float_param("eps1"))

    def __check_init__(self):
        # concrete: raise now; traced: the fields become their run-time-checked selves
        _set = object.__setattr__
        _set(self, "alpha", _checks.check_positive(self.alpha, "alpha", "EpBeta"))
        _set(self, "beta", _checks.check_positive(self.beta, "beta", "EpBeta"))
        _set(self, "eps0", _checks.check_nonnegative(self.eps0, "eps0", "EpBeta"))
        _set(self, "eps1", _checks.check_nonnegative(self.eps1, "eps1", "EpBeta"))
        if _checks.is_concrete(self.eps0) and _checks.is_concrete(self.eps1):
            with np.errstate(over="ignore", invalid="ignore"):
                bad = ~np.isfinite(1.0 + np.asarray(self.eps0) + np.asarray(self.eps1))
        else:
            bad = ~jnp.isfinite(1.0 + self.eps0 + self.eps1)
        msg = "EpBeta: 1 + eps0 + eps1 must be finite in the float dtype; pass smaller eps0, eps1."
        _set(self, "eps1", _checks.fail_if(self.eps1, bad, msg))

    @property
    def scale(self) -> Scalar:
        """s = 1 + eps0 + eps1, the length of the support."""
        return 1.0 + self.eps0 + self.eps1

    def sample(self, key, shape=()):
        b = _beta_sample(key, self.alpha, self.beta, tuple(shape), self.alpha.dtype)
        return self.scale * b - self.eps0

    def sample_rows(self, key, num_samples, start, count):
        a, b, dt = self.alpha, self.beta, self.alpha.dtype
        b = _beta_sample_rows(key, a, b, int(num_samples), start, int(count), dt)
        return self.scale * b - self.eps0

    def mean(self):
        """s m - eps0 = m + (m eps1 - (1-m) eps0), so that large eps0, eps1 do not cancel."""
        kappa = self.alpha + self.beta
        m, m1 = self.alpha / kappa, self.beta / kappa
        return m + (m * self.eps1 - m1 * self.eps0)

    def central_moment(self, k: int) -> Scalar:
        """E[(W - E[W])^k] = s^k E[(B - m)^k] (Beta central moments by recurrence)."""
        return self.scale**k * _beta_central_moments(self.alpha, self.beta, k)[k]

    def variance(self):
        """s^2 m(1-m)/(kappa+1), without cancellation."""
        return self.central_moment(2)

    def moment(self, k):
        """E[W^k] = sum_j C(k, j) E[W]^(k-j) s^j E[(B - m)^j] (central expansion: no term of
        size s^k cancels against another, unlike the expansion about -eps0). A moment beyond
        the dtype's range (e.g. float32 with eps0 = eps1 = 1e30) is inf, never NaN."""
        mu = self.mean()
        c = _beta_central_moments(self.alpha, self.beta, k)
        s = self.scale

        def scaled(j):  # s^j c_j; a zero c_j (odd j, symmetric law) gives 0 where s^j overflows
            sj = s**j
            return jnp.where(jnp.isfinite(sj), sj * c[j], jnp.where(c[j] == 0, 0.0, sj * c[j]))

        return sum(math.comb(k, j) * mu ** (k - j) * scaled(j) for j in range(k + 1) if j != 1)

    def partial_moment(self, k, t):
        return _epbeta_partial_moment(self.alpha, self.beta, self.eps0, self.scale, k, t)

    def cdf(self, w):
        tb = (jnp.asarray(w, self.alpha.dtype) + self.eps0) / self.scale
        return betainc(self.alpha, self.beta, jnp.clip(tb, 0.0, 1.0))

    def quantile(self, q):
        """s * (Beta(alpha, beta) quantile) - eps0; q must lie in [0, 1]."""
        q = _check_probability(q, self.alpha.dtype, "EpBeta")
        return self.scale * betaincinv(self.alpha, self.beta, q) - self.eps0

    def log_prob(self, w):
        tb = (jnp.asarray(w, self.alpha.dtype) + self.eps0) / self.scale
        return _beta_log_prob(self.alpha, self.beta, tb) - jnp.log(self.scale)

    @property
    def support(self):
        return -self.eps0, 1.0 + self.eps1


class Uniform(AbstractLaw):
    """W ~ Unif(low, high); the default Unif(0, 1) shrinks every (co)variance by 2/3."""

    low: Float[Array, " ..."] = eqx.field(default=0.0, converter=_float_param("low"))
    high: Float[Array, " ..."] = eqx.field(default=1.0, converter=_float_param("high"))

    def __check_init__(self):
        # concrete: raise now; traced: the fields become their run-time-checked selves
        _set = object.__setattr__
        _set(self, "low", _checks.check_finite_scalar(self.low, "Uniform: low"))
        _set(self, "high", _checks.check_finite_scalar(self.high, "Uniform: high"))
        both = _checks.is_concrete(self.low) and _checks.is_concrete(self.high)
        bad = np.asarray(self.high) <= np.asarray(self.low) if both else self.high <= self.low
        shown = (
            f"low={np.asarray(self.low).tolist()}, high={np.asarray(self.high).tolist()}"
            if both
            else "traced values"
        )
        msg = f"Uniform: need low < high, got {shown}."
        _set(self, "high", _checks.fail_if(self.high, bad, msg))
        with np.errstate(over="ignore", invalid="ignore"):
            width = np.asarray(self.high) - np.asarray(self.low) if both else self.high - self.low
        wide = ~np.isfinite(width) if both else ~jnp.isfinite(width)
        msg = "Uniform: high - low must be finite in the float dtype; pass a narrower (low, high)."
        _set(self, "high", _checks.fail_if(self.high, wide, msg))

    def sample(self, key, shape=()):
        return jax.random.uniform(
            key, tuple(shape), dtype=self.low.dtype, minval=self.low, maxval=self.high
        )

    def sample_rows(self, key, num_samples, start, count):
        return _uniform_rows(key, self.low, self.high, int(num_samples), start, int(count))

    def _power_integral(self, t, k):
        # integral_low^t w^k dw / (high - low) = (t - low)/(high - low) * sum_i t^i low^(k-i)/(k+1)
        # (the difference quotient (t^(k+1) - low^(k+1))/(t - low) written out, so that it
        # neither cancels for close end points nor overflows in the squares of large ones)
        poly = sum(t**i * self.low ** (k - i) for i in range(k + 1)) / (k + 1)
        return (t - self.low) / (self.high - self.low) * poly

    def moment(self, k):
        return sum(self.high**i * self.low ** (k - i) for i in range(k + 1)) / (k + 1)

    def mean(self):
        """(low + high)/2, as low/2 + high/2 (finite for end points near the largest float)."""
        return 0.5 * self.low + 0.5 * self.high

    def variance(self):
        """(high - low)^2/12."""
        return (self.high - self.low) ** 2 / 12.0

    def central_moment(self, k: int) -> Scalar:
        """E[(W - E[W])^k] = ((high - low)/2)^k/(k+1) for even k, 0 for odd k."""
        half = 0.5 * (self.high - self.low)
        return half**k / (k + 1) if k % 2 == 0 else jnp.zeros_like(half)

    def partial_moment(self, k, t):
        t = jnp.clip(jnp.asarray(t, self.low.dtype), self.low, self.high)
        return self._power_integral(t, k)

    def cdf(self, w):
        w = jnp.asarray(w, self.low.dtype)
        return jnp.clip((w - self.low) / (self.high - self.low), 0.0, 1.0)

    def quantile(self, q):
        """low + q (high - low); q must lie in [0, 1]."""
        q = _check_probability(q, self.low.dtype, "Uniform")
        return self.low + q * (self.high - self.low)

    def log_prob(self, w):
        w = jnp.asarray(w, self.low.dtype)
        inside = (w >= self.low) & (w <= self.high)
        return jnp.where(inside, -jnp.log(self.high - self.low), -jnp.inf)

    @property
    def support(self):
        return self.low, self.high
