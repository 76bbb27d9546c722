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

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from jaxmix import _checks
from jaxmix.special import betainc, betaincinv

Scalar = Float[Array, ""]


class AbstractLaw(eqx.Module):
    """The law of one scalar mixup weight W. Subclass it to define your own weight law."""

    @abc.abstractmethod
    def sample(self, key: PRNGKeyArray, shape: tuple[int, ...] = ()) -> Float[Array, "*shape"]:
        """Draw independent weights of the given shape."""

    @abc.abstractmethod
    def moment(self, k: int) -> Scalar:
        """Raw moment E[W^k] for a static integer k >= 0."""

    @abc.abstractmethod
    def partial_moment(self, k: int, t: ArrayLike) -> Float[Array, "..."]:
        """Lower partial moment E[W^k 1{W < t}] (broadcasts over t)."""

    @abc.abstractmethod
    def cdf(self, w: ArrayLike) -> Float[Array, "..."]:
        """P(W <= w)."""

    @abc.abstractmethod
    def log_prob(self, w: ArrayLike) -> Float[Array, "..."]:
        """log density at w; -inf outside the support."""

    def quantile(self, q: ArrayLike) -> Float[Array, "..."]:
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


def check_law(law, name: str = "weights") -> AbstractLaw:
    """TypeError unless ``law`` is an :class:`AbstractLaw`."""
    if not isinstance(law, AbstractLaw):
        raise TypeError(
            f"{name} must be a jaxmix law such as jaxmix.Beta(0.4, 0.4) or jaxmix.EpBeta(...), "
            f"got {type(law).__name__}."
        )
    return law


def _check_probability(q, dtype, owner: str):
    """q as an array of ``dtype``; ValueError (concrete) or ``eqx.error_if`` (traced) unless in [0, 1]."""
    if isinstance(q, (str, bytes)) or q is None:
        raise TypeError(f"{owner}.quantile: q must be a probability in [0, 1], got {type(q).__name__}.")
    q = jnp.asarray(q, dtype)
    bad = ~((q >= 0) & (q <= 1))  # also catches NaN
    if _checks.is_concrete(q):
        if bool(jnp.any(bad)):
            raise ValueError(
                f"{owner}.quantile: q must be a probability in [0, 1], got {jnp.asarray(q).tolist()}."
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


def _beta_partial_moment(a, b, k: int, t):
    """E[B^k 1{B < t}] = E[B^k] I_t(a+k, b), t clipped to [0, 1]."""
    t = jnp.clip(t, 0.0, 1.0)
    return _beta_moment(a, b, k) * betainc(a + k, b, t)


def _beta_log_prob(a, b, x):
    """log Beta(a, b) density at x; -inf outside (0, 1) (and at end points where it vanishes)."""
    inside = (x > 0) & (x < 1)
    xs = jnp.where(inside, x, 0.5)
    val = (a - 1) * jnp.log(xs) + (b - 1) * jnp.log1p(-xs) - (
        jsp.gammaln(a) + jsp.gammaln(b) - jsp.gammaln(a + b)
    )
    return jnp.where(inside, val, -jnp.inf)


def _affine_moment(base_moment, lo, scale, k: int):
    """E[(lo + scale*B)^k] from the moments of B: sum_j C(k,j) scale^j lo^(k-j) base_moment(j)."""
    return sum(math.comb(k, j) * scale**j * lo ** (k - j) * base_moment(j) for j in range(k + 1))


def _beta_sample(key, a, b, shape, dtype):
    """Exact Beta(a, b) draws via ``jaxmix.sampling.beta`` (fast for scalar a, b; pathwise grads)."""
    from jaxmix import sampling  # local import: sampling sits beside laws, imports no jaxmix

    return sampling.beta(key, a, b, shape, dtype)


# --- final laws ------------------------------------------------------------------------------


class Beta(AbstractLaw):
    """W ~ Beta(alpha, beta) on [0, 1]. E[W] = alpha/(alpha+beta).

    Any law on [0, 1] shrinks variance (Corollary 9); Beta(a, a) by the factor (a+1)/(2a+1).
    """

    alpha: Float[Array, "..."] = eqx.field(converter=lambda v: _checks.to_float(v, "alpha"))
    beta: Float[Array, "..."] = eqx.field(converter=lambda v: _checks.to_float(v, "beta"))

    def __check_init__(self):
        # concrete: raise now; traced: the fields become their run-time-checked selves
        _set = object.__setattr__  # (frozen module: this is how a check replaces a field)
        _set(self, "alpha", _checks.check_positive(self.alpha, "alpha", "Beta"))
        _set(self, "beta", _checks.check_positive(self.beta, "beta", "Beta"))

    def sample(self, key, shape=()):
        return _beta_sample(key, self.alpha, self.beta, tuple(shape), self.alpha.dtype)

    def moment(self, k):
        return _beta_moment(self.alpha, self.beta, k)

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

    alpha: Float[Array, "..."] = eqx.field(converter=lambda v: _checks.to_float(v, "alpha"))
    beta: Float[Array, "..."] = eqx.field(converter=lambda v: _checks.to_float(v, "beta"))
    eps0: Float[Array, "..."] = eqx.field(converter=lambda v: _checks.to_float(v, "eps0"))
    eps1: Float[Array, "..."] = eqx.field(converter=lambda v: _checks.to_float(v, "eps1"))

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

    def moment(self, k):
        return _affine_moment(
            lambda j: _beta_moment(self.alpha, self.beta, j), -self.eps0, self.scale, k
        )

    def partial_moment(self, k, t):
        tb = (jnp.asarray(t, self.alpha.dtype) + self.eps0) / self.scale
        return _affine_moment(
            lambda j: _beta_partial_moment(self.alpha, self.beta, j, tb), -self.eps0, self.scale, k
        )

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

    low: Float[Array, "..."] = eqx.field(
        default=0.0, converter=lambda v: _checks.to_float(v, "low")
    )
    high: Float[Array, "..."] = eqx.field(
        default=1.0, converter=lambda v: _checks.to_float(v, "high")
    )

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
        _set(self, "high", _checks.fail_if(self.high, bad, f"Uniform: need low < high, got {shown}."))
        with np.errstate(over="ignore", invalid="ignore"):
            width = np.asarray(self.high) - np.asarray(self.low) if both else self.high - self.low
        wide = ~np.isfinite(width) if both else ~jnp.isfinite(width)
        msg = "Uniform: high - low must be finite in the float dtype; pass a narrower (low, high)."
        _set(self, "high", _checks.fail_if(self.high, wide, msg))

    def sample(self, key, shape=()):
        return jax.random.uniform(
            key, tuple(shape), dtype=self.low.dtype, minval=self.low, maxval=self.high
        )

    def _power_integral(self, t, k):
        # integral_low^t w^k dw / (high - low)
        return (t ** (k + 1) - self.low ** (k + 1)) / ((k + 1) * (self.high - self.low))

    def moment(self, k):
        return self._power_integral(self.high, k)

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
