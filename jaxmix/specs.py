"""Weight-law specifications: one short text grammar for the command line and scripts.

A spec names a mixup weight law in one token, ``FAMILY[:P1,P2,...]``; the number of
parameters picks the form:

============================  ==================================================================
spec                          law
============================  ==================================================================
``uniform`` (or ``unif``)     Unif(0, 1)
``beta:A``                    Beta(A, A)
``beta:A,B``                  Beta(A, B)
``epbeta``                    Algorithm 1 (``select_epbeta``) at the caller's default delta
``epbeta:DELTA``              Algorithm 1: the variance-preserving EpBeta with u = DELTA
``epbeta:A,B,E0,E1``          EpBeta(A, B, E0, E1), support [-E0, 1 + E1]
============================  ==================================================================

For ``epbeta`` and ``epbeta:DELTA`` the support half-widths ``eps0``, ``eps1`` and the cut point
``tau`` come from the caller (the command line's ``--eps`` and ``--tau``). Parameters are checked
here, before any array work: Beta parameters in [:data:`BETA_MIN`, :data:`BETA_MAX`] (beyond,
the law is within sampling noise of its limit and the samplers slow down), EpBeta half-widths in
[0, :data:`EPS_MAX`]. Every failure is a ``ValueError`` with one line naming the spec and the fix.
See ``docs/theory.md`` (EpBeta, Algorithm 1) for the laws themselves.
"""

from __future__ import annotations

import math

__all__ = [
    "BETA_MAX",
    "BETA_MIN",
    "EPS_MAX",
    "GRAMMAR",
    "family",
    "label",
    "parse_law",
    "parse_numbers",
]

GRAMMAR = "uniform | beta:A | beta:A,B | epbeta | epbeta:DELTA | epbeta:A,B,E0,E1"
BETA_MIN = 1e-3
BETA_MAX = 1e3
EPS_MAX = 100.0

_ALIASES = {"unif": "uniform", "uniform": "uniform", "beta": "beta", "epbeta": "epbeta"}


def family(spec: str) -> str:
    """The family of a spec: ``"uniform"``, ``"beta"`` or ``"epbeta"`` (ValueError otherwise)."""
    name = str(spec).strip().partition(":")[0].strip().lower()
    if name not in _ALIASES:
        raise ValueError(f"unknown weight law {spec!r}; use one of {GRAMMAR}.")
    return _ALIASES[name]


def parse_numbers(spec: str) -> tuple[float, ...]:
    """The parameters of a spec as finite floats (empty for a bare family name)."""
    text = str(spec).strip().partition(":")[2].strip()
    if not text:
        return ()
    vals = []
    for part in text.split(","):
        try:
            v = float(part)
        except ValueError:
            raise ValueError(
                f"weight law {spec!r}: {part.strip()!r} is not a number; use one of {GRAMMAR}."
            ) from None
        if not math.isfinite(v):
            raise ValueError(
                f"weight law {spec!r}: parameters must be finite numbers, got {part.strip()}."
            )
        vals.append(v)
    return tuple(vals)


def _check_beta(spec, a, b):
    for name, v in (("A", a), ("B", b)):
        if not BETA_MIN <= v <= BETA_MAX:
            raise ValueError(
                f"weight law {spec!r}: {name} = {v:g} is outside [{BETA_MIN:g}, {BETA_MAX:g}] "
                "(beyond it the law is indistinguishable from its limit and sampling slows down); "
                "choose parameters in that range."
            )


def _check_eps(spec, e0, e1):
    for name, v in (("E0", e0), ("E1", e1)):
        if not 0.0 <= v <= EPS_MAX:
            raise ValueError(
                f"weight law {spec!r}: {name} = {v:g} must lie in [0, {EPS_MAX:g}] "
                "(the support is [-E0, 1 + E1])."
            )


def parse_law(
    spec: str = "epbeta",
    *,
    delta: float = 0.05,
    eps0: float = 0.3,
    eps1: float | None = None,
    tau: float = 0.5,
):
    """The law named by ``spec`` (see the module docstring).

    Args:
        spec: a spec string, e.g. ``"epbeta:0.05"``, ``"beta:0.4"``, ``"epbeta:2,2,0.3,0.3"``.
        delta: the class-mean shift for a bare ``epbeta``.
        eps0, eps1: EpBeta support half-widths for ``epbeta`` / ``epbeta:DELTA`` (eps1 defaults
            to eps0).
        tau: the cut point Algorithm 1 designs for.
    Returns:
        a ``jaxmix.Uniform``, ``jaxmix.Beta`` or ``jaxmix.EpBeta``.
    Raises:
        ValueError: unknown family, wrong parameter count, a non-finite or out-of-range
            parameter, or an unattainable delta (the message says which and what to use).
    """
    import jaxmix

    fam = family(spec)
    p = parse_numbers(spec)
    eps1 = eps0 if eps1 is None else eps1
    if fam == "uniform":
        if p:
            raise ValueError(
                f"weight law {spec!r}: uniform takes no parameters (it is Unif(0, 1))."
            )
        return jaxmix.Uniform()
    if fam == "beta":
        if len(p) == 1:
            p = (p[0], p[0])
        if len(p) != 2:
            raise ValueError(
                f"weight law {spec!r}: beta takes 1 or 2 parameters (beta:A or beta:A,B), "
                f"got {len(p)}."
            )
        _check_beta(spec, *p)
        return jaxmix.Beta(*p)
    if len(p) == 4:
        a, b, e0, e1 = p
        _check_beta(spec, a, b)
        _check_eps(spec, e0, e1)
        return jaxmix.EpBeta(a, b, e0, e1)
    if len(p) > 1:
        raise ValueError(
            f"weight law {spec!r}: epbeta takes 0, 1 (epbeta:DELTA) or 4 (epbeta:A,B,E0,E1) "
            f"parameters, got {len(p)}."
        )
    d = p[0] if p else delta
    for name, v in (("delta", d), ("eps0", eps0), ("eps1", eps1), ("tau", tau)):
        if not math.isfinite(v):
            raise ValueError(f"weight law {spec!r}: {name} must be a finite number, got {v}.")
    if not 0.0 < tau < 1.0:
        raise ValueError(f"weight law {spec!r}: tau = {tau:g} must lie in (0, 1).")
    _check_eps(spec, eps0, eps1)
    if d <= 0:
        raise ValueError(
            f"weight law {spec!r}: delta = {d:g} must be > 0 (the class-mean shift u = delta)."
        )
    return jaxmix.select_epbeta(d, eps0=eps0, eps1=eps1, tau=tau)


def label(spec: str) -> str:
    """A short human label of a spec, as in the paper: ``Unif(0,1)``, ``Beta(0.4,0.4)``,
    ``EpBeta(δ=0.05)``, ``EpBeta(2,2,0.3,0.3)``."""
    fam = family(spec)
    p = parse_numbers(spec)
    if fam == "uniform":
        return "Unif(0,1)"
    if fam == "beta":
        p = p * 2 if len(p) == 1 else p
        return "Beta(" + ",".join(f"{v:g}" for v in p) + ")"
    if len(p) == 1:
        return f"EpBeta(δ={p[0]:g})"
    if not p:
        return "EpBeta(Algorithm 1)"
    return "EpBeta(" + ",".join(f"{v:g}" for v in p) + ")"
