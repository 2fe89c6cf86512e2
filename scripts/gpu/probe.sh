# device call A (run from the repo root, carrying gpupack/p1.tar.gz): check the image, unpack half the data,
# probe the candidates' speed, time the CUDA path (#18)
# gpupack/ comes from scripts/gpu/pack_split.py; .git/info/exclude ignores it and the run call carries it
set -u
: "${OUT:?OUT must name the folder that comes back}"
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 COLORGAN_CACHE=/tmp/cache
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.max.sm --format=csv
nproc
python3 -c "import torch,cv2,safetensors,skimage,filelock,yaml,scipy,seaborn,matplotlib,tqdm,PIL;print(torch.__version__, torch.cuda.get_device_name(), torch.backends.cudnn.version())"
mkdir -p /tmp/data /tmp/res && tar -xzf gpupack/p1.tar.gz -C /tmp/data && echo extracted $(find /tmp/data -type f | wc -l)
start=$(date +%s)
PY=python3 bash scripts/gpu/candidates.sh /tmp/data /tmp/probe 1 300; echo probe rc=$? secs=$(( $(date +%s)-start ))
for n in G1 G3; do echo "== $n"; tail -c 300 /tmp/probe/$n.log | tr '\r' '\n' | tail -3; cp /tmp/probe/$n/log.csv /tmp/res/probe_$n.csv; cp /tmp/probe/$n.log /tmp/res/probe_$n.log; done
tar -czf "$OUT/a.tgz" -C /tmp res
b() { name=$1; shift; echo "== bench $name"; timeout ${T:-100} python3 -m colorgan bench "$@" --warmup 5 --steps 12 --json /tmp/res/$name.json 2>&1 | tail -c 500; tar -czf "$OUT/a.tgz" -C /tmp res; }
b train256_bs16 train --size 256 --batch-size 16
b train256_bs16_nchw train --size 256 --batch-size 16 --no-channels-last
b train256_bs64 train --size 256 --batch-size 64
b infer256_bs1 infer --size 256 --batch-size 1
b gpu_recipe_step train --size 128 --ngf 32 --ndf 32 --color-space lab --no-gan --ema-decay 0.999 --batch-size 64
echo done total=$(( $(date +%s)-start ))
