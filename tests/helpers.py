"""Shared test helpers: statistical assertions with stated false-failure rates, finite differences.

Statistical assertions compare a Monte Carlo estimate with its exact value through a z-score
z = (estimate - exact) / standard_error, the standard error itself estimated from the same sample.
With Z_MAX = 5, one two-sided comparison fails by chance with probability 5.7e-7 (normal tail);
a test making N comparisons fails falsely with probability at most N * 5.7e-7 (union bound), e.g.
< 1e-4 for 100 statistics. Keys are fixed, so a passing test stays passing.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

Z_MAX = 5.0


def zscores_mean(samples, exact):
    """z-scores of the column means of samples (m, d) against exact (d,)."""
    s = np.asarray(samples, dtype=np.float64).reshape(len(samples), -1)
    m = s.shape[0]
    se = s.std(0, ddof=1) / math.sqrt(m)
    return (s.mean(0) - np.asarray(exact, np.float64).ravel()) / se


def zscores_cov(samples, exact_cov):
    """z-scores of every entry of the 1/m sample covariance against exact (d, d).

    The entry (k, l) is the mean of the products (x_k - x̄_k)(x_l - x̄_l); its standard error is
    the standard deviation of those products over sqrt(m) (the estimated mean adds O(1/m)).
    """
    s = np.asarray(samples, dtype=np.float64).reshape(len(samples), -1)
    m = s.shape[0]
    c = s - s.mean(0)
    prods = c[:, :, None] * c[:, None, :]
    est = prods.mean(0)
    se = prods.std(0, ddof=1) / math.sqrt(m)
    return (est - np.asarray(exact_cov, np.float64)) / se


def zscores_probs(labels, num_classes, exact_probs):
    """z-scores of class frequencies against exact probabilities (binomial standard error)."""
    labels = np.asarray(labels)
    m = labels.shape[0]
    freq = np.bincount(labels, minlength=num_classes) / m
    p = np.asarray(exact_probs, np.float64)
    se = np.sqrt(np.maximum(p * (1 - p), 1e-300) / m)
    return (freq - p) / se


def assert_summary_matches(pred, x_syn, labels_syn=None, *, z_max=Z_MAX, what=""):
    """Every moment in the predicted Summary matches the synthetic sample within z_max SEs.

    Returns the number of comparisons made (for the false-failure budget).
    """
    x_syn = np.asarray(x_syn, np.float64).reshape(len(x_syn), -1)
    checks = {
        "mean": zscores_mean(x_syn, pred.mean),
        "cov": zscores_cov(x_syn, pred.cov),
    }
    if labels_syn is not None and pred.class_probs is not None:
        labels_syn = np.asarray(labels_syn)
        num_classes = pred.class_probs.shape[0]
        checks["class_probs"] = zscores_probs(labels_syn, num_classes, pred.class_probs)
        for c in range(num_classes):
            rows = x_syn[labels_syn == c]
            if len(rows) < 50:
                continue
            checks[f"class_means[{c}]"] = zscores_mean(rows, pred.class_means[c])
            checks[f"class_covs[{c}]"] = zscores_cov(rows, pred.class_covs[c])
    count = 0
    for name, z in checks.items():
        z = np.asarray(z)
        count += z.size
        worst = float(np.nanmax(np.abs(z)))
        assert np.all(np.isfinite(z)), f"{what} {name}: non-finite z-scores {z}"
        assert worst < z_max, f"{what} {name}: max |z| = {worst:.2f} >= {z_max}\n{z}"
    return count


def dkwm_epsilon(num_draws: int, false_failure_rate: float) -> float:
    """DKW(M) band: P(sup |F_n - F| > eps) <= 2 exp(-2 n eps^2) = false_failure_rate."""
    return math.sqrt(math.log(2.0 / false_failure_rate) / (2.0 * num_draws))


def assert_cdf_matches(samples, cdf, *, false_failure_rate=1e-6):
    """Kolmogorov distance of the empirical CDF from ``cdf`` is within the DKWM band."""
    s = np.sort(np.asarray(samples, np.float64).ravel())
    n = s.size
    f = np.asarray(cdf(s), np.float64)
    upper = np.arange(1, n + 1) / n - f
    lower = f - np.arange(0, n) / n
    dist = max(upper.max(), lower.max())
    eps = dkwm_epsilon(n, false_failure_rate)
    assert dist < eps, f"KS distance {dist:.5f} exceeds the DKWM band {eps:.5f} (n={n})"
    return dist


def central_difference(f, x, h):
    """(f(x + h) - f(x - h)) / (2h) for a scalar function of a scalar."""
    return (f(x + h) - f(x - h)) / (2.0 * h)


def assert_grad_matches_fd(f, params: dict, *, h=1e-5, rtol=1e-6, atol=1e-9):
    """jax.grad of a scalar f(**params) against central differences in every parameter.

    Meant for float64 (enable x64 in the calling test); truncation error is O(h^2).
    """
    grads = jax.grad(lambda p: f(**p))({k: jnp.asarray(v, jnp.float64) for k, v in params.items()})
    for name, value in params.items():

        def f1(v, name=name):
            p = dict(params)
            p[name] = v
            return float(f(**{k: jnp.asarray(w, jnp.float64) for k, w in p.items()}))

        fd = central_difference(f1, float(value), h)
        g = float(grads[name])
        assert abs(g - fd) <= atol + rtol * abs(fd), (
            f"d/d{name}: grad {g!r} vs finite difference {fd!r}"
        )


class CompileCounter:
    """Counts XLA compilations while active (via jax.monitoring duration events).

    A program loaded from JAX's persistent compilation cache (``make test`` turns it on) is
    counted as well: for "a second call must not recompile" a cache hit is a compilation.
    """

    _EVENTS = (
        "/jax/core/compile/backend_compile_duration",
        "/jax/compilation_cache/cache_retrieval_time_sec",
    )

    def __enter__(self):
        self.count = 0

        def listener(event, duration, **kwargs):
            if event in self._EVENTS:
                self.count += 1

        self._listener = listener
        jax.monitoring.register_event_duration_secs_listener(listener)
        return self

    def __exit__(self, *exc):
        try:
            jax.monitoring.unregister_event_duration_listener(self._listener)
        except Exception:  # pragma: no cover - older/newer jax
            pass
        return False
