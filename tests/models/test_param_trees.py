"""Guard: the parameter tree (paths, shapes, dtypes) of every registered model, against a golden snapshot.

A checkpoint stores parameters by path, so any change to a model's tree makes old workdirs unreadable. Every
refactor must leave this test passing, or change the snapshot on purpose and say so (old workdirs must then be
converted or re-run). Shapes come from `jax.eval_shape(model.init, ...)`: no arithmetic, so the test is quick.

Regenerate after a deliberate change:  python tests/models/test_param_trees.py --update
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import pytest  # noqa: E402

from research import registry  # noqa: E402

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "param_trees.json")

B = 2


def _ints(*shape: int, high: int = 5) -> jax.ShapeDtypeStruct:
  del high
  return jax.ShapeDtypeStruct(shape, jnp.int32)


def _floats(*shape: int) -> jax.ShapeDtypeStruct:
  return jax.ShapeDtypeStruct(shape, jnp.float32)


SEQ = dict(src_vocab_size=11, tgt_vocab_size=13, embed_dim=6, hidden_dim=8, num_layers=2)
LM = dict(vocab_size=11, embed_dim=8, hidden_dim=8, num_layers=2)
BERT = dict(vocab_size=20, d_model=16, num_heads=2, num_layers=1, d_ff=32, max_positions=16)
CAPTION = dict(vocab_size=12, grid=2, features=(4, 8), embed_dim=6, hidden_dim=8, attention_dim=5)
T2I = dict(vocab_size=12, image_shape=(8, 8, 1), embed_dim=6, hidden_dim=8, channels=8, num_upsamples=2)

# name → (registered model, fields, positional init inputs). Several settings per model where a field changes
# which parameters exist.
CASES: dict[str, tuple[str, dict[str, Any], Callable[[], tuple]]] = {
    "mlp": ("mlp", dict(num_classes=3, hidden_sizes=(5, 4)), lambda: (_floats(B, 6),)),
    "mlp_batchnorm": ("mlp", dict(num_classes=3, hidden_sizes=(5,), norm="batch"), lambda: (_floats(B, 6),)),
    "cnn": ("cnn", dict(num_classes=3, features=(4, 8)), lambda: (_floats(B, 8, 8, 1),)),
    "lstm_seq2seq": ("lstm_seq2seq", SEQ, lambda: (_ints(B, 5), _ints(B, 4))),
    "lstm_seq2seq_bidirectional": ("lstm_seq2seq", {**SEQ, "bidirectional": True}, lambda: (_ints(B, 5), _ints(B, 4))),
    "luong_general": ("luong_seq2seq", SEQ, lambda: (_ints(B, 5), _ints(B, 4))),
    "luong_dot": ("luong_seq2seq", {**SEQ, "hidden_dim": 8, "score": "dot"}, lambda: (_ints(B, 5), _ints(B, 4))),
    "luong_concat_bidirectional": ("luong_seq2seq", {**SEQ, "score": "concat", "bidirectional": True,
                                                     "attention_dim": 7}, lambda: (_ints(B, 5), _ints(B, 4))),
    "luong_no_input_feeding": ("luong_seq2seq", {**SEQ, "num_layers": 1, "input_feeding": False},
                               lambda: (_ints(B, 5), _ints(B, 4))),
    "transformer": ("transformer", dict(src_vocab_size=11, tgt_vocab_size=13, d_model=16, num_heads=2,
                                        num_encoder_layers=1, num_decoder_layers=2, d_ff=32),
                    lambda: (_ints(B, 5), _ints(B, 4))),
    "transformer_shared_all": ("transformer", dict(src_vocab_size=13, tgt_vocab_size=13, d_model=16, num_heads=2,
                                                   num_encoder_layers=1, num_decoder_layers=1, d_ff=32,
                                                   share_embeddings="all", positions="learned", max_positions=8),
                               lambda: (_ints(B, 5), _ints(B, 4))),
    "lstm_classifier": ("lstm_classifier", dict(vocab_size=11, num_classes=2, embed_dim=6, hidden_dim=8, num_layers=2,
                                                head_hidden_dim=5), lambda: (_ints(B, 5),)),
    "lstm_lm": ("lstm_lm", LM, lambda: (_ints(B, 5),)),
    "lstm_lm_tied": ("lstm_lm", {**LM, "tie_embeddings": True}, lambda: (_ints(B, 5),)),
    "elmo_bilm": ("elmo_bilm", LM, lambda: (_ints(B, 5),)),
    "leaky_bilm": ("leaky_bilm", LM, lambda: (_ints(B, 5),)),
    "elmo_classifier": ("elmo_classifier", {**LM, "num_classes": 2, "head_hidden_dim": 5}, lambda: (_ints(B, 5),)),
    "elmo_classifier_leaky": ("elmo_classifier", {**LM, "num_classes": 2, "head_hidden_dim": 5, "leaky": True},
                              lambda: (_ints(B, 5),)),
    "bert_pretraining": ("bert_pretraining", BERT, lambda: (_ints(B, 6), _ints(B, 6), _ints(B, 2))),
    "bert_classifier": ("bert_classifier", {**BERT, "num_classes": 3}, lambda: (_ints(B, 6), _ints(B, 6))),
    "show_tell": ("show_tell", CAPTION, lambda: (_floats(B, 16, 16, 1), _ints(B, 5))),
    "show_attend_tell": ("show_attend_tell", CAPTION, lambda: (_floats(B, 16, 16, 1), _ints(B, 5))),
    "show_attend_tell_no_gate": ("show_attend_tell", {**CAPTION, "gate": False},
                                 lambda: (_floats(B, 16, 16, 1), _ints(B, 5))),
    "text_to_image": ("text_to_image", T2I, lambda: (_ints(B, 5), _floats(B, 5), _floats(B, 8, 8, 1))),
    "text_to_image_vae": ("text_to_image", {**T2I, "latent_dim": 3, "text_norm": True},
                          lambda: (_ints(B, 5), _floats(B, 5), _floats(B, 8, 8, 1))),
}


def param_tree(case: str) -> dict[str, str]:
  """{'collection/path/to/leaf': 'float32[4, 8]'} of the model's variables at init."""
  name, fields, inputs = CASES[case]
  model = registry.models.get(name)(**fields)
  rngs = {"params": jax.random.PRNGKey(0), "dropout": jax.random.PRNGKey(1), "noise": jax.random.PRNGKey(2)}
  variables = jax.eval_shape(lambda *a: model.init(rngs, *a, train=False), *inputs())
  variables = {k: v for k, v in variables.items() if k != "intermediates"}
  out = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(variables)[0]:
    key = "/".join(str(getattr(p, "key", p)) for p in path)
    out[key] = f"{leaf.dtype}[{', '.join(map(str, leaf.shape))}]"
  return out


def _golden() -> dict[str, dict[str, str]]:
  with open(GOLDEN) as f:
    return json.load(f)


def test_every_registered_model_has_a_case():
  covered = {name for name, _, _ in CASES.values()}
  assert set(registry.models.names()) == covered, "add a CASES entry for each new model (and --update)"


@pytest.mark.parametrize("case", sorted(CASES))
def test_param_tree_matches_snapshot(case):
  golden = _golden()
  assert case in golden, f"no snapshot for {case}; run python tests/models/test_param_trees.py --update"
  got, want = param_tree(case), golden[case]
  missing = sorted(set(want) - set(got))
  extra = sorted(set(got) - set(want))
  changed = sorted(k for k in set(got) & set(want) if got[k] != want[k])
  assert not (missing or extra or changed), (
      f"{case}: parameter tree changed (old checkpoints no longer load): missing {missing[:6]}, new {extra[:6]}, "
      f"changed {[(k, want[k], got[k]) for k in changed[:6]]}")


if __name__ == "__main__":
  if sys.argv[1:] != ["--update"]:
    sys.exit("usage: python tests/models/test_param_trees.py --update  (rewrites the snapshot)")
  os.makedirs(os.path.dirname(GOLDEN), exist_ok=True)
  with open(GOLDEN, "w") as f:
    json.dump({case: param_tree(case) for case in sorted(CASES)}, f, indent=1, sort_keys=True)
    f.write("\n")
  print(f"wrote {GOLDEN} ({len(CASES)} models)")
