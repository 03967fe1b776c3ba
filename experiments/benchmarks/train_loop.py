"""Input pipeline + logging overhead of the training loop.

  python -m experiments.benchmarks.train_loop [--quick]

Measures, in one process and on the same compiled step:
  loop_steps_per_s: the full `Trainer` loop — grain batches, host→device transfer, the jitted step,
                    on-device metric accumulation, metric fetches and metrics.jsonl/TensorBoard/console
                    writes every `log_every_steps`, the final checkpoint;
  bare_steps_per_s: the same jitted `train_step` called back to back on batches already on device.
ratio = loop / bare (goal ≥ 0.9: the pipeline and logging cost ≤ 10%). Three settings: the quickstart
(a tiny step, where per-step Python overhead shows most), the same with config.steps_per_call = 10 (ten
steps per jitted call; bare stays one step per call), and a Fashion-MNIST-sized MLP.
The last stdout line is one JSON object.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
import time

import jax
import numpy as np
from absl import app, flags, logging

from research.train import sharding
from research.train.checkpoint import Checkpointer
from research.train.loop import Trainer
from research.train.metric_writers import MetricWriter

flags.DEFINE_bool("quick", False, "fewer steps (a smoke run, noisier numbers)")
FLAGS = flags.FLAGS


def _config(setting: str, steps: int):
  from configs import quickstart
  c = quickstart.get_config()
  c.num_train_steps = steps
  c.log_every_steps = 100
  c.eval_every_steps = -1
  c.checkpoint_every_steps = 10**9  # only the final checkpoint, as in a real run's tail
  if setting == "quickstart_steps_per_call_10":
    c.steps_per_call = 10  # ten steps per jitted call (a lax.scan): the per-call host work is paid once per ten
  if setting == "mlp_784x512x512":
    # A Fashion-MNIST-shaped problem built from a synthetic in-memory source (no data install needed).
    c.model.hidden_sizes = (512, 512)
    c.batch_size = 256
  return c


def _synthetic_fashion(trainer: Trainer) -> None:
  from research.data.base import ArraySource
  from research.data.pipeline import BatchStream
  rng = np.random.default_rng(0)
  src = ArraySource({"image": rng.integers(0, 256, (60000, 28, 28, 1), dtype=np.uint8),
                     "label": rng.integers(0, 10, 60000)})
  trainer.train_source = src
  trainer.train_stream = BatchStream(src, trainer.config.batch_size, seed=0)
  trainer.task.scale = 1 / 255.0
  trainer.initial_state = trainer.init_state()


def measure(setting: str, steps: int, repeats: int) -> dict:
  config = _config(setting, steps)
  with tempfile.TemporaryDirectory() as tmp:
    trainer = Trainer(config, os.path.join(tmp, "wd"))
    if setting == "mlp_784x512x512":
      _synthetic_fashion(trainer)
    trainer.compile(trainer.initial_state)
    mesh = trainer.mesh
    device_batches = [jax.device_put(trainer.train_stream[i], sharding.data_sharded(mesh)) for i in range(8)]

    def fresh_state():
      return jax.tree.map(lambda x: x.copy(), trainer.initial_state)

    # Warm up (compile) both paths once.
    state, acc = trainer.train_step(fresh_state(), device_batches[0], trainer._zeros())
    jax.block_until_ready(state)

    bare, loop = [], []
    for r in range(repeats):
      state, acc = fresh_state(), trainer._zeros()
      jax.block_until_ready(state)
      t = time.perf_counter()
      for i in range(steps):
        state, acc = trainer.train_step(state, device_batches[i % len(device_batches)], acc)
      jax.block_until_ready((state, acc))
      bare.append(steps / (time.perf_counter() - t))

      workdir = os.path.join(tmp, f"loop{r}")
      os.makedirs(workdir)
      ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), every_steps=10**9)
      writer = MetricWriter(workdir, steps)
      state = fresh_state()
      jax.block_until_ready(state)
      with contextlib.redirect_stdout(io.StringIO()):  # console lines are written, just not shown
        t = time.perf_counter()
        state = trainer._train_loop(state, 0, ckpt, writer)
        jax.block_until_ready(state)
        loop.append(steps / (time.perf_counter() - t))
      writer.close()
      ckpt.close()
  b, lo = float(np.median(bare)), float(np.median(loop))
  return {"bare_steps_per_s": round(b, 1), "loop_steps_per_s": round(lo, 1), "ratio": round(lo / b, 3),
          "steps": steps, "repeats": repeats, "batch_size": config.batch_size}


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  steps, repeats = (300, 2) if FLAGS.quick else (2000, 3)
  result = {"benchmark": "train_loop", "device": jax.devices()[0].device_kind,
            "num_devices": jax.device_count(), "quick": FLAGS.quick}
  for setting in ("quickstart", "quickstart_steps_per_call_10", "mlp_784x512x512"):
    result[setting] = measure(setting, steps, repeats)
    print(f"{setting}: {result[setting]}", file=sys.stderr, flush=True)
  result["goal"] = "ratio >= 0.9"
  print(json.dumps(result))


if __name__ == "__main__":
  app.run(main)
