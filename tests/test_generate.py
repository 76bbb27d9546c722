"""The mixup generator: shapes, determinism, label rule, transforms, validation at the boundary."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmix
from helpers import CompileCounter


@pytest.fixture(scope="module")
def data():
    x = jax.random.normal(jax.random.key(0), (30, 4))
    labels = jnp.arange(30) % 3
    return x, labels


def test_shapes_dtypes_and_determinism(data):
    x, labels = data
    law = jaxmix.Beta(0.4, 0.4)
    xs, ls = jaxmix.mixup(jax.random.key(1), x, 50, law, labels=labels)
    assert xs.shape == (50, 4) and xs.dtype == jnp.float32
    assert ls.shape == (50,) and jnp.issubdtype(ls.dtype, jnp.integer)
    xs2, ls2 = jaxmix.mixup(jax.random.key(1), x, 50, law, labels=labels)
    np.testing.assert_array_equal(xs, xs2)
    np.testing.assert_array_equal(ls, ls2)
    xs3 = jaxmix.mixup(jax.random.key(2), x, 50, law)
    assert not np.allclose(xs, xs3)


def test_images_and_multi_column_labels():
    x = jax.random.uniform(jax.random.key(0), (12, 8, 8, 3))
    labels = jnp.stack([jnp.arange(12) % 2, jnp.arange(12) % 4], axis=1)
    xs, ls = jaxmix.mixup(jax.random.key(1), x, 20, jaxmix.Uniform(), labels=labels)
    assert xs.shape == (20, 8, 8, 3) and ls.shape == (20, 2)
    # all categorical columns come from the same parent: their joint combination exists in the data
    pairs = {tuple(r) for r in np.asarray(labels)}
    assert all(tuple(r) in pairs for r in np.asarray(ls))


def test_label_rule_and_parent_reconstruction():
    """With a shared weight, each synthetic row lies on the segment between two parents, and the
    label is the parent on the W >= tau side."""
    x = jnp.asarray(np.random.default_rng(0).normal(size=(6, 2)))
    labels = jnp.arange(6)
    law = jaxmix.EpBeta(2.0, 2.0, 0.2, 0.2)
    key = jax.random.key(3)
    xs, ls = jaxmix.mixup(key, x, 200, law, labels=labels, tau=0.35)
    from jaxmix.generate import draw_parents

    kp, kw = jax.random.split(key)
    i, j = draw_parents(kp, 6, 200)
    w = jaxmix.Scheme((law,)).sample(kw, 200)[:, 0]
    np.testing.assert_allclose(
        xs, w[:, None] * x[i] + (1 - w[:, None]) * x[j], rtol=1e-5, atol=1e-5
    )
    np.testing.assert_array_equal(ls, jnp.where(w >= 0.35, labels[i], labels[j]))


def test_lerp_is_exact_at_the_ends_and_accurate_between():
    """generate.lerp: w = 0 gives a and w = 1 gives b bit for bit (plain resampling copies rows);
    in between, and outside [0, 1] (EpBeta), the error against the float64 value is a few ulp."""
    from jaxmix.generate import lerp

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 10_000)).astype(np.float32)
    np.testing.assert_array_equal(lerp(a, b, jnp.zeros_like(a)), a)
    np.testing.assert_array_equal(lerp(a, b, jnp.ones_like(a)), b)
    w = rng.uniform(-0.5, 1.5, size=a.shape).astype(np.float32)
    exact = a.astype(np.float64) + w.astype(np.float64) * (b.astype(np.float64) - a)
    err = np.abs(np.asarray(lerp(a, b, w), np.float64) - exact)
    # b - a, the product and the sum round once each (|w| <= 1.5, |1 - w| <= 1.5)
    scale = np.abs(a) + np.abs(b) + np.abs(exact)
    assert np.all(err <= 4 * np.finfo(np.float32).eps * scale)


def test_rows_do_not_depend_on_num_samples():
    """Row r of mixup(key, x, m, ...) depends on the key and r only: the first rows of a longer
    call are the same bits. Per-column weights and labels used to break this in the last bit:
    XLA fused w x_i + (1 - w) x_j into an FMA on either product, differently for the last
    block of rows (see generate.lerp); the sharded call equals one device for the same reason."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    labels = rng.integers(0, 3, size=40)
    laws = (
        jaxmix.per_column([jaxmix.Beta(2.0, 3.0)] * 5, labels=jaxmix.Uniform()),
        # max(a, b) > 1e3: the sampler's gamma-ratio route, whose second stream once started
        # at lane m (so every row changed with m)
        jaxmix.EpBeta(2e3, 1e3, 0.3, 0.3),
    )
    for law in laws:  # one shorter call per law: each size is a program to compile
        full_x, full_l = jaxmix.mixup(jax.random.key(7), x, 1001, law, labels=labels)
        m = 37  # neither a multiple of the sampler's groups nor of the longer call's last block
        part_x, part_l = jaxmix.mixup(jax.random.key(7), x, m, law, labels=labels)
        np.testing.assert_array_equal(part_x, full_x[:m])
        np.testing.assert_array_equal(part_l, full_l[:m])


def test_distinct_parents():
    from jaxmix.generate import draw_parents

    i, j = draw_parents(jax.random.key(0), 5, 100_000, replace=False)
    assert not bool(jnp.any(i == j))
    # j is uniform on the other rows: each of the 20 ordered pairs about 5000 times (chi-square)
    counts = np.zeros((5, 5))
    np.add.at(counts, (np.asarray(i), np.asarray(j)), 1)
    off = counts[~np.eye(5, dtype=bool)]
    chi2 = float(((off - 5000) ** 2 / 5000).sum())
    assert chi2 < 60.0  # chi-square with 19 dof: P(> 60) < 5e-6
    i2, j2 = draw_parents(jax.random.key(0), 5, 100_000)
    assert bool(jnp.any(i2 == j2))


def test_vmap_over_keys_and_datasets(data):
    x, labels = data
    law = jaxmix.Uniform()
    keys = jax.random.split(jax.random.key(0), 7)
    out = jax.vmap(lambda k: jaxmix.mixup(k, x, 10, law))(keys)
    assert out.shape == (7, 10, 4)
    np.testing.assert_allclose(out[3], jaxmix.mixup(keys[3], x, 10, law), rtol=1e-6)
    xb = jnp.stack([x, 2 * x, x + 1])
    lb = jnp.stack([labels] * 3)
    key = jax.random.key(5)
    xs, ls = jax.jit(jax.vmap(lambda xx, ll: jaxmix.mixup(key, xx, 10, law, labels=ll)))(xb, lb)
    assert xs.shape == (3, 10, 4) and ls.shape == (3, 10)
    np.testing.assert_allclose(xs[1], 2 * xs[0], rtol=1e-5, atol=1e-6)


def test_vmap_over_a_batch_of_laws(data):
    x, _ = data
    alphas = jnp.array([0.2, 0.5, 1.0, 3.0])
    out = jax.vmap(lambda a: jaxmix.mixup(jax.random.key(0), x, 5, jaxmix.Beta(a, a)))(alphas)
    assert out.shape == (4, 5, 4)
    s = jaxmix.summarize(x)
    covs = jax.vmap(lambda a: jaxmix.predict(s, jaxmix.Beta(a, a)).cov)(alphas)
    np.testing.assert_allclose(
        covs[:, 0, 0] / s.cov[0, 0], (alphas + 1) / (2 * alphas + 1), rtol=1e-6
    )


def test_grad_through_mixup_pathwise(data):
    """The synthetic sample is differentiable in the law's parameters (pathwise gradient)."""
    x, _ = data
    g = jax.grad(lambda e: jaxmix.mixup(jax.random.key(0), x, 64, jaxmix.Uniform(-e, 1 + e)).var())(
        0.2
    )
    assert np.isfinite(float(g)) and float(g) > 0


def test_second_call_does_not_recompile(data):
    x, labels = data
    jaxmix.mixup(jax.random.key(0), x, 16, jaxmix.Beta(0.5, 0.5), labels=labels, tau=0.5)
    s = jaxmix.summarize(x, labels)
    predict = jax.jit(jaxmix.predict)
    predict(s, jaxmix.Beta(0.5, 0.5))
    s2 = jaxmix.summarize(x + 1.0, labels)
    x2, key2, law2 = x * 2.0, jax.random.key(2), jaxmix.Beta(1.5, 2.0)
    with CompileCounter() as cc:
        jaxmix.mixup(key2, x2, 16, law2, labels=labels, tau=0.6)
        predict(s2, jaxmix.Beta(3.0, 2.0))
        jaxmix.summarize(x2, labels)
    assert cc.count == 0
    with CompileCounter() as cc:  # the counter itself can fail: a new shape compiles
        jaxmix.mixup(key2, x2, 17, law2, labels=labels)
    assert cc.count > 0


def test_out_reuses_the_buffers_and_gives_the_same_records(data):
    """``out=`` donates an earlier result: same records as a plain call, old result deleted."""
    x, labels = data
    law, key = jaxmix.Beta(0.4, 0.4), jax.random.key(5)
    ref_x, ref_l = jaxmix.mixup(key, x, 40, law, labels=labels)
    old = jaxmix.mixup(jax.random.key(6), x, 40, law, labels=labels)
    new_x, new_l = jaxmix.mixup(key, x, 40, law, labels=labels, out=old)
    np.testing.assert_array_equal(new_x, ref_x)
    np.testing.assert_array_equal(new_l, ref_l)
    assert old[0].is_deleted() and old[1].is_deleted()  # the memory was reused
    # without labels, images, and a second call with new values that does not recompile
    imgs = jax.random.normal(jax.random.key(1), (10, 3, 3, 2))
    prev = jaxmix.mixup(key, imgs, 8, law)
    cur = jaxmix.mixup(key, imgs, 8, law, out=prev)
    imgs2, key2, law2 = imgs * 2.0, jax.random.key(9), jaxmix.Beta(2.0, 3.0)
    with CompileCounter() as cc:
        cur2 = jaxmix.mixup(key2, imgs2, 8, law2, out=cur)
    assert cc.count == 0 and cur.is_deleted()
    np.testing.assert_array_equal(cur2, jaxmix.mixup(key2, imgs2, 8, law2))
    np.testing.assert_array_equal(
        jaxmix.mixup(key, imgs, 8, law), jaxmix.mixup(key, imgs, 8, law, out=cur2)
    )


def test_bad_out(data):
    x, labels = data
    law, key = jaxmix.Uniform(), jax.random.key(0)
    xs, ls = jaxmix.mixup(key, x, 5, law, labels=labels)
    spent = jaxmix.mixup(key, x, 5, law)
    jaxmix.mixup(key, x, 5, law, out=spent)
    cases = [
        (lambda: jaxmix.mixup(key, x, 5, law, labels=labels, out=xs), TypeError, "pair"),
        (lambda: jaxmix.mixup(key, x, 5, law, out=(xs, ls)), TypeError, "x_syn"),
        (
            lambda: jaxmix.mixup(key, x, 6, law, labels=labels, out=(xs, ls)),
            ValueError,
            "shape \\(6, 4\\)",
        ),
        (
            lambda: jaxmix.mixup(key, x, 5, law, out=xs.astype(jnp.int32)),
            ValueError,
            "dtype float32",
        ),
        (
            lambda: jaxmix.mixup(key, x, 5, law, out=np.zeros((5, 4), np.float32)),
            TypeError,
            "JAX arrays",
        ),
        (lambda: jaxmix.mixup(key, x, 5, law, out=spent), ValueError, "already donated"),
        (lambda: jaxmix.mixup(key, x, 30, law, out=x), ValueError, "must not be x"),
        (
            lambda: jax.jit(lambda o: jaxmix.mixup(key, x, 5, law, out=o))(xs),
            TypeError,
            "donate_argnums",
        ),
    ]
    for call, exc, match in cases:
        with pytest.raises(exc, match=match):
            call()
    assert (
        not xs.is_deleted() and not ls.is_deleted() and not x.is_deleted()
    )  # failed calls donate nothing


# --- validation at the boundary ----------------------------------------------------------------


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (lambda: jaxmix.Beta(0.0, 1.0), ValueError, "alpha"),
        (lambda: jaxmix.Beta(1.0, -2.0), ValueError, "beta"),
        (lambda: jaxmix.Beta(float("nan"), 1.0), ValueError, "alpha"),
        (lambda: jaxmix.EpBeta(1.0, 1.0, -0.1, 0.2), ValueError, "eps0"),
        (lambda: jaxmix.EpBeta(1.0, 1.0, 0.1, float("inf")), ValueError, "eps1"),
        (lambda: jaxmix.Uniform(1.0, 0.0), ValueError, "low < high"),
        (lambda: jaxmix.Beta("a", 1.0), TypeError, "alpha"),
        (lambda: jaxmix.Scheme((jaxmix.Uniform(),), columns=(0, 1)), ValueError, "columns"),
        (lambda: jaxmix.per_column([jaxmix.Uniform(), 3]), TypeError, "columns\\[1\\]"),
    ],
)
def test_bad_law_parameters(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_bad_mixup_arguments(data):
    x, labels = data
    law = jaxmix.Uniform()
    key = jax.random.key(0)
    cases = [
        (lambda: jaxmix.mixup(key, x.at[3, 1].set(jnp.nan), 5, law), ValueError, "x holds NaN"),
        (
            lambda: jaxmix.mixup(key, x.at[0, 0].set(jnp.inf), 5, law),
            ValueError,
            "x holds NaN or inf",
        ),
        (lambda: jaxmix.mixup(key, x[:1], 5, law), ValueError, "at least 2 rows"),
        (lambda: jaxmix.mixup(key, x[:, 0], 5, law), ValueError, "x\\[:, None\\]"),
        (lambda: jaxmix.mixup(key, x, 0, law), ValueError, "num_samples"),
        (lambda: jaxmix.mixup(key, x, 2.5, law), TypeError, "num_samples"),
        (lambda: jaxmix.mixup(key, x, 5, "beta"), TypeError, "weights"),
        (
            lambda: jaxmix.mixup(key, x, 5, law, labels=labels[:-1]),
            ValueError,
            "labels has 29 rows",
        ),
        (lambda: jaxmix.mixup(key, x, 5, law, labels=-labels), ValueError, "negative"),
        (lambda: jaxmix.mixup(key, x, 5, law, labels=labels + 0.5), TypeError, "integer"),
        (lambda: jaxmix.mixup(key, x, 5, law, tau=float("nan")), ValueError, "tau"),
        (lambda: jaxmix.mixup(0, x, 5, law), TypeError, "key"),
        (lambda: jaxmix.mixup(key, np.array([["a", "b"], ["c", "d"]]), 5, law), TypeError, "x"),
        (lambda: jaxmix.mixup(key, x, 5, jaxmix.per_column([law] * 3)), ValueError, "columns"),
        (
            lambda: jaxmix.mixup(key, x, 5, jaxmix.per_column([law] * 4), labels=labels),
            ValueError,
            "label law",
        ),
    ]
    for call, exc, match in cases:
        with pytest.raises(exc, match=match):
            call()


def test_nan_inside_jit_is_an_error_not_a_nan(data):
    x, _ = data
    f = jax.jit(lambda xx: jaxmix.mixup(jax.random.key(0), xx, 5, jaxmix.Uniform()))
    with pytest.raises(Exception, match="NaN or inf"):
        jax.block_until_ready(f(x.at[0, 0].set(jnp.nan)))


def test_bad_summarize_and_predict_arguments(data):
    x, labels = data
    with pytest.raises(ValueError, match="NaN"):
        jaxmix.summarize(x.at[2, 2].set(jnp.nan))
    with pytest.raises(ValueError, match="labels has"):
        jaxmix.summarize(x, labels[:5])
    with pytest.raises(ValueError, match="num_classes"):
        jaxmix.summarize(x, labels, num_classes=2)
    with pytest.raises(TypeError, match="summary"):
        jaxmix.predict(x, jaxmix.Uniform())
    with pytest.raises(TypeError, match="weights"):
        jaxmix.predict(jaxmix.summarize(x), 0.5)
    with pytest.raises(ValueError, match="columns"):
        jaxmix.predict(jaxmix.summarize(x), jaxmix.per_column([jaxmix.Uniform()] * 2))
    with pytest.raises(ValueError, match="label law"):
        jaxmix.class_mean_shift(jaxmix.per_column([jaxmix.Uniform()] * 2))


def test_summarize_under_jit_needs_num_classes(data):
    x, labels = data
    with pytest.raises(TypeError, match="num_classes"):
        jax.jit(lambda a, b: jaxmix.summarize(a, b))(x, labels)
    s = jax.jit(lambda a, b: jaxmix.summarize(a, b, num_classes=3))(x, labels)
    np.testing.assert_allclose(s.class_probs, [1 / 3] * 3, rtol=1e-6)
    many = jax.vmap(lambda a, b: jaxmix.summarize(a, b, num_classes=3))(
        jnp.stack([x, x + 1]), jnp.stack([labels] * 2)
    )
    np.testing.assert_allclose(many.mean[1] - many.mean[0], 1.0, rtol=1e-5)


def test_empty_class_has_no_nan():
    x = jnp.arange(12.0).reshape(6, 2)
    s = jaxmix.summarize(x, jnp.array([0, 0, 0, 2, 2, 2]), num_classes=4)
    assert bool(jnp.all(jnp.isfinite(s.class_means))) and bool(jnp.all(jnp.isfinite(s.class_covs)))
    assert float(s.class_probs[1]) == 0.0
    p = jaxmix.predict(s, jaxmix.Uniform())
    assert bool(jnp.all(jnp.isfinite(p.class_covs)))


def test_closed_over_data_inside_jit():
    """Concrete data captured by an outer jit is validated eagerly, not turned into a bool error."""
    x = np.random.default_rng(0).normal(size=(5, 2))  # float64 numpy, closed over

    @jax.jit
    def f(key):
        s = jaxmix.summarize(x)
        return (
            jaxmix.mixup(key, x, 3, jaxmix.Uniform(-0.1, 1.1)).sum()
            + jaxmix.predict(s, jaxmix.Beta(2.0, 3.0)).cov.sum()
        )

    assert np.isfinite(float(f(jax.random.key(0))))
