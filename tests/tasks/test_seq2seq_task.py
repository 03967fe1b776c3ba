"""The 'seq2seq' task end to end: training through the one loop, decoding + BLEU at evaluation, the
saved vocabularies, one-line errors for bad decode settings, and the decoding protocol for any model."""

from __future__ import annotations

import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import read_jsonl, snapshot

from configs import seq2seq
from research import decoding
from research.config import override
from research.decoding import decoder as decoder_lib
from research.errors import UserError
from research.evaluation import outputs, stats
from research.tasks import seq2seq as task_lib
from research.train.loop import Trainer


def _config(**overrides):
  c = seq2seq.get_config("task=reverse,runlocal")
  c.num_train_steps = 6
  c.log_every_steps = 3
  c.eval_every_steps = -1
  c.model_summary = False
  c.async_checkpointing = False
  return override(c, overrides)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("s2s") / "run")
  # Sampling too (4 draws per sentence from the top 3 tokens, the best-scored one counts).
  trainer = Trainer(_config(**{"decode.methods": ("greedy", "beam", "sample"), "decode.num_samples": 4,
                               "decode.top_k": 3}), workdir)
  final = trainer.run()
  return workdir, trainer, final


def test_training_writes_bleu_and_decodes(trained):
  workdir, trainer, final = trained
  records = [r for r in read_jsonl(os.path.join(workdir, "metrics.jsonl")) if r["split"] == "test"]
  assert records, "no test evaluation in metrics.jsonl"
  last = records[-1]
  for method in ("greedy", "beam", "sample"):
    assert 0.0 <= last[f"bleu_{method}"] <= 100.0
    assert last[f"decode_ms_per_sentence_{method}"] > 0.0
  # Only config.decode.splits are decoded.
  val = [r for r in read_jsonl(os.path.join(workdir, "metrics.jsonl")) if r["split"] == "validation"]
  assert val and "bleu_greedy" not in val[-1]
  # The decodes file holds one line per test sentence, and its BLEU is the logged one.
  source = trainer.eval_sources["test"]
  with open(os.path.join(workdir, "decodes", "test.greedy.txt"), encoding="utf-8") as f:
    hyps = f.read().splitlines()
  assert len(hyps) == len(source)
  refs = [str(t) for t in source.columns["tgt_text"]]
  assert trainer.task.score(hyps, refs).score == pytest.approx(last["bleu_greedy"], abs=1e-9)
  # Per sentence: every returned hypothesis and the statistics reports resample; corpus scores are the logged ones.
  greedy = outputs.read_decodes(os.path.join(workdir, "decodes", "test.greedy.jsonl"))
  samples = outputs.read_decodes(os.path.join(workdir, "decodes", "test.sample.jsonl"))
  assert greedy.best == hyps and greedy.references == refs and greedy.header["method"] == "greedy"
  assert greedy.bleu() == pytest.approx(last["bleu_greedy"], abs=1e-9)
  assert greedy.chrf() == pytest.approx(last["chrf_greedy"], abs=1e-6)
  assert all(len(h) == 4 for h in samples.hypotheses) and samples.scores.shape == (len(source), 4)
  assert samples.bleu() == pytest.approx(last["bleu_sample"], abs=1e-9)
  ci = greedy.bleu_ci(num_samples=200)
  assert ci.low <= ci.estimate <= ci.high
  assert outputs.paired_bleu(greedy, samples) == stats.paired_bootstrap_bleu(greedy.best, samples.best, [refs])
  sacrebleu = pytest.importorskip("sacrebleu")
  assert sacrebleu.corpus_chrf(hyps, [refs]).score == pytest.approx(last["chrf_greedy"], abs=1e-6)
  for side in ("src", "tgt"):
    with open(os.path.join(workdir, f"vocab_{side}.json"), encoding="utf-8") as f:
      assert json.load(f)["tokens"][:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]


def test_decoded_ids_match_a_direct_greedy_search(trained):
  """The task's batching (sorting, padding to one shape, spare rows) does not change any hypothesis."""
  _, trainer, _ = trained
  state = trainer.state
  variables = {"params": state.params, **state.model_state}
  source = trainer.eval_sources["test"]
  sources = list(source.columns["src"][:11])  # not a multiple of 8: exercises the spare rows
  decoder = trainer.task.decoder(trainer.model)
  settings = decoder_lib.DecodeSettings("greedy", 1, 0.0, 20)
  hyps, scores, seconds = decoder.translate(variables, sources, settings, batch_size=8)
  assert seconds > 0
  for i in (0, 5, 10):
    src = jnp.asarray(sources[i][None, :], jnp.int32)
    step_fn, cache = decoder_lib.step_fns_for(trainer.model)(trainer.model, variables, src, 20)
    seqs, direct = decoding.greedy_search(step_fn, cache, batch_size=1, max_len=20, bos_id=1, eos_id=2)
    expected = [t for t in np.asarray(seqs[0]).tolist() if t != 0]
    expected = expected[:expected.index(2)] if 2 in expected else expected
    assert hyps[i].tolist() == expected
    np.testing.assert_allclose(scores[i], float(direct[0]), rtol=1e-5, atol=1e-5)


def test_vocabulary_mismatch_on_restore_is_one_line_and_writes_nothing(trained):
  workdir, _, _ = trained
  before = snapshot(workdir)
  changed = _config(**{"dataset.vocab_size": 11})  # one more symbol: every id after it means something else
  with pytest.raises(UserError) as e:
    Trainer(changed, workdir, allow_config_change=True)
  message = str(e.value)
  assert "vocab_src.json" in message and "differs" in message and "\n" not in message
  assert snapshot(workdir) == before


@pytest.mark.parametrize("key,value,needle", [
    ("decode.beam_size", 0, "beam_size"),
    ("decode.max_decode_len", 0, "max_decode_len"),
    ("decode.methods", ("greedy", "nucleus"), "methods"),
    ("decode.splits", ("train",), "decode.splits"),
    ("decode.bleu_tokenize", "intl", "bleu_tokenize"),
    ("decode.num_sentences", -5, "num_sentences"),
    ("decode.length_penalty", float("nan"), "length_penalty"),
    ("decode.length_penalty_type", "average", "length_penalty_type"),
    ("decode.method", "nucleus", "methods"),
    ("decode.temperature", -0.5, "temperature"),
    ("decode.top_p", 0.0, "top_p"),
    ("decode.top_k", -1, "top_k"),
    ("decode.num_samples", 0, "num_samples"),
    ("decode.no_repeat_ngram_size", -2, "no_repeat_ngram_size"),
    ("label_smoothing", 1.0, "label_smoothing"),
    ("label_smoothing", -0.1, "label_smoothing"),
])
def test_bad_decode_config_is_one_line_error(tmp_path, key, value, needle):
  with pytest.raises(UserError) as e:
    Trainer(_config(**{key: value}), str(tmp_path / "w"))
  assert needle in str(e.value) and "\n" not in str(e.value)
  assert not os.path.exists(tmp_path / "w")


def test_loss_ignores_padded_rows_and_positions():
  """Sums over tokens with tgt_mask · mask = 1: extra pad rows and longer padding change nothing."""
  config = _config(label_smoothing=0.1)
  info = {"tgt_vocab": None, "bos_id": 1, "eos_id": 2, "pad_id": 0}
  task = task_lib.Seq2SeqTask(config, info)

  class Bigram(nn.Module):
    @nn.compact
    def __call__(self, src, tgt_in, train=False):
      return nn.Embed(9, 9)(tgt_in) + nn.Dense(9)(nn.Embed(9, 4)(src).mean(1))[:, None, :]

  model = Bigram()
  rng = np.random.default_rng(0)
  src = rng.integers(4, 9, (3, 5)).astype(np.int32)
  tgt_out = rng.integers(4, 9, (3, 4)).astype(np.int32)
  tgt_mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], np.float32)
  tgt_out[tgt_mask == 0] = 0
  tgt_in = np.concatenate([np.ones((3, 1), np.int32), tgt_out[:, :-1]], 1)
  batch = dict(src=src, tgt_in=tgt_in, tgt_out=tgt_out, tgt_mask=tgt_mask, mask=np.ones(3, np.float32))
  variables = model.init(jax.random.key(0, impl="rbg"), src, tgt_in)

  def run(b):
    loss, metrics, _ = task.loss_and_metrics(model, variables, {k: jnp.asarray(v) for k, v in b.items()},
                                             train=False, rngs=None)
    return float(loss), {k: np.asarray(v) for k, v in metrics.items()}

  base_loss, base = run(batch)
  # Two more target positions of padding and one padded example (mask 0) whose tokens are garbage.
  pad = {k: np.pad(v, ((0, 1),) + ((0, 2 if k.startswith("tgt") else 0),) * (v.ndim - 1)) for k, v in batch.items()}
  pad["src"][3] = 7
  pad["tgt_out"][3] = 5
  pad["tgt_mask"][3] = 1
  padded_loss, padded = run(pad)
  assert padded_loss == pytest.approx(base_loss, rel=1e-6)
  for k in base:
    np.testing.assert_allclose(padded[k], base[k], rtol=1e-6)
  assert base["loss"][1] == tgt_mask.sum() and base["sequence_accuracy"][1] == 3
  assert base["loss"][0] > base["nll"][0] > 0  # label smoothing adds to the plain NLL


class _CountingModel(nn.Module):
  """A model offering only the methods protocol: init_cache/decode_step. It emits tokens 4, 5, …, then eos."""

  vocab: int = 8

  @nn.compact
  def __call__(self, src, tgt_in, train=False):
    return jnp.zeros(tgt_in.shape + (self.vocab,))

  def init_cache(self, src, max_len):
    return {"t": jnp.zeros((src.shape[0],), jnp.int32), "n": (src != 0).sum(1).astype(jnp.int32)}

  def decode_step(self, tokens, cache):
    nxt = jnp.where(cache["t"] < cache["n"], 4 + cache["t"], 2)
    return 10.0 * jax.nn.one_hot(nxt, self.vocab), {"t": cache["t"] + 1, "n": cache["n"]}


def test_methods_protocol_decodes_any_model():
  model = _CountingModel()
  assert decoder_lib.step_fns_for(model) is decoder_lib.method_step_fns
  decoder = decoder_lib.Decoder(model, bos_id=1, eos_id=2, pad_id=0)
  sources = [np.full(n, 6, np.int32) for n in (3, 1, 2)]
  for settings in (decoder_lib.DecodeSettings("greedy", 1, 0.0, 6), decoder_lib.DecodeSettings("beam", 2, 0.6, 6)):
    hyps, _, _ = decoder.translate({}, sources, settings, batch_size=8)
    assert [h.tolist() for h in hyps] == [[4, 5, 6], [4], [4, 5]]

  class NoDecoding(nn.Module):
    def __call__(self, src, tgt_in, train=False):
      return src

  with pytest.raises(UserError, match="cannot be decoded"):
    decoder_lib.step_fns_for(NoDecoding())


def test_decode_method_alias_and_settings():
  settings = decoder_lib.decode_settings(_config(**{"decode.method": "sample", "decode.temperature": 0.7,
                                                    "decode.top_p": 0.9, "decode.num_samples": 3}))
  assert list(settings) == ["sample"]
  s = settings["sample"]
  assert (s.temperature, s.top_p, s.num_samples, s.width) == (0.7, 0.9, 3, 3)
  beam = decoder_lib.decode_settings(_config(**{"decode.length_penalty_type": "power",
                                                "decode.num_return_sequences": 2}))["beam"]
  assert (beam.length_penalty_type, beam.width) == ("power", 2)


def test_sampling_through_the_decoder_is_reproducible(trained):
  """Decoder.decode draws batch i with fold_in(key(seed), i): the same call twice gives the same samples, another
  seed other ones; the samples come back best first."""
  _, trainer, _ = trained
  variables = {"params": trainer.state.params, **trainer.state.model_state}
  decoder = trainer.task.decoder(trainer.model)
  sources = trainer.eval_sources["test"].columns["src"][:8]
  width = max(len(s) for s in sources)
  src = np.stack([np.pad(s, (0, width - len(s))) for s in sources])
  settings = decoder_lib.DecodeSettings("sample", max_len=12, num_samples=6, temperature=1.5)
  a = decoder.decode(variables, src, settings)
  b = decoder.decode(variables, src, settings)
  c = decoder.decode(variables, src, decoder_lib.DecodeSettings("sample", max_len=12, num_samples=6,
                                                                temperature=1.5, seed=1))
  np.testing.assert_array_equal(a[0], b[0])
  assert a[0].shape == (8, 6, 12) and not np.array_equal(a[0], c[0])
  assert np.all(np.diff(a[1], axis=1) <= 0)
