"""Property-based checks of the library's edges (hypothesis): every input gets a clear error
naming the argument, or a finite, correct result -- never NaN, inf, a wrong number or a hang.

Examples per property (``settings(max_examples=...)``, no deadline; shapes are drawn from short
lists so that the compiled programs are few and reused):

- ``test_mixup_data_values``: 25 (float64/float32/int data with extreme, NaN and inf entries)
- ``test_mixup_keys_labels_tau``: 25 (keys, label codes of several dtypes and ranges, tau)
- ``test_summarize_labels``: 25 (codes up to ±2^40, int8/int64/uint32/float labels)
- ``test_law_constructors_and_methods``: 40 (Beta/EpBeta/Uniform parameters, extreme values)
- ``test_traced_law_parameters``: 20 (the same parameters traced under ``eqx.filter_jit``)
- ``test_predict``: 20 (laws, tau, replace, summaries of 1..5 rows)
- ``test_select_epbeta_clear_error_or_finite``: 10

The reference for "correct" is computed independently in float64 numpy (parent rows are
recovered from the mixed rows, class probabilities sum to 1, draws lie in the support).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxmix

pytestmark = pytest.mark.filterwarnings("ignore")

SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

EXTREME = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -0.0, 1e-45, 1e-30, 1e-8, 0.5, 1.0, 3.0, 1e8, 1e30, 3e38, 1e300, -1.0]),
)


def _raises_clearly(fn, *names):
    """Run fn; an exception must be ValueError/TypeError whose message names one of ``names``."""
    try:
        return fn(), None
    except (ValueError, TypeError) as err:
        msg = str(err)
        assert any(n in msg for n in names), f"error does not name {names}: {msg}"
        return None, err


# --- mixup ---------------------------------------------------------------------------------------


@settings(max_examples=25, **SETTINGS)
@given(
    values=st.lists(EXTREME, min_size=8, max_size=8),
    dtype=st.sampled_from([np.float64, np.float32, np.int64]),
)
def test_mixup_data_values(values, dtype):
    with np.errstate(all="ignore"):
        x = np.asarray(values, np.float64).reshape(4, 2)
        if dtype is np.int64:
            x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0).clip(-1e15, 1e15)
        x = x.astype(dtype)
    out, err = _raises_clearly(lambda: jaxmix.mixup(jax.random.key(0), x, 6, jaxmix.Uniform()), "x")
    with np.errstate(all="ignore"):
        x32 = x.astype(np.float32).astype(np.float64)
    valid = bool(np.all(np.abs(x32) <= np.finfo(np.float32).max / 2))
    if err is not None:
        assert not valid, f"valid data refused: {err}"
        return
    assert valid, "data beyond half the float32 range accepted"
    out = np.asarray(out, np.float64)
    assert out.shape == (6, 2) and np.all(np.isfinite(out))
    # every synthetic entry lies between the column's extremes (a convex mix of two rows)
    lo, hi = x32.min(0), x32.max(0)
    tol = 1e-6 * np.maximum(np.abs(lo), np.abs(hi)) + 1e-30
    assert np.all(out >= lo - tol) and np.all(out <= hi + tol)


@settings(max_examples=25, **SETTINGS)
@given(
    seed=st.integers(0, 2**32 - 1),
    codes=st.lists(st.integers(-3, 5), min_size=6, max_size=6),
    big=st.sampled_from([None, 2**31, 2**31 - 1, 2**40, 2**32 - 1]),
    ldtype=st.sampled_from([np.int64, np.int32, np.int8, np.uint32, np.float64]),
    tau=st.one_of(st.floats(-2, 3), st.sampled_from([np.nan, np.inf, "0.5", None, (0.5, 0.5)])),
)
def test_mixup_keys_labels_tau(seed, codes, big, ldtype, tau):
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    labels = np.asarray(codes, np.int64)
    if big is not None:
        labels[0] = big
    with np.errstate(all="ignore"):
        cast = labels.astype(ldtype)
    if not np.array_equal(cast.astype(np.float64), labels.astype(np.float64)):
        return  # not representable in this dtype: nothing to ask of jaxmix

    def call():
        return jaxmix.mixup(jax.random.key(seed), x, 8, jaxmix.Beta(2.0, 2.0), labels=cast, tau=tau)

    out, err = _raises_clearly(call, "labels", "tau")
    valid_tau = isinstance(tau, float) and math.isfinite(tau)
    valid_labels = labels.min() >= 0 and labels.max() < 2**31 - 1
    if err is not None:
        assert not (valid_tau and valid_labels), f"valid input refused: {err}"
        return
    assert valid_tau and valid_labels, "invalid input accepted"
    xs, ls = (np.asarray(a) for a in out)
    rows = xs[:, 0] / 2.0  # x row r is (2r, 2r+1): any mix has x1 = x0 + 1
    np.testing.assert_allclose(xs[:, 1], xs[:, 0] + 1, rtol=0, atol=1e-5)
    assert np.all((rows >= 0) & (rows <= 5))
    assert set(np.unique(ls)) <= set(labels.tolist())


# --- summarize / predict -------------------------------------------------------------------------


@jax.jit
def _traced_probs(x, labels):
    return jaxmix.summarize(x, labels, num_classes=4).class_probs


@settings(max_examples=25, **SETTINGS)
@given(
    codes=st.lists(st.integers(0, 3), min_size=8, max_size=8),
    big=st.sampled_from([None, -1, 4, 2**31, 2**40, 2**32 - 1, -(2**40)]),
    ldtype=st.sampled_from([np.int64, np.int8, np.uint32, np.float64, np.int32]),
    traced=st.booleans(),
)
def test_summarize_labels(codes, big, ldtype, traced):
    x = np.random.default_rng(0).normal(size=(8, 2))
    labels = np.asarray(codes, np.int64)
    if big is not None:
        labels[0] = big
    with np.errstate(all="ignore"):
        cast = labels.astype(ldtype)
    if not np.array_equal(cast.astype(np.float64), labels.astype(np.float64)):
        return
    valid = labels.min() >= 0 and labels.max() < 4
    if traced:
        if ldtype is np.float64 or not np.array_equal(cast.astype(np.int32), labels):
            return  # float labels are accepted only when concrete; jnp would wrap int64 itself
        try:
            probs = _traced_probs(x, jnp.asarray(cast))
        except Exception as err:  # noqa: BLE001 - the run-time error of a traced check
            assert not valid, f"valid labels refused: {err}"
            assert "jaxmix: labels" in str(err), str(err)[-400:]
            return
    else:
        out, err = _raises_clearly(lambda: jaxmix.summarize(x, cast, num_classes=4), "labels")
        if err is not None:
            assert not valid, f"valid labels refused: {err}"
            return
        probs = out.class_probs
    assert valid, "invalid labels accepted"
    np.testing.assert_allclose(np.asarray(probs), np.bincount(labels, minlength=4) / 8, atol=1e-6)


LAWS = st.one_of(
    st.builds(lambda a, b: ("Beta", (a, b)), EXTREME, EXTREME),
    st.builds(lambda a, b, e0, e1: ("EpBeta", (a, b, e0, e1)), EXTREME, EXTREME, EXTREME, EXTREME),
    st.builds(lambda lo, hi: ("Uniform", (lo, hi)), EXTREME, EXTREME),
)


def _valid_params(kind, p):
    p = np.asarray(p, np.float64)
    with np.errstate(all="ignore"):
        p32 = p.astype(np.float32).astype(np.float64)
    if not np.all(np.isfinite(p32)):
        return False
    if kind == "Beta":
        return bool(np.all(p32 > 0))
    if kind == "EpBeta":
        return bool(np.all(p32[:2] > 0) and np.all(p32[2:] >= 0))
    return bool(p32[0] < p32[1])


@settings(max_examples=40, **SETTINGS)
@given(law=LAWS, seed=st.integers(0, 2**31))
def test_law_constructors_and_methods(law, seed):
    kind, params = law
    names = {
        "Beta": ("alpha", "beta"),
        "EpBeta": ("alpha", "beta", "eps0", "eps1"),
        "Uniform": ("low", "high"),
    }
    built, err = _raises_clearly(lambda: getattr(jaxmix, kind)(*params), *names[kind])
    valid = _valid_params(kind, params)
    if err is not None:
        assert not valid, f"{kind}{params} refused: {err}"
        return
    assert valid, f"{kind}{params} accepted"
    lo, hi = (float(v) for v in built.support)
    draws = np.asarray(built.sample(jax.random.key(seed), (256,)), np.float64)
    assert np.all(np.isfinite(draws)), (kind, params)
    span = (hi - lo) if math.isfinite(hi - lo) else max(abs(lo), abs(hi))
    tol = 1e-6 * span
    assert np.all((draws >= lo - tol) & (draws <= hi + tol)), (
        kind,
        params,
        draws.min(),
        draws.max(),
    )


_TRACED_SAMPLE = {  # one compiled program per law class, reused by every example
    kind: eqx.filter_jit(
        lambda p, kind=kind: getattr(jaxmix, kind)(*p).sample(jax.random.key(0), (64,))
    )
    for kind in ("Beta", "EpBeta", "Uniform")
}


@settings(max_examples=20, **SETTINGS)
@given(law=LAWS)
def test_traced_law_parameters(law):
    """Invalid parameters built inside a jit: a run-time error naming the parameter (they were
    accepted: Beta(0, 1), Uniform(1, 0), EpBeta(1, 1, -5, .3) sampled silently wrong values)."""
    kind, params = law
    f = _TRACED_SAMPLE[kind]
    valid = _valid_params(kind, params)
    with np.errstate(all="ignore"):
        p = tuple(jnp.asarray(np.float32(v)) for v in params)
    try:
        draws = f(p)
    except Exception as err:  # noqa: BLE001 - the run-time error of a traced check
        assert not valid, f"valid {kind}{params} refused: {err}"
        assert f"jaxmix: {kind}:" in str(err), str(err)[-400:]
        return
    assert valid, f"invalid {kind}{params} accepted under jit"
    assert bool(jnp.all(jnp.isfinite(draws)))


@settings(max_examples=20, **SETTINGS)
@given(
    rows=st.sampled_from([1, 2, 5]),
    a=st.sampled_from([0.3, 2.0, 1e4]),
    tau=st.one_of(st.floats(-1, 2), st.sampled_from([np.nan, "0.5", np.ones(3)])),
    replace=st.sampled_from([True, False, 0, None]),
)
def test_predict(rows, a, tau, replace):
    rng = np.random.default_rng(rows)
    x = rng.normal(size=(5, 2))[:rows]
    s = jaxmix.summarize(x, np.arange(rows) % 2, num_classes=2)
    out, err = _raises_clearly(
        lambda: jaxmix.predict(s, jaxmix.Beta(a, a), tau=tau, replace=replace),
        "tau",
        "replace",
        "rows",
    )
    valid = isinstance(tau, float) and math.isfinite(tau) and isinstance(replace, bool)
    valid = valid and (replace or rows >= 2)
    if err is not None:
        assert not valid, f"valid predict refused: {err}"
        return
    assert valid, "invalid predict accepted"
    for leaf in jax.tree.leaves(out):
        assert bool(jnp.all(jnp.isfinite(leaf)))
    # Theorem 2 with replacement: Cov[x~] = K Cov[x], K = 1 - 2E[W] + 2E[W^2] (closed form here)
    if replace:
        k = 1.0 - 1.0 + 2.0 * (a + 1) / (2 * (2 * a + 1))
        np.testing.assert_allclose(np.asarray(out.cov), k * np.asarray(s.cov), rtol=1e-5, atol=1e-7)


@settings(max_examples=10, **SETTINGS)
@given(delta=st.one_of(st.floats(-1, 2), st.sampled_from([np.nan, 1e-20, 1e-8, 0.999, np.inf])))
def test_select_epbeta_clear_error_or_finite(delta):
    out, err = _raises_clearly(lambda: jaxmix.select_epbeta(delta), "delta")
    if err is not None:
        return
    for leaf in jax.tree.leaves(out):
        assert bool(jnp.all(jnp.isfinite(leaf))), (delta, out)


# --- the reported reproductions, one test each (X a 10 x 3 normal table, L = arange(10) % 3) -----

X = np.random.default_rng(0).normal(size=(10, 3))
L = np.arange(10) % 3
KEY = jax.random.key(0)


def _runtime_error_text(fn):
    """The text of the error a traced check raises at run time (any exception type)."""
    with pytest.raises(Exception) as info:  # noqa: PT011 - JaxRuntimeError or EquinoxRuntimeError
        jax.block_until_ready(fn())
    return str(info.value)


def test_data_beyond_float32_is_refused_after_the_cast():
    with pytest.raises(ValueError, match=r"x holds NaN or inf, or values beyond the float32 range"):
        jaxmix.mixup(KEY, np.array([[1e300], [2.0], [3.0]]), 5, jaxmix.Uniform())
    with pytest.raises(ValueError, match="x holds"):
        jaxmix.summarize(np.array([[3.4e38], [-3.5e38]]))


@pytest.mark.parametrize(
    "bad",
    [
        np.where(L == 0, 2**31, L),
        np.where(L == 0, 2**40, L),
        np.where(L == 0, 2**32 - 1, L).astype(np.uint32),
    ],
)
def test_labels_are_range_checked_before_the_cast(bad):
    """2^31 wrapped to -2^31, 2^40 to 0, uint32 2^32-1 to -1 (class_probs summed to 0.9)."""
    with pytest.raises(ValueError, match="labels must be class codes"):
        jaxmix.summarize(X, bad)
    with pytest.raises(ValueError, match="labels must be class codes"):
        jaxmix.mixup(KEY, X, 5, jaxmix.per_column([jaxmix.Uniform()] * 3, labels=0), labels=bad)


def test_tau_type_and_shape():
    scheme = jaxmix.per_column([jaxmix.Uniform()] * 3, labels=0)
    with pytest.raises(TypeError, match="tau must be a real number"):
        jaxmix.mixup(KEY, X, 5, scheme, labels=L, tau="0.5")
    for shape in [(5,), (3,)]:  # (m,) was used per row silently; (3,) failed inside lax
        with pytest.raises(ValueError, match="tau must be a scalar cut point"):
            jaxmix.mixup(KEY, X, 5, scheme, labels=L, tau=np.full(shape, 0.5))
    with pytest.raises(ValueError, match="tau must be a scalar"):
        jaxmix.predict(jaxmix.summarize(X, L), jaxmix.Uniform(), tau=np.full(3, 0.5))


def test_predict_without_replacement_needs_two_rows():
    """The finite-n formulas divide by n - 1: a one-row summary gave a NaN covariance."""
    with pytest.raises(ValueError, match="at least 2 rows"):
        jaxmix.predict(jaxmix.summarize(X[:1]), jaxmix.Uniform(), replace=False)
    text = _runtime_error_text(
        lambda: jax.jit(lambda s: jaxmix.predict(s, jaxmix.Uniform(), replace=False).cov)(
            jaxmix.summarize(X[:1])
        )
    )
    assert "jaxmix: predict(..., replace=False) needs a summary of at least 2 rows" in text


def _plain_jit_message(fn, *args):
    """Under plain jax.jit the message must be the first line of the underlying error."""
    text = _runtime_error_text(lambda: jax.jit(fn)(*args))
    lines = [ln for ln in text.splitlines() if "jaxmix: " in ln]
    assert lines, text[-1000:]
    return lines[0].split("jaxmix: ", 1)[1]


def test_traced_invalid_law_parameters_raise_readable_errors():
    """Under jit, mixup with Beta(nan, 1) or Beta(-1, 1) hung; Beta(0, 1), Uniform(1, 0) and
    EpBeta(1, 1, -5, .3) were accepted (the last mapped {0, 1} to 3.22, -3.76)."""
    mix = lambda a: jaxmix.mixup(KEY, X, 5, jaxmix.Beta(a, 1.0))  # noqa: E731
    assert _plain_jit_message(mix, jnp.nan).startswith("Beta: alpha must be finite and > 0")
    assert _plain_jit_message(mix, -1.0).startswith("Beta: alpha must be finite and > 0")
    assert _plain_jit_message(lambda a: jaxmix.Beta(a, 1.0).mean(), 0.0).startswith("Beta: alpha")
    assert _plain_jit_message(lambda lo: jaxmix.Uniform(lo, 0.0).mean(), 1.0).startswith(
        "Uniform: need low < high"
    )
    ep = lambda e: jaxmix.EpBeta(1.0, 1.0, e, 0.3).sample(KEY, (4,))  # noqa: E731
    assert _plain_jit_message(ep, -5.0).startswith("EpBeta: eps0 must be finite and >= 0")
    # eqx.filter_jit: a clean EquinoxRuntimeError with the message
    with pytest.raises(eqx.EquinoxRuntimeError, match="Beta: beta must be finite and > 0"):
        eqx.filter_jit(lambda b: jaxmix.Beta(1.0, b).mean())(jnp.asarray(-2.0))


def test_traced_tau_labels_and_data_are_checked():
    scheme = jaxmix.per_column([jaxmix.Uniform()] * 3, labels=0)
    msg = _plain_jit_message(lambda t: jaxmix.mixup(KEY, X, 5, scheme, labels=L, tau=t), jnp.nan)
    assert msg.startswith("tau must be finite")  # every label once went to the second parent
    msg = _plain_jit_message(
        lambda lab: jaxmix.mixup(KEY, X, 5, scheme, labels=lab), jnp.asarray(L - 1)
    )
    assert msg.startswith("labels must be class codes")
    msg = _plain_jit_message(
        lambda lab: jaxmix.summarize(X, lab, num_classes=3).class_probs, jnp.asarray(L - 1)
    )
    assert msg.startswith("labels must be class codes")  # class_probs once summed to 0.6
    msg = _plain_jit_message(
        lambda lab: jaxmix.summarize(X, lab, num_classes=2).class_probs, jnp.asarray(L)
    )
    assert msg.startswith("labels holds a code >= num_classes=2")
    msg = _plain_jit_message(
        lambda x: jaxmix.mixup(KEY, x, 5, jaxmix.Uniform()), jnp.asarray(X).at[0, 0].set(jnp.nan)
    )
    assert msg.startswith("x holds NaN or inf")


def test_extreme_beta_laws_sample_and_return():
    """Beta(1e30, 1e30), Beta(3e38, 3e38), Beta(1e-45, 1e-45) never returned."""
    for a in (1e30, 3e38):
        np.testing.assert_array_equal(jaxmix.Beta(a, a).sample(KEY, (4000,)), 0.5)
    x = np.asarray(jaxmix.Beta(1e-45, 1e-45).sample(KEY, (4000,)))
    assert set(np.unique(x)) == {0.0, 1.0}
