"""configs/attention.py: every model argument builds and trains a couple of steps at runlocal size,
the scale switch reaches the Transformer, and bad arguments are refused with a UserError."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from configs import attention
from research.errors import UserError
from research.train.loop import Trainer


@pytest.mark.parametrize("model", attention.MODELS)
def test_every_model_trains_two_steps(model, tmp_path):
  config = attention.get_config(f"model={model},task=reverse,length=6,runlocal")
  config.num_train_steps = 2
  config.log_every_steps = 1
  config.eval_every_steps = -1
  config.decode.num_sentences = 0  # decoding is tested in tests/tasks/test_seq2seq_task.py
  config.dataset.eval_splits = ("test",)
  config.dataset.num_test = 16
  trainer = Trainer(config, str(tmp_path / model))
  before = jax.tree.map(np.asarray, trainer.initial_state.params)
  final = trainer.run()
  assert int(trainer.state.step) == 2
  after = jax.tree.map(np.asarray, trainer.state.params)
  changed = jax.tree.leaves(jax.tree.map(lambda a, b: not np.array_equal(a, b), before, after))
  assert any(changed), "two Adam steps must move the parameters"
  assert np.isfinite(final["test"]["loss"])
  expected = {"lstm": "lstm_seq2seq", "transformer": "transformer"}.get(model, "luong_seq2seq")
  assert config.model_name == expected


def test_luong_score_and_transformer_scale_reach_the_model():
  assert attention.get_config("model=luong_dot").model.score == "dot"
  assert attention.get_config("model=luong_general").model.score == "general"
  on = attention.get_config("model=transformer")
  off = attention.get_config("model=transformer,scale=false")
  assert on.model.scale_attention and not off.model.scale_attention
  assert on.model.d_model // on.model.num_heads == 64  # the notes' d_k = 64 → scale 1/8


def test_reverse_length_sets_data_and_decode_lengths():
  c = attention.get_config("model=lstm,task=reverse,length=50")
  assert (c.dataset.min_len, c.dataset.max_len) == (25, 50)
  assert c.decode.max_decode_len >= 51  # target + eos must fit
  bible = attention.get_config("model=lstm,task=bible")
  assert bible.dataset.name == "bible_zh_en"


@pytest.mark.parametrize("arg", ["model=gru", "task=copy", "length=1", "scale=maybe", "heads=4"])
def test_bad_arguments_are_user_errors(arg):
  with pytest.raises(UserError):
    attention.get_config(arg)
