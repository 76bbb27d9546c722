"""Tests of Algorithm 1 (jaxmix.epbeta_select: select_epbeta, the feasible region) and the
solver's agreement with it, its derivatives and its compile reuse (jaxmix.design)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmix
from helpers import Z_MAX, CompileCounter, zscores_cov, zscores_mean
from jaxmix import design, select

EPS_TAU = [(0.3, 0.3, 0.5), (0.1, 0.1, 0.5), (0.5, 0.2, 0.5), (0.0, 0.4, 0.5), (1.0, 1.0, 0.3)]


def _deltas(dmax):
    return np.concatenate([np.geomspace(1e-6, dmax, 12), [0.999 * dmax, dmax]])


@jax.jit
def _law_stats(law, tau):
    """(u, E[W²] - E[W], E[W]) of a law or of every law of a batch (vmap over the batch)."""

    def one(l):
        return jaxmix.class_mean_shift(l, tau=tau), l.moment(2) - l.moment(1), l.mean()

    if jnp.ndim(law.alpha) == 0:
        return one(law)
    return jax.vmap(one)(law)


def _check_law(law, delta, tau, tol):
    """Through the law interface: E[W^2] = E[W], u = delta, E[W] >= 1/2, valid parameters."""
    u, gap, mean = _law_stats(law, tau)
    assert np.all(np.asarray(law.alpha) > 0) and np.all(np.asarray(law.beta) > 0)
    assert float(jnp.max(jnp.abs(u - delta))) <= tol, (u, delta)
    assert float(jnp.max(jnp.abs(gap))) <= tol  # covariance factor K = 1 + 2 gap = 1
    assert float(jnp.min(mean)) >= 0.5 - tol


@pytest.mark.parametrize("eps0,eps1,tau", EPS_TAU)
def test_algorithm1_float64(x64, eps0, eps1, tau):
    dmax = float(jaxmix.max_attainable_delta(eps0, eps1, tau))
    deltas = _deltas(dmax)
    law = jaxmix.select_epbeta(deltas, eps0=eps0, eps1=eps1, tau=tau)
    assert law.alpha.shape == deltas.shape and law.eps0.shape == deltas.shape
    assert law.alpha.dtype == jnp.float64
    _check_law(law, deltas, tau, 1e-6)
    # scalar delta gives a scalar law, equal to the batched entry
    one = jaxmix.select_epbeta(deltas[5], eps0=eps0, eps1=eps1, tau=tau)
    assert one.alpha.shape == ()
    np.testing.assert_allclose(one.alpha, law.alpha[5], rtol=1e-10)


def test_algorithm1_float32():
    for eps0, eps1, tau in EPS_TAU[:3]:
        dmax = float(jaxmix.max_attainable_delta(eps0, eps1, tau))
        deltas = jnp.asarray(_deltas(dmax)[1:], jnp.float32)
        law = jaxmix.select_epbeta(deltas, eps0=eps0, eps1=eps1, tau=tau)
        assert law.alpha.dtype == jnp.float32
        _check_law(law, deltas, tau, 1e-4)


def test_fast_shift_matches_law_interface(x64):
    xs = jnp.geomspace(1e-5, 0.5, 14)
    for eps0, eps1, tau in EPS_TAU:
        fast = jax.jit(select.vp_curve_shift)(xs, eps0, eps1, tau)
        law = jax.jit(select.vp_curve_law)(xs, eps0, eps1)
        u, gap, mean = _law_stats(law, tau)
        np.testing.assert_allclose(fast, u, rtol=0, atol=1e-13)
        np.testing.assert_allclose(gap, 0.0, atol=1e-13)
        np.testing.assert_allclose(mean, 1.0 - xs, rtol=1e-12)


_shift = jax.jit(select.vp_curve_shift)


def test_root_with_larger_mean(x64):
    """For eps = 0.3, tau = 1/2, u is not monotone on E[W] >= 1/2: between u(1/2) and max u two
    roots exist there; the one returned has the larger E[W] (no smaller x reaches delta)."""
    eps, tau = 0.3, 0.5
    u_half = float(_shift(0.5, eps, eps, tau))
    dmax = float(jaxmix.max_attainable_delta(eps, eps, tau))
    assert u_half < dmax - 1e-4  # two roots on the E[W] > 1/2 side exist
    deltas = np.linspace(u_half + 1e-5, dmax - 1e-4, 5)
    xs = 1.0 - np.asarray(jaxmix.select_epbeta(deltas, eps0=eps, eps1=eps).mean())
    for delta, x in zip(deltas, xs, strict=True):
        below = np.linspace(1e-6, x * (1 - 1e-9), 512)
        assert float(jnp.max(_shift(below, eps, eps, tau))) < delta + 1e-8  # solver accuracy
        beyond = np.linspace(x + 1e-3, 0.5, 512)  # and the second root exists beyond it
        assert float(jnp.min(_shift(beyond, eps, eps, tau))) < delta


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="delta must be >= 0"):
        jaxmix.select_epbeta(-0.01)
    with pytest.raises(ValueError, match="resampling"):
        jaxmix.select_epbeta(jnp.array([0.01, 0.0]))
    dmax = float(jaxmix.max_attainable_delta(0.3, 0.3))
    with pytest.raises(ValueError, match=r"largest attainable delta is 0\.06\d+.*larger eps"):
        jaxmix.select_epbeta(jnp.array([0.01, dmax * 1.01]))
    with pytest.raises(ValueError, match="eps0 = eps1 = 0"):
        jaxmix.select_epbeta(0.01, eps0=0.0, eps1=0.0)
    with pytest.raises(ValueError, match="tau must lie in"):
        jaxmix.select_epbeta(0.01, tau=1.0)
    with pytest.raises(ValueError, match="eps0"):
        jaxmix.select_epbeta(0.01, eps0=-0.1)
    with pytest.raises(ValueError, match="finite"):
        jaxmix.select_epbeta(float("nan"))


def test_feasible_region_and_law_free_bound(x64):
    eps = np.array([0.02, 0.1, 0.3, 0.6, 1.0, 2.0])
    dmax = np.array([float(jaxmix.max_attainable_delta(e, e, 0.5)) for e in eps])
    bound = np.asarray(jaxmix.law_free_delta_bound(eps))
    assert np.all(dmax < bound) and np.all(np.diff(dmax) > 0)
    # the bound is attained by the two-point law of Z = min(W, 1-W): E[Z] = E[Z^2] = eps/(1+2eps)
    p = 1.0 / (1.0 + 2.0 * eps) ** 2
    ez, ez2 = -p * eps + (1 - p) * 0.5, p * eps**2 + (1 - p) * 0.25
    np.testing.assert_allclose(ez, bound, rtol=1e-12)
    np.testing.assert_allclose(ez2, bound, rtol=1e-12)
    # and no law on the VP curve exceeds it, for asymmetric eps either (bound at max eps)
    for e0, e1 in [(0.1, 0.5), (0.5, 0.0)]:
        xs = np.geomspace(1e-4, 0.9999, 512)
        u = _shift(xs, e0, e1, 0.5)
        assert float(jnp.max(u)) <= float(jaxmix.law_free_delta_bound(max(e0, e1)))


def test_vmap_jit_and_no_recompilation(x64):
    deltas = np.linspace(0.002, 0.05, 7)
    batch = jaxmix.select_epbeta(deltas)
    traced = jax.jit(jax.vmap(lambda d: jaxmix.select_epbeta(d, eps0=0.3, eps1=0.3)))
    mapped = traced(deltas)
    np.testing.assert_allclose(mapped.alpha, batch.alpha, rtol=1e-10)
    np.testing.assert_allclose(mapped.beta, batch.beta, rtol=1e-10)
    with CompileCounter() as counter:
        # concrete: solved on the host, for any eps, tau and shape
        law = jaxmix.select_epbeta(deltas * 0.9, eps0=0.2, eps1=0.4, tau=0.45)
        jax.block_until_ready(law)
        jaxmix.select_epbeta(deltas[:3] * 0.5, eps0=0.2, eps1=0.4, tau=0.45)
        jax.block_until_ready(traced(deltas * 0.9))  # traced: new values reuse the program
    assert counter.count == 0


def test_gradients_match_finite_differences(x64):
    """Implicit-function-theorem derivatives of (alpha, beta) in delta and eps0 (reverse mode)."""

    def params(delta, eps0):
        law = jaxmix.select_epbeta(delta, eps0=eps0, eps1=0.3)
        return jnp.stack([law.alpha, law.beta])

    jac_fn = jax.jit(jax.jacrev(params, argnums=(0, 1)))
    for delta, eps0 in [(0.01, 0.3), (0.05, 0.2)]:
        jac = jac_fn(delta, eps0)
        h = 1e-6
        fd_d = (params(delta + h, eps0) - params(delta - h, eps0)) / (2 * h)
        fd_e = (params(delta, eps0 + h) - params(delta, eps0 - h)) / (2 * h)
        np.testing.assert_allclose(jac[0], fd_d, rtol=1e-5)
        np.testing.assert_allclose(jac[1], fd_e, rtol=1e-5)


def test_mixup_keeps_variance_and_shifts_class_means_by_delta():
    """Monte Carlo: records synthesized with the selected law have the data's covariance and
    class means moved by -delta (mu_l - xbar), within Z_MAX standard errors."""
    table = jaxmix.load_penguins()
    x, labels = np.asarray(table.x), np.asarray(table.labels[:, 0])
    x = (x - x.mean(0)) / x.std(0)
    delta = 0.05
    law = jaxmix.select_epbeta(delta)
    summary = jaxmix.summarize(x, labels)
    x_syn, l_syn = jaxmix.mixup(jax.random.key(3), x, 100_000, law, labels=labels)
    x_syn, l_syn = np.asarray(x_syn, np.float64), np.asarray(l_syn)
    z = zscores_cov(x_syn, summary.cov)
    assert np.max(np.abs(z)) < Z_MAX, z
    xbar = np.asarray(summary.mean)
    for c in range(3):
        target = np.asarray(summary.class_means[c]) - delta * (
            np.asarray(summary.class_means[c]) - xbar
        )
        z = zscores_mean(x_syn[l_syn == c], target)
        assert np.max(np.abs(z)) < Z_MAX, (c, z)
    # the shift is detectable: the unshifted class means are rejected for the farthest class
    far = int(np.argmax(np.linalg.norm(np.asarray(summary.class_means) - xbar, axis=1)))
    z_unshifted = zscores_mean(x_syn[l_syn == far], summary.class_means[far])
    assert np.max(np.abs(z_unshifted)) > Z_MAX


# --- the general solver -----------------------------------------------------------------------


def test_solver_agrees_with_algorithm1_and_flags_infeasible(x64):
    tmpl = jaxmix.EpBeta(3.0, 1.0, 0.3, 0.3)
    dmax = float(jaxmix.max_attainable_delta(0.3, 0.3))
    calls = 0
    for delta in [0.005, 0.01, 0.02, 0.04, 1.5 * dmax]:
        cons = [select.Equal("variance_gap", 0.0), select.Equal("u", delta)]
        with CompileCounter() as counter:
            if delta > dmax:
                with pytest.warns(RuntimeWarning, match="NOT converged"):
                    law, rep = select.design_weights(tmpl, cons)
            else:
                law, rep = select.design_weights(tmpl, cons)
        calls += 1
        size = design._solve_any.fast._cache_size()
        if calls == 1:
            first_size = size
        else:  # new target values: the solver program is not traced/compiled again
            assert size == first_size
        if 1 < calls and delta <= dmax:  # a new target value compiles nothing at all
            assert counter.count == 0, f"call {calls}: {counter.count} XLA compilations"
        if delta > dmax:
            assert not bool(rep.converged)
            assert float(rep.max_violation) > 1e-3 and "NOT converged" in rep.message
            continue
        assert bool(rep.converged), rep.message
        assert len(rep.residuals) == 2 and float(rep.max_violation) <= 1e-10
        ref = jaxmix.select_epbeta(delta)
        got = sorted(
            [float(law.alpha), float(law.beta)], reverse=float(law.alpha) > float(law.beta)
        )
        # either the root of Algorithm 1 or its mirror image (alpha <-> beta: same targets)
        ref_ab = [float(ref.alpha), float(ref.beta)]
        assert np.allclose(got, ref_ab, rtol=1e-6) or np.allclose(got, ref_ab[::-1], rtol=1e-6), (
            got,
            ref_ab,
        )


def test_solver_objective_and_inequality(x64):
    """Most spread VP law with E[W] >= 0.6 and fixed eps: Var = E[W](1-E[W]) is largest at the
    boundary E[W] = 0.6, i.e. Var = 0.24."""
    tmpl = jaxmix.EpBeta(3.0, 1.0, 0.3, 0.3)
    cons = [select.Equal("variance_gap", 0.0), select.AtLeast("mean", 0.6)]
    law, rep = select.design_weights(tmpl, cons, objective=select.Maximize("variance"))
    assert bool(rep.converged), rep.message
    np.testing.assert_allclose(float(law.mean()), 0.6, atol=1e-6)
    np.testing.assert_allclose(float(rep.objective), 0.24, atol=1e-6)
    # infeasible inequality pair: flagged, never silently "converged"
    bad = [select.AtLeast("mean", 0.7), select.AtMost("mean", 0.6)]
    with pytest.warns(RuntimeWarning):
        _, rep = select.design_weights(tmpl, bad)
    assert not bool(rep.converged)


def test_solver_scheme_template(x64):
    """A per-column Scheme as the template: every law is solved for its own target (a vector
    target, one entry per law) and the result is again a Scheme with the same columns/labels.
    Each law must land on the variance-preserving curve at its E[W] (closed form)."""
    law = jaxmix.EpBeta(2.0, 0.5, 0.3, 0.3)
    tmpl = jaxmix.Scheme((law, law), columns=(0, 1), labels=0)
    cons = [select.Equal("variance_gap", 0.0), select.Equal("mean", np.array([0.9, 0.8]))]
    scheme, rep = select.design_weights(tmpl, cons)
    assert bool(rep.converged), rep.message
    assert isinstance(scheme, jaxmix.Scheme) and scheme.columns == (0, 1) and scheme.labels == 0
    for got, x in zip(scheme.laws, (0.1, 0.2), strict=True):
        np.testing.assert_allclose(
            [got.alpha, got.beta], select.vp_curve_params(x, 0.3, 0.3), rtol=1e-9
        )
        assert float(got.eps0) == 0.3 and float(got.eps1) == 0.3  # not free: kept
    # cross-column factor of independent weights: 1 - E[Wa] - E[Wb] + 2 E[Wa] E[Wb]
    np.testing.assert_allclose(
        jaxmix.covariance_factor(scheme)[0, 1], 1 - 0.9 - 0.8 + 2 * 0.72, rtol=1e-9
    )


def test_solver_gradient_with_objective_and_active_inequality(x64):
    """Maximise u over variance-preserving laws with E[W] >= m: the bound is active, so the
    solution is the curve's law at E[W] = m and dα/dm is the derivative of the closed form
    (KKT implicit differentiation through an objective and an active inequality)."""
    tmpl = jaxmix.EpBeta(2.0, 0.5, 0.3, 0.3)

    def alpha_of(m):
        law, _ = select.design_weights(
            tmpl,
            [select.Equal("variance_gap", 0.0), select.AtLeast("mean", m)],
            objective=select.Maximize("u"),
            warn=False,
        )
        return law.alpha

    g = jax.grad(alpha_of)(0.9)
    ref = jax.grad(lambda m: select.vp_curve_params(1.0 - m, 0.3, 0.3)[0])(0.9)
    np.testing.assert_allclose(g, ref, rtol=1e-7)


def test_solver_gradient_with_fewer_active_constraints_than_parameters(x64):
    """One equality (u = δ) and an objective over two free parameters (α, β): the KKT system is
    not square, so dθ/dδ goes through the Hessian of the Lagrangian. The objective's minimum
    (α, β) = (1, 3) is infeasible at these δ, so the multiplier is nonzero and the Hessian
    carries second derivatives of u, i.e. of the incomplete beta.

    Checked two ways: the linearised constraint ∇u · dθ/dδ = 1 (exact, to 1e-9), and central
    finite differences of the solver. Error bound of the difference quotient with step h:
    ε_sol/h + h² |θ‴|/6, with ε_sol the solution error of one solve. An inner solve stops at
    |∇L| ≤ 0.1 √tol = 1e-6 and the multiplier update leaves the Lagrangian's gradient within
    √tol; with the reduced Hessian's curvature here ε_sol ≲ 1e-8 (measured: solve-to-solve
    noise of about 1e-9 in θ, from the 1.8e-4 relative gap at h = 1e-5). At h = 1e-4:
    ε_sol/h ≲ 1e-4 |θ'| and h² |θ‴|/6 ≈ 1e-8, so rtol 1e-4 (measured gap 1.3e-5). Checked to
    fail on a wrong derivative: 1% added to one entry of the KKT Hessian moves dθ/dδ by 1%.
    (A uniform scaling of H does not change dθ/dδ here: only the target value moves.)"""
    tmpl = jaxmix.EpBeta(2.0, 2.0, 0.3, 0.3)
    objective = select.Minimize(lambda w: (w.alpha - 1.0) ** 2 + (w.beta - 3.0) ** 2)

    def params(delta):
        law, _ = select.design_weights(
            tmpl, [select.Equal("u", delta)], objective=objective, warn=False
        )
        return jnp.stack([law.alpha, law.beta])

    def u(ab):
        return jaxmix.class_mean_shift(jaxmix.EpBeta(ab[0], ab[1], 0.3, 0.3))

    for delta in (0.1, 0.2):
        theta = params(delta)
        assert np.linalg.norm(np.asarray(theta) - [1.0, 3.0]) > 0.1  # the bound is active
        jac = jax.jacobian(params)(delta)
        np.testing.assert_allclose(jnp.dot(jax.grad(u)(theta), jac), 1.0, atol=1e-9)
        h = 1e-4
        fd = (params(delta + h) - params(delta - h)) / (2 * h)
        np.testing.assert_allclose(jac, fd, rtol=1e-4)


def test_solver_unattained_optimum_stops_finite(x64):
    """Minimise eps0 + eps1 with all four parameters free: the infimum is not attained (one of
    eps0, eps1 -> 0 through the softplus), the iterates run towards the boundary. The report must
    say NOT converged and the returned law must be finite (the last finite iterate), never NaN.
    (float64: in float32 the objective's slope in the vanishing parameter falls below the
    stationarity tolerance first: the point is reported converged within 2e-6 of the infimum)."""
    tmpl = jaxmix.EpBeta(2.0, 0.5, 0.3, 0.3)
    cons = [select.Equal("variance_gap", 0.0), select.Equal("u", 0.05)]
    with pytest.warns(RuntimeWarning, match="NOT converged"):
        law, rep = select.design_weights(
            tmpl,
            cons,
            free=("alpha", "beta", "eps0", "eps1"),
            objective=select.Minimize(lambda w: w.eps0 + w.eps1),
        )
    assert not bool(rep.converged)
    leaves = [law.alpha, law.beta, law.eps0, law.eps1, rep.max_violation, rep.stationarity]
    assert all(np.isfinite(np.asarray(v)).all() for v in leaves), leaves


@pytest.mark.slow
def test_solver_gradient_matches_finite_differences(x64):
    tmpl = jaxmix.EpBeta(3.0, 1.0, 0.3, 0.3)

    def alpha_of(delta):
        law, _ = select.design_weights(
            tmpl, [select.Equal("variance_gap", 0.0), select.Equal("u", delta)], warn=False
        )
        return law.alpha

    delta, h = 0.02, 1e-5
    g = jax.grad(alpha_of)(delta)
    fd = (alpha_of(delta + h) - alpha_of(delta - h)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-5)
    ref = jax.grad(lambda d: jaxmix.select_epbeta(d).alpha)(delta)
    np.testing.assert_allclose(g, ref, rtol=1e-6)


def _u_of(law, tau):
    return float(_law_stats(law, tau)[0])


@pytest.mark.parametrize("tau", [0.01, 0.1, 0.9, 0.99])
def test_extreme_tau_meets_tolerance_or_refuses(tau):
    """float32: |u - delta| <= 1e-4 as documented, or a ValueError giving the reason (before:
    select_epbeta(0.01, tau=0.99) returned a law with u = 0.0139)."""
    try:
        law = jaxmix.select_epbeta(0.01, tau=tau)
    except ValueError as err:
        assert "tau" in str(err) and "|u - delta|" in str(err)
        return
    assert abs(_u_of(law, tau) - 0.01) <= 1e-4


@pytest.mark.parametrize("kwargs", [dict(delta=1e-20), dict(delta=0.01, eps0=1e30, eps1=1e30)])
def test_extreme_values_never_give_nan_laws(kwargs):
    """select_epbeta(1e-20) and eps0 = eps1 = 1e30 returned NaN laws: now an error or a
    finite law."""
    delta = kwargs.pop("delta")
    try:
        law = jaxmix.select_epbeta(delta, **kwargs)
    except ValueError as err:
        assert "select_epbeta" in str(err)
        return
    assert np.all(np.isfinite([law.alpha, law.beta]))


def test_traced_nan_delta_raises():
    """jax.jit(select_epbeta)(nan) returned the maximal law; now a runtime error naming delta."""
    with pytest.raises(Exception, match="delta must be finite and > 0"):
        jax.block_until_ready(jax.jit(jaxmix.select_epbeta)(jnp.nan))


def test_clear_caches_forgets_the_memo():
    from jaxmix import epbeta_select

    jaxmix.select_epbeta(0.02)
    assert epbeta_select._cached_curve_table.cache_info().currsize > 0
    jaxmix.clear_caches()
    assert epbeta_select._cached_curve_table.cache_info().currsize == 0
    np.testing.assert_allclose(_u_of(jaxmix.select_epbeta(0.02), 0.5), 0.02, atol=1e-4)


def test_beta_law_shift_matches_class_mean_shift(x64):
    """The solver's one-betainc closed form of u equals the generic class_mean_shift, in value
    and in its gradient in (alpha, beta) (which the solver and its derivative use); one vmapped
    call over the cases (one compile)."""
    from jaxmix.epbeta_select import beta_law_shift

    cases = jnp.array(
        [
            (3.0, 1.0, 0.3, 0.3, 0.5),
            (0.5, 4.0, 0.1, 0.5, 0.3),
            (50.0, 70.0, 0.0, 0.0, 0.4),
            (1e5, 2e5, 0.3, 0.3, 0.5),
            (2.0, 2.0, 0.0, 0.0, 0.5),
            (0.2, 0.3, 0.3, 0.3, 0.5),
        ]
    )

    def fast(a, b, e0, e1, tau):
        return beta_law_shift(a, b, e0, e1, tau)

    def slow(a, b, e0, e1, tau):
        return jaxmix.class_mean_shift(jaxmix.EpBeta(a, b, e0, e1), tau=tau)

    def both(f):
        return jax.jit(jax.vmap(jax.value_and_grad(f, argnums=(0, 1))))(*cases.T)

    (v_fast, g_fast), (v_slow, g_slow) = both(fast), both(slow)
    np.testing.assert_allclose(v_fast, v_slow, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(g_fast, g_slow, rtol=1e-11, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_concrete_inputs_compile_nothing_and_meet_float64_accuracy(dtype):
    """Concrete inputs are solved on the host: a first select_epbeta / max_attainable_delta for
    new (eps0, eps1, tau) compiles no program (it used to compile two, seconds on 2 cores, for a
    millisecond's solve), and u of the law returned is delta to the rounding of its alpha, beta
    (checked through the law interface in float64, the independent class_mean_shift)."""
    deltas = np.array([1e-6, 0.004, 0.02, 0.041], dtype)
    with jax.enable_x64(dtype == np.float64), CompileCounter() as counter:
        law = jaxmix.select_epbeta(deltas, eps0=0.27, eps1=0.33, tau=0.47)
        dmax = jaxmix.max_attainable_delta(0.27, 0.33, 0.47)
    assert counter.count == 0
    assert law.alpha.dtype == dtype and float(dmax) > deltas.max()
    with jax.enable_x64(True):
        law64 = jax.tree_util.tree_map(lambda v: jnp.asarray(v, jnp.float64), law)
        u, gap, _ = _law_stats(law64, 0.47)
    if dtype == np.float64:  # a few ulps of u (its terms are O(1): absolute)
        np.testing.assert_allclose(np.asarray(u), deltas, rtol=0, atol=1e-15)
    else:  # alpha, beta rounded to float32 (relative 2^-24 each) move E[W] = m s - eps0 by at
        # most s m (1 - m) 2^-23 <= s 2^-25, and |du/dE[W]| <= 2, so |u - delta| <= s 2^-24
        s = 1.0 + 0.27 + 0.33
        np.testing.assert_allclose(
            np.asarray(u), deltas.astype(np.float64), rtol=0, atol=s * 2**-24
        )
