"""C-RLFT under a distributed launcher: 2 CPU processes (DDP, gloo) give the single-process loss on the same global
batch. The test launches this file as the worker with torchrun (``python -m torch.distributed.run --nproc_per_node 2
tests/test_distributed.py OUT.json``), the launcher `accelerate launch --multi_gpu` uses on GPUs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
STEPS = 3


def train_losses(out_dir: str, per_device_batch: int, accum: int) -> list[float]:
    """Logged loss of each of `STEPS` optimiser steps of CRLFTTrainer on a tiny model (full fine-tuning)."""
    sys.path.insert(0, str(HERE))
    from course_utils.method.conditioning import prepare_tokenizer
    from course_utils.method.trainer import CRLFTConfig, CRLFTTrainer
    from crlft_testing import labeled_dataset, tiny_model, tiny_tokenizer

    tok = tiny_tokenizer()
    prepare_tokenizer(tok)
    args = CRLFTConfig(output_dir=out_dir, per_device_train_batch_size=per_device_batch,
                       gradient_accumulation_steps=accum, max_steps=STEPS, learning_rate=1e-2, logging_steps=1,
                       report_to=[], save_strategy="no", train_sampling_strategy="sequential", use_cpu=True,
                       bf16=False, gradient_checkpointing=False, disable_tqdm=True, seed=0,
                       ddp_find_unused_parameters=False, ddp_backend="gloo" if int(os.environ.get("WORLD_SIZE", "1")) > 1 else None)
    trainer = CRLFTTrainer(tiny_model(len(tok)), args=args, train_dataset=labeled_dataset(8 * STEPS),
                           processing_class=tok)
    trainer.train()
    return [h["loss"] for h in trainer.state.log_history if "loss" in h]


def test_two_processes_match_one_process(tmp_path):
    """Protects multi-GPU users (the loss must not depend on how the global batch is split): under DDP the loss is sum(w*CE)/sum(w) over the global batch of all processes,
    not a per-process mean; 2 processes x (2 x 2 accumulation) equal 1 process x (2 x 4), step after step."""
    out = tmp_path / "ddp.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    # torchrun is what `accelerate launch --multi_gpu` runs underneath; accelerate's own multi-CPU launcher needs MPI.
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           str(Path(__file__)), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    distributed = json.loads(out.read_text())
    single = train_losses(str(tmp_path / "single"), per_device_batch=2, accum=4)
    assert len(distributed) == len(single) == STEPS
    assert distributed == pytest.approx(single, rel=1e-5)


if __name__ == "__main__":
    losses = train_losses(str(Path(sys.argv[1]).with_suffix("")), per_device_batch=2, accum=2)
    if int(os.environ.get("RANK", "0")) == 0:
        Path(sys.argv[1]).write_text(json.dumps(losses))
