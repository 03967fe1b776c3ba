"""Greedy layer-wise pretraining inside a supervised run: layers initialize the MLP, and a run
interrupted mid-stack resumes at the right layer and ends where an uninterrupted run does."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from conftest import read_jsonl

from configs import quickstart
from research.errors import UserError
from research.train import faults, pretraining_stage
from research.train.checkpoint import load_state
from research.train.loop import Trainer


def _config(data_dir, kind="rbm"):
  c = quickstart.get_config("runlocal")
  c.data_dir = data_dir
  c.model.hidden_sizes = (24, 12)
  c.model.activation = "sigmoid"
  c.pretrain.kind = kind
  c.pretrain.epochs = 2
  c.async_checkpointing = False
  return c


@pytest.mark.parametrize("kind", ["rbm", "denoising_autoencoder"])
def test_interrupted_pretraining_resumes_at_the_right_layer(kind, tmp_path, data_dir, monkeypatch, capsys):
  straight = Trainer(_config(data_dir, kind), str(tmp_path / "a"))
  straight.run()

  class Interrupted(Exception):
    pass

  def interrupt(point, step):
    if point == "pretrain" and step == 0:
      raise Interrupted
  monkeypatch.setattr(faults, "maybe_kill", interrupt)
  with pytest.raises(Interrupted):
    Trainer(_config(data_dir, kind), str(tmp_path / "b")).run()
  monkeypatch.undo()
  capsys.readouterr()
  Trainer(_config(data_dir, kind), str(tmp_path / "b")).run()
  assert "resuming after layer 0" in capsys.readouterr().out
  (_, a, _), (_, b, _) = load_state(str(tmp_path / "a")), load_state(str(tmp_path / "b"))
  for x, y in zip(jax.tree.leaves(a["params"]), jax.tree.leaves(b["params"]), strict=True):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  rows = read_jsonl(tmp_path / "a" / "metrics.jsonl")
  assert {"pretrain_layer_0", "pretrain_layer_1"} <= {r["split"] for r in rows}


def test_pretrained_layers_initialize_the_mlp(tmp_path, data_dir):
  c = _config(data_dir)
  c.num_train_steps = 1
  c.optimizer.learning_rate = 1e-12  # one negligible step: the checkpoint still holds the stack
  t = Trainer(c, str(tmp_path / "init"))
  t.run()
  import orbax.checkpoint as ocp
  m = ocp.CheckpointManager(str(tmp_path / "init" / "pretrain"), item_names=("layer",))
  layer1 = m.restore(2, args=ocp.args.Composite(layer=ocp.args.StandardRestore())).layer
  np.testing.assert_allclose(np.asarray(t.state.params["hidden_1"]["kernel"]), np.asarray(layer1["kernel"]), atol=1e-6)


def test_rbm_pretraining_needs_sigmoid_units(tmp_path, data_dir):
  c = _config(data_dir)
  c.model.activation = "relu"
  with pytest.raises(UserError, match="sigmoid"):
    Trainer(c, str(tmp_path / "relu")).run()


def test_semi_supervised_pretraining_reads_every_training_image_but_the_validation_ones(tmp_path, data_dir,
                                                                                        monkeypatch):
  """pretrain.data='train_split': the layers see the whole train split minus the carved-out validation examples
  (labels unused), while supervised training sees only its train_examples; 'train_subset' (default) sees those."""
  from research.pretraining import layerwise
  seen = []
  real = layerwise.pretrain_stack

  def spy(x, *args, **kwargs):
    seen.append({r.tobytes() for r in np.asarray(x)})
    return real(x, *args, **kwargs)

  monkeypatch.setattr(layerwise, "pretrain_stack", spy)
  trainers = {}
  for data in ("train_subset", "train_split"):
    c = _config(data_dir)
    c.num_train_steps = 1
    c.dataset.train_fraction, c.dataset.validation_fraction, c.dataset.train_examples = 1.0, 0.25, 10
    c.pretrain.data, c.pretrain.batch_size = data, 4
    trainers[data] = t = Trainer(c, str(tmp_path / data))
    t.run()
  t = trainers["train_split"]
  flat = lambda src: {r.tobytes() for r in np.asarray(pretraining_stage._training_inputs(t, src))}  # noqa: E731
  full = len(t.dataset.split(t.config.dataset.train_split))
  subset, pool = seen
  assert len(subset) == 10 and subset == flat(t.train_source)
  assert len(pool) == full - round(0.25 * full) and subset < pool
  assert not pool & flat(t.eval_sources["validation"])


def test_unknown_pretraining_data_is_refused(tmp_path, data_dir):
  c = _config(data_dir)
  c.pretrain.data = "everything"
  with pytest.raises(UserError, match="pretrain.data='everything' must be one of train_subset, train_split"):
    Trainer(c, str(tmp_path / "bad")).run()
