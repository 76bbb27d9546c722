"""Special functions (floor 1): the regularized incomplete beta function.

``betainc(a, b, x)`` = I_x(a, b) = B(x; a, b) / B(a, b). For now the forward value comes from
``jax.scipy.special.betainc``, which is differentiable in ``x`` only; a custom JVP in ``a`` and
``b`` is the job of the selection issue.
"""

from __future__ import annotations

import jax.scipy.special as jsp
from jaxtyping import Array, ArrayLike, Float


def betainc(a: ArrayLike, b: ArrayLike, x: ArrayLike) -> Float[Array, "..."]:
    """Regularized incomplete beta I_x(a, b); broadcasts over its arguments."""
    return jsp.betainc(a, b, x)
