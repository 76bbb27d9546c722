"""Compatibility module: Algorithm 1 lives in :mod:`jaxmix.epbeta_select`, the general design
solver in :mod:`jaxmix.design`; every name is re-exported here and from :mod:`jaxmix`."""

from jaxmix import design as _design
from jaxmix import epbeta_select as _epbeta_select
from jaxmix.design import *  # noqa: F403
from jaxmix.epbeta_select import *  # noqa: F403

__all__ = []
__all__ += _design.__all__
__all__ += _epbeta_select.__all__
