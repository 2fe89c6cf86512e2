#!/usr/bin/env bash
# Every speed figure in docs/benchmarks.md, in one go, on a quiet machine. Results: benchmarks/results/*.json.
#   bash benchmarks/run_all.sh [TF_PYTHON]      (TF_PYTHON: a python with tensorflow-cpu, for the peer figure)
set -uo pipefail
cd "$(dirname "$0")/.."
R=benchmarks/results
CG=.venv/bin/colorgan
TF_PY=${1:-/tmp/tfvenv/bin/python}
DATA=${DATA:-../shared/data/landscapes}
if [ -x "$TF_PY" ]; then
  OMP_NUM_THREADS=2 "$TF_PY" ../shared/bench/seed_tf.py --bs 16 --size 256 --warmup 2 --steps 4 > $R/tf_256_bs16.json
  OMP_NUM_THREADS=2 "$TF_PY" ../shared/bench/seed_tf.py --bs 16 --size 128 --warmup 2 --steps 6 --skip-infer > $R/tf_128_bs16.json
fi
$CG bench train --size 256 --batch-size 16 --steps 6 --json $R/train_256_bs16.json
$CG bench train --size 128 --batch-size 16 --steps 8 --json $R/train_128_bs16.json
$CG bench infer --size 256 --batch-size 1 --steps 20 --json $R/infer_256_bs1.json
$CG bench infer --size 256 --batch-size 16 --steps 6 --json $R/infer_256_bs16.json
# What each choice is worth (256, batch 16)
$CG bench train --size 256 --batch-size 16 --steps 4 --precision fp32 --json $R/train_256_bs16_fp32.json
$CG bench train --size 256 --batch-size 16 --steps 4 --no-channels-last --json $R/train_256_bs16_nchw.json
$CG bench data --data "$DATA" --size 256 --batch-size 16 --json $R/data_256.json
$CG bench colorize --steps 6 --json $R/colorize_torch.json
$CG export --format onnx --out /tmp/colorgan_default.onnx
$CG bench colorize --backend onnx --model /tmp/colorgan_default.onnx --steps 6 --json $R/colorize_onnx.json
