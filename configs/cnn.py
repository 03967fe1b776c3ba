r"""A small CNN classifier on Fashion-MNIST (28×28): two conv stages (8, 16 channels, 3×3, relu, 2×2
max-pool) → mean over positions → dense 10. The multimodal experiments reuse it twice: its trunk
initializes the captioning encoder (configs/captioning.py:init_from=DIR) and, kept fixed, it scores the
images the text→image model draws (configs/text_to_image.py:classifier=DIR).

  python -m research.main --config=configs/cnn.py --workdir=/tmp/cnn

Measured: 473 s wall for 1,200 steps on 2 CPU cores shared with other jobs; test accuracy 67.6% (seed 0) —
weak for Fashion-MNIST, because the head sees only the spatial mean of 16 channels (kept so the trunk's
cell features stay the ones the captioning encoder pools).
`:runlocal` is a tiny variant for tests; `:steps=N` trains N steps of batch 128.

`:full` trains the same architecture to convergence, for a GPU (not run here; its first steps are tested):
channels (32, 64), dropout 0.25 before the head, batch 128, 30 epochs of all 60,000 training images (14,070
steps), Adam 2e-3 with 500 warmup steps and cosine decay; no published figure exists for this mean-pooled
architecture. Its trunk is wider than the captioning encoder's default, so a captioning run that
init_from's it needs `--config.model.features="(32, 64)"`.

  python -m research.main --config=configs/cnn.py:full --workdir=/tmp/cnn_full
"""

from ml_collections import ConfigDict

from research.config import base_config, parse_arg
from research.errors import UserError


def get_config(arg: str | None = None) -> ConfigDict:
  arg = parse_arg(arg, runlocal=False, steps=1200, local_dir="", full=False)
  if arg.full and arg.runlocal:
    raise UserError("config arguments full and runlocal exclude each other: full trains to convergence, runlocal is "
                    "the smoke test")
  config = base_config()
  config.name = "cnn_fashion_mnist"
  config.dataset.name = "fashion_mnist"
  if arg.local_dir:
    config.dataset.local_dir = arg.local_dir  # a folder with the 4 idx.gz files (tests use small fixtures)
  config.model_name = "cnn"
  config.model = ConfigDict(dict(
      features=(8, 16),      # channels per conv stage; the captioning encoder must use the same
      kernel_size=3,
      dropout_rate=0.0,
  ))
  config.optimizer.name = "adam"
  config.optimizer.learning_rate = 2e-3
  config.batch_size = 128
  config.eval_batch_size = 500
  config.num_train_steps = arg.steps  # 1200 × 128 ≈ 2.6 epochs of the 60,000 training images
  config.log_every_steps = 100
  config.eval_every_steps = -1
  config.checkpoint_every_steps = 500
  if arg.full:
    config.name = "cnn_fashion_mnist_full"
    config.model.update(features=(32, 64), dropout_rate=0.25)
    config.optimizer.update(schedule="warmup_cosine", warmup_steps=500)
    config.num_train_steps = 14_070           # 30 epochs of 469 steps
    config.eval_every_steps = 2_345           # every 5 epochs
    config.checkpoint_every_steps = 2_345
  if arg.runlocal:
    config.num_train_steps = 4
    config.batch_size = 16
    config.eval_batch_size = 16
    config.log_every_steps = 2
    config.checkpoint_every_steps = 4
    config.model_summary = False
  return config
