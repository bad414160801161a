#!/usr/bin/env bash
# Run the GPU benchmarks (7B shapes, random weights) on a lent GPU machine whose image has torch but not the
# course's other libraries: those travel as wheels in .whl/ (see README "Benchmarks"). Results go to $OUT.
set -uo pipefail
OUT=${OUT:-benchmarks/results}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu_info.txt"
python3 -c "import torch, transformers, bitsandbytes, peft, trl, datasets; print('torch', torch.__version__, 'transformers', transformers.__version__, 'bnb', bitsandbytes.__version__, 'peft', peft.__version__, 'trl', trl.__version__, 'datasets', datasets.__version__)" | tee -a "$OUT/gpu_info.txt"
timeout 240 python3 benchmarks/generation_bench.py --device cuda --shape mistral-7b --precisions bf16,nf4,fp4 \
  --batch-sizes 1,8 --out "$OUT/generation_gpu.json" > "$OUT/generation_gpu.log" 2>&1; echo "generation rc=$?"
tail -5 "$OUT/generation_gpu.log"
timeout 300 python3 benchmarks/train_bench.py --device cuda --shape mistral-7b --seq-len 2048 --batch 1 --steps 4 \
  --layouts padded,padding-free --record "$OUT/train_gpu.json" > "$OUT/train_gpu.log" 2>&1; echo "train rc=$?"
tail -30 "$OUT/train_gpu.log"
