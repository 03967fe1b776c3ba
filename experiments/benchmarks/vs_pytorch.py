"""Training-step speed against PyTorch on the same CPU: the LSTM encoder–decoder and the Transformer.

  pip install -e .[bench]                              # torch==2.13.0, the CPU wheel
  python -m experiments.benchmarks.vs_pytorch          # B64 T32 V8000; 5 interleaved rounds
  python -m experiments.benchmarks.vs_pytorch --quick  # tiny shapes, 2 rounds: a pipeline check

Both sides run one training step — forward, teacher-forced cross-entropy over all B·T target tokens, backward,
Adam update — in float32 on the same batch shapes:
  * JAX: the framework's registered models ('lstm_seq2seq', 'transformer'; research/models/) and
    research/losses.cross_entropy, with optax.adam in one `jax.jit` step whose state buffers are donated. (Not the
    Trainer's step, which adds metrics, EMA and sharding bookkeeping: this measures the model's own cost.)
  * PyTorch 2.13 (CPU, `torch.set_num_threads(2)`): nn.Embedding + nn.LSTM(num_layers=2) encoder whose final
    (h, c) start an nn.LSTM decoder, nn.Linear to the vocabulary; nn.Transformer(norm_first=True, batch_first=True)
    with sinusoidal positions, embeddings scaled by √d, the output layer tied to the target embedding as the
    framework's `share_embeddings='target'`; F.cross_entropy; torch.optim.Adam.
Shapes: LSTM embed 256, hidden 512, 2 + 2 layers; Transformer d_model 256, 4 heads, 3 + 3 layers, d_ff 1024; B 64,
source and target length 32, vocabulary 8000 on both sides; dropout 0 on both sides.

Protocol: each side compiles / warms up, then R rounds alternate N steps of JAX and N steps of PyTorch (JAX blocks on
the new state, PyTorch reads loss.item()). Per round: tokens/s of each side (B·T target tokens per step) and their
ratio; reported: per-side medians, the median of the per-round ratios, and the parameter counts of both sides.

Last stdout line: one JSON object with, per model ('lstm_seq2seq', 'transformer'): jax_tokens_per_s,
torch_tokens_per_s (medians), jax_over_torch (median of round ratios), round_ratios, jax_params, torch_params;
and goal '>= 1.2'.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from research import registry
from research.models import seq2seq, transformer  # noqa: F401  (registers the models)
from research.tasks import losses

try:
  import torch
  import torch.nn.functional as F
  from torch import nn as tnn
except ImportError:  # pragma: no cover - the bench extra is optional
  torch = None


# ----------------------------------------------------------------------------------------------------
# JAX side.


def jax_step_fn(model, learning_rate: float = 1e-3):
  """(init(key, src, tgt_in) -> state, step(state, batch) -> (state, loss)) for a framework model."""
  tx = optax.adam(learning_rate)

  def init(key, src, tgt_in):
    params = model.init(key, src, tgt_in)["params"]
    return {"params": params, "opt": tx.init(params)}

  def loss_fn(params, batch):
    logits = model.apply({"params": params}, batch["src"], batch["tgt_in"], train=True)
    total, count = losses.cross_entropy(logits, batch["tgt_out"], jnp.ones(batch["tgt_out"].shape, jnp.float32))
    return total / count

  @functools.partial(jax.jit, donate_argnums=0)
  def step(state, batch):
    loss, grads = jax.value_and_grad(loss_fn)(state["params"], batch)
    updates, opt = tx.update(grads, state["opt"], state["params"])
    return {"params": optax.apply_updates(state["params"], updates), "opt": opt}, loss

  return init, step


def jax_model(name: str, s: dict):
  if name == "lstm_seq2seq":
    return registry.models.get("lstm_seq2seq")(src_vocab_size=s["vocab"], tgt_vocab_size=s["vocab"],
                                               embed_dim=s["embed"], hidden_dim=s["hidden"], num_layers=s["layers"])
  return registry.models.get("transformer")(src_vocab_size=s["vocab"], tgt_vocab_size=s["vocab"], d_model=s["d_model"],
                                            num_heads=s["heads"], num_encoder_layers=s["layers"],
                                            num_decoder_layers=s["layers"], d_ff=s["d_ff"], dropout_rate=0.0,
                                            max_positions=max(64, s["length"]))


# ----------------------------------------------------------------------------------------------------
# PyTorch side.


def torch_model(name: str, s: dict):
  """The PyTorch counterpart of `jax_model(name, s)`: module(src, tgt_in) -> logits [B, T, V]."""
  if name == "lstm_seq2seq":
    class LSTMSeq2Seq(tnn.Module):
      def __init__(self):
        super().__init__()
        self.src_embed = tnn.Embedding(s["vocab"], s["embed"])
        self.tgt_embed = tnn.Embedding(s["vocab"], s["embed"])
        self.encoder = tnn.LSTM(s["embed"], s["hidden"], s["layers"], batch_first=True)
        self.decoder = tnn.LSTM(s["embed"], s["hidden"], s["layers"], batch_first=True)
        self.out = tnn.Linear(s["hidden"], s["vocab"])

      def forward(self, src, tgt_in):
        _, state = self.encoder(self.src_embed(src))
        h, _ = self.decoder(self.tgt_embed(tgt_in), state)
        return self.out(h)
    return LSTMSeq2Seq()

  class Transformer(tnn.Module):
    def __init__(self):
      super().__init__()
      d = s["d_model"]
      self.src_embed = tnn.Embedding(s["vocab"], d)
      self.tgt_embed = tnn.Embedding(s["vocab"], d)
      for table in (self.src_embed, self.tgt_embed):  # std d^-1/2, as the framework's (√d-scaled, tied) tables
        tnn.init.normal_(table.weight, std=d ** -0.5)
      self.core = tnn.Transformer(d, s["heads"], s["layers"], s["layers"], s["d_ff"], dropout=0.0,
                                  batch_first=True, norm_first=True)
      position = torch.arange(512)[:, None]
      freq = torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))
      table = torch.zeros(512, d)
      table[:, 0::2], table[:, 1::2] = torch.sin(position * freq), torch.cos(position * freq)
      self.register_buffer("positions", table)
      self.scale = math.sqrt(d)

    def forward(self, src, tgt_in):
      x = self.src_embed(src) * self.scale + self.positions[:src.shape[1]]
      y = self.tgt_embed(tgt_in) * self.scale + self.positions[:tgt_in.shape[1]]
      mask = tnn.Transformer.generate_square_subsequent_mask(tgt_in.shape[1])
      h = self.core(x, y, tgt_mask=mask, tgt_is_causal=True)
      return h @ self.tgt_embed.weight.T  # tied output layer
  return Transformer()


def torch_step_fn(module, learning_rate: float = 1e-3):
  opt = torch.optim.Adam(module.parameters(), lr=learning_rate)

  def step(batch):
    opt.zero_grad(set_to_none=True)
    logits = module(batch["src"], batch["tgt_in"])
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch["tgt_out"].reshape(-1))
    loss.backward()
    opt.step()
    return loss
  return step


# ----------------------------------------------------------------------------------------------------
# The comparison.


def measure(name: str, s: dict, rounds: int, steps: int) -> dict:
  rng = np.random.default_rng(0)
  shape = (s["batch"], s["length"])
  batch = {k: rng.integers(1, s["vocab"], shape).astype(np.int32) for k in ("src", "tgt_in", "tgt_out")}

  model = jax_model(name, s)
  init, jstep = jax_step_fn(model)
  jbatch = {k: jnp.asarray(v) for k, v in batch.items()}
  state = init(jax.random.key(0), jbatch["src"], jbatch["tgt_in"])
  jax_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(state["params"]))
  state, loss = jstep(state, jbatch)  # compile
  jax.block_until_ready(loss)

  module = torch_model(name, s)
  tstep = torch_step_fn(module)
  tbatch = {k: torch.as_tensor(v.astype(np.int64)) for k, v in batch.items()}
  torch_params = sum(p.numel() for p in module.parameters())
  tstep(tbatch).item()  # warm-up

  tokens = s["batch"] * s["length"] * steps
  jax_rates, torch_rates = [], []
  for _ in range(rounds):
    start = time.perf_counter()
    for _ in range(steps):
      state, loss = jstep(state, jbatch)
    jax.block_until_ready(state)
    jax_rates.append(tokens / (time.perf_counter() - start))
    start = time.perf_counter()
    for _ in range(steps):
      tloss = tstep(tbatch)
    tloss.item()
    torch_rates.append(tokens / (time.perf_counter() - start))
  ratios = [j / t for j, t in zip(jax_rates, torch_rates, strict=True)]
  return {"jax_tokens_per_s": round(statistics.median(jax_rates), 1),
          "torch_tokens_per_s": round(statistics.median(torch_rates), 1),
          "jax_over_torch": round(statistics.median(ratios), 3), "round_ratios": [round(r, 3) for r in ratios],
          "jax_params": jax_params, "torch_params": int(torch_params),
          "final_loss_jax": round(float(loss), 4), "final_loss_torch": round(float(tloss.item()), 4)}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true", help="tiny shapes, 2 rounds (a pipeline check)")
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--steps", type=int, default=5, help="steps per side per round")
  args = parser.parse_args()
  if torch is None:
    raise SystemExit("error: PyTorch is not installed; `pip install -e .[bench]` (torch==2.13.0, CPU)")
  torch.set_num_threads(2)
  base = dict(batch=64, length=32, vocab=8000)
  sizes = {"lstm_seq2seq": dict(base, embed=256, hidden=512, layers=2),
           "transformer": dict(base, d_model=256, heads=4, layers=3, d_ff=1024)}
  rounds, steps = args.rounds, args.steps
  if args.quick:
    base = dict(batch=4, length=8, vocab=64)
    sizes = {"lstm_seq2seq": dict(base, embed=16, hidden=16, layers=2),
             "transformer": dict(base, d_model=16, heads=2, layers=1, d_ff=32)}
    rounds, steps = 2, 2
  result = {"device": jax.devices()[0].device_kind, "jax": jax.__version__, "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
            "load_average_1min_before": round(os.getloadavg()[0], 2), "rounds": rounds, "steps_per_round": steps}
  for name, s in sizes.items():
    result[name] = {"config": s, **measure(name, s, rounds, steps)}
    print(json.dumps({name: result[name]}), flush=True)
  result["goal"] = "jax_over_torch >= 1.2 for both models"
  result["load_average_1min_after"] = round(os.getloadavg()[0], 2)
  print(json.dumps(result))


if __name__ == "__main__":
  main()
