# device call B: unpack the other half, train the three candidates for at most LIMIT seconds, send back their weights
# usage: bash scripts/gpu/train.sh EPOCHS MAX_STEPS LIMIT
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 COLORGAN_CACHE=/tmp/cache
epochs=$1 max_steps=$2 limit=$3
mkdir -p /tmp/data && tar -xzf gpupack/p2.tar.gz -C /tmp/data && echo files $(find /tmp/data -type f | wc -l)
start=$(date +%s)
PY=python3 bash scripts/gpu/candidates.sh /tmp/data /tmp/runs $epochs $max_steps > /tmp/driver.log 2>&1 &
pid=$!
while kill -0 $pid 2>/dev/null && [ $(( $(date +%s)-start )) -lt $limit ]; do sleep 2; done
if kill -0 $pid 2>/dev/null; then
  echo "time limit: stopping the runs at their last checkpoint"
  pkill -9 -f "colorgan train"; wait $pid  # the driver then exports each run's last checkpoint
fi
echo trained secs=$(( $(date +%s)-start )); cat /tmp/driver.log
for n in G1 G2 G3; do echo "== $n"; tail -c 300 /tmp/runs/$n.log | tr '\r' '\n' | tail -2; done
mkdir -p /tmp/res && for n in G1 G2 G3; do mkdir -p /tmp/res/$n; cp /tmp/runs/$n.log /tmp/runs/$n/log.csv /tmp/runs/$n/config.yaml /tmp/runs/$n/split.json /tmp/runs/$n/loss.png /tmp/res/$n/ 2>/dev/null; done
tar -czf $OUT/b.tgz -C /tmp res driver.log
for n in G2 G1 G3; do xz -T16 -6 -c /tmp/runs/$n.safetensors | split -b 15M - $OUT/$n.sft.xz.; done
ls -la $OUT; echo all secs=$(( $(date +%s)-start ))
