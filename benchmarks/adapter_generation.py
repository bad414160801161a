"""Greedy evaluation speed of an NF4 base with a C-RLFT adapter: PEFT's trainable-tokens layer against the
course's row-sparse one (`course_utils.patches.token_rows`), alternating on the same loaded model and prompts.

    python benchmarks/adapter_generation.py runs/lesson03/crlft --record benchmarks/results/adapter_generation.json

The adapter folder is any `crlft train` output (lesson 03 writes `runs/lesson03/crlft`). Prints new tokens/s per
round and whether both layers gave the same answers.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from peft.tuners.trainable_tokens.layer import TrainableTokensLayer

from course_utils.hardware.machine import machine_info
from course_utils.data.loaders import load_eval_set
from course_utils.evaluation.metrics import evaluate_model
from course_utils.inference.generation import load_for_inference
from course_utils.patches.token_rows import RowSparseTrainableTokensLayer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("adapter", help="a trained adapter folder")
    parser.add_argument("--prompts", type=int, default=32, help="validation prompts per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--record", help="also write the JSON document here")
    args = parser.parse_args(argv)

    model, tokenizer = load_for_inference(args.adapter)
    records = load_eval_set(limit=args.prompts, split="val")
    layers = [m for m in model.modules() if isinstance(m, TrainableTokensLayer)]
    rates: dict[str, list[float]] = {"peft": [], "row_sparse": []}
    answers: dict[str, list[str]] = {}
    for _ in range(args.rounds):
        for name, cls in (("peft", TrainableTokensLayer), ("row_sparse", RowSparseTrainableTokensLayer)):
            for layer in layers:
                layer.__class__ = cls
            start = time.perf_counter()
            run = evaluate_model(model, tokenizer, records, max_new_tokens=64, batch_size=16)
            rates[name].append(round(run.new_tokens / (time.perf_counter() - start), 1))
            answers.setdefault(name, run.responses)
            print(f"{name}: {rates[name][-1]} new tokens/s", flush=True)
    result = {
        "machine": machine_info(),
        "adapter": Path(args.adapter).name, "prompts": len(records), "new_tokens_per_s": rates,
        "same_answers": answers["peft"] == answers["row_sparse"],
    }
    print(json.dumps(result, indent=2))
    if args.record:
        Path(args.record).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
