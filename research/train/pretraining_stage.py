"""The greedy layer-wise pretraining stage of a supervised run (`config.pretrain.kind`).

Before supervised training starts from scratch, hidden layers hidden_0 … hidden_{L-1} of the MLP are
pretrained one by one exactly as the course notes describe (research/pretraining/layerwise.py): layer i is an RBM
or (denoising) autoencoder trained on the previous layer's values h_{i-1} (h_0 = x). Each finished
layer is checkpointed in WORKDIR/pretrain/<i+1>/, so a run killed mid-stack restarts at the first
unfinished layer; once supervised training has checkpoints, the stage is never run again.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from ml_collections import ConfigDict

from research.errors import UserError
from research.train import faults
from research.train.metric_writers import MetricWriter

KINDS = ("none", "rbm", "autoencoder", "denoising_autoencoder")


def validate(config: ConfigDict) -> None:
  p = config.get("pretrain")
  if p is None or p.kind == "none":
    return
  if p.kind not in KINDS:
    raise UserError(f"config.pretrain.kind={p.kind!r} must be one of {', '.join(KINDS)}")
  if config.model_name != "mlp":
    raise UserError(f"config.pretrain needs model_name='mlp' (hidden_i layers to initialize), got {config.model_name!r}")
  if p.kind == "rbm" and config.model.get("activation", "relu") != "sigmoid":
    raise UserError("config.pretrain.kind='rbm' gives sigmoid hidden units: set config.model.activation='sigmoid' "
                    "(or pretrain with an autoencoder)")
  if p.get("data", "train_subset") not in DATA:
    raise UserError(f"config.pretrain.data={p.data!r} must be one of {', '.join(DATA)}")
  for key in ("epochs", "batch_size"):
    if p[key] <= 0:
      raise UserError(f"config.pretrain.{key}={p[key]} must be > 0")
  if p.learning_rate <= 0:
    raise UserError(f"config.pretrain.learning_rate={p.learning_rate} must be > 0")


DATA = ("train_subset", "train_split")


def _training_inputs(trainer: Any, source: Any) -> jax.Array:
  """`source`'s examples as the model sees them: float32[N, D] (flattened task inputs). Labels are never read."""
  n = len(source)
  batch = source.__getitems__(np.arange(n))
  x = trainer.task.inputs({k: jnp.asarray(v) for k, v in batch.items() if isinstance(v, np.ndarray)})
  return x.reshape(n, -1).astype(jnp.float32)


def run(trainer: Any, state: Any, writer: MetricWriter, source: Any) -> Any:
  """Pretrains (or resumes pretraining of) the hidden layers on `source`'s inputs (the Trainer's pick by
  `config.pretrain.data`) and returns `state` initialized from them."""
  p = trainer.config.pretrain
  sizes = list(trainer.model.hidden_sizes)
  directory = trainer.workdir.file("pretrain")
  manager = ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(create=True),
                                  item_names=("layer",))
  layers: list[dict[str, jax.Array]] = []
  for i in range(len(sizes)):
    if i + 1 not in manager.all_steps():
      break
    restored = manager.restore(i + 1, args=ocp.args.Composite(layer=ocp.args.StandardRestore()))
    layers.append({k: jnp.asarray(v) for k, v in restored.layer.items()})
  if layers:
    print(f"pretraining: resuming after layer {len(layers) - 1} ({directory})", flush=True)

  def on_layer_done(i: int, layer: dict[str, jax.Array], h: jax.Array) -> None:
    manager.save(i + 1, args=ocp.args.Composite(layer=ocp.args.StandardSave(layer)))
    manager.wait_until_finished()
    print(f"pretraining: layer {i} ({p.kind}, {layer['kernel'].shape[0]}→{layer['kernel'].shape[1]}) done",
          flush=True)
    faults.maybe_kill("pretrain", i)

  def on_epoch_end(i: int, epoch: int, means: dict[str, float]) -> None:
    writer.write(epoch + 1, f"pretrain_layer_{i}", {k: float(v) for k, v in means.items()}, console=False)

  from research.pretraining.layerwise import pretrain_stack
  if len(layers) < len(sizes):
    layers = pretrain_stack(
        _training_inputs(trainer, source), sizes, p.kind, epochs=p.epochs, batch_size=p.batch_size, lr=p.learning_rate,
        key=jax.random.fold_in(jax.random.PRNGKey(trainer.config.seed), 7919), activation=trainer.model.activation,
        start_layer=len(layers), trained_layers=layers, on_layer_done=on_layer_done, on_epoch_end=on_epoch_end,
        momentum=p.momentum, cd_k=p.cd_k, persistent=p.persistent, noise_level=p.noise_level)
  manager.close()
  params = dict(state.params)
  for i, layer in enumerate(layers):
    params[f"hidden_{i}"] = {"kernel": layer["kernel"].astype(params[f"hidden_{i}"]["kernel"].dtype),
                             "bias": layer["bias"].astype(params[f"hidden_{i}"]["bias"].dtype)}
  params = jax.device_put(params, jax.tree.map(lambda x: x.sharding, state.params))
  return state.with_params(params, trainer.tx)
