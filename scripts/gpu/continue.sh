# device call B of a lease (run from the repo root, carrying gpupack/p2.tar.gz), right after stage.sh (call A)
# on the same warm machine: train the two trunks of recipes.sh side by side for TRUNK_SECS, sized by call A's
# measured speeds, then a chroma branch on each for BRANCH_SECS, and send both models back under $OUT.
# If the machine was restarted in between, it goes on with what it has (half the photos), and says so.
# usage: bash scripts/gpu/continue.sh TRUNK_SECS BRANCH_SECS
set -u
: "${2:?usage: bash scripts/gpu/continue.sh TRUNK_SECS BRANCH_SECS}" "${OUT:?OUT must name the folder that comes back}"
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 COLORGAN_CACHE=/tmp/cache
trunk_secs=$1 branch_secs=$2 start=$(date +%s)
source scripts/gpu/recipes.sh
mkdir -p /tmp/data /tmp/runs /tmp/res && tar -xzf gpupack/p2.tar.gz -C /tmp/data
echo "photos: $(find /tmp/data -type f | wc -l) (36532 when both halves are here)"
[ -f /tmp/G1c.safetensors ] || python3 scripts/gpu/trunk_of.py src/colorgan/weights/default.safetensors --out /tmp/G1c.safetensors
rate() { awk -v r="$1" -v d="$2" '$1 == r {print $2; f=1} END {if (!f) print d}' /tmp/probe/rates.txt 2>/dev/null || echo "$2"; }
# steps that fit the time at 80 % of the probed speed (the full cache is built first, and validation runs)
steps_a=$(python3 -c "print(int($(rate A 2000) * 0.8 * $trunk_secs / 64))")
steps_b=$(python3 -c "print(int($(rate B 6000) * 0.8 * $trunk_secs / 256))")
steps_c=$(python3 -c "print(min(4566, int($(rate C 600) * 0.8 * $branch_secs / 16)))")
echo "steps: trunk A $steps_a, trunk B $steps_b, branches $steps_c"
# whole epochs that fit those steps: the learning rate decays over the last 30 % of --epochs (--max-steps only
# stops early, so with more epochs than fit, the rate would never fall; session 8's runs did that)
train_photos=35800  # 98 % of 36,532
epochs() { python3 -c "print(max(1, min($3, $1 * $2 // $train_photos)))"; }
data=(--data /tmp/data/broad /tmp/data/landscapes --val-fraction 0.02 --save-every 500 --keep-every-epochs 100000
  --samples 4)
# run NAME DEADLINE ARGS...: train in the background; at the deadline SIGTERM stops it after its step in progress,
# with a checkpoint (the trainer writes one on SIGTERM)
run() {
  local name=$1 deadline=$2; shift 2
  python3 -m colorgan train "${data[@]}" "$@" --run-dir /tmp/runs/$name >/tmp/runs/$name.log 2>&1 &
  local pid=$!
  ( while kill -0 $pid 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 2; done
    kill -0 $pid 2>/dev/null && { echo "$name: time limit, stopped"; kill -TERM $pid
      for _ in $(seq 15); do kill -0 $pid 2>/dev/null || break; sleep 1; done; kill -KILL $pid 2>/dev/null; } ) &
}
deadline=$(( start + 60 + trunk_secs ))
run TA $deadline "${TRUNK_A[@]}" --epochs "$(epochs "$steps_a" 64 1000)"
sleep 3
run TB $deadline "${TRUNK_B[@]}" --epochs "$(epochs "$steps_b" 256 1000)"
wait
echo "trunks done at $(( $(date +%s) - start )) s"
for t in TA TB; do python3 -m colorgan export --model /tmp/runs/$t --out /tmp/runs/$t.safetensors; done
deadline=$(( $(date +%s) + branch_secs ))
for t in TA TB; do
  [ -f /tmp/runs/$t.safetensors ] && run B$t $deadline "${BRANCH[@]}" --init-from /tmp/runs/$t.safetensors --epochs "$(epochs "$steps_c" 16 2)"
done
wait
echo "branches done at $(( $(date +%s) - start )) s"
for t in TA TB; do
  python3 -m colorgan export --model /tmp/runs/B$t --half --chroma-gain 1 --out /tmp/res/B$t.safetensors ||
    python3 -m colorgan export --model /tmp/runs/$t --half --out /tmp/res/$t.safetensors
done
for n in TA TB BTA BTB; do
  echo "== $n"; tail -c 300 /tmp/runs/$n.log | tr '\r' '\n' | tail -2
  mkdir -p /tmp/logs/$n; cp /tmp/runs/$n.log /tmp/runs/$n/{log.csv,config.yaml,loss.png} /tmp/logs/$n/ 2>/dev/null
done
cp /tmp/probe/rates.txt /tmp/logs/ 2>/dev/null
tar -czf "$OUT/logs.tgz" -C /tmp logs
# at most 16 MiB a file comes back: each model in xz-compressed 15 MiB pieces (cat them, then xz -d)
for f in /tmp/res/*.safetensors; do xz -T0 -3 -c "$f" | split -b 15M - "$OUT/$(basename "$f").xz."; done
ls -la "$OUT"; echo "all secs=$(( $(date +%s) - start ))"
