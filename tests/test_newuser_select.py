"""Algorithm 1 at the edges a new user reaches: very large eps, and delta = max_attainable_delta
under jit. Oracles: the large-eps limit of u on the variance-preserving curve (closed form) and
the library's own concrete maximum (docs/theory.md, "Algorithm 1")."""

import math

import jax
import jax.numpy as jnp
import pytest

import jaxmix

# As eps0 = eps1 -> inf with E[W] = 1/2 kept, the VP law tends to Normal(1/2, 1/4) (E[W^2] = E[W]),
# so u = E[min(W, 1 - W)] -> 1/2 - E|W - 1/2| = 1/2 - 1/sqrt(2 pi). Along eps = 1e2, 1e3, 1e4 the
# maximum rises to this limit from below (mpmath / scipy oracle: 0.1010553, 0.1010577, 0.1010577).
LIMIT = 0.5 - 1.0 / math.sqrt(2.0 * math.pi)

# One program for every traced check below: delta, eps0, eps1 and tau all traced.
_select_traced = jax.jit(lambda d, a, b, t: jaxmix.select_epbeta(d, eps0=a, eps1=b, tau=t))
_max_traced = jax.jit(lambda a, b, t: jaxmix.max_attainable_delta(a, b, t))


def _f64(*values):
    return tuple(jnp.asarray(v, jnp.float64) for v in values)


@pytest.mark.parametrize("eps", [1e5, 1e6])
def test_max_attainable_delta_large_eps_is_not_a_wrong_number(x64, eps):
    try:
        md = float(jaxmix.max_attainable_delta(eps, eps))
    except ValueError:
        return  # refusing a range it cannot solve is allowed
    assert md <= LIMIT + 1e-7, (eps, md, LIMIT)


def test_select_epbeta_large_eps_error_does_not_blame_tau(x64):
    try:
        jaxmix.select_epbeta(0.05, eps0=1e6, eps1=1e6, tau=0.5)
    except ValueError as err:
        assert "tau this close to 0 or 1" not in str(err), str(err)


def test_traced_accepts_the_concrete_maximum(x64):
    eps0, eps1, tau = 5.0, 1.0, 0.3
    md = jaxmix.max_attainable_delta(eps0, eps1, tau)  # concrete: the value a user reads
    law_c = jaxmix.select_epbeta(md, eps0=eps0, eps1=eps1, tau=tau)
    law_t = _select_traced(*_f64(md, eps0, eps1, tau))
    u = float(jaxmix.class_mean_shift(law_t, tau=tau))
    assert abs(u - float(md)) <= 1e-6
    assert abs(float(law_t.alpha) - float(law_c.alpha)) <= 1e-3 * float(law_c.alpha)


@pytest.mark.parametrize(
    "eps0, eps1, tau", [(0.0, 0.0, 0.5), (-1.0, 0.3, 0.5), (0.3, 0.3, float("nan"))]
)
def test_traced_max_attainable_delta_refuses_bad_inputs(x64, eps0, eps1, tau):
    # Concrete calls raise ValueError; traced ones must not hand back a NaN.
    with pytest.raises(Exception, match=r"(eps0|eps1|tau) must|eps0 = eps1 = 0"):
        float(_max_traced(*_f64(eps0, eps1, tau)))


@pytest.mark.parametrize("tau", [0.0, 1.5, float("nan")])
def test_traced_select_epbeta_names_tau(x64, tau):
    # Concrete: "tau must lie in (0, 1)". Traced tau = 0 returned a law; 1.5 and nan blamed alpha.
    with pytest.raises(Exception, match=r"tau must"):
        float(_select_traced(*_f64(0.01, 0.3, 0.3, tau)).alpha)
