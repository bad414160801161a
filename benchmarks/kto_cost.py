"""What a KTO step costs beside a C-RLFT step: both trained in turn on the same data (the premise regime), the
same profile, batch (8 x 4 conversations) and learning rate, in this one process; prints one JSON document with
seconds per optimiser step and training tokens/s of each, and their ratio.

KTO's step does one forward and backward pass over its answers (padded, not padding-free) and three forward
passes without gradients (the mismatched KL pairs, and both under the reference, the base with the adapter
disabled); C-RLFT's does one forward and backward pass over padding-free rows. Tokens/s counts each trainer's own
``num_tokens`` (the tokens of its training inputs).

    python benchmarks/kto_cost.py [--steps 3] [--record benchmarks/results/kto_cost.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from course_utils.hardware.machine import machine_info
from course_utils.training.run import lesson03_data, read_log, run_training


def measure(method: str, steps: int, out: Path) -> dict:
    """Train `method` for `steps` steps into `out`: seconds per step and tokens/s of the training itself (model
    loading and data preparation excluded), and the tokens of a step (from the steps after the first)."""
    start = time.perf_counter()
    result = run_training(method, lesson03_data(), out, profile="cpu", max_steps=steps, learning_rate=2e-3, seed=0,
                          progress=False, gradient_accumulation_steps=4)
    log = [h for h in read_log(out) if "loss" in h and "num_tokens" in h]
    tokens = log[-1]["num_tokens"] - log[0]["num_tokens"]  # the steps after the first
    per_step = result.runtime_s / steps
    return {"method": method, "steps": steps, "train_runtime_s": round(result.runtime_s, 1),
            "wall_s": round(time.perf_counter() - start, 1), "seconds_per_step": round(per_step, 1),
            "tokens_per_step": round(tokens / (len(log) - 1)),
            "tokens_per_s": round(log[-1]["num_tokens"] / result.runtime_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--record", help="also write the JSON document to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(m, args.steps, Path(tmp) / m) for m in ("crlft", "kto")]
    doc = {"benchmark": "kto_cost", "data": "premise regime, 32 conversations per step (8 x 4)", "results": rows,
           "kto_over_crlft_seconds_per_step": round(rows[1]["seconds_per_step"] / rows[0]["seconds_per_step"], 2),
           "machine": machine_info(), "torch_threads": torch.get_num_threads(),
           "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    print(json.dumps(doc, indent=2))
    if args.record:
        Path(args.record).write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
