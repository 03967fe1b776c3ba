r"""(d) RBM on binarized Fashion-MNIST: CD-1 vs CD-10 vs PCD-1.

  python -m experiments.deep_nets.rbm.run --root=workdirs/deep_nets/rbm [--seeds=3] [--quick]

For each method and seed: a 784→HIDDEN Bernoulli RBM (research/pretraining/rbm.py) trained with SGD + momentum on
the first TRAIN training images, binarized at 0.5; then on the first EVAL test images
  pseudo_likelihood   mean of scikit-learn's stochastic pseudo-likelihood (nats per image, higher is better),
  ais_log_likelihood  mean log p(v) with log Z from annealed importance sampling (nats per image),
  log_z, log_z_rel_se the AIS estimate and the relative standard error of its importance weights,
  recon_error         one-step reconstruction error (squared, summed over pixels),
  free_energy_gap     mean F(test) − mean F(train subset of the same size) (grows with overfitting).
Each run writes ROOT/<method>,seed=<s>/results.json (and params.npz); ROOT/filters.png shows the first 64
hidden units' weights of each method (seed 0) and ROOT/samples.png 64 samples of each (mean of p(v|h) after
GIBBS Gibbs sweeps from random binary images). `experiments/deep_nets/make_readme.py` builds the table.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from research.data.images import FASHION_MNIST_DIR, read_idx
from research.pretraining import rbm

FLAGS = flags.FLAGS
flags.DEFINE_string("root", "workdirs/deep_nets/rbm", "Output folder (one subfolder per run).")
flags.DEFINE_integer("seeds", 3, "Seeds per method.")
flags.DEFINE_bool("quick", False, "Tiny sizes (a smoke test, not a result).")
flags.DEFINE_string("data_dir", FASHION_MNIST_DIR, "Folder with Fashion-MNIST's idx.gz files.")

HIDDEN = 128
TRAIN = 10_000
EVAL = 2_000
EPOCHS = 3
BATCH = 64
LR = 0.05
MOMENTUM = 0.5
AIS_STEPS = 3_000     # intermediate distributions (Salakhutdinov & Murray use 14,500; fewer to fit the CPU)
AIS_CHAINS = 100
GIBBS = 1_000         # sweeps before a sample is shown
METHODS = {"cd1": rbm.CDConfig(k=1, learning_rate=LR, momentum=MOMENTUM),
           "cd10": rbm.CDConfig(k=10, learning_rate=LR, momentum=MOMENTUM),
           "pcd1": rbm.CDConfig(k=1, persistent=True, learning_rate=LR, momentum=MOMENTUM)}


def load_binary(data_dir: str, split: str, n: int) -> np.ndarray:
  """The first n images of 'train' or 't10k' as float32[n, 784] in {0, 1} (pixel > 127)."""
  x = read_idx(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz"))[:n]
  return (x.reshape(len(x), -1) > 127).astype(np.float32)


def run_one(method: str, seed: int, train: jax.Array, test: jax.Array, *, hidden: int, epochs: int,
            ais_steps: int, ais_chains: int) -> tuple[dict[str, float], rbm.Params]:
  config = rbm.RBMConfig(kind="bernoulli", num_visible=train.shape[1], num_hidden=hidden)
  key = jax.random.PRNGKey(seed)
  k_init, k_train, k_pl, k_ais, k_rec = jax.random.split(key, 5)
  state = rbm.init_train_state(config, METHODS[method], k_init, BATCH, visible_mean=train.mean(0))
  t0 = time.time()
  state, history = rbm.train_epochs(state, train, k_train, num_epochs=epochs, batch_size=BATCH)
  jax.block_until_ready(state.params)
  train_s = time.time() - t0
  params = state.params
  flip = rbm.random_flip_index(k_pl, test.shape[0], test.shape[1])
  pl = float(jnp.mean(rbm.pseudo_likelihood(config, params, test, flip)))
  t0 = time.time()
  base = rbm.base_rate_biases(train)
  # ais_log_likelihood computes the same log Z; calling the partition function directly also gives its error.
  log_z, rel_se = jax.block_until_ready(
      rbm.ais_log_partition(config, params, base, k_ais, rbm.ais_betas(ais_steps), ais_chains))
  ll = -jnp.mean(rbm.free_energy(config, params, test)) - log_z
  ais_s = time.time() - t0
  out = {
      "method": method, "seed": seed, "pseudo_likelihood": pl, "ais_log_likelihood": float(ll),
      "log_z": float(log_z), "log_z_rel_se": float(rel_se),
      "recon_error": float(jnp.mean(rbm.reconstruction_error(config, params, test, k_rec))),
      "free_energy_gap": float(rbm.free_energy_gap(config, params, train[: test.shape[0]], test)),
      "train_recon_error_last_epoch": history[-1]["recon_error"],
      "train_seconds": train_s, "ais_seconds": ais_s,
      "hidden": hidden, "epochs": epochs, "train_examples": int(train.shape[0]),
      "eval_examples": int(test.shape[0]), "ais_steps": ais_steps, "ais_chains": ais_chains,
  }
  return out, params


def _grid(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
  """[rows·cols, 784] → one [rows·29, cols·29] image with 1-pixel gaps."""
  canvas = np.full((rows * 29, cols * 29), np.nan, np.float32)
  for i, img in enumerate(images[: rows * cols]):
    r, c = divmod(i, cols)
    canvas[r * 29:r * 29 + 28, c * 29:c * 29 + 28] = img.reshape(28, 28)
  return canvas


def plot_grids(params_by_method: dict[str, rbm.Params], root: str, gibbs: int) -> list[str]:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  paths = []
  for what in ("filters", "samples"):
    fig, axes = plt.subplots(1, len(params_by_method), figsize=(4 * len(params_by_method), 4.3))
    for ax, (method, params) in zip(np.atleast_1d(axes), params_by_method.items(), strict=True):
      if what == "filters":
        w = np.asarray(params["w"]).T[:64]                      # [64, 784]: each hidden unit's weights
        w = w / (np.abs(w).max(axis=1, keepdims=True) + 1e-12)  # each filter on its own scale
        ax.imshow(_grid(w, 8, 8), cmap="RdBu_r", vmin=-1, vmax=1)
      else:
        config = rbm.RBMConfig(num_visible=params["w"].shape[0], num_hidden=params["w"].shape[1])
        k0, k1 = jax.random.split(jax.random.PRNGKey(0))
        v0 = (jax.random.uniform(k0, (64, config.num_visible)) < 0.5).astype(jnp.float32)
        _, mean = rbm.sample_chain(config, params, v0, k1, gibbs)
        ax.imshow(_grid(np.asarray(mean), 8, 8), cmap="gray", vmin=0, vmax=1)
      ax.set_title(method)
      ax.axis("off")
    fig.suptitle("RBM " + ("filters (first 64 hidden units)" if what == "filters"
                           else f"samples (E[v|h] after {gibbs} Gibbs sweeps from noise)"))
    fig.tight_layout()
    path = os.path.join(root, f"{what}.png")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    paths.append(path)
  return paths


def main(argv: Sequence[str]) -> None:
  del argv
  quick = FLAGS.quick
  hidden, n_train, n_eval, epochs = (16, 512, 256, 1) if quick else (HIDDEN, TRAIN, EVAL, EPOCHS)
  ais_steps, ais_chains, gibbs = (200, 16, 50) if quick else (AIS_STEPS, AIS_CHAINS, GIBBS)
  train = jnp.asarray(load_binary(FLAGS.data_dir, "train", n_train))
  test = jnp.asarray(load_binary(FLAGS.data_dir, "t10k", n_eval))
  os.makedirs(FLAGS.root, exist_ok=True)
  first: dict[str, rbm.Params] = {}
  for seed in range(FLAGS.seeds):
    for method in METHODS:
      folder = os.path.join(FLAGS.root, f"{method},seed={seed}")
      done = os.path.join(folder, "results.json")
      if os.path.exists(done):
        print(f"{method} seed {seed}: done before", flush=True)
        if seed == 0:
          first[method] = dict(np.load(os.path.join(folder, "params.npz")))
        continue
      t0 = time.time()
      out, params = run_one(method, seed, train, test, hidden=hidden, epochs=epochs, ais_steps=ais_steps,
                            ais_chains=ais_chains)
      out["total_seconds"] = time.time() - t0
      os.makedirs(folder, exist_ok=True)
      np.savez(os.path.join(folder, "params.npz"), **{k: np.asarray(v) for k, v in params.items()})
      with open(done + ".tmp", "w") as f:
        json.dump(out, f, indent=1)
      os.replace(done + ".tmp", done)  # results.json only ever appears complete
      print(json.dumps(out), flush=True)
      if seed == 0:
        first[method] = params
  print("plots:", plot_grids(first, FLAGS.root, gibbs), flush=True)


if __name__ == "__main__":
  app.run(main)
