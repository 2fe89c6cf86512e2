#!/usr/bin/env bash
# Train issue #12's GPU candidates side by side on one GPU (one is left), then export each one's moving-average generator.
# The default recipe (preset default) at the recipe's batch 64. One candidate is left:
#   G1  L1 alone (the shipped lineage's trunk)
# G2 (the chroma head with a branch) went with that head in session 16, G3 (L1 plus a weak discriminator: D at
# half the learning rate, real label 0.9) with --d-lr-scale and --real-label in issue #33 (docs/experiments.md).
# usage: scripts/gpu/candidates.sh DATA RUNS EPOCHS [MAX_STEPS]
#   DATA holds broad/ and landscapes/ (training photos only: docs/quality.md, section 8)
set -euo pipefail
data=$1 runs=$2 epochs=$3 max_steps=${4:-}
mkdir -p "$runs"
common=(--data "$data/broad" "$data/landscapes" --preset unet-lab --batch-size 64 --epochs "$epochs"
  --val-fraction 0.02 --threads 4 --save-every 1000 --keep-every-epochs 100000 --samples 4)
[ -n "$max_steps" ] && common+=(--max-steps "$max_steps")
declare -A extra=(
  [G1]=""
)
for name in G1; do
  # shellcheck disable=SC2086
  ${PY:-python3} -m colorgan train "${common[@]}" ${extra[$name]} --run-dir "$runs/$name" >"$runs/$name.log" 2>&1 &
  sleep 2  # the first one builds the pixel cache; the others wait on its lock
done
status=0
for job in $(jobs -p); do wait "$job" || status=1; done
for name in G1; do
  ${PY:-python3} -m colorgan export --model "$runs/$name" --half --chroma-gain 1 --out "$runs/$name.safetensors" \
    || status=1
done
exit $status
