"""Kernels per decoding step in the GPU programs of beam and greedy search, counted on a machine without a GPU.

    make gpu-aot    # once: the CUDA compiler plugin matching the installed jaxlib, into .gpu-aot/ (~180 MB)
    PYTHONPATH=.gpu-aot python -m experiments.benchmarks.decoding_kernels           # the decoding benchmark's size
    PYTHONPATH=.gpu-aot python -m experiments.benchmarks.decoding_kernels --quick   # V=200, hidden 64, B=8
    PYTHONPATH=.gpu-aot python -m experiments.benchmarks.decoding_kernels --model transformer   # or luong: the
        # 'small' models of experiments/benchmarks/transformer.py (V=8000, B=64, max_len 32)
    PYTHONPATH=.gpu-aot python -m experiments.benchmarks.decoding_kernels --alternatives   # greedy by argmax, the
        # beam's first stage padded to 1024 entries: no sorts

On a GPU, small decoding steps are bound by kernel launches, not arithmetic: `python -m
experiments.benchmarks.decoding` on an H100 measured beam search (B=32, K=4) at 2.01 ms against 1.54 ms for
greedy search on the same B·K rows, ~63 vs ~48 µs per step, and the beam's extra 15 µs per step is its
bookkeeping kernels. This benchmark compiles the same two programs for an H100 ahead of time (XLA's deviceless
compile, with the device facts in H100 below) and counts, in the optimised HLO, the instructions of the
`while` loop's body and condition that launch a kernel (fusions, custom calls, copies, ...; not parameters,
tuples, bitcasts or constants). Per step = (body + condition) / steps per iteration (`unroll`).

With jaxlib 0.10.2 the deviceless compile of the Luong model fails inside XLA's Triton GEMM emitter ('scf.if'
... successor operand type); `XLA_FLAGS=--xla_gpu_enable_triton_gemm=false` compiles it with cuBLAS GEMMs instead.
A model that fails to compile is reported as such in the JSON.

What it cannot tell: time. Kernels differ in cost (the step's matrix products and the vocabulary top_k
dominate), and XLA skips autotuning without a device, so GEMM choices may differ from a real GPU's. Time the
programs with `python -m experiments.benchmarks.decoding` on a GPU (experiments/benchmarks/gpu_check.sh).

Last stdout line: one JSON object; per unroll the kernels per step of beam and greedy, their ratio, the buffer
copies per step in beam search (loop-carried arrays its gathers cannot write in place) and each decoder's
sorts per step (a top_k over rows shorter than 1024 entries: XLA's GPU top-k kernel needs n >= 1024, so at the
benchmark's V=1000 both decoders' vocabulary top_k are full sorts).
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import re
import sys
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from experiments.benchmarks.decoding import LSTMDecoderStep
from research.decoding import search as decoding

# An H100 SXM (80 GB) as XLA's GPU compiler sees it: stream_executor.GpuTargetConfigProto, from NVIDIA's published
# figures (132 SMs, 228 KiB shared memory per SM of which 227 KiB per block opt-in, 50 MiB L2, 3.35 TB/s,
# 1.98 GHz boost), with a CUDA 12.8 / cuDNN 9.7 runtime assumed (the lent machines' runtime versions were not
# recorded; their driver was 580.159.04, experiments/benchmarks/results/h100_2026-11-26b/env.txt).
H100 = {
    "gpu_device_info": {
        "threads_per_block_limit": 1024, "threads_per_warp": 32, "shared_memory_per_block": 49152,
        "shared_memory_per_core": 233472, "threads_per_core_limit": 2048, "core_count": 132,
        "fpus_per_core": 128, "block_dim_limit_x": 2147483647, "block_dim_limit_y": 65535,
        "block_dim_limit_z": 65535, "memory_bandwidth": 3352320000000, "l2_cache_size": 52428800,
        "clock_rate_ghz": 1.98, "device_memory_size": 84929347584, "shared_memory_per_block_optin": 232448,
        "cuda_compute_capability": {"major": 9, "minor": 0}, "registers_per_core_limit": 65536,
        "registers_per_block_limit": 65536,
    },
    "runtime_version": {"major": 12, "minor": 8, "patch": 0},
    "platform_name": "CUDA",
    "dnn_version_info": {"major": 9, "minor": 7},
    "device_description_str": "NVIDIA H100 80GB HBM3",
}

# HLO instructions that launch nothing: they name, bundle or reinterpret buffers.
NO_KERNEL = frozenset({"parameter", "get-tuple-element", "tuple", "bitcast", "constant"})


def text_proto(message: dict, indent: str = "") -> str:
  """A nested dict as protobuf text format (the form XLA reads a target config in)."""
  lines = []
  for key, value in message.items():
    if isinstance(value, dict):
      lines += [f"{indent}{key} {{", text_proto(value, indent + "  "), f"{indent}}}"]
    else:
      lines.append(f"{indent}{key}: {json.dumps(value)}")
  return "\n".join(lines)


def h100_device() -> jax.Device:
  """A compile-only H100 (no GPU needed, but the CUDA PJRT plugin must be importable). Exits with one line if not."""
  from jax.experimental import topologies
  try:
    topology = topologies.get_topology_desc("h100", "cuda", target_config=text_proto(H100), topology="1x1x1")
  except Exception as e:  # the plugin is missing or does not match jaxlib: say how to get it
    sys.exit(f"error: no CUDA compiler plugin for jaxlib {jax.__version__} ({type(e).__name__}: "
             f"{str(e).splitlines()[0][:160]}); run `make gpu-aot` and put .gpu-aot on PYTHONPATH")
  return topology.devices[0]


def _computations(hlo: str) -> dict[str, list[str]]:
  """Computation name -> its instruction lines, from an HLO module's text."""
  comps: dict[str, list[str]] = {}
  current = None
  for line in hlo.splitlines():
    header = re.match(r"^(?:ENTRY )?%?([\w.\-]+) \(.*\{\s*$", line)
    if header:
      current = comps.setdefault(header.group(1), [])
    elif line.startswith("}"):
      current = None
    elif current is not None and " = " in line:
      current.append(line.strip())
  return comps


def _opcode(instruction: str) -> str | None:
  """The opcode of one HLO instruction line ('fusion', 'copy', 'sort', ...), or None if it is not one."""
  m = re.match(r"(?:ROOT )?%?[\w.\-]+ = .+? ([\w\-]+)\(", instruction)
  return m.group(1) if m else None


def _root_op(lines: list[str]) -> str | None:
  """The opcode of a computation's ROOT instruction."""
  return next((_opcode(line) for line in lines if line.startswith("ROOT ")), None)


def _kind(instruction: str, comps: dict[str, list[str]]) -> str | None:
  """What kernel an HLO instruction launches ('fusion:kLoop', 'copy', 'custom-call:...'), or None.

  A fusion whose computation ends in a sort is 'fusion:sort': how XLA's GPU compiler lowers a top_k it has no
  kernel for (its top-k kernel needs rows of at least 1024 entries), one or more sorting passes over the rows.
  """
  op = _opcode(instruction)
  if op is None or op in NO_KERNEL:
    return None
  if op == "fusion":
    called = re.search(r"calls=%?([\w.\-]+)", instruction)
    if called and _root_op(comps.get(called.group(1), [])) == "sort":
      return "fusion:sort"
    kind = re.search(r"kind=(\w+)", instruction)
    return f"fusion:{kind.group(1) if kind else '?'}"
  if op == "custom-call":
    target = re.search(r'custom_call_target="([^"]+)"', instruction)
    return f"custom-call:{target.group(1) if target else '?'}"
  return op


def while_loop_kernels(hlo: str) -> dict[str, collections.Counter]:
  """Kernels in the body and in the condition of every while loop of a compiled HLO module, by kind.

  Returns {'body': Counter, 'condition': Counter} summed over the module's while loops (the decoders have one).
  """
  comps = _computations(hlo)
  out = {"body": collections.Counter(), "condition": collections.Counter()}
  for part in ("body", "condition"):
    for name in set(re.findall(rf"\b{part}=%?([\w.\-]+)", hlo)):
      out[part].update(k for k in (_kind(line, comps) for line in comps.get(name, [])) if k is not None)
  return out


def lstm_decoder(vocab: int, hidden: int, rows: int) -> Callable[..., Any]:
  """The decoding benchmark's LSTM step (the cache stands in for an encoder's state), as a `count` program."""
  model = LSTMDecoderStep(vocab, hidden)
  carry = (jnp.zeros((rows, hidden)), jnp.zeros((rows, hidden)))
  params = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((rows,), jnp.int32), carry))

  def program(search: Callable[..., Any], n: int) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    def run(p, cache):
      return search(lambda tokens, c: model.apply(p, tokens, c), cache)
    return run, (params, (jax.ShapeDtypeStruct((n, hidden), jnp.float32),) * 2)
  return program


def seq2seq_decoder(name: str, vocab: int, length: int, sizes: str = "full") -> Callable[..., Any]:
  """experiments/benchmarks/transformer.py's 'small' Transformer or Luong model (of its `sizes` set: full | quick)
  as a `count` program: the encoder runs once on the source, then the search."""
  from experiments.benchmarks.transformer import SIZES, build
  from research.decoding.decoder import method_step_fns
  model = build(name, SIZES[sizes][name]["small"], vocab, "float32", "reference")
  src = jnp.zeros((1, length), jnp.int32)
  params = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), src, src))["params"]

  def program(search: Callable[..., Any], n: int) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    def run(p, source):
      variables = {"params": p}
      return search(*method_step_fns(model, variables, source, length))
    return run, (params, jax.ShapeDtypeStruct((n, length), jnp.int32))
  return program


def count(program: Callable[..., Any], batch: int, beam: int, max_len: int, unroll: int, device: jax.Device) -> dict:
  """Kernels per step of beam search (B=batch, K=beam) and greedy search (B·K rows) compiled for `device`.

  program(search, rows) -> (fn(params, inputs), (param shapes, input shapes for `rows` sentences)).
  """
  sharding = jax.sharding.SingleDeviceSharding(device)
  kw = dict(max_len=max_len, bos_id=1, eos_id=2, unroll=unroll)
  searches = {
      "beam": (functools.partial(decoding.beam_search, batch_size=batch, beam_size=beam, **kw), batch),
      "greedy": (functools.partial(decoding.greedy_search, batch_size=batch * beam, **kw), batch * beam),
  }
  result = {}
  with decoding.tuned_for("gpu"):  # the variants research.decoding picks on a GPU
    for name, (search, rows) in searches.items():
      fn, shapes = program(search, rows)
      args = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), shapes)
      try:
        hlo = jax.jit(fn).lower(*args).compile().as_text()
      except Exception as e:  # an XLA compiler failure: report it, count the rest
        result[name] = {"compile_error": str(e).splitlines()[0][:300]}
        continue
      kernels = while_loop_kernels(hlo)
      total = kernels["body"] + kernels["condition"]
      result[name] = {"kernels_per_step": round(sum(total.values()) / unroll, 2),
                      "copies_per_step": round(total["copy"] / unroll, 2),
                      "body": sum(kernels["body"].values()), "condition": sum(kernels["condition"].values()),
                      "by_kind": dict(sorted(total.items()))}
  return result


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true", help="smaller sizes: V=200, hidden 64, B=8, max_len 16")
  parser.add_argument("--model", default="lstm", choices=("lstm", "transformer", "luong"),
                      help="lstm: the decoding benchmark's step; transformer / luong: the 'small' models of "
                           "experiments/benchmarks/transformer.py")
  parser.add_argument("--unroll", type=int, nargs="+", default=[1, 2, 3, 4], help="steps per loop iteration")
  parser.add_argument("--alternatives", action="store_true",
                      help="greedy picks by research.decoding.pick_by_argmax and the beam's first stage runs over rows "
                           "padded to 1024 (top_k_padded): the GPU alternatives to the sorts of rows < 1024 entries")
  args = parser.parse_args()
  if args.alternatives:  # looked up when the decoders are traced
    decoding._greedy_pick, decoding._vocab_top_k = decoding.pick_by_argmax, decoding.top_k_padded
  # Compile only: the CPU is the host platform; a missing GPU must not stop the plugin from loading.
  jax.config.update("jax_platforms", "cpu")
  beam = 4
  if args.model == "lstm":
    vocab, hidden, batch, max_len = (200, 64, 8, 16) if args.quick else (1000, 256, 32, 32)
    program = lstm_decoder(vocab, hidden, batch)
    config = {"model": "lstm", "vocab": vocab, "hidden": hidden, "batch": batch, "beam": beam, "max_len": max_len}
  else:
    vocab, batch, max_len = (200, 8, 16) if args.quick else (8000, 64, 32)
    sizes = "quick" if args.quick else "full"
    program = seq2seq_decoder(args.model, vocab, max_len, sizes)
    config = {"model": f"{args.model} small ({sizes})", "vocab": vocab, "batch": batch, "beam": beam,
              "max_len": max_len}
  device = h100_device()
  with decoding.tuned_for("gpu"):
    default_unroll = decoding.default_unroll()
  summary: dict = {"benchmark": "decoding_kernels", "target": H100["device_description_str"], "jaxlib": jax.__version__,
                   "default_unroll_gpu": default_unroll, "config": config,
                   "picks": "argmax / padded first stage" if args.alternatives else "top_k"}
  for unroll in args.unroll:
    r = count(program, batch, beam, max_len, unroll, device)
    print(json.dumps({"unroll": unroll, **r}), flush=True)
    if any("compile_error" in v for v in r.values()):
      summary[f"unroll_{unroll}"] = {name: v.get("compile_error", "compiled") for name, v in r.items()}
      continue
    summary[f"unroll_{unroll}"] = {
        "beam_kernels_per_step": r["beam"]["kernels_per_step"],
        "greedy_kernels_per_step": r["greedy"]["kernels_per_step"],
        "beam_over_greedy_kernels": round(r["beam"]["kernels_per_step"] / r["greedy"]["kernels_per_step"], 3),
        "beam_copies_per_step": r["beam"]["copies_per_step"],
        "sorts_per_step": {name: round(v["by_kind"].get("fusion:sort", 0) / unroll, 2) for name, v in r.items()}}
  print(json.dumps(summary))


if __name__ == "__main__":
  main()
