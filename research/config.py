"""Config helpers: the fields every supervised run has, and big_vision-style `arg` parsing.

A config file is `configs/<family>.py` with `get_config(arg=None) -> ConfigDict`. `arg` is the text
after the colon in `--config=configs/x.py:runlocal,size=s` and is parsed by `parse_arg`.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from ml_collections import ConfigDict, config_dict

from research.errors import UserError


def parse_arg(arg: str | None, **defaults: Any) -> ConfigDict:
  """'runlocal,size=s,depth=4' → ConfigDict(runlocal=True, size='s', depth=4) over `defaults`.

  Values keep the type of their default; a bare name means True. Unknown names are refused.
  """
  out = ConfigDict(defaults)
  if not arg:
    return out
  for item in arg.split(","):
    item = item.strip()
    if not item:
      continue
    key, _, text = item.partition("=")
    if key not in defaults:
      raise UserError(f"unknown config argument {key!r} in ':{arg}'; known: {', '.join(sorted(defaults))}")
    default = defaults[key]
    if not _:
      value: Any = True
    elif isinstance(default, bool):
      if text.lower() not in ("true", "false", "1", "0"):
        raise UserError(f"config argument {key}={text!r} must be true or false")
      value = text.lower() in ("true", "1")
    elif isinstance(default, str):
      value = text
    else:
      try:
        value = type(default)(ast.literal_eval(text)) if default is not None else ast.literal_eval(text)
      except (ValueError, SyntaxError, TypeError):
        raise UserError(f"config argument {key}={text!r} must be a {type(default).__name__}") from None
    out[key] = value
  return out


def override(config: ConfigDict, overrides: Mapping[str, Any]) -> ConfigDict:
  """Sets dotted keys in place — {'model.d_model': 256, 'dataset.train_limit': 4000} — and returns `config`.

  For scripts and tests that build configs in Python; the command line does the same with --config.KEY=VALUE.
  """
  for key, value in overrides.items():
    node = config
    *parents, leaf = key.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = value
  return config


def base_config() -> ConfigDict:
  """Fields shared by every supervised run; family configs override what they need."""
  c = ConfigDict()
  c.name = ""                        # a label for results.md; defaults to the model name
  c.trainer = "supervised"           # which loop runs the config (research.registry.trainers)
  c.mode = "train"                   # "train" (resumes automatically) | "evaluate" (latest checkpoint)
  c.seed = 0                         # initialization, dropout and data-order seed
  c.data_dir = "~/tensorflow_datasets"  # where TFDS builders write their prepared array_record files

  c.dataset = ConfigDict()
  c.dataset.name = "digits"          # research.registry.datasets name, or "tfds:NAME" for official TFDS
  c.dataset.train_split = "train"
  c.dataset.eval_splits = ("test",)  # evaluated every eval_every_steps and at the end
  c.dataset.train_fraction = 1.0     # deterministic subset of the training split ("more data" studies)
  c.dataset.train_examples = 0       # > 0: train on exactly this many examples of that subset (labelled-size
                                     #   curves: each size's examples contain the smaller sizes' examples)
  c.dataset.validation_fraction = 0.0  # carve a "validation" split out of train (early stopping)
  c.dataset.subset_seed = 0          # the fixed permutation both fractions are taken from
  c.dataset.download = False         # allow TFDS downloads when no local copy exists
  c.dataset.local_dir = config_dict.placeholder(str)  # override the local copy's folder

  c.model_name = "mlp"               # research.registry.models name
  c.model = ConfigDict()             # keyword arguments of the model (fields missing here come from the data)
  c.task = "classification"          # research.registry.tasks name
  c.dtype = "float32"                # compute dtype: float32 | bfloat16 | float16 (dynamic loss scaling)
  c.param_dtype = "float32"          # parameter (and optimizer-state) dtype; keep float32 for mixed precision
  c.grad_accum_steps = 1             # split each batch into this many micro-batches inside the step
  c.steps_per_call = 1               # > 1: run this many train steps per jitted call (a lax.scan) when the
                                     #   batches have equal shapes; for tiny steps, where per-step host work dominates
  c.ema_decay = 0.0                  # > 0: keep an EMA of the parameters and evaluate with it
  c.profile_steps = (-1, -1)         # (first, last) step traced by jax.profiler into WORKDIR/profile/
  c.model_summary = True             # parameters per module, FLOPs/bytes/memory of the compiled step

  c.optimizer = ConfigDict()
  c.optimizer.name = "adam"          # sgd | momentum | nesterov | adagrad | rmsprop | adam | adamw
  c.optimizer.learning_rate = 1e-3   # peak learning rate
  c.optimizer.schedule = "constant"  # constant | step | warmup_cosine | warmup_rsqrt
  c.optimizer.warmup_steps = 0       # linear warmup length (warmup_* schedules)
  c.optimizer.decay_steps = 1000     # "step" schedule: steps between decays
  c.optimizer.decay_rate = 0.1       # "step" schedule: multiplier per decay
  c.optimizer.momentum = 0.9         # momentum / nesterov / rmsprop
  c.optimizer.b1 = 0.9               # adam(w) first-moment decay
  c.optimizer.b2 = 0.999             # adam(w) second-moment decay
  c.optimizer.eps = 1e-8             # adam(w) / rmsprop / adagrad epsilon
  c.optimizer.weight_decay = 0.0     # adamw decoupled weight decay
  c.optimizer.weight_decay_mask = "weights"  # adamw decays: weights (kernels, embeddings; not biases or norm
                                             #   scales, as BERT) | all
  c.optimizer.grad_clip_norm = 0.0   # clip gradients to this global norm (0 = off)

  c.l1_penalty = 0.0                 # loss += l1 · Σ|kernel|
  c.l2_penalty = 0.0                 # loss += l2/2 · Σ kernel²
  c.max_norm = 0.0                   # > 0: after each update, rescale each unit's incoming weights to norm ≤ this
  c.diagnostics = False              # per-layer gradient norms, update ratios, activation stats at log steps

  c.pretrain = ConfigDict()
  c.pretrain.kind = "none"           # greedy layer-wise pretraining of the MLP's hidden layers:
                                     #   none | rbm | autoencoder | denoising_autoencoder
  c.pretrain.epochs = 5              # epochs per layer
  c.pretrain.batch_size = 64         # minibatch size per layer
  c.pretrain.learning_rate = 0.05    # SGD learning rate per layer
  c.pretrain.momentum = 0.5          # SGD momentum
  c.pretrain.cd_k = 1                # RBM: Gibbs steps of contrastive divergence
  c.pretrain.persistent = False      # RBM: persistent CD
  c.pretrain.noise_level = 0.25      # denoising autoencoder: masking fraction
  c.pretrain.data = "train_subset"   # inputs the layers are pretrained on: train_subset (the examples trained on,
                                     #   after train_fraction/train_examples) | train_split (every train-split
                                     #   example but the validation ones, labels unused: semi-supervised)

  c.early_stopping = ConfigDict()
  c.early_stopping.patience = 0      # stop after this many evaluations without improvement (0 = off)
  c.early_stopping.metric = "accuracy"  # metric watched on early_stopping.split
  c.early_stopping.split = "validation"  # usually carved with dataset.validation_fraction
  c.early_stopping.mode = "max"      # "max" or "min"
  c.early_stopping.min_delta = 0.0   # an improvement must exceed this

  c.batch_size = 128                 # global training batch (split over devices and processes)
  c.eval_batch_size = 256            # global evaluation batch; the last one is padded and masked
  c.num_train_steps = -1             # > 0: train this many steps; else use num_epochs
  c.num_epochs = 10.0                # training length in passes over the (sub)set of training data

  c.log_every_steps = 50             # fetch metrics, write metrics.jsonl/TensorBoard/console
  c.eval_every_steps = -1            # evaluate eval_splits this often (-1 = only at the end)
  c.checkpoint_every_steps = 500     # save a checkpoint this often (and always at the end)
  c.keep_checkpoints = 3             # keep the newest K checkpoints
  c.async_checkpointing = True       # write checkpoints in the background
  return c
