r"""Layer-wise pretraining and regularization over labelled-set size on Fashion-MNIST (docs/course_notes.md §1–2).

  python -m experiments.few_labels.run_all [--workroot=/tmp/few_labels] [--seeds=3] [--only=pretrain,regularize]

Both remedies are claimed to matter most when labels are few, so each runs at N = 100, 300, 1,000 and 3,000
labelled training images: the first N of one fixed permutation of the training split (`dataset.train_examples`:
smaller sets nest in larger ones, the same images for every seed and variant), a fixed step budget at every N, and
the full 10,000-image test set.

  pretrain    configs/deep_nets.py:experiment=remedies (6×128 sigmoid MLP, plain SGD 0.1, 940 steps of 64: the
              remedies experiment's 10 epochs of 6,000) from random weights, or after greedy layer-wise RBM or
              autoencoder pretraining (2 epochs per layer) on every training image, labels unused
              (`pretrain.data=train_split`): the semi-supervised setting in which pretraining was proposed; and
              the same net with relu units from random weights (the activation remedy) as the reference.
  regularize  configs/deep_nets.py:experiment=overfitting (2×512 relu MLP, Adam 1e-3, 400 steps of 100: the
              overfitting experiment's 40 epochs of 1,000) without a regularizer, with L2 1e-3, dropout 0.5 or
              Gaussian input noise σ 0.3 (the strengths of experiments/deep_nets/overfitting/sweep.py).

Every run goes through the registered trainer (experiments.common.run, the path of `python -m research.main`);
a run whose results/<name>.json exists is skipped, so the script can be interrupted and restarted. `--quick`
(a few steps per run on the test fixture scale, a pipeline smoke test) keeps everything under WORKROOT/quick/.
"""

from __future__ import annotations

import argparse
import os

from experiments import common
from experiments.deep_nets.overfitting import sweep as overfitting_sweep

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")

SIZES = (100, 300, 1000, 3000)  # labelled training images
QUICK_SIZES = (8, 16)           # --quick: runlocal's half of a fixture split

# variant → overrides; "relu" is the activation remedy from random weights, the reference a pretrained sigmoid
# net must beat to be worth its pretraining
PRETRAIN_VARIANTS = {"random": {"pretrain.kind": "none"}, "rbm": {"pretrain.kind": "rbm"},
                     "autoencoder": {"pretrain.kind": "autoencoder"},
                     "relu": {"pretrain.kind": "none", "model.activation": "relu"}}
PRETRAIN_STEPS = 940            # the remedies experiment: 10 epochs of 6,000 images at batch 64
REGULARIZERS = ("none", "l2", "dropout", "input_noise")
REGULARIZE_STEPS = 400          # the overfitting experiment: 40 epochs of 1,000 images at batch 100


def pretrain_name(variant: str, n: int, seed: int) -> str:
  return f"pre_{variant}_n{n}_s{seed}"


def regularize_name(variant: str, n: int, seed: int) -> str:
  return f"reg_{variant}_n{n}_s{seed}"


def _subset(n: int, steps: int, quick: bool) -> dict:
  """Overrides that train on the first n images of the whole training split for a fixed number of steps and
  evaluate once, at the end (train_subset: the n images themselves, dropout and noise off)."""
  return {"dataset.train_fraction": 1.0, "dataset.train_examples": n, "num_epochs": -1.0,
          "num_train_steps": 6 if quick else steps, "eval_every_steps": -1,
          "dataset.eval_splits": ("train_subset", "test")}


def pretrain_runs(a) -> None:
  arg = "experiment=remedies" + (",runlocal" if a.quick else "")
  for seed in range(a.seeds):
    for n in a.sizes:
      for variant, values in PRETRAIN_VARIANTS.items():
        common.run(pretrain_name(variant, n, seed), "deep_nets.py", arg, workroot=a.workroot, results=a.results,
                   overrides={**_subset(n, PRETRAIN_STEPS, a.quick), **values, "pretrain.data": "train_split",
                              "seed": seed})


def regularize_runs(a) -> None:
  arg = "experiment=overfitting" + (",runlocal" if a.quick else "")
  keys = [k.removeprefix("config.") for k in overfitting_sweep.KEYS]
  for seed in range(a.seeds):
    for n in a.sizes:
      for variant in REGULARIZERS:
        values = dict(zip(keys, overfitting_sweep.VARIANTS[variant], strict=True))
        common.run(regularize_name(variant, n, seed), "deep_nets.py", arg, workroot=a.workroot, results=a.results,
                   overrides={**_subset(n, REGULARIZE_STEPS, a.quick), **values, "seed": seed})


STAGES = {"pretrain": pretrain_runs, "regularize": regularize_runs}


def main(argv: list[str] | None = None) -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--workroot", default="/tmp/few_labels")
  p.add_argument("--seeds", type=int, default=3)
  p.add_argument("--quick", action="store_true", help="a few steps each, everything under WORKROOT/quick/")
  p.add_argument("--only", default="all", help=f"comma-separated stages: {', '.join(STAGES)} (default: all)")
  a = p.parse_args(argv)
  stages = common.chosen_stages(p, a, list(STAGES), RESULTS)
  a.sizes = QUICK_SIZES if a.quick else SIZES
  for stage in stages:
    STAGES[stage](a)


if __name__ == "__main__":
  main()
