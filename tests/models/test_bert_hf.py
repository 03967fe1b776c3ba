"""Hugging Face interop: a random transformers BertForPreTraining gives the same MLM and NSP logits through
`research.models.bert.from_pretrained`, and `save_pretrained` writes a folder transformers loads back.

Needs the `hf` test extra (torch CPU + transformers); skipped without it.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import jax.numpy as jnp  # noqa: E402

from research.errors import UserError  # noqa: E402
from research.models import bert  # noqa: E402


@pytest.fixture(scope="module")
def hf_model(tmp_path_factory):
  cfg = transformers.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                intermediate_size=37, max_position_embeddings=64, type_vocab_size=2)
  torch.manual_seed(0)
  model = transformers.BertForPreTraining(cfg).eval()
  folder = str(tmp_path_factory.mktemp("hf_bert"))
  model.save_pretrained(folder)
  return model, folder


def _inputs():
  rng = np.random.default_rng(0)
  tok = rng.integers(1, 99, (3, 12))
  tok[1, 8:] = 0
  tok[2, 5:] = 0
  seg = np.zeros_like(tok)
  seg[:, 4:] = 1
  seg[tok == 0] = 0
  return tok, seg


def _hf_logits(model, tok, seg):
  with torch.no_grad():
    out = model(input_ids=torch.tensor(tok), token_type_ids=torch.tensor(seg),
                attention_mask=torch.tensor((tok != 0).astype(np.int64)))
  return out.prediction_logits.numpy(), out.seq_relationship_logits.numpy()


def test_from_pretrained_matches_transformers(hf_model):
  model, folder = hf_model
  tok, seg = _inputs()
  ours, params = bert.from_pretrained(folder)
  out = ours.apply({"params": params}, jnp.asarray(tok), jnp.asarray(seg))
  mlm, nsp = _hf_logits(model, tok, seg)
  np.testing.assert_allclose(np.asarray(out["mlm_logits"]), mlm, atol=1e-4)
  np.testing.assert_allclose(np.asarray(out["nsp_logits"]), nsp, atol=1e-4)


def test_save_pretrained_round_trip(hf_model, tmp_path):
  model, folder = hf_model
  tok, seg = _inputs()
  ours, params = bert.from_pretrained(folder)
  bert.save_pretrained(ours, params, str(tmp_path))
  again = transformers.BertForPreTraining.from_pretrained(str(tmp_path)).eval()
  for a, b in zip(_hf_logits(again, tok, seg), _hf_logits(model, tok, seg), strict=True):
    np.testing.assert_allclose(a, b, atol=1e-5)
  torch.save(model.state_dict(), str(tmp_path / "pytorch_model.bin"))
  (tmp_path / "model.safetensors").unlink()
  ours2, params2 = bert.from_pretrained(str(tmp_path))  # the .bin path
  out = ours2.apply({"params": params2}, jnp.asarray(tok), jnp.asarray(seg))
  np.testing.assert_allclose(np.asarray(out["nsp_logits"]), _hf_logits(model, tok, seg)[1], atol=1e-4)


def test_not_a_bert_folder_is_a_user_error(tmp_path):
  with pytest.raises(UserError, match="config.json"):
    bert.from_pretrained(str(tmp_path))
