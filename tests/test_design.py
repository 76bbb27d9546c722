"""A problem set for ``jaxmix.design_weights``: design problems with answers derived without
jaxmix (closed forms, scipy's incomplete beta and root finders, dense grids).

Every problem must end "converged and right" or "not converged with the right reason": a
converged wrong answer fails. Problems sharing a structure share one compiled program (only
the values change), which keeps the file's compile time down; the heavier structures are
marked slow.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize, special

import jaxmix
from jaxmix import AtLeast, AtMost, Equal, Maximize, Minimize, design

EPS = 0.3


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


# --- oracles (scipy, closed forms; nothing from jaxmix) ---------------------------------------


def u_scipy(a, b, e0=EPS, e1=EPS, tau=0.5):
    """u = E[1 - V] of W = -e0 + s B, B ~ Beta(a, b): E[(1-W) 1{W >= tau}] + E[W 1{W < tau}]."""
    s = 1.0 + e0 + e1
    t = (tau + e0) / s
    inc = special.betainc(a, b, t)
    m = a / (a + b)
    ew_below = -e0 * inc + s * m * special.betainc(a + 1.0, b, t)
    ew = -e0 + s * m
    return (1.0 - inc) - (ew - ew_below) + ew_below


def vp_params(mean, e0=EPS, e1=EPS):
    """(a, b) with Var[W] = E[W](1 - E[W]) and E[W] = mean: Var = s² m(1-m)/(κ+1)."""
    s = 1.0 + e0 + e1
    m = (mean + e0) / s
    kappa = s**2 * m * (1 - m) / (mean * (1 - mean)) - 1.0
    return m * kappa, (1 - m) * kappa


def u_on_curve(mean):
    return u_scipy(*vp_params(mean))


def roots_on_curve(delta):
    """Every E[W] in (0, 1) on the VP curve with u = delta (dense grid, then brentq)."""
    grid = np.concatenate(
        [1 - np.geomspace(1e-5, 0.5, 4000)[::-1], np.geomspace(1e-5, 0.5, 4000)[::-1][1:]]
    )
    grid = np.sort(grid)
    f = np.array([u_on_curve(m) for m in grid]) - delta
    out = []
    for i in np.nonzero(np.sign(f[:-1]) != np.sign(f[1:]))[0]:
        out.append(
            optimize.brentq(lambda m: u_on_curve(m) - delta, grid[i], grid[i + 1], xtol=1e-14)
        )
    return np.array(out)


def max_u_on_curve():
    res = optimize.minimize_scalar(
        lambda m: -u_on_curve(m), bounds=(0.5, 1 - 1e-6), method="bounded", options={"xatol": 1e-12}
    )
    return -res.fun


def epbeta_mean(law):
    s = 1.0 + float(law.eps0) + float(law.eps1)
    return -float(law.eps0) + s * float(law.alpha) / (float(law.alpha) + float(law.beta))


def epbeta_var(law):
    s = 1.0 + float(law.eps0) + float(law.eps1)
    a, b = float(law.alpha), float(law.beta)
    return s**2 * a * b / ((a + b) ** 2 * (a + b + 1))


def solve(*args, **kwargs):
    kwargs.setdefault("warn", False)
    return jaxmix.design_weights(*args, **kwargs)


# --- feasibility: Algorithm 1 posed to the solver ----------------------------------------------


def ALG1(d):
    return [Equal("variance_gap", 0.0), Equal("u", d)]


@pytest.mark.parametrize(
    "start,delta", [((3.0, 1.0), 0.02), ((2.0, 2.0), 0.03), ((1.0, 3.0), 0.05)]
)
def test_feasibility_any_start(x64, start, delta):
    """From the template (3, 1), from the symmetric start (2, 2) (where gradient steps stay on
    α = β, on which the targets are infeasible) and from the mirror start (1, 3): converged to
    a variance-preserving law with u = δ (a root on the scipy curve, either side)."""
    law, rep = solve(jaxmix.EpBeta(*start, EPS, EPS), ALG1(delta))
    assert bool(rep.converged), rep.message
    mean = epbeta_mean(law)
    np.testing.assert_allclose(epbeta_var(law), mean * (1 - mean), atol=1e-9)
    np.testing.assert_allclose(u_scipy(float(law.alpha), float(law.beta)), delta, atol=1e-9)
    roots = roots_on_curve(delta)
    assert np.min(np.abs(roots - mean)) < 1e-7, (roots, mean)


def test_most_starts_converge_on_a_well_posed_problem(x64):
    """Every start runs to its own end (none is cut short when another converges first), so on
    Algorithm 1 posed to the solver most starts reach a root: the four that do not sit where the
    violation has a local minimum (α = β, on which u = δ is infeasible). The winner is the
    converged point nearest the template."""
    law, rep = solve(jaxmix.EpBeta(2.0, 2.0, EPS, EPS), ALG1(0.03))
    assert bool(rep.converged), rep.message
    conv = np.asarray(rep.start_converged)
    assert conv.sum() >= 10, conv
    # the stuck starts are not feasible: a converged flag is never withheld from a feasible point
    assert np.all(np.asarray(rep.start_violation)[~conv] > 1e-3)


def test_infeasible_target_says_infeasible(x64):
    dmax = max_u_on_curve()
    with pytest.warns(RuntimeWarning, match="infeasible"):
        _, rep = jaxmix.design_weights(jaxmix.EpBeta(3.0, 1.0, EPS, EPS), ALG1(1.5 * dmax))
    assert not bool(rep.converged) and int(rep.status) == design.INFEASIBLE
    # the smallest violation found (max-norm over both targets) is far above sqrt(tol)
    assert float(rep.max_violation) > 1e-3
    assert "smallest violation" in rep.message and "start" in rep.message
    assert float(np.min(np.asarray(rep.start_violation))) == pytest.approx(float(rep.max_violation))


def test_no_recompilation_for_new_values(x64):
    solve(jaxmix.EpBeta(3.0, 1.0, EPS, EPS), ALG1(0.02))
    size = design._solve_any.fast._cache_size()
    law, rep = solve(jaxmix.EpBeta(2.5, 0.9, EPS, EPS), ALG1(0.01))
    assert design._solve_any.fast._cache_size() == size and bool(rep.converged)


# --- objectives with active and inactive inequalities ------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("start", [(3.0, 1.0), (1.0, 3.0)])
def test_max_variance_with_active_bound_on_u(x64, start):
    """max Var over VP laws with u <= 0.05: Var = m(1-m) grows towards m = 1/2 and u(1/2) > 0.05,
    so the optimum is the root of u = 0.05 nearest 1/2 (0.0688; either mirror side)."""
    roots = roots_on_curve(0.05)
    assert u_on_curve(0.5) > 0.05
    best = roots[np.argmin(np.abs(roots - 0.5))]
    law, rep = solve(
        jaxmix.EpBeta(*start, EPS, EPS),
        [Equal("variance_gap", 0.0), AtMost("u", 0.05)],
        objective=Maximize("variance"),
    )
    assert bool(rep.converged), rep.message
    np.testing.assert_allclose(float(rep.objective), best * (1 - best), rtol=1e-7)
    np.testing.assert_allclose(epbeta_var(law), best * (1 - best), rtol=1e-7)
    assert float(rep.objective) == pytest.approx(0.0688, abs=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("bound,expected", [(0.6, 0.24), (0.3, 0.25)])
def test_max_variance_with_bound_on_mean(x64, bound, expected):
    """Var = m(1 - m) on the VP curve: with E[W] >= 0.6 the bound is active (0.24); with
    E[W] >= 0.3 it is inactive and the maximum is at m = 1/2 (0.25)."""
    law, rep = solve(
        jaxmix.EpBeta(3.0, 1.0, EPS, EPS),
        [Equal("variance_gap", 0.0), AtLeast("mean", bound)],
        objective=Maximize("variance"),
    )
    assert bool(rep.converged), rep.message
    np.testing.assert_allclose(float(rep.objective), expected, atol=1e-8)
    np.testing.assert_allclose(epbeta_var(law), expected, atol=1e-8)


@pytest.mark.slow
def test_unattained_supremum_names_the_parameter(x64):
    """sup E[W] on the VP curve is 1 (W = 1), a limit law: not converged, with the reason."""
    with pytest.warns(RuntimeWarning, match="not attained"):
        law, rep = jaxmix.design_weights(
            jaxmix.EpBeta(2.0, 2.0, EPS, EPS),
            [Equal("variance_gap", 0.0)],
            objective=Maximize("mean"),
        )
    assert not bool(rep.converged) and int(rep.status) == design.NOT_ATTAINED
    assert int(rep.direction) == 1 and rep.parameters[int(rep.diverging)] in ("alpha", "beta")
    assert "runs off to ∞" in rep.message
    assert np.isfinite(float(law.alpha)) and np.isfinite(float(law.beta))


def min_total_eps_scipy(delta=0.05):
    """inf of ε0 + ε1 over VP laws with u = δ, all four parameters free: ε0 -> 0 and ε1 the
    smallest value whose curve still reaches u = δ (scipy: bounded max of u over E[W], brentq)."""

    def max_u(e1, e0=0.0):
        res = optimize.minimize_scalar(
            lambda m: -u_scipy(*vp_params(m, e0, e1), e0, e1),
            bounds=(1e-6, 1 - 1e-6),
            method="bounded",
            options={"xatol": 1e-12},
        )
        return -res.fun

    return optimize.brentq(lambda e1: max_u(e1) - delta, 0.1, 0.3, xtol=1e-14)


def test_float32_unattained_infimum_is_not_converged():
    """min ε0 + ε1 over VP laws with u = 0.05, float32: the infimum (0.19346, scipy) needs
    ε0 -> 0 (or ε1 -> 0, the mirror law). In the solver's coordinates the slope towards 0 is
    p ∂L/∂p, below float32's stationarity tolerance long before p is small, so the report must
    say "not attained" and name ε0 or ε1 going to 0, never "converged" at a point like ε0 = 2e-6."""

    def total_eps(w):
        return w.eps0 + w.eps1

    with pytest.warns(RuntimeWarning, match="not attained"):
        law, rep = jaxmix.design_weights(
            jaxmix.EpBeta(2.0, 0.5, EPS, EPS),
            ALG1(0.05),
            free=("alpha", "beta", "eps0", "eps1"),
            objective=Minimize(total_eps),
        )
    assert law.alpha.dtype == jnp.float32
    assert not bool(rep.converged) and int(rep.status) == design.NOT_ATTAINED, rep.message
    assert rep.parameters[int(rep.diverging)] in ("eps0", "eps1") and int(rep.direction) == -1
    assert "runs off to 0" in rep.message
    # ε = 0 is a law of the family (the support's edge is 0 or 1): the message says so and how
    # to solve that edge case, never that the limit is "not a law of this family"
    name = rep.parameters[int(rep.diverging)]
    assert "not a law of this family" not in rep.message, rep.message
    assert f"fix {name} = 0" in rep.message, rep.message
    # the best point found is near the infimum (within float32 feasibility, tol 1e-5)
    assert abs(float(rep.objective) - min_total_eps_scipy()) < 1e-3


# --- other quantities and families -------------------------------------------------------------


@pytest.mark.parametrize("m,v", [(0.3, 0.01), (0.7, 0.02)])
def test_beta_mean_and_variance_closed_form(x64, m, v):
    """Beta(a, b) with mean m and variance v: κ = m(1-m)/v - 1, a = m κ, b = (1 - m) κ."""
    law, rep = solve(jaxmix.Beta(1.0, 1.0), [Equal("mean", m), Equal("variance", v)])
    assert bool(rep.converged), rep.message
    # a unique, well-conditioned root: every start reaches it (none is cut short while it still
    # makes progress towards tol)
    assert np.all(np.asarray(rep.start_converged)), np.asarray(rep.start_violation)
    kappa = m * (1 - m) / v - 1
    np.testing.assert_allclose(
        [float(law.alpha), float(law.beta)], [m * kappa, (1 - m) * kappa], rtol=1e-7
    )


def test_uniform_low_high(x64):
    """Unif(low, high): mean (low+high)/2 = 0.5, variance (high-low)²/12 = 1/3: [-0.5, 1.5]."""
    law, rep = solve(
        jaxmix.Uniform(0.0, 1.0),
        [Equal("mean", 0.5), Equal("variance", 1.0 / 3.0)],
        free=("low", "high"),
    )
    assert bool(rep.converged), rep.message
    np.testing.assert_allclose([float(law.low), float(law.high)], [-0.5, 1.5], atol=1e-8)


@pytest.mark.slow
def test_tail_masses(x64):
    """P(W < 0) = I_{e0/s}(a, b) and P(W > 1) = 1 - I_{(1+e0)/s}(a, b): scipy's root of the pair."""
    s = 1 + 2 * EPS
    p0, p1 = 0.05, 0.1

    def f(ab):
        a, b = np.exp(ab)
        return [special.betainc(a, b, EPS / s) - p0, 1 - special.betainc(a, b, (1 + EPS) / s) - p1]

    ref = np.exp(optimize.fsolve(f, [0.0, 0.0], xtol=1e-14))
    assert np.max(np.abs(f(np.log(ref)))) < 1e-12
    law, rep = solve(
        jaxmix.EpBeta(2.0, 2.0, EPS, EPS), [Equal("p_below_0", p0), Equal("p_above_1", p1)]
    )
    assert bool(rep.converged), rep.message
    np.testing.assert_allclose([float(law.alpha), float(law.beta)], ref, rtol=1e-6)


@pytest.mark.slow
def test_scheme_template_per_column(x64):
    """A per-column Scheme: each law on the VP curve at its own mean (closed form)."""
    law = jaxmix.EpBeta(2.0, 0.5, EPS, EPS)
    tmpl = jaxmix.Scheme((law, law), columns=(0, 1), labels=0)
    cons = [Equal("variance_gap", 0.0), Equal("mean", np.array([0.9, 0.8]))]
    scheme, rep = solve(tmpl, cons)
    assert bool(rep.converged), rep.message
    assert rep.parameters == ("laws[0].alpha", "laws[0].beta", "laws[1].alpha", "laws[1].beta")
    for got, mean in zip(scheme.laws, (0.9, 0.8), strict=True):
        np.testing.assert_allclose([float(got.alpha), float(got.beta)], vp_params(mean), rtol=1e-8)


@pytest.mark.slow
def test_covariance_gap_of_a_shared_law_and_class_var_error(x64):
    """covariance_gap of one shared law is E[W²] - E[W]; with u = δ the law is the VP root.
    class_var_error at that law against the closed form of the class variance computed from
    scipy's E[V], E[V²] (shared weight, per column, with d_l = μ_l - x̄:
    Var[x~ | l] = E[V²](σ_l² + d_l²) + E[(1-V)²] s² - (E[V] d_l)²)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2)) + np.repeat(np.eye(2) * 2, 30, axis=0)
    labels = np.repeat([0, 1], 30)
    summary = jaxmix.summarize(x, labels)
    delta = 0.03
    law, rep = solve(
        jaxmix.EpBeta(3.0, 1.0, EPS, EPS),
        [Equal("covariance_gap", 0.0), Equal("u", delta)],
        objective=Minimize("class_var_error"),
        summary=summary,
    )
    assert bool(rep.converged), rep.message
    roots = roots_on_curve(delta)
    assert np.min(np.abs(roots - epbeta_mean(law))) < 1e-7
    # E[V], E[V²] by quadrature of the EpBeta density (scipy)
    from scipy import integrate, stats

    a, b, s = float(law.alpha), float(law.beta), 1 + 2 * EPS

    def pdf(w):
        return stats.beta.pdf((w + EPS) / s, a, b) / s

    def v(w):
        return w if w >= 0.5 else 1 - w

    ev = integrate.quad(lambda w: v(w) * pdf(w), -EPS, 1 + EPS, points=[0.5], limit=200)[0]
    evv = integrate.quad(lambda w: v(w) ** 2 * pdf(w), -EPS, 1 + EPS, points=[0.5], limit=200)[0]
    e11 = 1 - 2 * ev + evv
    xbar, var = x.mean(0), x.var(0)
    err = 0.0
    for c in range(2):
        xc = x[labels == c]
        d, sig = xc.mean(0) - xbar, xc.var(0)
        cls_var = evv * (sig + d**2) + e11 * var - (ev * d) ** 2
        err += np.sum((cls_var - sig) / var)
    np.testing.assert_allclose(float(rep.objective), err, rtol=1e-6, atol=1e-9)


@pytest.mark.slow
def test_float32_algorithm1():
    """float32 defaults (tol 1e-5): converged to a VP root of u = 0.03 (to float32 accuracy)."""
    law, rep = solve(jaxmix.EpBeta(3.0, 1.0, EPS, EPS), ALG1(0.03))
    assert law.alpha.dtype == jnp.float32
    assert bool(rep.converged), rep.message
    a, b = float(law.alpha), float(law.beta)
    np.testing.assert_allclose(u_scipy(a, b), 0.03, atol=1e-4)
    mean = epbeta_mean(law)
    assert np.min(np.abs(roots_on_curve(0.03) - mean)) < 1e-3


def test_callable_of_same_structure_does_not_recompile(x64):
    """min (α - c)² with E[W] = m on Beta: α = c, β = c (1 - m)/m. The lambda is re-created
    with a new number in its closure: the compiled program is reused."""

    def alpha_gap(c):
        return lambda w: (w.alpha - c) ** 2  # a new closure, same code, for every c

    sizes = []
    for c in (2.0, 5.0):
        law, rep = solve(
            jaxmix.Beta(1.0, 1.0), [Equal("mean", 0.25)], objective=Minimize(alpha_gap(c))
        )
        assert bool(rep.converged), rep.message
        np.testing.assert_allclose([float(law.alpha), float(law.beta)], [c, 3 * c], rtol=1e-7)
        sizes.append(design._solve_any.fast._cache_size())
    assert sizes[0] == sizes[1]


def test_report_prints_values(x64):
    law, rep = solve(jaxmix.Beta(1.0, 1.0), [Equal("mean", 0.3), Equal("variance", 0.01)])
    text = repr(rep)
    assert "converged=True" in text and "start=" in text and "residual[0]" in text
    assert f"alpha = {float(law.alpha):.6g}" in text and f"beta = {float(law.beta):.6g}" in text
    assert "f32[" not in text and "f64[" not in text


def test_batch_of_templates_is_refused():
    laws = jaxmix.Beta(jnp.array([1.0, 2.0]), jnp.array([1.0, 1.0]))
    with pytest.raises(ValueError, match="jax.vmap"):
        jaxmix.design_weights(laws, [Equal("mean", 0.3)])


def test_solver_programs_run_without_fast_compile_options(monkeypatch):
    """The solver's XLA options are a speed choice: where none is accepted (another backend, an
    XLA that knows neither), the program compiles without them and runs, at top level and
    inside an outer jit."""
    monkeypatch.setattr(design.compile_cache, "fast_compile_options", lambda: {})

    def double(x):
        return 2.0 * x

    f = design._FastJit(double, ())
    np.testing.assert_array_equal(f(jnp.ones(3)), 2.0 * np.ones(3))
    np.testing.assert_array_equal(jax.jit(f)(jnp.ones(2)), 2.0 * np.ones(2))


# --- the new user's check: each of these failed on the code before its fix ---------------------


def test_per_start_violations_print_in_scientific_notation(x64):
    """Beta with mean 0.5 and variance 0.2505: infeasible (Var ≤ m(1 - m) = 0.25), every
    start ends about 5e-4 away. The per-start line must show that, not round it to "0."."""
    _, rep = solve(jaxmix.Beta(1.0, 1.0), [Equal("mean", 0.5), Equal("variance", 0.2505)])
    assert int(rep.status) == design.INFEASIBLE, rep.message
    line = next(s for s in repr(rep).splitlines() if "per start" in s)
    assert "0. " not in line and "0.]" not in line, line
    assert "e-04" in line, line
    # the hint names what applies to any family, not only EpBeta's class-mean limit
    assert "outside what the family can reach" in rep.message, rep.message


def test_boundary_arguments_are_refused_with_the_fix():
    beta = jaxmix.Beta(1.0, 1.0)
    # one law has one mean: two target values are a mistake, not two constraints
    with pytest.raises(ValueError, match=r"constraints\[0\].*2 values.*1"):
        jaxmix.design_weights(beta, [Equal("mean", jnp.array([0.3, 0.4]))])
    with pytest.raises(ValueError, match="tol"):
        jaxmix.design_weights(beta, [Equal("mean", 0.3)], tol=-1.0)
    with pytest.raises(ValueError, match="max_inner"):
        jaxmix.design_weights(beta, [Equal("mean", 0.3)], max_inner=0)
    with pytest.raises(ValueError, match="max_outer"):
        jaxmix.design_weights(beta, [Equal("mean", 0.3)], max_outer=0)
    with pytest.raises(ValueError, match=r"constraints\[1\].*finite"):
        jaxmix.design_weights(beta, [Equal("mean", 0.3), AtMost("variance", float("nan"))])
    with pytest.raises(ValueError, match="tau.*finite"):
        jaxmix.design_weights(beta, [Equal("u", 0.1)], tau=float("inf"))


def test_free_may_be_one_name(x64):
    """free="alpha" means ("alpha",), not the letters a, l, p, h, a: Beta(α, 3) with mean 1/4
    has α = 1."""
    law, rep = solve(jaxmix.Beta(2.0, 3.0), [Equal("mean", 0.25)], free="alpha")
    assert bool(rep.converged) and rep.parameters == ("alpha",), rep.message
    assert float(law.alpha) == pytest.approx(1.0, rel=1e-8) and float(law.beta) == 3.0


def test_callable_closing_over_an_int_order(x64):
    """A quantity built by a factory over an int (a moment's order) must work: the int sets the
    program's structure (range(k) in the moment), so it is part of the compile key, not a traced
    input. E[W] = 0.4 and E[W³] = 24/210 give Beta(2, 3) (closed form: E[B³] = a(a+1)(a+2) /
    (κ(κ+1)(κ+2)))."""

    def raw_moment(k):
        return lambda w: w.moment(k)

    key2, nums2 = design._split_callable(raw_moment(2))
    key3, _ = design._split_callable(raw_moment(3))
    assert nums2 == () and key2 != key3 and key3 == design._split_callable(raw_moment(3))[0]
    law, rep = solve(jaxmix.Beta(1.0, 1.0), [Equal("mean", 0.4), Equal(raw_moment(3), 24 / 210)])
    assert bool(rep.converged), rep.message
    np.testing.assert_allclose([float(law.alpha), float(law.beta)], [2.0, 3.0], rtol=1e-7)


def test_targets_met_only_in_a_limit_are_not_converged():
    """A Beta law cannot keep the variance (E[W²] - E[W] = -m(1-m)κ/(κ+1) < 0 on [0, 1]); the
    residual vanishes only as β -> 0 (or α -> 0): about β/(α+1), inside float32's tol 1e-5
    once β < 1e-4. float32 must not call Beta(7.7, 5e-6) converged; float64 must not advise
    loosening tol."""
    with pytest.warns(RuntimeWarning, match="only in a limit"):
        _, rep = jaxmix.design_weights(jaxmix.Beta(2.0, 2.0), [Equal("variance_gap", 0.0)])
    assert rep.values.dtype == jnp.float32
    assert not bool(rep.converged) and int(rep.status) == design.NOT_ATTAINED, rep.message
    assert int(rep.direction) == -1 and "runs off to 0" in rep.message
    with jax.enable_x64(True):
        _, rep = solve(jaxmix.Beta(2.0, 2.0), [Equal("variance_gap", 0.0)])
    assert not bool(rep.converged), rep.message
    assert "limit law" in rep.message and "loosen tol" not in rep.message, rep.message


def test_converged_lane_wins_when_no_distance_to_the_template_is_finite():
    """Without an objective the winner is the converged lane nearest the template; with every
    distance infinite (a template coordinate at -∞) lane 0 won although it had not converged."""
    problem = type("P", (), {"objective_def": None, "tol": 1e-10})()
    lanes = {
        "converged": jnp.array([False, True]),
        "feasible": jnp.array([False, True]),
        "loss": jnp.zeros(2),
        "z": jnp.zeros((2, 1)),
        "viol": jnp.array([jnp.inf, 1e-12]),
        "newton": jnp.zeros(2),
    }
    win, status = design._pick(problem, lanes, jnp.array([-jnp.inf]))
    assert int(win) == 1 and int(status) == design.CONVERGED


def test_template_with_eps_at_zero_starts_finite(x64):
    """EpBeta(3, 1, 0, 0.3) with ε0 free (ε0 = 0 is a law): Algorithm 1's targets at δ = 0.03.
    The template's ε0 = 0 was a start at z = -∞; the report said "converged" with violation ∞.
    Checked with scipy's incomplete beta at the returned law."""
    law, rep = solve(jaxmix.EpBeta(3.0, 1.0, 0.0, EPS), ALG1(0.03), free=("alpha", "beta", "eps0"))
    assert bool(rep.converged) and float(rep.max_violation) <= 1e-10, rep.message
    a, b, e0, e1 = (float(law.alpha), float(law.beta), float(law.eps0), float(law.eps1))
    assert abs(u_scipy(a, b, e0, e1) - 0.03) < 1e-9
    mean, var = epbeta_mean(law), epbeta_var(law)
    assert abs(var + mean**2 - mean) < 1e-9


def test_uniform_limits_are_named_on_their_side(x64):
    """Unif(low, high), both free. (1) min Var s.t. E[W] = 0.5: the infimum 0 needs
    high - low -> 0, a point mass, not a Uniform (the law refuses low = high); the solver
    returned low = high = 0.5 as converged. (2) max Var s.t. P(W < 0) <= 0.1 is unbounded
    (low = -(high - low)/10 -> -∞, high -> +∞); the report said "low runs off to ∞"."""
    law, rep = solve(
        jaxmix.Uniform(0.0, 1.0),
        [Equal("mean", 0.5)],
        free=("low", "high"),
        objective=Minimize("variance"),
    )
    assert not bool(rep.converged) and int(rep.status) == design.NOT_ATTAINED, rep.message
    assert "high - low runs off to 0" in rep.message, rep.message
    assert "the infimum is a limit law" in rep.message, rep.message  # a minimum: not "supremum"
    _, rep = solve(
        jaxmix.Uniform(0.0, 1.0),
        [AtMost("p_below_0", 0.1)],
        free=("low", "high"),
        objective=Maximize("variance"),
    )
    assert not bool(rep.converged) and int(rep.status) == design.NOT_ATTAINED, rep.message
    name = rep.parameters[int(rep.diverging)]
    sign = np.sign(np.asarray(rep.values)[int(rep.diverging)])
    assert int(rep.direction) == sign, (name, rep.message)
    assert f"{name} runs off to {'+' if sign > 0 else '-'}∞" in rep.message, rep.message


def test_grad_reuses_the_plain_calls_program(x64):
    """dα/dm of Beta(α, β) with mean m and variance v: α = m(m(1-m)/v - 1), so
    dα/dm = m(1-m)/v - 1 + m(1-2m)/v. Under a top-level grad the solver runs as the plain call's
    compiled program: it used to compile a second copy (without the compile options) for the
    derivative rule, which JAX runs inside the JVP trace."""
    beta, v = jaxmix.Beta(1.0, 1.0), 0.01

    def alpha(m):
        return solve(beta, [Equal("mean", m), Equal("variance", v)])[0].alpha

    alpha(0.3)  # the same structure as test_beta_mean_and_variance_closed_form
    fast, plain = design._solve_any.fast._cache_size(), design._solve_any.plain._cache_size()
    for m in (0.3, 0.4):
        expected = m * (1 - m) / v - 1 + m * (1 - 2 * m) / v
        assert float(jax.grad(alpha)(m)) == pytest.approx(expected, rel=1e-6)
    assert design._solve_any.plain._cache_size() == plain  # no second program
    assert design._solve_any.fast._cache_size() == fast
