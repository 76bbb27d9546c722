"""Compatibility module: Algorithm 1 lives in :mod:`jaxmix.epbeta_select`, the general design
solver in :mod:`jaxmix.design`; every name is re-exported here and from :mod:`jaxmix`."""

from jaxmix.design import (  # noqa: F401
    QUANTITIES,
    AbstractObjective,
    AbstractTarget,
    AtLeast,
    AtMost,
    DesignReport,
    Equal,
    Maximize,
    Minimize,
    design_weights,
)
from jaxmix.epbeta_select import (  # noqa: F401
    clear_caches,
    law_free_delta_bound,
    max_attainable_delta,
    select_epbeta,
    vp_curve_law,
    vp_curve_params,
    vp_curve_shift,
)

__all__ = [
    "QUANTITIES",
    "AbstractObjective",
    "AbstractTarget",
    "AtLeast",
    "AtMost",
    "DesignReport",
    "Equal",
    "Maximize",
    "Minimize",
    "clear_caches",
    "design_weights",
    "law_free_delta_bound",
    "max_attainable_delta",
    "select_epbeta",
    "vp_curve_law",
    "vp_curve_params",
    "vp_curve_shift",
]
