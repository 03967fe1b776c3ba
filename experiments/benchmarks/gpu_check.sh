#!/usr/bin/env bash
# The prepared GPU check: the tests that need a GPU and the benchmarks whose goals assume one, in one call,
# each step time-boxed, every log written under $OUT (default ./gpu_check_out) as it finishes.
#
#   bash experiments/benchmarks/gpu_check.sh            # on a CUDA machine with jax[cuda], flax, optax, sklearn
#
# Set-up for a machine without internet: `make gpu-bundle` here puts the wheels of the packages such an image lacks
# (ml_collections, tensorflow-datasets and its pure-Python deps, array_record, dm-tree, tensorboardX) in .gpu/whl
# and the Fashion-MNIST idx.gz files in .gpu/fm (the rbm benchmark reads /usr/share/datasets/fashion-mnist);
# carry .gpu along; the first lines below install both when present. Runtime on an H100 (2026-11-26): about 6–7 minutes.
# Results of that run: experiments/benchmarks/results/h100_2026-11-26/.
set -u
OUT=${OUT:-gpu_check_out}
mkdir -p "$OUT"
T0=$(date +%s)
if ls .gpu/whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl \
    >/dev/null 2>&1 || echo "pip install of .gpu/whl failed"
  export PYTHONPATH=/tmp/site
fi
if ls .gpu/fm/*.gz >/dev/null 2>&1; then
  mkdir -p /usr/share/datasets/fashion-mnist && cp .gpu/fm/*.gz /usr/share/datasets/fashion-mnist/
fi
# cuda first (the default backend), cpu kept for host callbacks (jax.debug.callback in tests/test_decoding.py).
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD PYTHONUNBUFFERED=1 JAX_PLATFORMS=cuda,cpu
# The tests compare float32 results with tight tolerances: keep TF32 out of float32 matrix products.
TESTENV="env JAX_DEFAULT_MATMUL_PRECISION=highest"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; nproc
  python3 -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())"
} 2>&1 | tee "$OUT/env.txt"
step() {
  local name=$1 limit=$2; shift 2
  echo "=== $name (limit ${limit}s, t=$(( $(date +%s) - T0 ))s)"
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  echo "rc=$? t=$(( $(date +%s) - T0 ))s"; tail -c 2000 "$OUT/$name.log"
}
step cudnn_tests 90 $TESTENV python3 -m pytest -q -p no:cacheprovider -rfE tests/test_transformer.py -k "cudnn or fast_path"
step decoding 120 python3 -m experiments.benchmarks.decoding --sweep
step topk 60 python3 -m experiments.benchmarks.beam_topk
step rbm 180 python3 -m experiments.benchmarks.rbm
step transformer_bf16_cudnn 200 python3 -m experiments.benchmarks.transformer --sizes small --dtype bfloat16 \
  --attention_impl cudnn --out "$OUT/transformer_bf16_cudnn.json"
step gpu_tests 240 $TESTENV python3 -m pytest -q -p no:cacheprovider -rfE tests/test_transformer.py tests/test_decoding.py \
  tests/test_luong.py tests/test_rbm.py
echo "total $(( $(date +%s) - T0 ))s"
