"""``crlft train``: C-RLFT or one of its baselines with QLoRA on the chosen hardware profile.

Works under ``accelerate launch`` (see the accelerate configs in ``course_utils/configs/``)."""

from __future__ import annotations

import argparse
import json

from course_utils.data.loaders import load_train_dataset
from course_utils.training.run import METHODS, run_training


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``crlft train``."""
    parser = subparsers.add_parser("train", help="train C-RLFT or a baseline (QLoRA)", description=__doc__)
    parser.add_argument("--profile", help="hardware profile (see `crlft doctor`); default: auto-detected")
    parser.add_argument("--method", choices=list(METHODS), default="crlft")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--data", help="conversations JSONL, labeled or with a source (default: the shipped train.jsonl)")
    parser.add_argument("--max-steps", type=int, default=-1, help="default: one epoch")
    parser.add_argument("--learning-rate", type=float, help="default: the profile's")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--save-steps", type=int, default=25)
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output-dir")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train and print a one-line JSON summary."""
    result = run_training(
        method=args.method, dataset=load_train_dataset(args.data) if args.data else None,
        output_dir=args.output_dir, profile=args.profile, max_steps=args.max_steps,
        learning_rate=args.learning_rate, seed=args.seed, resume=args.resume, save_steps=args.save_steps,
    )
    print(json.dumps({"method": result.method, "output_dir": result.output_dir, "global_step": result.global_step,
                      "train_loss": result.train_loss, "runtime_s": round(result.runtime_s, 1),
                      "train_tokens_per_s": result.train_tokens_per_s, "resumed_from": result.resumed_from}))
    return 0
