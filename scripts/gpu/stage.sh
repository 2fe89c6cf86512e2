# device call A of a lease (run from the repo root, carrying gpupack/p1.tar.gz): check the machine, unpack the
# first half of the photos, cut the shipped model's trunk out as the starting point, and time the three runs of
# call B (scripts/gpu/continue.sh) on 3,000 photos, so that call B can size its runs to the time it has.
# PROBE_SCALE=N divides the probe's steps (a dry run on a CPU).
set -u
: "${OUT:?OUT must name the folder that comes back}"
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 COLORGAN_CACHE=/tmp/cache
start=$(date +%s)
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; echo "cpus $(nproc)"
python3 -c "import torch,cv2,safetensors;print(torch.__version__, torch.cuda.get_device_name())"
rm -rf /tmp/data /tmp/probe && mkdir -p /tmp/data /tmp/probe
tar -xzf gpupack/p1.tar.gz -C /tmp/data && echo "unpacked $(find /tmp/data -type f | wc -l) photos"
python3 scripts/gpu/trunk_of.py src/colorgan/weights/default.safetensors --out /tmp/G1c.safetensors
source scripts/gpu/recipes.sh
probe=(--data /tmp/data/broad /tmp/data/landscapes --limit 3000 --epochs 100 --val-fraction 0.02 --save-every 100000
  --samples 0)
python3 -m colorgan train "${probe[@]}" "${TRUNK_A[@]}" --max-steps $(( 160 / ${PROBE_SCALE:-1} )) --run-dir /tmp/probe/A >/tmp/probe/A.log 2>&1 &
sleep 3  # the first run builds the pixel cache; the others wait on its lock
python3 -m colorgan train "${probe[@]}" "${TRUNK_B[@]}" --max-steps $(( 80 / ${PROBE_SCALE:-1} )) --run-dir /tmp/probe/B >/tmp/probe/B.log 2>&1 &
python3 -m colorgan train "${probe[@]}" "${BRANCH[@]}" --init-from /tmp/G1c.safetensors --max-steps $(( 300 / ${PROBE_SCALE:-1} )) \
  --run-dir /tmp/probe/C >/tmp/probe/C.log 2>&1 &
wait
for run in A B C; do
  tail -c 400 /tmp/probe/$run.log | tr '\r' '\n' | tail -2
  # the median img/s over the second half of the logged steps (the first ones warm cuDNN up)
  python3 - "$run" <<'PY' >>/tmp/probe/rates.txt
import csv, statistics, sys
rows = list(csv.DictReader(open(f"/tmp/probe/{sys.argv[1]}/log.csv")))
print(sys.argv[1], statistics.median(float(r["img_s"]) for r in rows[len(rows) // 2 :]))
PY
done
cat /tmp/probe/rates.txt; cp /tmp/probe/rates.txt "$OUT/"
echo "stage secs=$(( $(date +%s) - start ))"
