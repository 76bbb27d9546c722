#!/usr/bin/env bash
# GPU benchmark run: on a machine with one NVIDIA GPU and nothing but this repository,
#   benchmarks/gpu.sh            (or: make bench-gpu)
# uses PYTHON (default python3) as it is when its JAX already sees a GPU and has jaxmix's dependencies;
# otherwise makes a virtual environment (.cache/venv-gpu, git-ignored) and installs jaxmix with the
# CUDA 12 build of jaxlib (pip "jax[cuda12]", which brings its own CUDA libraries: only the driver is needed),
# then runs, each as a ratio against a baseline timed in the same process:
#   sampling    Beta(0.4, 0.4) and EpBeta draws, 10^7           vs numpy Generator.beta (host)
#   synthesis   mixup 10^7 x 64 from 10^5 rows, labels, Beta    vs a device copy of the output
#   many        jit(vmap(summarize + predict + mixup)) over 1000 datasets of 200 x 4
#                                                               vs a Python loop of the jitted one
#   select      select_epbeta vmapped over 1000 delta           vs a Python loop of concrete calls
# and writes a Markdown table (default benchmarks/gpu_results.md) naming the device. The whole
# run is bounded by a timeout (default 480 s after the install) so that it ends within 8 minutes
# on a warm pip cache.
#
#   benchmarks/gpu.sh --dry-run [--out FILE]
# runs the same code on the CPU (JAX_PLATFORMS=cpu) with small sizes in the current Python
# environment (PYTHON, default .venv/bin/python or python3), installing nothing: the test suite
# runs it so that the script never rots.
set -euo pipefail
cd "$(dirname "$0")/.."

DRY=0
OUT=benchmarks/gpu_results.md
LIMIT=${GPU_BENCH_TIMEOUT:-480}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --out) OUT="$2"; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "gpu.sh: unknown argument $1 (use --dry-run, --out FILE)" >&2; exit 2 ;;
  esac
  shift
done

if [[ $DRY == 1 ]]; then
  export JAX_PLATFORMS=cpu
  if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
  fi
  SIZE=small
else
  if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "gpu.sh: nvidia-smi not found; this run needs an NVIDIA GPU and its driver (or use --dry-run)" >&2
    exit 1
  fi
  PY0=${PYTHON:-python3}
  # A Python whose JAX already sees a GPU and has jaxmix's dependencies (a CUDA image, a cluster
  # module) is used as it is: nothing is installed and the run needs no network.
  if "$PY0" -c "import jax, equinox, optax, jaxtyping, matplotlib, numpy; \
assert any(d.platform == 'gpu' for d in jax.devices())" >/dev/null 2>&1; then
    PYTHON=$PY0
    echo "gpu.sh: using $PY0 as it is (its JAX sees a GPU; nothing installed)"
  else
    if [[ ! -x .cache/venv-gpu/bin/python ]]; then
      "$PY0" -m venv .cache/venv-gpu
    fi
    PYTHON=.cache/venv-gpu/bin/python
    t0=$(date +%s)
    "$PYTHON" -m pip install -q --upgrade pip
    "$PYTHON" -m pip install -q -e . "jax[cuda12]"
    echo "gpu.sh: install took $(( $(date +%s) - t0 )) s"
  fi
  SIZE=full
fi

export GPU_BENCH_SIZE=$SIZE GPU_BENCH_OUT=$OUT
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
timeout "$LIMIT" "$PYTHON" - <<'PY'
import os, sys, time, datetime, platform
import numpy as np
import jax, jax.numpy as jnp
import jaxmix

small = os.environ["GPU_BENCH_SIZE"] == "small"
out_path = os.environ["GPU_BENCH_OUT"]
dev = jax.devices()[0]
device = dev.platform if dev.platform == "cpu" else f"{dev.platform} {dev.device_kind}"
print(f"gpu.sh: device {device}, jax {jax.__version__}", flush=True)
if not small and dev.platform != "gpu":
    sys.exit("gpu.sh: JAX sees no GPU (jax.devices() = %s); check the driver and jax[cuda12]" % jax.devices())


def best(fn, repeat=3):
    jax.block_until_ready(fn())  # compile and warm up
    t = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        t = min(t, time.perf_counter() - t0)
    return t


rows = []
key = jax.random.key(0)
rng = np.random.default_rng(0)

# sampling
n = 10**5 if small else 10**7
for name, law in (("Beta(0.4,0.4)", jaxmix.Beta(0.4, 0.4)), ("EpBeta(select 0.05)", jaxmix.select_epbeta(0.05))):
    t_j = best(lambda: law.sample(key, (n,)))
    t_np = best(lambda: rng.beta(0.4, 0.4, size=n), repeat=2)
    rows.append((f"sampling {name}, {n:.0e} draws", f"numpy Generator.beta(0.4, 0.4) {t_np * 1e3:.1f} ms",
                 f"{t_j * 1e3:.2f} ms", f"{t_np / t_j:.1f}x faster"))
    print("gpu.sh:", rows[-1], flush=True)

# synthesis
m, d, n_rows = (10**4, 64, 10**3) if small else (10**7, 64, 10**5)
x = jax.device_put(rng.normal(size=(n_rows, d)).astype(np.float32))
labels = jax.device_put(rng.integers(0, 5, size=n_rows).astype(np.int32))
law = jaxmix.Beta(0.4, 0.4)
t_mix = best(lambda: jaxmix.mixup(key, x, m, law, labels=labels))
buf = jnp.zeros((m, d), jnp.float32)
copy = jax.jit(lambda a: a + 0.0)
t_copy = best(lambda: copy(buf))
rows.append((f"synthesis mixup {m:.0e} x {d} from {n_rows:.0e} rows, labels, Beta",
             f"device copy of the output {t_copy * 1e3:.2f} ms", f"{t_mix * 1e3:.2f} ms",
             f"{t_mix / t_copy:.1f}x the copy"))
print("gpu.sh:", rows[-1], flush=True)
del buf

# many datasets
num, nr = (50, 200) if small else (1000, 200)
xs = jax.device_put(rng.normal(size=(num, nr, 4)).astype(np.float32))
ls = jax.device_put(rng.integers(0, 3, size=(num, nr)).astype(np.int32))
keys = jax.random.split(key, num)
uni = jaxmix.Uniform()


def one(k, xx, ll):
    s = jaxmix.predict(jaxmix.summarize(xx, ll, num_classes=3), uni)
    return s.cov, jaxmix.mixup(k, xx, nr, uni, labels=ll)


one_j = jax.jit(one)
many = jax.jit(jax.vmap(one))
t_many = best(lambda: many(keys, xs, ls))
loop_n = min(num, 100)
t_loop = best(lambda: [one_j(keys[i], xs[i], ls[i]) for i in range(loop_n)], repeat=2) * num / loop_n
rows.append((f"many datasets jit(vmap(summarize+predict+mixup)), {num} x ({nr} x 4)",
             f"Python loop of the jitted one-dataset call {t_loop * 1e3:.1f} ms"
             + (f" (timed on {loop_n}, scaled)" if loop_n < num else ""),
             f"{t_many * 1e3:.2f} ms", f"{t_loop / t_many:.1f}x faster"))
print("gpu.sh:", rows[-1], flush=True)

# select
nd = 64 if small else 1000
dmax = 0.95 * float(jaxmix.max_attainable_delta(0.3, 0.3, 0.5))  # the default eps = 0.3, tau = 1/2
deltas = jnp.linspace(0.005, dmax, nd)
t_vec = best(lambda: jaxmix.select_epbeta(deltas))
loop_d = min(nd, 20)
t_conc = best(lambda: [jaxmix.select_epbeta(float(v)) for v in np.linspace(0.005, dmax, loop_d)], repeat=2) * nd / loop_d
rows.append((f"select_epbeta vmapped over {nd} delta", f"Python loop of concrete calls {t_conc * 1e3:.1f} ms"
             + (f" (timed on {loop_d}, scaled)" if loop_d < nd else ""),
             f"{t_vec * 1e3:.2f} ms", f"{t_conc / t_vec:.1f}x faster"))
print("gpu.sh:", rows[-1], flush=True)

head = (f"# GPU benchmarks\n\nDevice: {device}; jax {jax.__version__}; host {platform.node() or 'unknown'}; "
        f"{datetime.date.today().isoformat()}" + ("; dry run (CPU, small sizes)" if small else "") + "\n\n"
        "| benchmark | baseline (same run) | jaxmix | ratio |\n| --- | --- | --- | --- |\n")
with open(out_path, "w") as f:
    f.write(head + "".join(f"| {a} | {b} | {c} | {r} |\n" for a, b, c, r in rows))
print(f"gpu.sh: wrote {out_path}", flush=True)
PY
