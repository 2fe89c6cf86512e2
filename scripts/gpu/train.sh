# device call B (run from the repo root, carrying gpupack/p2.tar.gz; p1 is unpacked by probe.sh in call A, or
# carried too): train the candidates for at most LIMIT seconds and send back their weights under $OUT
# usage: bash scripts/gpu/train.sh EPOCHS MAX_STEPS LIMIT
set -u
: "${3:?usage: bash scripts/gpu/train.sh EPOCHS MAX_STEPS LIMIT}" "${OUT:?OUT must name the folder that comes back}"
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 COLORGAN_CACHE=/tmp/cache
epochs=$1 max_steps=$2 limit=$3
mkdir -p /tmp/data
for part in gpupack/p1.tar.gz gpupack/p2.tar.gz; do [ -f "$part" ] && tar -xzf "$part" -C /tmp/data; done
photos=$(find /tmp/data -type f | wc -l)
echo "photos: $photos"
[ "$photos" -ge "${MIN_PHOTOS:-36000}" ] || { echo "only $photos photos unpacked: both halves are needed"; exit 1; }
start=$(date +%s)
PY=python3 bash scripts/gpu/candidates.sh /tmp/data /tmp/runs "$epochs" "$max_steps" > /tmp/driver.log 2>&1 &
pid=$!
while kill -0 $pid 2>/dev/null && [ $(( $(date +%s)-start )) -lt "$limit" ]; do sleep 2; done
if kill -0 $pid 2>/dev/null; then
  echo "time limit: stopping the runs at their last checkpoint"
  pkill -TERM -P $pid; sleep 5; pkill -KILL -P $pid; wait $pid  # the driver then exports each run's last checkpoint
fi
echo trained secs=$(( $(date +%s)-start )); cat /tmp/driver.log
for n in G1 G3; do echo "== $n"; tail -c 300 /tmp/runs/$n.log | tr '\r' '\n' | tail -2; done
mkdir -p /tmp/res && for n in G1 G3; do mkdir -p /tmp/res/$n; cp /tmp/runs/$n.log /tmp/runs/$n/log.csv /tmp/runs/$n/config.yaml /tmp/runs/$n/split.json /tmp/runs/$n/loss.png /tmp/res/$n/ 2>/dev/null; done
tar -czf "$OUT/b.tgz" -C /tmp res driver.log
# at most 16 MiB a file comes back: each model in xz-compressed 15 MiB pieces (cat them, then xz -d)
for n in G1 G3; do xz -T0 -6 -c /tmp/runs/$n.safetensors | split -b 15M - "$OUT/$n.sft.xz."; done
ls -la "$OUT"; echo all secs=$(( $(date +%s)-start ))
