"""BERT pretraining data rules (80/10/10 masking, NSP pairs, segments) and the models' shapes and pooling."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ml_collections import ConfigDict

from research.models import bert
from research.tasks.language import MaskedLMTask

PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
V, NSPECIAL = 50, 5


def _sentences(rng, n, length):
  lengths = rng.integers(1, length + 1, n)
  tok = rng.integers(NSPECIAL, V, (n, length)).astype(np.int32)
  tok[np.arange(length)[None, :] >= lengths[:, None]] = PAD
  return tok


@pytest.fixture(scope="module")
def masked_draws():
  """4,000 pair rows × 40 draws' worth of tokens, masked with fixed seeds."""
  rng = np.random.default_rng(0)
  a, b = _sentences(rng, 4000, 12), _sentences(rng, 4000, 12)
  pairs = jax.jit(lambda k: bert.make_pairs(k, a, b, cls_id=CLS, sep_id=SEP))(jax.random.PRNGKey(0))
  fn = jax.jit(lambda k, t: bert.mask_tokens(k, t, vocab_size=V, mask_id=MASK, special_ids=tuple(range(NSPECIAL)),
                                             random_low=NSPECIAL))
  return a, b, pairs, fn(jax.random.PRNGKey(1), pairs["tokens"])


def test_pairs_layout_and_segments(masked_draws):
  a, b, pairs, _ = masked_draws
  tok, seg, nxt = (np.asarray(pairs[k]) for k in ("tokens", "segments", "is_next"))
  assert tok.shape == (4000, 27)
  roll = None
  for i in range(4000):
    ra, rb = a[i][a[i] != PAD], None
    la = len(ra)
    assert tok[i, 0] == CLS and tok[i, la + 1] == SEP
    np.testing.assert_array_equal(tok[i, 1:la + 1], ra)
    seps = np.flatnonzero(tok[i] == SEP)
    assert len(seps) == 2 and seps[0] == la + 1
    rb = tok[i, la + 2:seps[1]]
    if nxt[i]:
      np.testing.assert_array_equal(rb, b[i][b[i] != PAD])
    else:  # another row's sentence B, one shift for the whole batch
      if roll is None:
        roll = next(s for s in range(1, 4000) if np.array_equal(rb, b[(i + s) % 4000][b[(i + s) % 4000] != PAD]))
      np.testing.assert_array_equal(rb, b[(i + roll) % 4000][b[(i + roll) % 4000] != PAD])
    expected = np.zeros(27, np.int32)
    expected[la + 2:seps[1] + 1] = 1  # B and its [SEP]
    np.testing.assert_array_equal(seg[i], expected)
    assert (tok[i, seps[1] + 1:] == PAD).all()
  # NSP 50/50: 4,000 Bernoulli(0.5) draws, 5 standard deviations = 0.040
  assert abs(nxt.mean() - 0.5) < 5 * np.sqrt(0.25 / 4000)


def test_mask_selection_never_touches_specials_and_is_15_percent(masked_draws):
  _, _, pairs, m = masked_draws
  tok, sel, kind, inputs = (np.asarray(x) for x in (pairs["tokens"], m["weights"], m["kind"], m["inputs"]))
  special = tok < NSPECIAL
  assert not sel[special].any()                     # never [CLS]/[SEP]/[PAD]
  assert (inputs[special] == tok[special]).all()    # specials never corrupted either
  n = (~special).sum(1)
  np.testing.assert_array_equal(sel.sum(1), np.maximum(np.round(0.15 * n), 1))  # exactly round(15%) per row
  assert (np.asarray(m["targets"]) == tok).all()


def test_80_10_10_rates_within_statistical_bounds(masked_draws):
  _, _, pairs, m = masked_draws
  tok, sel, kind, inputs = (np.asarray(x) for x in (pairs["tokens"], m["weights"], m["kind"], m["inputs"]))
  s = sel.astype(bool)
  k = s.sum()
  for code, p in ((1, 0.8), (2, 0.1), (3, 0.1)):
    rate = (kind[s] == code).mean()
    assert abs(rate - p) < 5 * np.sqrt(p * (1 - p) / k), (code, rate)
  assert (inputs[kind == 1] == MASK).all()
  assert (inputs[kind == 3] == tok[kind == 3]).all()
  rnd = inputs[kind == 2]
  assert rnd.min() >= NSPECIAL and rnd.max() < V     # random words are never specials
  assert len(np.unique(rnd)) == V - NSPECIAL         # and cover the whole word range


def test_masking_depends_on_the_key():
  tok = jnp.asarray(np.random.default_rng(1).integers(NSPECIAL, V, (8, 40)), jnp.int32)
  kw = dict(vocab_size=V, mask_id=MASK, special_ids=tuple(range(NSPECIAL)), random_low=NSPECIAL)
  m1, m2 = bert.mask_tokens(jax.random.PRNGKey(0), tok, **kw), bert.mask_tokens(jax.random.PRNGKey(0), tok, **kw)
  m3 = bert.mask_tokens(jax.random.PRNGKey(1), tok, **kw)
  np.testing.assert_array_equal(m1["inputs"], m2["inputs"])
  assert not np.array_equal(m1["weights"], m3["weights"])


def _small(**kw):
  return dict(vocab_size=V, d_model=16, num_heads=2, num_layers=1, d_ff=32, max_positions=32, dropout_rate=0.0,
              attention_dropout_rate=0.0, **kw)


def test_pretraining_model_and_task_metrics():
  info = {"vocab_size": V, "pad_id": PAD, "cls_id": CLS, "sep_id": SEP, "mask_id": MASK, "num_special": NSPECIAL,
          "vocab": None}
  task = MaskedLMTask(ConfigDict(), info)
  rng = np.random.default_rng(2)
  batch = {"tokens_a": jnp.asarray(_sentences(rng, 16, 6)), "tokens_b": jnp.asarray(_sentences(rng, 16, 6)),
           "mask": jnp.ones(16)}
  model = bert.BertForPretraining(**_small())
  variables = jax.jit(model.init)(jax.random.PRNGKey(0), *task.init_args(batch))
  out = jax.eval_shape(model.apply, variables, *task.init_args(batch))
  assert out["mlm_logits"].shape == (16, 15, V) and out["nsp_logits"].shape == (16, 2)
  step = jax.jit(lambda v, b, r: task.loss_and_metrics(model, v, b, train=True, rngs=r)[:2])
  loss, metrics = step(variables, batch, {"dropout": jax.random.PRNGKey(1), "noise": jax.random.PRNGKey(2)})
  m = {k: float(v[0] / v[1]) for k, v in metrics.items()}
  # loss = MLM + NSP, near log(V) + log(2) at initialization
  assert abs(float(loss) - (m["mlm_loss"] + m["nsp_loss"])) < 1e-4
  assert abs(m["mlm_loss"] - np.log(V)) < 0.5 and abs(m["nsp_loss"] - np.log(2)) < 0.3
  assert abs(m["mask_frac"] + m["random_frac"] + m["keep_frac"] - 1.0) < 1e-6


def test_mlm_head_at_selected_positions_equals_full_logits():
  """The task runs the MLM head only at the selected positions; loss, accuracy and count equal the full pass.
  select_rate=0.5 selects round(0.5 · n) ≤ 6 of a row's n ≤ 12 maskable tokens, close to the task's bound of
  ceil(0.5 · 15) + 1 = 9 gathered positions (at 0.15 the bound is far from binding)."""
  select_rate = 0.5
  info = {"vocab_size": V, "pad_id": PAD, "cls_id": CLS, "sep_id": SEP, "mask_id": MASK, "num_special": NSPECIAL,
          "vocab": None}
  task = MaskedLMTask(ConfigDict(dict(mlm=dict(select_rate=select_rate))), info)
  rng = np.random.default_rng(3)
  batch = {"tokens_a": jnp.asarray(_sentences(rng, 16, 6)), "tokens_b": jnp.asarray(_sentences(rng, 16, 6)),
           "mask": jnp.ones(16)}
  model = bert.BertForPretraining(**_small())
  variables = jax.jit(model.init)(jax.random.PRNGKey(0), *task.init_args(batch))
  noise = jax.random.PRNGKey(5)
  _, metrics, _ = task.loss_and_metrics(model, variables, batch, train=False, rngs={"noise": noise})
  p = task.prepare(batch, noise)
  logits = model.apply(variables, p["inputs"], p["segments"])["mlm_logits"]  # every position
  w = np.asarray(p["weights"])
  nll = -np.take_along_axis(np.asarray(jax.nn.log_softmax(logits)), np.asarray(p["targets"])[..., None], -1)[..., 0]
  assert float(metrics["mlm_loss"][1]) == w.sum() > 16  # every selected token is scored
  np.testing.assert_allclose(float(metrics["mlm_loss"][0]), (nll * w).sum(), rtol=1e-4)
  hits = (np.asarray(logits).argmax(-1) == np.asarray(p["targets"])) * w
  assert float(metrics["mlm_accuracy"][0]) == hits.sum()


@pytest.mark.parametrize("pooling", ["cls", "mean", "max"])
def test_classifier_pooling_ignores_padding(pooling):
  model = bert.BertClassifier(**_small(num_classes=3, pooling=pooling))
  tok = jnp.asarray([[CLS, 7, 8, 9, SEP, 11, SEP, PAD]], jnp.int32)
  seg = jnp.asarray([[0, 0, 0, 0, 0, 1, 1, 0]], jnp.int32)
  params = jax.jit(model.init)(jax.random.PRNGKey(0), tok, seg)["params"]
  assert set(params) == {"bert", "pooler", "classifier"}
  apply = jax.jit(lambda t, s: model.apply({"params": params}, t, s))
  logits = apply(tok, seg)
  longer = apply(jnp.pad(tok, ((0, 0), (0, 4))), jnp.pad(seg, ((0, 0), (0, 4))))
  assert logits.shape == (1, 3)
  np.testing.assert_allclose(logits, longer, atol=1e-5)
  other_seg = apply(tok, jnp.zeros_like(seg))
  assert not np.allclose(logits, other_seg)  # segment embeddings are used
