"""experiments/benchmarks/decoding_kernels.py: the HLO kernel count, and its one-line error without the plugin."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import subprocess
import sys

import jax
import pytest

from experiments.benchmarks import decoding_kernels as dk
from research.decoding import search as decoding
from tests.decoding.test_decoding import markov_cache, markov_step

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_while_loop_kernels_counts_body_and_condition():
  """On this machine's own (CPU) compile: the loop is found, both parts launch something, and a body running two
  steps per iteration launches more than a body running one."""
  cache = markov_cache(0, 4, 6)
  counts = []
  for unroll in (1, 2):
    fn = jax.jit(functools.partial(decoding.greedy_search, markov_step, batch_size=4, max_len=5, bos_id=6, eos_id=0,
                                   unroll=unroll))
    kernels = dk.while_loop_kernels(fn.lower(cache).compile().as_text())
    assert sum(kernels["condition"].values()) > 0
    counts.append(sum(kernels["body"].values()))
  assert 0 < counts[0] < counts[1]
  assert not dk.while_loop_kernels("HloModule m\nENTRY %main () -> f32[] {\n  ROOT %c = f32[] constant(0)\n}\n")[
      "body"]


@pytest.mark.parametrize("model", ["lstm", "transformer", "luong"])
def test_count_builds_every_model(model):
  """`count` on this machine's CPU (the H100 needs the plugin): each model's beam and greedy programs compile, and
  beam search's loop does more per step than greedy search's."""
  if model == "lstm":
    program = dk.lstm_decoder(50, 16, 2)
  else:
    program = dk.seq2seq_decoder(model, 50, 6, sizes="quick")
  result = dk.count(program, batch=2, beam=3, max_len=6, unroll=2, device=jax.devices("cpu")[0])
  assert result["beam"]["kernels_per_step"] > result["greedy"]["kernels_per_step"] > 0, result


def test_a_fusion_ending_in_a_sort_is_a_sort():
  hlo = """HloModule m

%fused_sort (p: f32[4,8]) -> (f32[4,8], s32[4,8]) {
  %p = f32[4,8]{1,0} parameter(0)
  %iota = s32[4,8]{1,0} iota(), iota_dimension=1
  ROOT %sort = (f32[4,8]{1,0}, s32[4,8]{1,0}) sort(%p, %iota), dimensions={1}, to_apply=%cmp
}

%body (s: (f32[4,8])) -> (f32[4,8]) {
  %s = (f32[4,8]{1,0}) parameter(0)
  %x = f32[4,8]{1,0} get-tuple-element(%s), index=0
  %f = (f32[4,8]{1,0}, s32[4,8]{1,0}) fusion(%x), kind=kCustom, calls=%fused_sort
  %y = f32[4,8]{1,0} get-tuple-element(%f), index=0
  %c = f32[4,8]{1,0} copy(%y)
  ROOT %t = (f32[4,8]{1,0}) tuple(%c)
}

%cond (s: (f32[4,8])) -> pred[] {
  %s = (f32[4,8]{1,0}) parameter(0)
  ROOT %k = pred[] constant(false)
}

ENTRY %main (a: f32[4,8]) -> (f32[4,8]) {
  %a = f32[4,8]{1,0} parameter(0)
  %t = (f32[4,8]{1,0}) tuple(%a)
  ROOT %w = (f32[4,8]{1,0}) while(%t), condition=%cond, body=%body
}
"""
  kernels = dk.while_loop_kernels(hlo)
  assert kernels["body"] == {"fusion:sort": 1, "copy": 1}
  assert not kernels["condition"]


def test_text_proto():
  text = dk.text_proto({"a": {"b": 1, "c": {"d": 2.5}}, "e": "x"})
  assert text == 'a {\n  b: 1\n  c {\n    d: 2.5\n  }\n}\ne: "x"'


def _has_cuda_plugin() -> bool:
  try:
    return importlib.util.find_spec("jax_plugins.xla_cuda12") is not None
  except ModuleNotFoundError:  # no jax_plugins package at all
    return False


def test_main_counts_or_says_how_to_get_the_plugin():
  """With the CUDA plugin importable (a GPU machine, or `make gpu-aot`): a JSON summary; without: one error line."""
  proc = subprocess.run([sys.executable, "-m", "experiments.benchmarks.decoding_kernels", "--quick", "--unroll", "1"],
                        cwd=REPO, capture_output=True, text=True, timeout=600)
  if not _has_cuda_plugin():
    assert proc.returncode != 0
    assert "error: no CUDA compiler plugin" in proc.stderr and "make gpu-aot" in proc.stderr
    assert "Traceback" not in proc.stderr
  else:
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["unroll_1"]["beam_kernels_per_step"] > summary["unroll_1"]["greedy_kernels_per_step"] > 0


def test_cpu_beam_search_keeps_the_top_k_kernel():
  """XLA's CPU compiler turns top_k into its TopK kernel only for a plain top_k; slicing its output (an earlier
  version of the finished-set update did) leaves a full sort of all K·V candidates in every step, 16x slower."""
  if jax.default_backend() != "cpu":
    return  # the GPU compiler makes its own choices; experiments/benchmarks/decoding_kernels.py counts those
  from experiments.benchmarks.decoding import LSTMDecoderStep
  model = LSTMDecoderStep(50, 8)
  carry = (jax.numpy.zeros((2, 8)), jax.numpy.zeros((2, 8)))
  params = model.init(jax.random.PRNGKey(0), jax.numpy.zeros((2,), jax.numpy.int32), carry)
  fn = jax.jit(lambda c: decoding.beam_search(lambda t, s: model.apply(params, t, s), c, batch_size=2, beam_size=3,
                                              max_len=4, bos_id=1, eos_id=2))
  kinds = dk.while_loop_kernels(fn.lower(carry).compile().as_text())["body"]
  assert kinds["custom-call:TopK"] >= 1 and kinds["sort"] == 0, kinds
