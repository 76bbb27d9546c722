"""Model collapse under recursive mixup: classifiers trained on data resynthesised t times.

Generation 0 is the real training split; generation t is ``mixup`` of generation t-1 (same size,
labels of the kept parent via the cut point τ = 1/2). At each generation a fresh classifier
(equinox + optax; an MLP on 8×8 digits, a small CNN on CIFAR-10) is trained on generation t only
and scored on the real held-out split. Runs are vmapped (one jitted program trains all runs at
once; the law's parameters are traced, so one compile serves every law).

Beside the accuracies: the measured total variance tr Cov_t / tr Cov_0, the class-mean separation
Σ_l p_l ||μ_l - x̄||² (relative to generation 0) and the mean within-class variance, against
``predict`` applied t times to the Summary of the real training split (the population values;
for the 1/n variance of n records the exact expectation is additionally ((n-1)/n)^t times it).

Default data: scikit-learn's bundled 8×8 digits (1797 images, 10 classes), 75/25 stratified
split, pixels / 16. ``--cifar10 PATH``: a local copy of CIFAR-10's python version
(``data_batch_1..5`` and ``test_batch``); meant for a GPU; not downloaded by this script.

    python paper_checks/model_collapse.py [--quick] [--out DIR] [--cifar10 PATH] [--grid]
"""

from __future__ import annotations

import math
import pickle
import sys
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import jaxmix  # noqa: E402
from jaxmix import higher  # noqa: E402

NAME = "model_collapse"
LAWS = ("epbeta:0.05", "unif", "beta:0.4")
#: the paper's CIFAR-10 table (top-1 %, mean over 5 runs) for reference in the JSON/README
PAPER_CIFAR10 = {
    "epbeta:0.05": {"range_t5_to_t25": [85.8, 86.4]},
    "unif": {"5": 84.4, "15": 74.5, "20": 21.8, "25": 12.3},
}


# --- data ------------------------------------------------------------------------------------


def load_digits(seed: int = 0):
    """sklearn's bundled 8x8 digits: (x_train, y_train, x_test, y_test), pixels in [0, 1]."""
    from sklearn.datasets import load_digits as _load
    from sklearn.model_selection import train_test_split

    b = _load()
    x = (b.data / 16.0).astype(np.float32)
    xtr, xte, ytr, yte = train_test_split(
        x, b.target, test_size=0.25, stratify=b.target, random_state=seed
    )
    return xtr, ytr.astype(np.int32), xte, yte.astype(np.int32)


def load_cifar10(path, limit_train=None, limit_test=None):
    """CIFAR-10 python version from a local folder: images (n, 32, 32, 3) in [0, 1], int labels."""
    root = Path(path)
    names = [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]
    missing = [n for n in names if not (root / n).is_file()]
    if not root.is_dir() or missing:
        raise SystemExit(
            f"--cifar10: {root} is not a CIFAR-10 python-version folder "
            f"(missing: {', '.join(missing) or root}). Download and unpack "
            "cifar-10-python.tar.gz yourself and pass the cifar-10-batches-py folder; "
            "this script never downloads."
        )

    def read(n):
        with open(root / n, "rb") as fh:
            d = pickle.load(fh, encoding="bytes")
        x = np.asarray(d[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return (x / 255.0).astype(np.float32), np.asarray(d[b"labels"], np.int32)

    parts = [read(n) for n in names[:5]]
    xtr = np.concatenate([p[0] for p in parts])[:limit_train]
    ytr = np.concatenate([p[1] for p in parts])[:limit_train]
    xte, yte = read("test_batch")
    return xtr, ytr, xte[:limit_test], yte[:limit_test]


# --- classifiers -----------------------------------------------------------------------------


class CNN(eqx.Module):
    """A small CNN for 32x32x3 images: two conv-relu-pool blocks and two dense layers."""

    c1: eqx.nn.Conv2d
    c2: eqx.nn.Conv2d
    l1: eqx.nn.Linear
    l2: eqx.nn.Linear

    def __init__(self, num_classes, key):
        k = jax.random.split(key, 4)
        self.c1 = eqx.nn.Conv2d(3, 32, 3, padding=1, key=k[0])
        self.c2 = eqx.nn.Conv2d(32, 64, 3, padding=1, key=k[1])
        self.l1 = eqx.nn.Linear(64 * 8 * 8, 256, key=k[2])
        self.l2 = eqx.nn.Linear(256, num_classes, key=k[3])

    def __call__(self, x):
        x = jnp.transpose(x, (2, 0, 1))  # HWC -> CHW
        pool = eqx.nn.MaxPool2d(2, 2)
        x = pool(jax.nn.relu(self.c1(x)))
        x = pool(jax.nn.relu(self.c2(x)))
        return self.l2(jax.nn.relu(self.l1(x.reshape(-1))))


class DigitsCNN(eqx.Module):
    """A small CNN for 8x8 grey images given as 64 pixels.

    conv(16)-relu-pool, conv(32)-relu-pool, dense.
    """

    c1: eqx.nn.Conv2d
    c2: eqx.nn.Conv2d
    l1: eqx.nn.Linear

    def __init__(self, num_classes, key):
        k = jax.random.split(key, 3)
        self.c1 = eqx.nn.Conv2d(1, 16, 3, padding=1, key=k[0])
        self.c2 = eqx.nn.Conv2d(16, 32, 3, padding=1, key=k[1])
        self.l1 = eqx.nn.Linear(32 * 2 * 2, num_classes, key=k[2])

    def __call__(self, x):
        x = x.reshape(1, 8, 8)
        pool = eqx.nn.MaxPool2d(2, 2)
        x = pool(jax.nn.relu(self.c1(x)))
        x = pool(jax.nn.relu(self.c2(x)))
        return self.l1(x.reshape(-1))


def make_model(kind, in_shape, num_classes, key):
    if kind == "mlp":
        return eqx.nn.MLP(int(np.prod(in_shape)), num_classes, 128, 2, key=key)
    if kind == "cnn8":
        return DigitsCNN(num_classes, key)
    return CNN(num_classes, key)


def make_trainer(kind, in_shape, num_classes, n, epochs, batch_size, lr, soft=False):
    """A jitted function training R fresh models at once and returning their test accuracies.

    ``soft``: the training targets are (n, C) probability-like rows (soft labels; cross-entropy
    against them) instead of integer classes.
    """
    nb = max(1, n // batch_size)
    bs = min(batch_size, n)
    opt = optax.adam(lr)
    static = eqx.partition(
        make_model(kind, in_shape, num_classes, jax.random.key(0)), eqx.is_array
    )[1]

    def init(key):
        return eqx.partition(make_model(kind, in_shape, num_classes, key), eqx.is_array)[0]

    def loss_fn(p, x, y):
        logits = jax.vmap(eqx.combine(p, static))(x)
        if soft:
            return optax.softmax_cross_entropy(logits, y).mean()
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    def train_one(key, x, y, xte, yte):
        kinit, kep = jax.random.split(key)
        p = init(kinit)
        state = opt.init(p)

        def epoch(carry, k):
            perm = jax.random.permutation(k, n)[: nb * bs].reshape(nb, bs)

            def step(carry, idx):
                p, state = carry
                g = jax.grad(loss_fn)(p, x[idx], y[idx])
                upd, state = opt.update(g, state, p)
                return (optax.apply_updates(p, upd), state), None

            return jax.lax.scan(step, carry, perm)[0], None

        (p, _), _ = jax.lax.scan(epoch, (p, state), jax.random.split(kep, epochs))
        model = eqx.combine(p, static)
        pred = jax.lax.map(lambda xi: jnp.argmax(model(xi)), xte, batch_size=512)
        return jnp.mean(pred == yte)

    return jax.jit(jax.vmap(train_one, in_axes=(0, 0, 0, None, None)))


# --- recursive resynthesis -------------------------------------------------------------------


@jax.jit
def next_generation(params, keys, xs, ys):
    """Generation t+1 of every run: ``mixup`` of generation t with EpBeta(*params) weights.

    Unif(0,1) = EpBeta(1, 1, 0, 0) and Beta(a, b) = EpBeta(a, b, 0, 0), so one compiled program
    serves every law.
    """
    law = jaxmix.EpBeta(*params)
    return jax.vmap(lambda k, x, y: jaxmix.mixup(k, x, x.shape[0], law, labels=y))(keys, xs, ys)


@jax.jit(static_argnums=2)
def moments(x, y, num_classes):
    """tr Cov, class-mean separation Σ p_l ||μ_l - x̄||², mean within-class variance (per run)."""

    def one(x, y):
        s = jaxmix.summarize(x, y, num_classes=num_classes)
        d = s.class_means - s.mean
        return (
            jnp.trace(s.cov),
            jnp.sum(s.class_probs * jnp.sum(d * d, -1)),
            jnp.sum(s.class_probs * jnp.sum(s.class_variances, -1)),
        )

    return jax.vmap(one)(x.reshape(x.shape[0], x.shape[1], -1), y)


def predicted_path(summ, law, generations):
    """predict applied t = 0..T times: total variance, separation, within-class variance."""
    out, s = [], summ
    for _ in range(generations + 1):
        d = s.class_means - s.mean
        out.append(
            (
                float(jnp.trace(s.cov)),
                float(jnp.sum(s.class_probs * jnp.sum(d * d, -1))),
                float(jnp.sum(s.class_probs * jnp.sum(s.class_variances, -1))),
            )
        )
        s = jaxmix.predict(s, law)
    return np.asarray(out)


# --- the experiment grid: which conditions keep EpBeta stable ---------------------------------

#: (model, law spec or "bootstrap", synthetic size / real size, labels): one factor at a time
#: around (MLP, EpBeta(δ=0.05), same size, labels by the cut point)
GRID = (
    [
        ("mlp", s, 1, "cut")
        for s in ("epbeta:0.01", "epbeta:0.02", "epbeta:0.05", "unif", "bootstrap")
    ]
    + [("cnn8", s, 1, "cut") for s in ("epbeta:0.05", "unif", "bootstrap")]
    + [("mlp", s, 4, "cut") for s in ("epbeta:0.05", "unif")]
    + [("mlp", s, 1, "soft") for s in ("epbeta:0.05", "unif")]
    + [("mlp", "min_d:0.05", 1, "cut")]
)
#: the reduced grid of --quick: every code path once (each model, the bootstrap, size x2, soft
#: labels, the least-tail design)
QUICK_GRID = (
    ("mlp", "epbeta:0.05", 1, "cut"),
    ("cnn8", "bootstrap", 1, "cut"),
    ("mlp", "unif", 2, "cut"),
    ("mlp", "epbeta:0.05", 1, "soft"),
    ("mlp", "min_d:0.05", 1, "cut"),
)


def grid_law(spec):
    """(law or None, label) of a grid spec: a ``jaxmix.specs`` law, ``bootstrap`` (None), or
    ``min_d:DELTA``, the variance-preserving EpBeta with u = δ, ε0 = 0 and the least tail factor
    d = E[W²(1 - W)²] over ε1 (``jaxmix.higher.min_tail_epbeta``)."""
    if spec == "bootstrap":
        return None, "bootstrap (W ∈ {0,1})"
    if spec.startswith("min_d:"):
        delta = float(spec.split(":", 1)[1])
        law, eps1 = higher.min_tail_epbeta(delta, eps0=0.0)
        return law, f"min-d EpBeta(δ={delta:g}), ε0=0, ε1={eps1:.3f}"
    return C.law_from_spec(spec), C.law_label(spec)


@jax.jit
def column_kurtosis(x):
    """Per-run, per-column kurtosis m4/σ⁴ (1/n moments; 3 for a Gaussian) of x (R, n, d)."""
    c = x - x.mean(1, keepdims=True)
    v = (c * c).mean(1)
    return (c**4).mean(1) / (v * v)


def lda_accuracy(pred, real, ridge=1e-3):
    """Accuracy on the real class distributions of the Gaussian (LDA) classifier from ``pred``.

    The classifier: class means μ~_l, pooled within-class covariance Σ_w = Σ_l p_l Σ~_l (+ ridge ×
    its mean diagonal: digits have constant pixels), priors p_l; rule argmax_l a_l·x + b_l with
    a_l = Σ_w⁻¹ μ~_l, b_l = -½ μ~_l·a_l + log p_l. Tested on x ~ N(μ_l, Σ_l) with the real moments
    (``real``), P(correct | l) = P(Z > 0) for the jointly Gaussian Z_k = (a_l - a_k)·x + b_l - b_k,
    k ≠ l: a (C-1)-dimensional Gaussian orthant probability (scipy's multivariate normal CDF,
    Genz's algorithm, absolute error ~1e-4). No data are sampled.
    """
    from scipy import stats

    m, cov_l, p = (
        np.asarray(a, np.float64) for a in (pred.class_means, pred.class_covs, pred.class_probs)
    )
    sw = np.einsum("l,lij->ij", p, cov_l)
    sw = sw + ridge * np.mean(np.diag(sw)) * np.eye(sw.shape[0])
    a = np.linalg.solve(sw, m.T).T  # (C, d)
    b = -0.5 * np.sum(m * a, 1) + np.log(np.maximum(p, 1e-300))
    rm, rc, rp = (
        np.asarray(x, np.float64) for x in (real.class_means, real.class_covs, real.class_probs)
    )
    acc = 0.0
    for lab in range(len(p)):
        others = [k for k in range(len(p)) if k != lab]
        da = a[lab] - a[others]
        mean = da @ rm[lab] + (b[lab] - b[others])
        v = da @ rc[lab] @ da.T
        v = v + 1e-9 * np.trace(v) * np.eye(len(others))
        mvn = stats.multivariate_normal(
            np.zeros(len(others)),
            v,
            allow_singular=True,
            maxpts=20_000 * len(others),
            abseps=1e-4,
            releps=1e-4,
        )
        acc += rp[lab] * float(mvn.cdf(mean))
    return acc


def _grid_condition(cond, data, key, generations, runs, epochs, batch, lr, trainers):
    kind, spec, mult, labels = cond
    xtr, ytr, xte, yte = data
    n, c = xtr.shape[0], int(ytr.max()) + 1
    m = mult * n
    soft = labels == "soft"
    yoh = jax.nn.one_hot(ytr, c)

    def trainer(rows):
        k = (kind, rows, soft)
        if k not in trainers:
            trainers[k] = make_trainer(kind, xtr.shape[1:], c, rows, epochs, batch, lr, soft=soft)
        return trainers[k]

    law, label = grid_law(spec)

    @jax.jit
    def step(keys, xs, ys):
        def one(k, x, y):
            if law is None:  # plain resampling of the previous generation (W in {0, 1})
                idx = jax.random.randint(k, (m,), 0, x.shape[0])
                return x[idx], y[idx]
            if soft:  # one-hot labels mixed as continuous columns with the same weight
                z = jaxmix.mixup(k, jnp.concatenate([x, y], 1), m, law)
                return z[:, : x.shape[1]], z[:, x.shape[1] :]
            return jaxmix.mixup(k, x, m, law, labels=y)

        return jax.vmap(one)(keys, xs, ys)

    xs = jnp.broadcast_to(xtr, (runs,) + xtr.shape)
    ys = jnp.broadcast_to(yoh if soft else ytr, (runs,) + (yoh.shape if soft else ytr.shape))
    # kurtosis over the pixels that vary in the real training split (a constant pixel has none)
    var0 = np.asarray(xtr).reshape(n, -1).var(0)
    kcols = np.flatnonzero(var0 > 1e-3 * var0.mean())
    accs, mom, kurt = [], [], []
    for t in range(generations + 1):
        kt = jax.random.fold_in(key, t)
        kmix, ktrain = jax.random.split(kt)
        if t > 0:
            xs, ys = step(jax.random.split(kmix, runs), xs, ys)
        accs.append(
            np.asarray(trainer(xs.shape[1])(jax.random.split(ktrain, runs), xs, ys, xte, yte)) * 100
        )
        cls = jnp.argmax(ys, -1) if soft else ys
        mom.append(np.asarray(moments(xs, cls, c)))
        flat = xs.reshape(runs, xs.shape[1], -1)[:, :, kcols]
        # a pixel that resampling has made constant has no kurtosis (0/0): left out
        kurt.append(np.nanmedian(np.asarray(column_kurtosis(flat)), axis=1))
    accs, mom = np.stack(accs), np.stack(mom)  # (T+1, R), (T+1, 3, R)
    kurt = np.stack(kurt)  # (T+1, R): median over the varying pixels, per run
    kurt0 = np.asarray(
        column_kurtosis(jnp.asarray(np.asarray(xtr).reshape(1, n, -1)[:, :, kcols]))
    )[0]
    t_axis = np.arange(generations + 1)
    if law is None:
        kurt_pred = np.full(generations + 1, np.median(kurt0))
    else:
        kurt_pred = np.median(
            np.asarray(higher.kurtosis_map(law, kurt0[None, :], t_axis[:, None])), axis=1
        )

    summ0 = jaxmix.summarize(xtr, ytr, num_classes=c)
    if law is None:
        k_, u = 1.0, 0.0
        path = np.tile(predicted_path(summ0, jaxmix.Beta(1.0, 1.0), 0)[0], (generations + 1, 1))
        lda = [lda_accuracy(summ0, summ0)] * (generations + 1)
        lda_own = list(lda)
    else:
        k_, u = float(jaxmix.covariance_factor(law)), float(jaxmix.class_mean_shift(law))
        path = predicted_path(summ0, law, generations)
        lda, lda_own, st = [], [], summ0
        for _ in range(generations + 1):
            lda.append(lda_accuracy(st, summ0))  # fitted on generation t, tested on real data
            lda_own.append(lda_accuracy(st, st))  # fitted and tested on generation t
            st = jaxmix.predict(st, law)
    base = path[0]
    return {
        "model": kind,
        "law": spec,
        "label": label,
        "law_params": None if law is None else C.law_params(law),
        "size_ratio": mult,
        "labels": labels,
        "K": k_,
        "u": u,
        "tail_d": 0.0 if law is None else float(higher.tail_factor(law)),
        "accuracy_mean": accs.mean(1),
        "accuracy_sd": accs.std(1, ddof=1) if runs > 1 else np.zeros(generations + 1),
        "accuracy_runs": accs.T,
        "total_var_ratio_measured": (mom[:, 0] / base[0]).mean(1),
        "separation_ratio_measured": (mom[:, 1] / base[1]).mean(1),
        "within_var_ratio_measured": (mom[:, 2] / base[2]).mean(1),
        "total_var_ratio_predicted": path[:, 0] / base[0],
        "separation_ratio_predicted": path[:, 1] / base[1],
        "mean_distance_ratio_closed_form": (1 - u) ** t_axis,
        "within_var_ratio_predicted": path[:, 2] / base[2],
        "lda_accuracy_predicted": 100 * np.asarray(lda),
        "lda_accuracy_within_generation": 100 * np.asarray(lda_own),
        "kurtosis_columns": int(kcols.size),
        "kurtosis_median_measured": kurt.mean(1),
        "kurtosis_median_measured_se": kurt.std(1, ddof=1) / math.sqrt(runs)
        if runs > 1
        else np.zeros(generations + 1),
        "kurtosis_median_predicted": kurt_pred,
        "prediction_note": (
            "labels mixed as soft targets: predict assumes labels by the cut, so the "
            "predicted moments are those of the cut labels"
        )
        if labels == "soft"
        else "",
    }


def condition_key(key, cond):
    """The key of one grid condition, from its law, synthetic size and labels but not its model:
    conditions that differ only in the classifier resynthesise the same data chain (a paired
    comparison of the models), and a split run (``--only``) gives the full grid's numbers."""
    _, spec, mult, labels = cond
    return jax.random.fold_in(key, zlib.crc32(f"{spec}|{mult}|{labels}".encode()) & 0x7FFFFFFF)


def run_grid(args) -> dict:
    """``--grid``: every condition of GRID (QUICK_GRID with --quick) on the 8x8 digits.

    ``--only PREFIX[,PREFIX]`` keeps the conditions whose name (``model|law|size|labels``)
    starts with one of the prefixes (e.g. ``mlp`` or ``cnn8``); each condition keeps the key it
    has in the full grid, so split runs give the full grid's numbers. The JSON
    (``OUT/GRID_NAME.json``, ``--grid-name``, default ``model_collapse_grid``) is rewritten after
    every condition with ``complete`` false until the last one.
    """
    xtr, ytr, xte, yte = load_digits(args.seed)
    data = tuple(map(jnp.asarray, (xtr, ytr, xte, yte)))
    generations = args.generations or (2 if args.quick else 15)
    runs = args.runs or (2 if args.quick else 6)
    epochs = args.epochs or (2 if args.quick else 30)
    batch, lr = 64, 1e-3
    grid = QUICK_GRID if args.quick else GRID
    only = tuple(p.strip() for p in (args.only or "").split(",") if p.strip())
    chosen = [
        (i, c) for i, c in enumerate(grid) if not only or "|".join(map(str, c)).startswith(only)
    ]
    if not chosen:
        raise SystemExit(f"--only {args.only!r} matches no grid condition")
    key = jax.random.key(args.seed)
    trainers, res = {}, {}
    out = {
        "claim": "which conditions keep EpBeta's accuracy over generations (model, δ, "
        "resampling control, synthetic size, soft labels, a least-tail design), beside "
        "predict's separation, within-class variance, LDA accuracy and kurtosis",
        "config": {
            "dataset": "digits8x8",
            "n_train": int(xtr.shape[0]),
            "n_test": int(xte.shape[0]),
            "generations": generations,
            "runs": runs,
            "epochs": epochs,
            "batch_size": batch,
            "lr": lr,
            "grid": [list(c) for _, c in chosen],
            "models_share_data": True,  # condition_key: the key ignores the model
            "only": list(only),
            "quick": args.quick,
            "seed": args.seed,
        },
        "complete": False,
        "conditions": res,
        "figures": [],
    }
    for _, cond in C.progress(chosen, desc=f"{NAME} grid", disable=args.no_progress):
        name = "|".join(map(str, cond))
        res[name] = _grid_condition(
            cond, data, condition_key(key, cond), generations, runs, epochs, batch, lr, trainers
        )
        out["complete"] = len(res) == len(chosen)
        C.write_json(args.out, args.grid_name, out)
    return out


def main(argv=None) -> dict:
    def extra(p):
        p.add_argument(
            "--grid",
            action="store_true",
            help="the experiment grid (MLP/CNN, δ, bootstrap control, synthetic size, soft labels) "
            "into OUT/model_collapse_grid.json instead of the main run",
        )
        p.add_argument(
            "--cifar10",
            type=Path,
            default=None,
            help="folder of CIFAR-10's python version (data_batch_1..5, test_batch)",
        )
        p.add_argument(
            "--only",
            default=None,
            help="with --grid: comma-separated prefixes of condition names (e.g. mlp, cnn8)",
        )
        p.add_argument(
            "--grid-name",
            default=f"{NAME}_grid",
            help="with --grid: the JSON's file stem (default model_collapse_grid)",
        )
        p.add_argument("--generations", type=int, default=None)
        p.add_argument("--runs", type=int, default=None)
        p.add_argument("--epochs", type=int, default=None)
        p.add_argument(
            "--laws",
            default=",".join(LAWS),
            help="comma-separated law specs for the main run (e.g. epbeta:0.05,unif)",
        )

    args = C.parse_args(NAME, __doc__.splitlines()[0], argv, extra)
    if args.grid:
        return run_grid(args)
    if args.cifar10 is not None:
        xtr, ytr, xte, yte = load_cifar10(
            args.cifar10, 2000 if args.quick else None, 500 if args.quick else None
        )
        kind, dataset, batch, lr = "cnn", "cifar10", 128, 1e-3
        default_epochs = 2 if args.quick else 30
    else:
        xtr, ytr, xte, yte = load_digits(args.seed)
        kind, dataset, batch, lr = "mlp", "digits8x8", 64, 1e-3
        default_epochs = 8 if args.quick else 40
    generations = args.generations or (3 if args.quick else 25)
    runs = args.runs or (2 if args.quick else 5)
    epochs = args.epochs or default_epochs
    num_classes = int(ytr.max()) + 1
    n = xtr.shape[0]
    xtr_j, ytr_j, xte_j, yte_j = map(jnp.asarray, (xtr, ytr, xte, yte))
    train = make_trainer(kind, xtr.shape[1:], num_classes, n, epochs, batch, lr)
    summ0 = jaxmix.summarize(xtr_j.reshape(n, -1), ytr_j, num_classes=num_classes)

    key = jax.random.key(args.seed)
    results = {}
    laws = tuple(v.strip() for v in args.laws.split(",") if v.strip())
    total = len(laws) * generations
    bar = C.progress(range(total), total=total, desc=NAME, disable=args.no_progress)
    bar_iter = iter(bar)
    acc0 = None
    for li, spec in enumerate(laws):
        law = C.law_from_spec(spec)
        params = jnp.asarray(C.as_epbeta(law))
        xs = jnp.broadcast_to(xtr_j, (runs,) + xtr_j.shape)
        ys = jnp.broadcast_to(ytr_j, (runs,) + ytr_j.shape)
        lkey = jax.random.fold_in(key, li)
        if acc0 is None:  # generation 0 (real data) is the same for every law
            acc0 = np.asarray(
                train(jax.random.split(jax.random.fold_in(key, 999), runs), xs, ys, xte_j, yte_j)
            )
        accs, mom = [acc0], [np.asarray(moments(xs, ys, num_classes))]
        for t in range(1, generations + 1):
            gk = jax.random.fold_in(lkey, t)
            kmix, ktrain = jax.random.split(gk)
            xs, ys = next_generation(params, jax.random.split(kmix, runs), xs, ys)
            accs.append(np.asarray(train(jax.random.split(ktrain, runs), xs, ys, xte_j, yte_j)))
            mom.append(np.asarray(moments(xs, ys, num_classes)))
            next(bar_iter, None)
        accs = np.stack(accs) * 100.0  # (T+1, R) in %
        mom = np.stack(mom)  # (T+1, 3, R)
        pred = predicted_path(summ0, law, generations)
        base = pred[0]
        t_axis = np.arange(generations + 1)
        finite = ((n - 1) / n) ** t_axis
        results[spec] = {
            "label": C.law_label(spec),
            "law": C.law_params(law),
            "accuracy_mean": accs.mean(1),
            "accuracy_sd": accs.std(1, ddof=1) if runs > 1 else np.zeros(generations + 1),
            "accuracy_runs": accs.T,
            "total_var_ratio_measured": (mom[:, 0] / base[0]).mean(1),
            "total_var_ratio_measured_se": (mom[:, 0] / base[0]).std(1, ddof=1) / math.sqrt(runs)
            if runs > 1
            else None,
            "total_var_ratio_predicted": pred[:, 0] / base[0],
            "total_var_ratio_predicted_finite_n": pred[:, 0] / base[0] * finite,
            "separation_ratio_measured": (mom[:, 1] / base[1]).mean(1),
            "separation_ratio_predicted": pred[:, 1] / base[1],
            "within_var_ratio_measured": (mom[:, 2] / base[2]).mean(1),
            "within_var_ratio_predicted": pred[:, 2] / base[2],
        }
    for _ in bar_iter:
        pass
    table = _table(results, generations)
    out = {
        "claim": "EpBeta(δ=0.05) keeps accuracy over generations; "
        "Unif(0,1) collapses (paper, CIFAR-10)",
        "config": {
            "dataset": dataset,
            "model": kind,
            "n_train": n,
            "n_test": int(xte.shape[0]),
            "generations": generations,
            "runs": runs,
            "epochs": epochs,
            "batch_size": batch,
            "lr": lr,
            "laws": list(laws),
            "quick": args.quick,
            "seed": args.seed,
        },
        "paper_cifar10": PAPER_CIFAR10,
        "table": table,
        "laws": results,
        "figures": [_plot(args.out, results, generations)],
    }
    C.write_json(args.out, NAME, out)
    return out


def _table(results, generations):
    """Rows t = 0, 1, 5, 10, 15, 20, 25 (those that exist): 'mean ± sd' per law."""
    ts = [t for t in (0, 1, 5, 10, 15, 20, 25) if t <= generations]
    return [
        {
            "t": t,
            **{
                r["label"]: f"{r['accuracy_mean'][t]:.1f} ± {r['accuracy_sd'][t]:.1f}"
                for r in results.values()
            },
        }
        for t in ts
    ]


def _plot(out, results, generations):
    import matplotlib.pyplot as plt

    t = np.arange(generations + 1)
    fig, axes = plt.subplots(1, 4, figsize=(18, 3.8))
    for spec, r in results.items():
        col = C.law_colour(spec)
        m, s = np.asarray(r["accuracy_mean"]), np.asarray(r["accuracy_sd"])
        axes[0].plot(t, m, "o-", ms=3, color=col, label=r["label"])
        axes[0].fill_between(t, m - s, m + s, color=col, alpha=0.2)
        for ax, key in zip(
            axes[1:], ("total_var_ratio", "separation_ratio", "within_var_ratio"), strict=True
        ):
            ax.plot(t, r[f"{key}_measured"], "o", ms=3, color=col, label=f"{r['label']} measured")
            ax.plot(t, r[f"{key}_predicted"], "-", color=col, lw=1, label="predict applied t times")
    axes[0].set_ylabel("test accuracy on real data (%)")
    axes[1].set_ylabel("tr Cov_t / tr Cov_0")
    axes[2].set_ylabel("class-mean separation (rel. to t=0)")
    axes[3].set_ylabel("mean within-class variance (rel.)")
    for ax in axes:
        ax.set_xlabel("generation t")
    for ax in axes[1:3]:
        ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=6)
    return C.save_fig(fig, out, "model_collapse.png")


if __name__ == "__main__":
    main()
