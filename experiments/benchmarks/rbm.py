"""Our jitted RBM training vs scikit-learn's BernoulliRBM: same data, epochs, batch size and learning rate.

  python -m experiments.benchmarks.rbm            # 60,000 Fashion-MNIST images, 10 epochs (sklearn's n_iter)
  python -m experiments.benchmarks.rbm --quick    # 6,000 images, 2 epochs

784 → 256 Bernoulli RBM on Fashion-MNIST scaled to [0, 1] (float32 for both sides), batch size 10 and learning
rate 0.1 (scikit-learn's defaults). scikit-learn's `fit` is stochastic maximum likelihood (PCD-1 with one
chain per batch row, hidden chains starting at 0, binary visible samples, no shuffling), so `--method pcd`
(the default) runs exactly that algorithm here; `--method cd` runs CD-1 instead. Both sides start from
W ~ N(0, 0.01²) and zero biases.

scikit-learn runs with its BLAS limited to one thread (`--sklearn-blas-threads`, 0 = library default): with
10-row minibatches OpenBLAS threading only adds synchronization, and on this 2-core machine shared with other
jobs it collapses (measured 3.9 ms per minibatch with 1 thread vs 60 ms with 2 at load average 8), so one
thread is scikit-learn's faster setting and the speedup reported is the conservative one. JAX/XLA runs with
its defaults. Wall times are measured after compilation (reported separately); the load average is printed
because other jobs on the machine change both sides' times.

Pseudo-likelihood: scikit-learn's `score_samples(X).mean()` on the held-out test images, and ours with the same
definition and the same corrupted pixel per image (`np.random.RandomState(seed).randint`, as score_samples
draws them). It differs from seed to seed by a few percent for both libraries (PCD with learning rate 0.1
never settles), so `--seeds N` trains both sides N times and reports the mean and standard deviation. Times
are totals over seeds. One JSON line per seed, then the last stdout line is the summary JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from research.data.images import FASHION_MNIST_DIR, read_idx
from research.pretraining import rbm


def load(split: str, limit: int | None) -> np.ndarray:
  name = "train-images-idx3-ubyte.gz" if split == "train" else "t10k-images-idx3-ubyte.gz"
  x = read_idx(os.path.join(FASHION_MNIST_DIR, name))[:limit]
  return (x.reshape(len(x), -1) / np.float32(255.0)).astype(np.float32)


def run_sklearn(x: np.ndarray, args: argparse.Namespace, seed: int) -> tuple[float, float, object]:
  from sklearn.neural_network import BernoulliRBM
  from threadpoolctl import threadpool_limits
  model = BernoulliRBM(n_components=args.hidden, learning_rate=args.lr, batch_size=args.batch_size,
                       n_iter=args.epochs, random_state=seed)
  with threadpool_limits(args.sklearn_blas_threads or None, user_api="blas"):
    start, cpu = time.perf_counter(), time.process_time()
    model.fit(x)
    return time.perf_counter() - start, time.process_time() - cpu, model


def run_jax(x: np.ndarray, args: argparse.Namespace, seed: int) -> tuple[float, float, float, rbm.Params]:
  config = rbm.RBMConfig(num_visible=x.shape[1], num_hidden=args.hidden)
  cd = rbm.CDConfig(k=1, persistent=args.method == "pcd", learning_rate=args.lr, sample_visible=True,
                    track_reconstruction=False)
  key = jax.random.key(seed)
  data = jax.device_put(x)

  def fresh():
    return rbm.init_train_state(config, cd, key, args.batch_size)

  # Compile once outside the timed region (the same shapes and static config as the timed calls).
  start = time.perf_counter()
  compiled = rbm.train_epoch.lower(fresh(), data, key, batch_size=args.batch_size, shuffle=False).compile()
  compile_s = time.perf_counter() - start
  state = fresh()
  jax.block_until_ready(state)
  start, cpu = time.perf_counter(), time.process_time()
  for epoch in range(args.epochs):
    state, _ = compiled(state, data, jax.random.fold_in(key, epoch))
  jax.block_until_ready(state)
  return time.perf_counter() - start, time.process_time() - cpu, compile_s, state.params


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="6,000 training images, 2 epochs")
  parser.add_argument("--examples", type=int, default=60_000)
  parser.add_argument("--epochs", type=int, default=10)
  parser.add_argument("--batch-size", type=int, default=10)
  parser.add_argument("--lr", type=float, default=0.1)
  parser.add_argument("--hidden", type=int, default=256)
  parser.add_argument("--method", choices=("pcd", "cd"), default="pcd")
  parser.add_argument("--seeds", type=int, default=1,
                      help="train both sides this many times (seeds 0..n-1); pseudo-likelihood varies from seed to seed")
  parser.add_argument("--sklearn-blas-threads", type=int, default=1, help="0: the BLAS library's default")
  parser.add_argument("--pin-cpu", type=int, default=-1,
                      help="run the whole process (both sides) on this CPU only; steadier timings on a busy machine")
  args = parser.parse_args()
  if args.quick:
    args.examples, args.epochs = 6_000, 2

  if args.pin_cpu >= 0:
    os.sched_setaffinity(0, {args.pin_cpu})
  x = load("train", args.examples)
  x_test = load("test", None)
  load_before = os.getloadavg()[0]
  config = rbm.RBMConfig(num_visible=x.shape[1], num_hidden=args.hidden)
  runs = []
  for seed in range(args.seeds):
    jax_s, jax_cpu, compile_s, params = run_jax(x, args, seed)
    sk_s, sk_cpu, model = run_sklearn(x, args, seed)
    sk_pl = float(np.mean(model.score_samples(x_test)))
    # score_samples corrupts the pixels RandomState(random_state).randint draws; corrupt the same ones
    flip = np.random.RandomState(seed).randint(0, x_test.shape[1], x_test.shape[0])
    jax_pl = float(jnp.mean(rbm.pseudo_likelihood(config, params, jnp.asarray(x_test), jnp.asarray(flip))))
    runs.append({"seed": seed, "sklearn_seconds": round(sk_s, 3), "jax_seconds": round(jax_s, 3),
                 "sklearn_cpu_seconds": round(sk_cpu, 3), "jax_cpu_seconds": round(jax_cpu, 3),
                 "jax_compile_seconds": round(compile_s, 3),
                 "sklearn_pseudo_likelihood": round(sk_pl, 3), "jax_pseudo_likelihood": round(jax_pl, 3)})
    print(json.dumps(runs[-1]), flush=True)

  def total(name):
    return sum(r[name] for r in runs)

  def mean_std(name):
    v = np.array([r[name] for r in runs])
    return round(float(v.mean()), 3), round(float(v.std(ddof=1)) if len(v) > 1 else 0.0, 3)

  sk_s, jax_s = total("sklearn_seconds"), total("jax_seconds")
  (sk_pl, sk_pl_std), (jax_pl, jax_pl_std) = mean_std("sklearn_pseudo_likelihood"), mean_std("jax_pseudo_likelihood")
  result = {
      "benchmark": "rbm", "method": f"{args.method}-1", "examples": len(x), "epochs": args.epochs,
      "batch_size": args.batch_size, "learning_rate": args.lr, "hidden": args.hidden, "seeds": args.seeds,
      "sklearn_seconds": round(sk_s, 3), "jax_seconds": round(jax_s, 3), "speedup": round(sk_s / jax_s, 2),
      "sklearn_cpu_seconds": round(total("sklearn_cpu_seconds"), 3),
      "jax_cpu_seconds": round(total("jax_cpu_seconds"), 3),
      "cpu_time_ratio": round(total("sklearn_cpu_seconds") / total("jax_cpu_seconds"), 2),
      "jax_compile_seconds": round(total("jax_compile_seconds"), 3),
      "sklearn_blas_threads": args.sklearn_blas_threads or "default",
      "pinned_cpu": args.pin_cpu if args.pin_cpu >= 0 else None,
      "sklearn_pseudo_likelihood": sk_pl, "jax_pseudo_likelihood": jax_pl,
      "sklearn_pseudo_likelihood_std": sk_pl_std, "jax_pseudo_likelihood_std": jax_pl_std,
      "pseudo_likelihood_rel_diff": round(abs(jax_pl - sk_pl) / abs(sk_pl), 4),
      "load_average_1min_before": round(load_before, 2), "load_average_1min_after": round(os.getloadavg()[0], 2),
      "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "jax": jax.__version__,
  }
  print(json.dumps(result))


if __name__ == "__main__":
  main()
