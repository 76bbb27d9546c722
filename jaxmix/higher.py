"""Third and fourth moments of the mixup population, and the tail cost of variance preservation.

Setting (docs/higher_moments.md): a synthetic record is x~_k = W_k x_{i,k} + (1 - W_k) x_{j,k},
column k drawing its weight from law g(k) of the scheme (laws drawn independently of each other
and of the parents). With a = x_i - x̄ and b = x_j - x̄, x~ - x̄ = W ⊙ a + (1 - W) ⊙ b, so a
central moment of order r of x~ is a sum over the subsets S of the r factors that take the
``a`` term:

    E[∏_r (x~ - x̄)_{k_r}] = Σ_S  E[∏_{r∈S} W_{k_r} ∏_{r∉S} (1 - W_{k_r})]
                                  · E[∏_{r∈S} a_{k_r} ∏_{r∉S} b_{k_r}].

With replacement a and b are independent copies of the centred data, so every term whose S or
complement holds exactly one factor vanishes (E a = 0). What is left:

- order 3:  M3' = T3 ⊙ M3,   T3_klm = E[W_k W_l W_m] + E[(1-W_k)(1-W_l)(1-W_m)];
- order 4:  M4' = T4 ⊙ M4 + Σ_{|S|=2} B_S Σ_S Σ_{S^c},   T4 = E[∏W] + E[∏(1-W)],
            B_S = E[W_{k_s} W_{k_s'} (1-W_{k_t})(1-W_{k_t'})] (six pairings).

Weight products group by law: E[∏_r f_r(W_{g(k_r)})] = ∏_g E[W_g^{a_g} (1 - W_g)^{b_g}], with
a_g (b_g) the number of factors W (1 - W) that use law g. For one shared law T3 = 1 + 3(E[W²] -
E[W]) (1 under variance preservation: skewness kept) and T4 = 1 + 2d - 4(E[W] - E[W²]), B = d =
E[W²(1 - W)²]; a column's kurtosis κ = m4/σ⁴ then maps to κ' = (T4 κ + 6d)/K² with
K = 1 - 2(E[W] - E[W²]), i.e. κ' + 3 = (1 + 2d)(κ + 3) under variance preservation.

Without replacement (i ≠ j drawn uniformly), E over pairs of f(i) g(j) = (n E f E g - E[fg])/(n-1),
and Σ_S E[∏_S W ∏_{S^c}(1-W)] = 1 give M3' = ((n T3 - 1)/(n - 1)) ⊙ M3 and
M4' = ((n T4 - 1)/(n - 1)) ⊙ M4 + (n/(n - 1)) Σ_{|S|=2} B_S Σ_S Σ_{S^c}.

Every function is pure and jit/vmap/grad compatible; tensors are (d,)*r, scalars for a shared law.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from jaxmix import _checks
from jaxmix.schemes import Scheme, as_scheme

__all__ = [
    "central_moments",
    "weight_product_moment",
    "third_moment_factor",
    "fourth_moment_factor",
    "tail_factor",
    "skewness_map",
    "kurtosis_map",
    "map_central3",
    "map_central4",
    "kept_parent_raw_moments",
    "map_class_central",
    "skewness",
    "kurtosis",
    "QUANTITIES",
    "tail_tradeoff",
    "min_tail_epbeta",
    "plot_tail_tradeoff",
]


# --- data -----------------------------------------------------------------------------------------


def central_moments(xc: Float[Array, "n d"], order: int) -> Float[Array, " ..."]:
    """1/n central moment tensor of order 3 or 4 of already-centred rows ``xc``: (d,)*order."""
    n = xc.shape[0]
    if order == 3:
        return jnp.einsum("nk,nl,nm->klm", xc, xc, xc) / n
    if order == 4:
        return jnp.einsum("nk,nl,nm,np->klmp", xc, xc, xc, xc) / n
    raise ValueError(f"order must be 3 or 4 here, got {order}.")


# --- weight products ------------------------------------------------------------------------------


def _raw_moments(scheme: Scheme, top: int):
    """(top + 1, G): E[W_g^k] for k = 0..top."""
    rows = []
    for k in range(top + 1):
        rows.append(jnp.stack(jnp.broadcast_arrays(*[law.moment(k) for law in scheme.laws])))
    return rows


def _mixed(raw, a: int, b: int) -> Array:
    """E[W^a (1 - W)^b] per law from raw moments: Σ_j C(b, j) (-1)^j E[W^(a+j)]."""
    out = raw[a]
    for j in range(1, b + 1):
        out = out + math.comb(b, j) * (-1) ** j * raw[a + j]
    return out


def _set_partitions(items):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in _set_partitions(rest):
        for i in range(len(part)):
            yield part[:i] + [[first] + part[i]] + part[i + 1 :]
        yield [[first]] + part


def weight_product_moment(weights, kinds: tuple[bool, ...]) -> Float[Array, " ..."]:
    """E[∏_r f_r(W_{k_r})] for every index tuple (k_1, ..., k_r): f_r = W if kinds[r] else 1 - W.

    A scalar for a shared law (E[W^a (1 - W)^b], a = sum(kinds)), else a tensor (d,)*r: for
    each tuple the factors are grouped by law and the groups multiply (independent laws).
    """
    scheme = as_scheme(weights)
    kinds = tuple(bool(k) for k in kinds)
    r = len(kinds)
    raw = _raw_moments(scheme, r)
    if scheme.columns is None:
        return _mixed(raw, sum(kinds), r - sum(kinds))[0]
    cols = jnp.asarray(scheme.columns)
    d = cols.shape[0]

    def along(v, axis):
        shape = [1] * r
        shape[axis] = d
        return v.reshape(shape)

    eq = {(s, t): along(cols, s) == along(cols, t) for s in range(r) for t in range(s + 1, r)}
    total = jnp.zeros((d,) * r, raw[0].dtype)
    for part in _set_partitions(list(range(r))):
        block_of = {p: i for i, block in enumerate(part) for p in block}
        mask = jnp.ones((1,) * r, bool)
        for (s, t), e in eq.items():
            mask = mask & (e if block_of[s] == block_of[t] else ~e)
        term = jnp.ones((1,) * r, raw[0].dtype)
        for block in part:
            a = sum(kinds[p] for p in block)
            per_law = _mixed(raw, a, len(block) - a)
            term = term * along(per_law[cols], min(block))
        total = total + jnp.where(mask, term, 0.0)
    return total


def _pairings4():
    """The six (S, S^c) splits of four positions into two pairs, S the positions taking W."""
    return [
        (s, tuple(p for p in range(4) if p not in s)) for s in itertools.combinations(range(4), 2)
    ]


def _pair_tensor(cov, s, t):
    """Σ_{k_s0 k_s1} Σ_{k_t0 k_t1} as a (d, d, d, d) tensor."""
    idx = "abcd"
    lhs = idx[s[0]] + idx[s[1]] + "," + idx[t[0]] + idx[t[1]]
    return jnp.einsum(f"{lhs}->abcd", cov, cov)


def map_central3(central3, weights, num_rows, replace: bool = True):
    """M3' = T3 ⊙ M3 (with replacement) or ((n T3 - 1)/(n - 1)) ⊙ M3 (parents i ≠ j)."""
    t3 = weight_product_moment(weights, (True,) * 3) + weight_product_moment(weights, (False,) * 3)
    if not replace:
        t3 = (num_rows * t3 - 1.0) / (num_rows - 1.0)
    return t3 * central3


def map_central4(central4, cov, weights, num_rows, replace: bool = True):
    """M4' = T4 ⊙ M4 + Σ_{|S|=2} B_S Σ_S Σ_{S^c}; the finite-n form for ``replace=False``."""
    t4 = weight_product_moment(weights, (True,) * 4) + weight_product_moment(weights, (False,) * 4)
    pairs = 0.0
    for s, t in _pairings4():
        kinds = tuple(p in s for p in range(4))
        pairs = pairs + weight_product_moment(weights, kinds) * _pair_tensor(cov, s, t)
    if replace:
        return t4 * central4 + pairs
    n = num_rows
    return (n * t4 - 1.0) / (n - 1.0) * central4 + n / (n - 1.0) * pairs


# --- class-conditional moments (cut-point labels) -------------------------------------------------


def kept_parent_raw_moments(law, tau, top: int = 4) -> list:
    """E[V^k] for k = 0..top, V = W if W >= tau else 1 - W (the kept parent's weight, one law):
    E[V^k] = E[W^k] - E[W^k 1{W < tau}] + Σ_j C(k, j)(-1)^j E[W^j 1{W < tau}]."""
    tau = jnp.asarray(tau, law.moment(1).dtype)
    low = [law.partial_moment(k, tau) for k in range(top + 1)]
    out = []
    for k in range(top + 1):
        flipped = sum(math.comb(k, j) * (-1) ** j * low[j] for j in range(k + 1))
        out.append(law.moment(k) - low[k] + flipped)
    return out


def _poly_moment(raw, a: int, b: int, c: int, e):
    """E[V^a (1 - V)^b (V - e)^c] from the raw moments of V (polynomial in V expanded)."""
    coef = [1.0]
    for lin in [(0.0, 1.0)] * a + [(1.0, -1.0)] * b + [(-e, 1.0)] * c:
        nxt = [0.0] * (len(coef) + 1)
        for i, v in enumerate(coef):
            nxt[i] = nxt[i] + lin[0] * v
            nxt[i + 1] = nxt[i + 1] + lin[1] * v
        coef = nxt
    return sum(cf * raw[k] for k, cf in enumerate(coef))


def map_class_central(order: int, summary, law, tau, raw=None):
    """Class-conditional central moments of order 3 or 4 of the mixup population, (C,) + (d,)*r,
    one shared law, parents with replacement (docs/higher_moments.md, *Class-conditional*).

    Given L~ = l the record is x~ = V x_P + (1 - V) x_Q with P from class l, Q from all rows and
    V the kept-parent weight, all independent; about the predicted class mean
    x̄ + E[V] (μ_l - x̄): x~ - μ~_l = V A + (1 - V) B + (V - E V) D with A = x_P - μ_l,
    B = x_Q - x̄ (both mean 0) and D = μ_l - x̄. Every factor of a product takes one of the three
    terms; assignments with exactly one A or one B vanish; the rest give
    E[V^|A| (1 - V)^|B| (V - E V)^|D|] times the class moment over the A positions, the pooled
    moment over the B positions and D at each D position. ``raw``: E[V^k], k = 0..order, when
    already computed (``kept_parent_raw_moments``).
    """
    if raw is None:
        raw = kept_parent_raw_moments(law, tau, order)
    e = raw[1]
    dev = summary.class_means - summary.mean  # (C, d)
    cls = {2: summary.class_covs, 3: summary.class_central3, 4: summary.class_central4}
    pooled = {2: summary.cov, 3: summary.central3, 4: summary.central4}
    letters = "abcd"[:order]
    ones = jnp.ones(dev.shape[:1], dev.dtype)
    total = 0.0
    for assign in itertools.product("ABD", repeat=order):
        sa = [letters[p] for p in range(order) if assign[p] == "A"]
        sb = [letters[p] for p in range(order) if assign[p] == "B"]
        sd = [letters[p] for p in range(order) if assign[p] == "D"]
        if len(sa) == 1 or len(sb) == 1:
            continue
        ops, subs = [ones], ["z"]
        if sa:
            ops.append(cls[len(sa)])
            subs.append("z" + "".join(sa))
        if sb:
            ops.append(pooled[len(sb)])
            subs.append("".join(sb))
        for q in sd:
            ops.append(dev)
            subs.append("z" + q)
        weight = _poly_moment(raw, len(sa), len(sb), len(sd), e)
        total = total + weight * jnp.einsum(",".join(subs) + "->z" + letters, *ops)
    return total


# --- scalars --------------------------------------------------------------------------------------


def _per_column_scalar(weights, fn):
    """fn(raw moments per law) -> (G,), mapped to columns: scalar (shared) or (d,)."""
    scheme = as_scheme(weights)
    per_law = fn(_raw_moments(scheme, 4))
    if scheme.columns is None:
        return per_law[0]
    return per_law[jnp.asarray(scheme.columns)]


def third_moment_factor(weights) -> Float[Array, "*d"]:
    """T3 = E[W³] + E[(1 - W)³] = 1 + 3(E[W²] - E[W]): m3' = T3 m3 per column (with replacement).

    A scalar for a shared law, shape (d,) per column. Equal to 1 (skewness-type moments kept
    exactly) when E[W²] = E[W]; 1/2 for Unif(0, 1).
    """
    return _per_column_scalar(weights, lambda m: 1.0 + 3.0 * (m[2] - m[1]))


def fourth_moment_factor(weights) -> Float[Array, "*d"]:
    """T4 = E[W⁴] + E[(1 - W)⁴] = 1 + 2d - 4(E[W] - E[W²]) per column (scalar when shared)."""
    return _per_column_scalar(weights, lambda m: _mixed(m, 4, 0) + _mixed(m, 0, 4))


def tail_factor(weights) -> Float[Array, "*d"]:
    """d = E[W²(1 - W)²] ≥ 0 per column (scalar when shared): m4' = T4 m4 + 6 d σ⁴.

    Under variance preservation κ + 3 grows by the factor 1 + 2d per generation. 1/30 for
    Unif(0, 1); 0 only for W ∈ {0, 1} (resampling).
    """
    return _per_column_scalar(weights, lambda m: _mixed(m, 2, 2))


def _variance_factor(weights):
    return _per_column_scalar(weights, lambda m: 1.0 - 2.0 * (m[1] - m[2]))


def _geometric(a, t):
    """(a^t, Σ_{s<t} a^s); the sum is t where a = 1 (gradient-safe)."""
    at = a**t
    near = jnp.abs(a - 1.0) < 1e-6
    safe = jnp.where(near, 2.0, a)
    return at, jnp.where(
        near, t * (1.0 + 0.5 * (t - 1.0) * (a - 1.0)), (safe**t - 1.0) / (safe - 1.0)
    )


def kurtosis_map(weights, kurtosis: ArrayLike, generations: ArrayLike = 1) -> Float[Array, " ..."]:
    """Kurtosis κ = m4/σ⁴ of a column after t generations of mixup (with replacement).

    One generation: κ' = (T4 κ + 6d)/K², K = 1 - 2(E[W] - E[W²]) the variance factor; so
    κ_t = a^t κ_0 + b (a^t - 1)/(a - 1) with a = T4/K², b = 6d/K². Under variance preservation
    (K = 1, T4 = 1 + 2d): κ_t + 3 = (κ_0 + 3)(1 + 2d)^t. Broadcasts over ``kurtosis`` and
    ``generations`` (per column for a scheme: the trailing axis is d).
    """
    k = _variance_factor(weights)
    a = fourth_moment_factor(weights) / k**2
    b = 6.0 * tail_factor(weights) / k**2
    t = jnp.asarray(generations, a.dtype)
    at, geo = _geometric(a, t)
    return at * jnp.asarray(kurtosis, a.dtype) + b * geo


def skewness_map(weights, skewness: ArrayLike, generations: ArrayLike = 1) -> Float[Array, " ..."]:
    """Skewness m3/σ³ after t generations: multiplied by (T3 / K^(3/2))^t (1 under VP)."""
    k = _variance_factor(weights)
    a = third_moment_factor(weights) / k**1.5
    t = jnp.asarray(generations, a.dtype)
    return a**t * jnp.asarray(skewness, a.dtype)


def skewness(summary) -> Float[Array, " d"]:
    """Per-column skewness m3/σ³ of a Summary with ``central3`` (summarize(..., order=3))."""
    if getattr(summary, "central3", None) is None:
        raise ValueError("this Summary has no third moments; use jaxmix.summarize(x, order=3).")
    c3 = summary.central3
    d = c3.shape[0]
    idx = jnp.arange(d)
    return c3[idx, idx, idx] / summary.variance**1.5


def kurtosis(summary) -> Float[Array, " d"]:
    """Per-column kurtosis m4/σ⁴ (3 for a Gaussian) of a Summary from summarize(..., order=4)."""
    if getattr(summary, "central4", None) is None:
        raise ValueError("this Summary has no fourth moments; use jaxmix.summarize(x, order=4).")
    c4 = summary.central4
    d = c4.shape[0]
    idx = jnp.arange(d)
    return c4[idx, idx, idx, idx] / summary.variance**2


# --- design quantities ----------------------------------------------------------------------------


def _q(fn) -> Callable:
    return lambda weights, tau, summary: jnp.atleast_1d(_per_law_value(weights, fn))


def _per_law_value(weights, fn):
    """fn on each law of a scheme (G,), or the scalar for a single law."""
    laws = weights.laws if isinstance(weights, Scheme) else (weights,)
    vals = [fn(law) for law in laws]
    return vals[0] if len(vals) == 1 else jnp.stack(jnp.broadcast_arrays(*vals))


def _law_d(law):
    return tail_factor(law)


def _law_t3(law):
    return third_moment_factor(law)


def _law_growth(law):
    k = 1.0 - 2.0 * (law.moment(1) - law.moment(2))
    return fourth_moment_factor(law) / k**2


QUANTITIES: dict[str, Callable] = {
    "tail_factor": _q(_law_d),
    "third_moment_factor": _q(_law_t3),
    "kurtosis_growth": _q(_law_growth),
}
"""Design quantities per law, signature (weights, tau, summary) like ``jaxmix.select``'s:
tail_factor d = E[W²(1-W)²]; third_moment_factor 1 + 3(E[W²] - E[W]); kurtosis_growth
T4/K² (1 + 2d under variance preservation). As callables weights -> array they are
``tail_factor``, ``third_moment_factor`` and, e.g., ``lambda w: kurtosis_map(w, 0.0)``."""


# --- the trade-off at fixed delta -----------------------------------------------------------------


def tail_tradeoff(delta: float, eps: ArrayLike, *, tau: float = 0.5, eps0: float | None = None):
    """d of the Algorithm 1 law ``select_epbeta(delta, eps0, eps1, tau)`` along a line of ε.

    ``eps0=None``: ε0 = ε1 = ε for each ε in ``eps``; a number: ε0 fixed, ε1 = ε.
    Returns (eps, d) as numpy arrays; an ε whose maximum attainable δ is below ``delta`` gives
    NaN. Host-side helper for plots (one validated ``select_epbeta`` call per ε).
    """
    import numpy as np

    from jaxmix.select import max_attainable_delta, select_epbeta

    _checks.check_finite_scalar(delta, "delta")
    eps = np.atleast_1d(np.asarray(eps, float))
    out = np.full(eps.shape, np.nan)
    for i, e in enumerate(eps):
        e0 = float(e) if eps0 is None else float(eps0)
        if float(max_attainable_delta(e0, float(e), tau)) < delta:
            continue
        out[i] = float(tail_factor(select_epbeta(delta, eps0=e0, eps1=float(e), tau=tau)))
    return eps, out


def min_tail_epbeta(
    delta: float, *, eps0: float = 0.0, tau: float = 0.5, eps1_max: float = 2.0, steps: int = 40
):
    """The variance-preserving EpBeta law with u = δ and fixed ε0 of least d over ε1.

    Along ε1 (the VP curve and u = δ fix α, β through ``select_epbeta``) d is minimised by a
    golden-section search on [ε1_min, ``eps1_max``], ε1_min the smallest ε1 whose maximum
    attainable δ reaches ``delta`` (bisection). ε0 = 0 (a one-sided extension) gives the least
    d among EpBeta laws at δ = 0.05 (``docs/higher_moments.md``). Returns (law, eps1). Host-side.
    """
    from jaxmix.select import max_attainable_delta, select_epbeta

    _checks.check_finite_scalar(delta, "delta")
    if not delta > 0:
        raise ValueError(f"min_tail_epbeta: delta must be > 0, got {delta}.")

    def reach(e1):
        return float(max_attainable_delta(float(eps0), float(e1), tau))

    if reach(eps1_max) < delta:
        raise ValueError(
            f"min_tail_epbeta: delta = {delta} is not attainable with eps1 <= {eps1_max}."
        )
    lo, hi = 1e-6, float(eps1_max)
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if reach(mid) < delta else (lo, mid)
    lo = hi * (1.0 + 1e-6)

    def dval(e1):
        return float(tail_factor(select_epbeta(delta, eps0=float(eps0), eps1=float(e1), tau=tau)))

    g = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = lo, float(eps1_max)
    c, e = b - g * (b - a), a + g * (b - a)
    fc, fe = dval(c), dval(e)
    for _ in range(steps):
        if fc <= fe:
            b, e, fe = e, c, fc
            c = b - g * (b - a)
            fc = dval(c)
        else:
            a, c, fc = c, e, fe
            e = a + g * (b - a)
            fe = dval(e)
    cands = [(dval(lo), lo), (fc, c), (fe, e)]
    _, best = min(cands)
    return select_epbeta(delta, eps0=float(eps0), eps1=float(best), tau=tau), best


def plot_tail_tradeoff(delta, eps, *, tau: float = 0.5, ax=None, designed=None):
    """Plot d = E[W²(1-W)²] of ``select_epbeta(δ, ε, ε)`` against ε for each δ in ``delta``.

    ``designed``: optional list of (label, law) pairs drawn as points at their (mean ε, d).
    Returns the matplotlib Axes (matplotlib imported lazily).
    """
    import matplotlib.pyplot as plt
    import numpy as np

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    for dl in np.atleast_1d(delta):
        e, dv = tail_tradeoff(float(dl), eps, tau=tau)
        ax.plot(e, dv, label=f"EpBeta(δ={float(dl):g}), ε0 = ε1 = ε")
    for label, law in designed or ():
        e = 0.5 * (float(law.eps0) + float(law.eps1))
        ax.plot([e], [float(tail_factor(law))], "o", label=label)
    ax.set_xlabel("ε")
    ax.set_ylabel("d = E[W²(1-W)²]")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    return ax
