import jax
import pytest


@pytest.fixture
def x64():
    """Run the test with float64 enabled, restoring the float32 default afterwards."""
    with jax.enable_x64(True):
        yield
