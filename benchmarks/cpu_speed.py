"""CPU training speed on the shipped data: the `cpu` profile before and after its speed-ups, and a bare
PyTorch + PEFT LoRA loop on the same model, tokens and batch size.

    python benchmarks/cpu_speed.py --record benchmarks/results/cpu_speed.json

Prints training tokens/s (real tokens, padding excluded; the first step is a warm-up and not timed), the ratio
to the old settings, the trainer's cost against the bare loop, and the achieved FLOP/s as a share of this
machine's measured matmul peak in the same dtype (LoRA training costs about 4 x parameters FLOPs per token:
2 forward, 2 for the input gradients; the frozen base needs no weight gradients).

A shared machine's speed drifts by 10-20 % from minute to minute, more than some of the differences measured here.
So every configuration runs in each of `--repeats` rounds, each timed step counts with its fastest time over the
rounds (noise only ever adds time), and every round's own figure is recorded too. (Taking turns step by step, each
configuration in its own process, was tried: on a machine that reclaims idle memory, every configuration then ran
about a third slower.)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from peft import get_peft_model
from transformers import TrainerCallback

from course_utils.hardware.machine import machine_info
from course_utils.method.conditioning import trainable_token_indices
from course_utils.data.loaders import load_train_dataset
from course_utils.patches.packed_attention import use_packed_attention
from course_utils.hardware.profiles import get_profile
from course_utils.method.tokenization import tokenize_dataset
from course_utils.patches.token_rows import use_row_sparse_trainable_tokens
from course_utils.method import trainer as trainer_module
from course_utils.method.trainer import CRLFTDataCollator
from course_utils.training.run import load_base_for_training, lora_config, run_training

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def matmul_peak(dtype: torch.dtype, n: int = 1024, reps: int = 3) -> float:
    """Best-of-`reps` GFLOP/s of an n x n matmul in `dtype`."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


_switches: dict[str, bool] = {}  # the running configuration's old-behaviour switches
_trainer_scorer = trainer_module._score_next_tokens


def _score_next_tokens(model, inputs):
    """The trainer's own scorer, or TRL's fused head at every position (the old behaviour) where asked."""
    if _switches.get("fused_head_everywhere", False):
        return trainer_module.score_with_fused_head(model, inputs)
    return _trainer_scorer(model, inputs)


def _row_sparse_unless_off(model) -> int:
    return use_row_sparse_trainable_tokens(model) if _switches.get("token_rows", True) else 0


class _Clock(TrainerCallback):
    """Seconds and real tokens of each step after the first (warm-up) one, from one step's end to the next's."""

    def __init__(self):
        self.last: tuple[float, int] | None = None
        self.steps: dict[str, list] = {"seconds": [], "tokens": []}

    def on_step_end(self, args, state, control, **kwargs):
        now = (time.perf_counter(), state.num_input_tokens_seen)
        if self.last is not None:
            self.steps["seconds"].append(now[0] - self.last[0])
            self.steps["tokens"].append(now[1] - self.last[1])
        self.last = now


def time_trainer(output_dir: Path, dataset, steps: int, fused_head_everywhere: bool = False,
                 token_rows: bool = True, **settings) -> dict:
    """`run_training` (C-RLFT, cpu profile) with `settings` overriding the profile's speed knobs.

    `fused_head_everywhere` scores the LM head at every position through TRL's fused head (as before);
    `token_rows=False` keeps PEFT's own trainable-tokens layer under ``lean_forward`` (attention per conversation
    alone)."""
    _switches.update(fused_head_everywhere=fused_head_everywhere, token_rows=token_rows)
    clock = _Clock()
    run_training("crlft", dataset, output_dir, profile="cpu", max_steps=steps + 1, seed=0,
                 save_steps=10_000, callbacks=[clock], progress=False, include_num_input_tokens_seen="non_padding",
                 **settings)
    return clock.steps


def time_bare_loop(dataset, steps: int, batch: int, compute: torch.dtype) -> dict:
    """The same NF4 base, LoRA and tokens in a plain loop: padding-free batches, weighted NLL, AdamW, and the
    trainer's lean forward pass (so that the ratio measures the trainer's own cost)."""
    profile = get_profile("cpu")
    model, tokenizer, token_ids = load_base_for_training(profile)
    model = get_peft_model(model, lora_config(profile, trainable_token_indices(model, token_ids)))
    use_packed_attention(model)
    use_row_sparse_trainable_tokens(model)
    for param in model.parameters():
        if param.requires_grad:
            param.data = param.data.float()
    tokenized, _ = tokenize_dataset(dataset, tokenizer, max_length=profile.max_seq_length)
    collate = CRLFTDataCollator(pad_token_id=tokenizer.pad_token_id, padding_free=True)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=profile.learning_rate)
    model.train()
    timed: dict[str, list] = {"seconds": [], "tokens": []}
    for step in range(steps + 1):
        start = time.perf_counter()
        rows = [tokenized[i] for i in range(step * batch, (step + 1) * batch)]
        inputs = collate(rows)
        weights = inputs.pop("loss_weights")[:, 1:]
        inputs.pop("token_classes")
        keep = (inputs["labels"][0, 1:] != -100).nonzero().squeeze(-1)  # positions whose next token trains
        with torch.autocast("cpu", dtype=compute, enabled=compute != torch.float32):
            logits = model(input_ids=inputs["input_ids"], position_ids=inputs["position_ids"], use_cache=False,
                           logits_to_keep=keep).logits[0]
        ce = torch.nn.functional.cross_entropy(logits.float(), inputs["input_ids"][0, 1:][keep], reduction="none")
        loss = (weights[0, keep] * ce).sum() / weights.sum()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step > 0:  # the first step is a warm-up
            timed["seconds"].append(time.perf_counter() - start)
            timed["tokens"].append(inputs["input_ids"].numel())
    return timed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=12,
                        help="timed steps (one warm-up step runs first; fewer make the padded row noisy)")
    parser.add_argument("--repeats", type=int, default=2,
                        help="rounds over all configurations (each step counts with its fastest time)")
    parser.add_argument("--record", help="also write the JSON document here")
    args = parser.parse_args(argv)

    profile = get_profile("cpu")
    compute = "bf16" if profile.compute_dtype == torch.bfloat16 else "fp32"
    peaks = {name: matmul_peak(dtype) for name, dtype in DTYPES.items()}
    params = 134_515_008  # SmolLM2-135M
    old_lora = {"lora_dropout": 0.05}
    old = {"lean_forward": False}
    dataset = load_train_dataset().shuffle(seed=0).select(range(profile.batch_size * (args.steps + 1)))
    trainer_module._score_next_tokens = _score_next_tokens
    trainer_module.use_row_sparse_trainable_tokens = _row_sparse_unless_off
    configs = {
        "before: padded, LoRA dropout 0.05, LM head on every position, fp32": ("fp32", "trainer", dict(
            fused_head_everywhere=True, padding_free=False, bf16=False, lora_overrides=old_lora, **old)),
        "padding-free (alone)": ("fp32", "trainer", dict(
            fused_head_everywhere=True, bf16=False, lora_overrides=old_lora, **old)),
        "padding-free + LoRA dropout 0": ("fp32", "trainer", dict(fused_head_everywhere=True, bf16=False, **old)),
        f"+ LM head on trained positions, {compute}": (compute, "trainer", old),
        f"+ attention per conversation, {compute}": (compute, "trainer", dict(token_rows=False)),
        f"cpu profile now: + row-sparse trainable tokens, {compute}": (compute, "trainer", {}),
        f"cpu profile now with an fp32 base instead of NF4 (no QLoRA), {compute}": (compute, "trainer", dict(
            precision="fp32")),
        f"bare PyTorch + PEFT loop (same model, tokens, batch, scored positions, lean forward), {compute}": (
            compute, "bare", {}),
    }
    runs: dict[str, list[dict]] = {name: [] for name in configs}
    with tempfile.TemporaryDirectory(prefix="cpu_speed_") as work:
        for round_ in range(args.repeats):
            for i, (name, (_, kind, settings)) in enumerate(configs.items()):
                runs[name].append(time_bare_loop(dataset, args.steps, profile.batch_size, DTYPES[compute])
                                  if kind == "bare" else
                                  time_trainer(Path(work) / f"{round_}-{i}", dataset, args.steps, **settings))
    rows = []
    for name, (dtype, _, _) in configs.items():
        tokens = sum(runs[name][0]["tokens"])  # the same batches in every round
        each = [tokens / sum(run["seconds"]) for run in runs[name]]
        seconds = sum(map(min, zip(*(run["seconds"] for run in runs[name]))))
        tps = tokens / seconds
        achieved = 4 * params * tps / 1e9
        rows.append({"config": name, "tokens_per_s": round(tps, 1),
                     "tokens_per_s_each_round": [round(t, 1) for t in each], "dtype": dtype,
                     "achieved_gflops": round(achieved, 1), "share_of_peak": round(achieved / peaks[dtype], 3),
                     "seconds": round(seconds, 2), "tokens": tokens})
    before, now, bare = rows[0]["tokens_per_s"], rows[5]["tokens_per_s"], rows[-1]["tokens_per_s"]
    result = {
        "machine": machine_info(),
        "matmul_peak_gflops": {k: round(v, 1) for k, v in peaks.items()},
        "rows": rows, "speedup_vs_before": round(now / before, 2), "trainer_vs_bare": round(now / bare, 3),
        "timed_steps": args.steps, "repeats": args.repeats, "batch": profile.batch_size,
    }
    print(json.dumps(result, indent=2))
    print(f"\ncpu profile now / before: {now / before:.2f}x; trainer / bare loop: {100 * now / bare:.1f} %")
    if args.record:
        Path(args.record).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
