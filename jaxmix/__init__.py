"""jaxmix: structure-preserving mixup in JAX.

Public names (flat): laws ``AbstractLaw``, ``Beta``, ``Uniform``, ``EpBeta``; schemes ``Scheme``,
``per_column``; the generator ``mixup``; closed-form moments ``Summary``, ``summarize``,
``predict``, ``covariance_factor``, ``class_mean_shift``; data ``load_penguins``; design
``select_epbeta`` (Algorithm 1), ``design_weights`` and its targets; scale ``mixup_to_npy``,
``mixup_to_callback``, ``mixup_sharded``; special functions in ``jaxmix.special``;
pandas ``from_pandas``, ``to_pandas`` (pandas imported lazily: ``pip install "jaxmix[pandas]"``).
"""

from importlib import metadata as _metadata

from jaxmix.datasets import load_penguins
from jaxmix.design import AtLeast, AtMost, DesignReport, Equal, Maximize, Minimize, design_weights
from jaxmix.epbeta_select import (
    clear_caches,
    law_free_delta_bound,
    max_attainable_delta,
    select_epbeta,
)
from jaxmix.generate import mixup
from jaxmix.higher import kurtosis_map, skewness_map, tail_factor, third_moment_factor
from jaxmix.io import from_pandas, to_pandas
from jaxmix.laws import AbstractLaw, Beta, EpBeta, Uniform
from jaxmix.moments import Summary, class_mean_shift, covariance_factor, predict, summarize
from jaxmix.schemes import Scheme, per_column
from jaxmix.sharding import mixup_sharded
from jaxmix.stream import mixup_to_callback, mixup_to_npy
from jaxmix.synthesizer import Synthesizer

try:
    __version__ = _metadata.version("jaxmix")
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "AbstractLaw",
    "Beta",
    "EpBeta",
    "Uniform",
    "Scheme",
    "per_column",
    "mixup",
    "Summary",
    "summarize",
    "predict",
    "covariance_factor",
    "class_mean_shift",
    "third_moment_factor",
    "tail_factor",
    "kurtosis_map",
    "skewness_map",
    "load_penguins",
    "select_epbeta",
    "max_attainable_delta",
    "law_free_delta_bound",
    "clear_caches",
    "design_weights",
    "Equal",
    "AtMost",
    "AtLeast",
    "Maximize",
    "Minimize",
    "DesignReport",
    "from_pandas",
    "to_pandas",
    "mixup_to_npy",
    "Synthesizer",
    "mixup_to_callback",
    "mixup_sharded",
]
