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


@pytest.mark.parametrize("arg", ["model=gru", "task=copy", "length=1", "scale=maybe", "heads=4", "full,task=reverse",
                                 "full,runlocal"])
def test_bad_arguments_are_user_errors(arg):
  with pytest.raises(UserError):
    attention.get_config(arg)


def test_full_setting_is_transformer_base_on_wmt14():
  c = attention.get_config("model=transformer,full")
  assert (c.dataset.name, c.dataset.tfds_name, c.dataset.src_lang, c.dataset.tgt_lang) == (
      "tfds_translation", "wmt14_translate/de-en", "en", "de")
  m = c.model
  assert (m.d_model, m.num_heads, m.num_encoder_layers, m.num_decoder_layers, m.d_ff) == (512, 8, 6, 6, 2048)
  assert c.optimizer.schedule == "warmup_rsqrt" and c.optimizer.b2 == 0.98 and c.num_train_steps == 100_000
  lstm = attention.get_config("model=luong_general,full")
  assert (lstm.model.num_layers, lstm.model.hidden_dim, lstm.model.score) == (4, 1000, "general")


def test_full_setting_dry_run(tmp_path):
  """The full Transformer setting trains its first steps: its model, optimizer and schedule as configured, on a
  small parallel corpus in the parallel_text layout standing in for WMT'14 (which needs internet to prepare)."""
  pairs = [(f"the house number {i} is red .", f"das haus nummer {i} ist rot .") for i in range(40)]
  for split, rows in (("train", pairs[:32]), ("validation", pairs[32:36]), ("test", pairs[36:])):
    for k, lang in enumerate(("en", "de")):
      (tmp_path / f"{split}.{lang}").write_text("\n".join(r[k] for r in rows) + "\n", encoding="utf-8")
  config = attention.get_config("model=transformer,full")
  config.dataset.name = "parallel_text"
  config.dataset.path = str(tmp_path)
  config.dataset.src_vocab_size = config.dataset.tgt_vocab_size = 200
  config.batch_size = config.eval_batch_size = 8
  config.num_train_steps = 2
  config.log_every_steps = 1
  config.decode.num_sentences = 0  # beam search of this model is tested with the small settings
  config.model_summary = False
  trainer = Trainer(config, str(tmp_path / "run"))
  final = trainer.run()
  assert int(trainer.state.step) == 2 and np.isfinite(final["test"]["loss"])
  n = sum(x.size for x in jax.tree.leaves(trainer.state.params))
  assert n > 40_000_000  # 6 + 6 layers of width 512 (the embeddings are small here)
