#!/usr/bin/env bash
# Train issue #12's GPU candidates side by side on one GPU, then export each one's moving-average generator.
# The default recipe (preset default, hints) at the recipe's batch 64, two ways (G2, the chroma head with a
# branch, went when that head was deleted in session 16: docs/experiments.md):
#   G1  L1 alone (the shipped lineage's trunk)
#   G3  L1 plus a weak discriminator (weight 0.05, D at half the learning rate, real label 0.9)
# usage: scripts/gpu/candidates.sh DATA RUNS EPOCHS [MAX_STEPS]
#   DATA holds broad/ and landscapes/ (training photos only: docs/quality.md, section 8)
set -euo pipefail
data=$1 runs=$2 epochs=$3 max_steps=${4:-}
mkdir -p "$runs"
common=(--data "$data/broad" "$data/landscapes" --preset default --hints --batch-size 64 --epochs "$epochs"
  --val-fraction 0.02 --threads 4 --save-every 1000 --keep-every-epochs 100000 --samples 4)
[ -n "$max_steps" ] && common+=(--max-steps "$max_steps")
declare -A extra=(
  [G1]=""
  [G3]="--gan-weight 0.05 --d-lr-scale 0.5 --real-label 0.9"
)
for name in G1 G3; do
  # shellcheck disable=SC2086
  ${PY:-python3} -m colorgan train "${common[@]}" ${extra[$name]} --run-dir "$runs/$name" >"$runs/$name.log" 2>&1 &
  sleep 2  # the first one builds the pixel cache; the others wait on its lock
done
status=0
for job in $(jobs -p); do wait "$job" || status=1; done
for name in G1 G3; do
  ${PY:-python3} -m colorgan export --model "$runs/$name" --half --chroma-gain 1 --out "$runs/$name.safetensors" \
    || status=1
done
exit $status
