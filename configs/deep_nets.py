r"""Deep nets on Fashion-MNIST: vanishing gradients, the remedies, and overfitting (docs/course_notes.md §1–2).

Three experiments share this file; `experiment=` picks one, the sweep files under experiments/deep_nets/
vary the rest (the README there holds the tables and plots, made by code from the run folders).

  # (a) vanishing gradients: per-layer gradient norms at init and after one epoch
  python -m research.main --config=configs/deep_nets.py:experiment=vanishing,depth=8,activation=sigmoid \
      --workdir=/tmp/vanishing
  # (b) remedies for a deep sigmoid net (variants are overrides, see experiments/deep_nets/remedies/sweep.py)
  python -m research.main --config=configs/deep_nets.py:experiment=remedies --workdir=/tmp/remedies \
      --config.pretrain.kind=rbm
  # (c) overfitting 1,000 examples with a wide MLP
  python -m research.main --config=configs/deep_nets.py:experiment=overfitting --workdir=/tmp/overfit \
      --config.model.dropout_rate=0.5

`:runlocal` shrinks any of them to a few steps for tests. `depth=` / `activation=` override the
experiment's default depth (number of hidden layers) and activation.

Measured on the shared 2-core CPU, seed 0, one run each (wall time; the machine's load average was 15–25
from other jobs, so a run got roughly 5–10% of it; the same vanishing run alone at load 16 took 55 s):
  vanishing, depth=8, sigmoid:  283 s in the sweep; ‖∇W₁‖/‖∇W_out‖ = 2.3e-5 at init, 5.8e-5 after one epoch;
                                test accuracy 0.100 (chance) after the epoch.
  remedies (SGD, random init):  269 s; test accuracy 0.100 after 10 epochs (stuck at chance; relu: 0.83).
  overfitting (no regularizer): 364 s; train accuracy 0.997, test accuracy 0.810.
Whole sweeps (seeds and run counts per cell there) and their results: experiments/deep_nets/README.md.

`full` runs each experiment at the scale of the paper behind it, on MNIST (`tfds:mnist`, 60,000 train / 10,000
test; internet once to prepare), for a GPU (not run here; its first steps are tested); the variants are the same
overrides:
  vanishing    Glorot & Bengio (2010)'s nets: 5 hidden layers of 1,000 units (depth= still overrides), one epoch
               of all 60,000 images at batch 64 (938 steps), diagnostics at init and at the end. Their result
               is qualitative (sigmoid top layers saturate, lower layers get smaller gradients); no figure is claimed.
  remedies     Hinton & Salakhutdinov (2006)'s 784-500-500-2000-10 sigmoid net, 20 pretraining epochs per layer
               (batch 100), then SGD with momentum 0.9 at 0.1, batch 100, 50 epochs (30,000 steps). They report
               1.2% test error after RBM pretraining and 1.6% as the best randomly initialized backprop result.
  overfitting  Srivastava et al. (2014)'s MNIST net: 3 × 1,024 relu, Adam 1e-3, batch 100, 100 epochs of 50,000
               images (50,000 steps), the other 10,000 for early stopping. They report 1.25% test error for it
               with dropout 0.5 (SGD with momentum, no max-norm), against 1.60% for the best standard net
               without (Simard et al., 2003).

  python -m research.main --config=configs/deep_nets.py:experiment=remedies,full --workdir=/tmp/dbn_mnist \
      --config.pretrain.kind=rbm
"""

from __future__ import annotations

from ml_collections import ConfigDict

from research.config import base_config, parse_arg
from research.errors import UserError

EXPERIMENTS = ("vanishing", "remedies", "overfitting")
# Default (depth, activation, width) per experiment.
DEFAULTS = {"vanishing": (8, "sigmoid", 128), "remedies": (6, "sigmoid", 128), "overfitting": (2, "relu", 512)}
OVERFIT_TRAIN = 1000       # training examples of experiment (c)
OVERFIT_VALIDATION = 1000  # held-out examples early stopping watches (carved out of the train split first)
FASHION_TRAIN = 60_000


def get_config(arg: str | None = None) -> ConfigDict:
  arg = parse_arg(arg, experiment="vanishing", depth=0, activation="", runlocal=False, full=False)
  if arg.experiment not in EXPERIMENTS:
    raise UserError(f"configs/deep_nets.py: experiment={arg.experiment!r} must be one of {', '.join(EXPERIMENTS)}")
  depth, activation, width = DEFAULTS[arg.experiment]
  depth = arg.depth or depth
  activation = arg.activation or activation

  config = base_config()
  config.name = f"deep_nets/{arg.experiment}"
  config.dataset.name = "fashion_mnist"       # local Debian copy in /usr/share/datasets/fashion-mnist
  config.model_name = "mlp"
  config.model = ConfigDict(dict(
      hidden_sizes=(width,) * depth,   # `depth` hidden layers of `width` units
      activation=activation,
      kernel_init="glorot",            # the same (Glorot-uniform) random init for every activation
      norm="none",
      dropout_rate=0.0,                # per hidden layer, inverted dropout, off at evaluation
      input_noise_std=0.0,             # Gaussian noise on the [0, 1] pixels, training only
  ))
  config.optimizer.name = "sgd"        # plain SGD: the setting in which deep sigmoid nets struggle
  config.optimizer.learning_rate = 0.1
  config.batch_size = 64
  config.eval_batch_size = 1000
  config.model_summary = False         # skip the extra ahead-of-time compile: runs are short
  config.async_checkpointing = False
  config.keep_checkpoints = 1

  if arg.experiment == "vanishing":
    # One epoch over 10% of the training set (6,000 images, 94 steps). Diagnostics are written at step 0
    # (initialization) and at the last step (after one epoch); log_every_steps is larger than the run so
    # no other step is logged.
    config.dataset.train_fraction = 0.1
    config.num_epochs = 1.0
    config.diagnostics = True          # grad_norm/<layer> etc. in metrics.jsonl, split 'diagnostics'
    config.log_every_steps = 10_000
    config.checkpoint_every_steps = 10_000
    config.eval_every_steps = -1       # test accuracy only at the end
  elif arg.experiment == "remedies":
    # 10 epochs over 10% of the training set (the data-fraction variants override train_fraction and
    # eval_every_steps); test accuracy after every epoch gives "epochs to reach the target accuracy".
    config.dataset.train_fraction = 0.1
    config.num_epochs = 10.0
    config.log_every_steps = 94        # ≈ one epoch of 6,000 images at batch 64
    config.eval_every_steps = 94
    config.checkpoint_every_steps = 10_000
    config.pretrain.epochs = 2         # per layer (rbm / autoencoder variants only)
    config.pretrain.batch_size = 64
    config.pretrain.learning_rate = 0.05
  else:  # overfitting
    # 1,000 training images, a 2×512 relu MLP and Adam for 40 epochs (400 steps of 100): it reaches
    # 100% training accuracy, so the train–test gap is what the regularizers act on. A further 1,000
    # images form the validation split that early stopping watches; every variant carves it out, so all
    # of them train on exactly the same 1,000 images.
    config.dataset.validation_fraction = OVERFIT_VALIDATION / FASHION_TRAIN
    config.dataset.train_fraction = OVERFIT_TRAIN / (FASHION_TRAIN - OVERFIT_VALIDATION)
    # `train_subset` = the 1,000 training images, evaluated with dropout/noise off (research/train/loop.py load_splits)
    config.dataset.eval_splits = ("train_subset", "test")  # + "validation", added by the fractions
    config.optimizer.name = "adam"
    config.optimizer.learning_rate = 1e-3
    config.batch_size = 100
    config.num_epochs = 40.0
    config.log_every_steps = 25
    config.eval_every_steps = 25       # the gap curve's resolution
    config.checkpoint_every_steps = 10_000
    config.early_stopping.metric = "accuracy"
    config.early_stopping.split = "validation"
    config.early_stopping.patience = 0  # the early-stopping variants set 3 (evaluations, i.e. 75 steps)
    # The regularizers' strengths (the sweep switches each one on):
    #   l2_penalty=1e-3, l1_penalty=2e-5, model.dropout_rate=0.5, model.input_noise_std=0.3

  if arg.full:
    if arg.runlocal:
      raise UserError("config arguments full and runlocal exclude each other: full is the MNIST paper scale, "
                      "runlocal the smoke test")
    _full(config, arg.experiment, arg.depth)
  if arg.runlocal:
    config.dataset.train_fraction = 1.0 if arg.experiment != "overfitting" else 0.5
    config.dataset.validation_fraction = 0.0 if arg.experiment != "overfitting" else 0.25
    config.model.hidden_sizes = (16,) * min(depth, 3)
    config.batch_size = 8
    config.eval_batch_size = 16
    config.num_epochs = -1.0
    config.num_train_steps = 4
    config.log_every_steps = 2
    config.eval_every_steps = 2
    config.checkpoint_every_steps = 4
    config.pretrain.epochs = 1
    config.pretrain.batch_size = 8
  return config


MNIST_TRAIN = 60_000


def _full(config: ConfigDict, experiment: str, depth: int) -> None:
  """The paper-scale setting (module docstring, `full`): MNIST, each experiment's published net and budget."""
  config.name = f"deep_nets/{experiment}_mnist_full"
  config.dataset.name = "tfds:mnist"
  config.dataset.train_fraction = 1.0
  config.dataset.validation_fraction = 0.0
  config.num_train_steps = -1
  if experiment == "vanishing":
    config.model.hidden_sizes = (1000,) * (depth or 5)
    config.num_epochs = 1.0
  elif experiment == "remedies":
    config.model.hidden_sizes = (500, 500, 2000)
    config.optimizer.update(name="momentum", momentum=0.9, learning_rate=0.1)
    config.batch_size = 100
    config.num_epochs = 50.0
    config.log_every_steps = config.eval_every_steps = 600   # one epoch
    config.checkpoint_every_steps = 6_000
    config.pretrain.update(epochs=20, batch_size=100)
  else:
    config.model.hidden_sizes = (1024,) * (depth or 3)
    config.dataset.validation_fraction = 10_000 / MNIST_TRAIN  # early stopping's split, carved out first
    config.dataset.train_fraction = 1.0
    config.num_epochs = 100.0
    config.log_every_steps = config.eval_every_steps = 500   # one epoch
    config.checkpoint_every_steps = 5_000
