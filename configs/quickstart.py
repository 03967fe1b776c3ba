r"""Quickstart: a one-hidden-layer MLP on scikit-learn's 8x8 digits.

  python -m research.main --config=configs/quickstart.py --workdir=/tmp/quickstart

What it trains: MLP 64 → 256 (relu) → 10 with Adam, batch 64, 40 epochs over the 1,440 training
digits (a fixed 80/20 split by a hash of the example id; see research/data/images.py).
Runtime: 11 s wall on 2 idle CPU cores after install (18 s with the cores busy), most of it start-up,
compilation and the one-time dataset preparation; training itself is ~1 s.
Expected result: test accuracy ≥ 0.95 — measured 0.9860 (test loss 0.0442) with seed 0.

`:runlocal` shortens it to a few steps for tests (`--config=configs/quickstart.py:runlocal`).

`:full` is the same one-hidden-layer MLP at the scale of its classic result, for a GPU (or a patient CPU; not
run here, its first steps are tested): MNIST (`tfds:mnist`, 60,000 train / 10,000 test; internet once to prepare),
784 → 800 (relu) → 10, Adam 1e-3, batch 128, 50 epochs (23,450 steps). Simard et al. (2003) report 1.6% test
error for a 784-800-10 MLP trained with cross-entropy without distortions (SGD; Adam here).

  python -m research.main --config=configs/quickstart.py:full --workdir=/tmp/quickstart_mnist
"""

from ml_collections import ConfigDict

from research.config import base_config, parse_arg
from research.errors import UserError


def get_config(arg: str | None = None) -> ConfigDict:
  arg = parse_arg(arg, runlocal=False, full=False)
  if arg.full and arg.runlocal:
    raise UserError("config arguments full and runlocal exclude each other: full is the MNIST setting, runlocal the "
                    "smoke test")
  config = base_config()
  config.name = "quickstart"
  config.dataset.name = "digits"
  config.model_name = "mlp"
  config.model = ConfigDict(dict(
      hidden_sizes=(256,),   # one hidden layer
      activation="relu",
      kernel_init="lecun",
      dropout_rate=0.0,
  ))
  config.optimizer.name = "adam"
  config.optimizer.learning_rate = 3e-3
  config.batch_size = 64
  config.eval_batch_size = 128
  config.num_epochs = 40.0
  config.log_every_steps = 100
  config.eval_every_steps = 300
  config.checkpoint_every_steps = 300
  if arg.full:
    config.name = "quickstart_mnist_full"
    config.dataset.name = "tfds:mnist"       # official TFDS MNIST: image uint8[28, 28, 1], label 0-9
    config.model.hidden_sizes = (800,)
    config.optimizer.learning_rate = 1e-3
    config.batch_size = 128
    config.eval_batch_size = 1000
    config.num_epochs = 50.0                  # 469 steps per epoch
    config.log_every_steps = 469
    config.eval_every_steps = 2345            # every 5 epochs
    config.checkpoint_every_steps = 2345
  if arg.runlocal:
    config.num_epochs = 1.0
    config.log_every_steps = 5
    config.eval_every_steps = 10
    config.checkpoint_every_steps = 10
  return config
