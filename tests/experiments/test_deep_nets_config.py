"""configs/deep_nets.py: every experiment builds, and a `runlocal` variant of each trains on a tiny
Fashion-MNIST fixture (tests/conftest.py `fashion_dir`). In-process (Trainer) to stay fast."""

from __future__ import annotations

import pytest
from conftest import read_jsonl

from configs import deep_nets
from research.errors import UserError
from research.train.loop import Trainer


@pytest.mark.parametrize("experiment", deep_nets.EXPERIMENTS)
def test_config_builds_for_every_experiment(experiment):
  c = deep_nets.get_config(f"experiment={experiment}")
  depth, activation, width = deep_nets.DEFAULTS[experiment]
  assert tuple(c.model.hidden_sizes) == (width,) * depth and c.model.activation == activation
  c = deep_nets.get_config(f"experiment={experiment},depth=3,activation=tanh")
  assert tuple(c.model.hidden_sizes) == (width,) * 3 and c.model.activation == "tanh"
  local = deep_nets.get_config(f"experiment={experiment},runlocal")
  assert local.num_train_steps == 4 and len(local.model.hidden_sizes) <= 3


def test_overfitting_trains_on_1000_images_for_every_variant():
  c = deep_nets.get_config("experiment=overfitting")
  n_val = round(c.dataset.validation_fraction * deep_nets.FASHION_TRAIN)
  n_train = round(c.dataset.train_fraction * (deep_nets.FASHION_TRAIN - n_val))
  assert (n_val, n_train) == (deep_nets.OVERFIT_VALIDATION, deep_nets.OVERFIT_TRAIN)


def test_bad_arguments_are_user_errors():
  with pytest.raises(UserError, match="experiment="):
    deep_nets.get_config("experiment=nonsense")
  with pytest.raises(UserError, match="unknown config argument"):
    deep_nets.get_config("widht=3")


def _local(experiment: str, tmp_path, data_dir, fashion_dir, **overrides):
  c = deep_nets.get_config(f"experiment={experiment},runlocal")
  c.data_dir = data_dir
  c.dataset.local_dir = fashion_dir
  for key, value in overrides.items():
    target = c
    *parents, leaf = key.split(".")
    for p in parents:
      target = target[p]
    target[leaf] = value
  workdir = tmp_path / experiment
  trainer = Trainer(c, str(workdir))
  final = trainer.run()
  return trainer, final, read_jsonl(workdir / "metrics.jsonl")


def test_runlocal_vanishing_records_gradients_at_init_and_end(tmp_path, data_dir, fashion_dir):
  _, final, rows = _local("vanishing", tmp_path, data_dir, fashion_dir)
  diag = [r for r in rows if r["split"] == "diagnostics"]
  assert [r["step"] for r in diag] == [0, 2, 4]
  for r in diag:
    assert r["grad_norm/hidden_0"] > 0 and r["grad_norm/head"] > 0
  assert 0.0 <= final["test"]["accuracy"] <= 1.0


def test_runlocal_remedies_with_rbm_pretraining(tmp_path, data_dir, fashion_dir):
  _, final, rows = _local("remedies", tmp_path, data_dir, fashion_dir, **{"pretrain.kind": "rbm"})
  assert {r["split"] for r in rows} >= {"pretrain_layer_0", "pretrain_layer_2", "train", "test"}
  assert (tmp_path / "remedies" / "pretrain").is_dir()
  assert "accuracy" in final["test"]


def test_runlocal_overfitting_evaluates_exactly_the_training_subset(tmp_path, data_dir, fashion_dir):
  trainer, final, rows = _local("overfitting", tmp_path, data_dir, fashion_dir,
                                **{"model.dropout_rate": 0.5, "l2_penalty": 1e-3, "early_stopping.patience": 1})
  assert set(final) == {"train_subset", "validation", "test"}
  subset = trainer.eval_sources["train_subset"]
  assert len(subset) == len(trainer.train_source) == 24  # 64 fixture images: 16 validation, half of the rest
  assert (subset.columns["image"] == trainer.train_source.columns["image"]).all()
  assert any(r["split"] == "train_subset" and r["step"] == 2 for r in rows)
