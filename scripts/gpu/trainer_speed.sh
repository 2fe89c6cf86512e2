# One device call (issue #18): `colorgan train` on CUDA before and after the trainer stopped waiting for the GPU
# (losses read every 25 steps, skipped steps decided on the device, batches gathered from a copy of the pixel
# cache on the GPU, simulated hints painted there until #33), each run alone on the GPU, then the bare steps of `colorgan bench`.
# Carries gpupack/speed.tar.gz (6,000 training photos of ~/runs/A_l1's split, packed as in pack_split.py) and
# gpupack/old_src (the package at the commit before, for the baseline in the same call):
#   run(command="bash scripts/gpu/trainer_speed.sh", carry=["gpupack/speed.tar.gz", "gpupack/old_src"])
# ROUNDS=N repeats the four trainings; BENCH=0 leaves out the synchronization probe and the bare steps.
set -u
: "${OUT:?OUT must name the folder that comes back}"
FINAL=$OUT OUT=/tmp/speed_out  # everything goes back as one archive (a call returns only a few files)
rm -rf "$OUT" && mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 COLORGAN_CACHE=/tmp/cache
start=$(date +%s)
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; echo "cpus $(nproc)"
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())"
rm -rf /tmp/data /tmp/runs && mkdir -p /tmp/data /tmp/runs
tar -xzf gpupack/speed.tar.gz -C /tmp/data && echo "unpacked $(find /tmp/data -type f | wc -l) photos"
NEW=$PWD/src OLD=$PWD/gpupack/old_src
data=(--data /tmp/data/broad /tmp/data/landscapes --preset unet-lab --threads 8 --epochs 1000 --samples 0
  --save-every 100000)
train() {  # name, package folder, batch, steps
  local t0=$(date +%s%N)
  PYTHONPATH=$2 timeout 120 python3 -m colorgan train "${data[@]}" --batch-size "$3" --max-steps "$4" \
    --run-dir /tmp/runs/$1 >"$OUT/$1.log" 2>&1
  echo "$1 rc=$? wall=$(( ($(date +%s%N) - t0) / 1000000 )) ms" | tee -a "$OUT/rates.txt" "$FINAL/rates_live.txt"
  [ -f /tmp/runs/$1/log.csv ] && cp /tmp/runs/$1/log.csv "$OUT/$1.csv" && tail -n +2 "$OUT/$1.csv" | awk -F, -v n="$1" \
    'NR > 1 && NR % 25 == 0 {print n, $1, $8}' >>"$FINAL/rates_live.txt"  # kept even if the call is cut short
}
train cache "$NEW" 64 1  # builds the pixel cache once for all runs
S=${SPEED_SCALE:-1}  # divides the step counts (a dry run on a CPU)
for round in $(seq "${ROUNDS:-1}"); do
  train old64_$round "$OLD" 64 $((400 / S)); train new64_$round "$NEW" 64 $((400 / S))
  train old256_$round "$OLD" 256 $((160 / S)); train new256_$round "$NEW" 256 $((160 / S))
done
if [ "${BENCH:-1}" = 1 ]; then
# which operations still make the host wait for the GPU, per step (each place once)
PYTHONPATH=$NEW timeout 90 python3 - "${data[@]}" --batch-size 64 --max-steps $((60 / S)) --run-dir /tmp/runs/syncs <<'PY' >"$OUT/syncs.log" 2>&1
import sys, warnings
import torch
from colorgan.cli.main import main
warnings.simplefilter("default")
torch.cuda.set_sync_debug_mode("warn")
sys.exit(main(["train", *sys.argv[1:]]))
PY
echo "syncs rc=$?"
bench=(bench train --size 128 --ngf 32 --ndf 32 --color-space lab --no-gan --ema-decay 0.999 --steps $((30 / S + 2)) --warmup $((8 / S + 1)))
for bs in 64 256; do
  for which in OLD NEW; do
    PYTHONPATH=${!which} timeout 90 python3 -m colorgan "${bench[@]}" --batch-size $bs --json "$OUT/bench_${which}_$bs.json" \
      >"$OUT/bench_${which}_$bs.log" 2>&1; echo "bench $which $bs rc=$?"
  done
done
fi
python3 - "$OUT" <<'PY' | tee -a "$OUT/rates.txt"
import csv, glob, json, os, statistics, sys
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.csv"))):
    rows = list(csv.DictReader(open(path)))
    late = rows[len(rows) // 5 :]  # the first fifth warms cuDNN up
    if late:
        print(os.path.basename(path), len(rows), "steps, median img/s", round(statistics.median(float(r["img_s"]) for r in late)))
for path in sorted(glob.glob(os.path.join(sys.argv[1], "bench_*.json"))):
    print(os.path.basename(path), json.dumps(json.load(open(path)))[:400])
PY
tar -czf "$FINAL/speed.tar.gz" -C "$OUT" . && cp "$OUT/rates.txt" "$FINAL/"
echo "secs=$(( $(date +%s) - start ))"
