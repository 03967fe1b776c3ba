#!/usr/bin/env bash
# The prepared GPU check: the tests that need a GPU and the benchmarks whose goals assume one, in one call,
# each step time-boxed. Logs go to $LOGS (default /tmp/gpu_check_logs) and, after every step, into one archive
# $OUT/gpu_check_logs.tgz (default OUT ./gpu_check_out): a device call returns at most 8 files from $OUT.
#
#   bash experiments/benchmarks/gpu_check.sh            # on a CUDA machine with jax[cuda], flax, optax, pytest
#   DEADLINE=300 bash experiments/benchmarks/gpu_check.sh   # every step ends by 300 s after the start
#   EXTRA='python3 .gpu/ab.py' bash experiments/benchmarks/gpu_check.sh   # plus a one-off step after the tests
#   GPU_CHECK_PLATFORMS=cpu DEADLINE=60 bash experiments/benchmarks/gpu_check.sh   # a dry run of the steps on a CPU
#
# Set-up for a machine without internet: `make gpu-bundle` here puts the wheels of the packages such an image lacks
# (ml_collections, tensorflow-datasets and its pure-Python deps, array_record, dm-tree, tensorboardX) in .gpu/whl
# (and Fashion-MNIST in .gpu/fm, for `python -m experiments.benchmarks.rbm`); carry .gpu along; the first lines
# below install them when present.
# Order: first the GPU test files, three processes at once (correctness only, so sharing the GPU is fine), then the
# benchmarks one at a time, alone on the machine. A step's limit is cut to what is left before DEADLINE (default
# 520 s), so the whole check fits one device call; the transformer benchmark goes last and writes its JSON after
# every row, so a cut keeps what it measured.
# Earlier results: experiments/benchmarks/results/h100_2026-11-26/ and h100_2026-11-26b/ (runtime there: 404 s).
set -u
OUT=${OUT:-gpu_check_out}
LOGS=${LOGS:-/tmp/gpu_check_logs}
DEADLINE=${DEADLINE:-520}
mkdir -p "$OUT" "$LOGS"
T0=$(date +%s)
if ls .gpu/whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl \
    >/dev/null 2>&1 || echo "pip install of .gpu/whl failed"
  export PYTHONPATH=/tmp/site
fi
if ls .gpu/fm/*.gz >/dev/null 2>&1; then
  mkdir -p /usr/share/datasets/fashion-mnist && cp .gpu/fm/*.gz /usr/share/datasets/fashion-mnist/
fi
# cuda first (the default backend), cpu kept for host callbacks (jax.debug.callback in tests/decoding/test_decoding.py).
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD PYTHONUNBUFFERED=1 JAX_PLATFORMS=${GPU_CHECK_PLATFORMS:-cuda,cpu}
# The tests compare float32 results with tight tolerances: keep TF32 out of float32 matrix products. Three test
# processes share the GPU: no preallocation.
TESTENV="env JAX_DEFAULT_MATMUL_PRECISION=highest XLA_PYTHON_CLIENT_PREALLOCATE=false"
PYTEST="python3 -m pytest -q -p no:cacheprovider -rfE"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; nproc
  python3 -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())"
  # CUDA / cuDNN runtime versions: what experiments/benchmarks/decoding_kernels.py's target config assumes.
  timeout 30 python3 -c "import jax; jax.print_environment_info()" | grep -v '^$'
} 2>&1 | tee "$LOGS/env.txt"
elapsed() { echo $(( $(date +%s) - T0 )); }
pack() { tar czf "$OUT/gpu_check_logs.tgz" -C "$LOGS" .; }
limit_for() {  # the step's own limit, or what is left before DEADLINE if that is less
  local left=$(( DEADLINE - $(elapsed) ))
  if [ "$left" -lt "$1" ]; then echo "$left"; else echo "$1"; fi
}
step() {
  local name=$1 limit; limit=$(limit_for "$2"); shift 2
  if [ "$limit" -le 5 ]; then echo "=== $name skipped: DEADLINE reached"; return; fi
  echo "=== $name (limit ${limit}s, t=$(elapsed)s)"
  timeout "$limit" "$@" > "$LOGS/$name.log" 2>&1
  echo "rc=$? t=$(elapsed)s"; tail -c 1500 "$LOGS/$name.log"; pack
}
parallel_tests() {
  local limit; limit=$(limit_for "$1"); shift
  echo "=== tests in parallel (limit ${limit}s, t=$(elapsed)s)"
  local pids=() names=() spec name
  for spec in "$@"; do
    name=${spec%%:*}
    # shellcheck disable=SC2086
    timeout "$limit" $TESTENV $PYTEST ${spec#*:} > "$LOGS/$name.log" 2>&1 &
    pids+=($!); names+=("$name")
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}"; echo "--- ${names[$i]} rc=$? t=$(elapsed)s"; tail -c 1200 "$LOGS/${names[$i]}.log"
  done
  pack
}
parallel_tests 150 "test_transformer:tests/models/test_transformer.py" \
  "test_decoding:tests/decoding/test_decoding.py tests/decoding/test_decoding_kernels.py" \
  "test_luong_rbm:tests/models/test_luong.py tests/pretraining/test_rbm.py"
# EXTRA: a one-off command for this call (e.g. an A/B script carried in .gpu/), run before the benchmarks.
if [ -n "${EXTRA:-}" ]; then step extra 60 bash -c "$EXTRA"; fi
step beam_topk 120 python3 -m experiments.benchmarks.beam_topk
step decoding 60 python3 -m experiments.benchmarks.decoding --dump_hlo "$LOGS/decoding_hlo"
# The default off the CPU is 2 steps per loop iteration (research.decoding.default_unroll); 1 is the comparison.
step decoding_unroll1 60 python3 -m experiments.benchmarks.decoding --unroll 1
step transformer_bf16_cudnn 300 python3 -m experiments.benchmarks.transformer --dtype bfloat16 \
  --attention_impl cudnn --out "$LOGS/transformer_bf16_cudnn.json"
echo "total $(elapsed)s"
