"""Training throughput and peak memory: C-RLFT (`CRLFTTrainer`) vs plain TRL `SFTTrainer` on the same tokens,
padded vs padding-free, QLoRA (NF4 + double quant base, LoRA on all linear layers).

Self-contained: random-initialised model shapes, synthetic token data, no hub, no data files. Each configuration
runs in its own subprocess (clean peak memory). Prints one JSON document and optionally records it.

    python benchmarks/train_bench.py                                   # CPU: SmolLM2-135M shape, 4 configs
    python benchmarks/train_bench.py --device cuda --shape mistral-7b --seq-len 2048 --batch 1 --steps 4 \\
        --layouts padded --record benchmarks/results/train_gpu.json    # the 7B shape in QLoRA, + estimator error
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from course_utils.hardware.machine import machine_info
from course_utils.hardware.shapes import SHAPES, shape_config

def build_qlora_base(shape: str, device: str, compute_dtype, seed: int = 0):
    """A random-initialised model of `shape` whose block linears are bitsandbytes NF4 (double quant), built layer by
    layer on `device` (never the full-precision model in memory at once)."""
    import bitsandbytes as bnb
    import torch
    from torch import nn
    from transformers import AutoModelForCausalLM

    config = shape_config(shape, max_position_embeddings=8192)
    config._attn_implementation = "sdpa"
    torch.manual_seed(seed)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=compute_dtype)
    for module in list(model.model.layers.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.Linear):
                weight = torch.randn(child.out_features, child.in_features, device=device, dtype=compute_dtype)
                weight.mul_(0.02)
                layer = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=False, compute_dtype=compute_dtype,
                                          compress_statistics=True, quant_type="nf4", device="meta")
                layer.weight = bnb.nn.Params4bit(weight.cpu() if device == "cpu" else weight, requires_grad=False,
                                                 compress_statistics=True, quant_type="nf4").to(device)
                setattr(module, name, layer)
                del weight
    # everything still on meta: embeddings, norms, LM head, rotary buffers
    for module in model.modules():
        for pname, param in list(module.named_parameters(recurse=False)):
            if param.device.type == "meta":
                value = (torch.ones if "norm" in type(module).__name__.lower() else torch.randn)(
                    param.shape, device=device, dtype=compute_dtype)
                if "norm" not in type(module).__name__.lower():
                    value.mul_(0.02)
                setattr(module, pname, nn.Parameter(value, requires_grad=False))
    with torch.device(device):
        model.model.rotary_emb = type(model.model.rotary_emb)(config=config)
    if config.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    model.is_loaded_in_4bit = True
    model.config.use_cache = False
    return model, config


def _tokenizer(vocab_size: int):
    """A word-level tokenizer built offline (the trainers need one for padding and the chat template)."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, **{f"t{i}": i for i in range(3, vocab_size)}}
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="<pad>")),
                                  pad_token="<pad>", bos_token="<s>", eos_token="</s>")
    return tok


def synthetic_data(n: int, seq_len: int, vocab: int, seed: int, fixed_length: bool):
    """Conversations as token ids: a prompt (weight 0) then an answer (weight 1 expert / 0.1 sub-optimal)."""
    import random

    from datasets import Dataset

    rng = random.Random(seed)
    rows = {"input_ids": [], "labels": [], "loss_weights": [], "token_classes": []}
    for i in range(n):
        length = seq_len if fixed_length else rng.randint(seq_len // 2, seq_len)
        prompt = max(2, length // 3)
        ids = [1] + [rng.randrange(3, vocab) for _ in range(length - 1)]
        cls = 0 if i % 10 == 0 else 1
        weight = 1.0 if cls == 0 else 0.1
        rows["input_ids"].append(ids)
        rows["loss_weights"].append([0.0] * prompt + [weight] * (length - prompt))
        rows["labels"].append([-100] * prompt + ids[prompt:])
        rows["token_classes"].append([-1] * prompt + [cls] * (length - prompt))
    return Dataset.from_dict(rows)


def run_one(opts: argparse.Namespace) -> dict:
    """One configuration (trainer x layout): returns tokens/s over the timed steps and peak memory."""
    import torch
    from peft import LoraConfig, prepare_model_for_kbit_training
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from course_utils.method.trainer import CRLFTConfig, CRLFTTrainer, _keep_trainable_in_fp32

    cuda = opts.device == "cuda"
    dtype = torch.bfloat16 if cuda else torch.float32
    model, config = build_qlora_base(opts.shape, opts.device, dtype)
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cuda)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    n = opts.batch * (opts.steps + 1)
    data = synthetic_data(n, opts.seq_len, config.vocab_size, 0, fixed_length=cuda)
    padding_free = opts.layout == "padding-free"
    common = dict(output_dir=f"/tmp/train_bench_{os.getpid()}", per_device_train_batch_size=opts.batch,
                  gradient_accumulation_steps=1, max_steps=opts.steps + 1, learning_rate=1e-4, logging_steps=1,
                  report_to=[], save_strategy="no", train_sampling_strategy="sequential", use_cpu=not cuda,
                  bf16=cuda, gradient_checkpointing=cuda, optim="paged_adamw_8bit" if cuda else "adamw_torch",
                  padding_free=padding_free, max_length=None, disable_tqdm=True, dataloader_num_workers=0)
    lora = LoraConfig(r=opts.lora_r, lora_alpha=16, lora_dropout=0.05, target_modules="all-linear",
                      task_type="CAUSAL_LM")
    tok = _tokenizer(min(config.vocab_size, 4096))
    if opts.trainer == "crlft":
        trainer = CRLFTTrainer(model, args=CRLFTConfig(**common), train_dataset=data, processing_class=tok,
                               peft_config=lora)
    else:
        trainer = SFTTrainer(model, args=SFTConfig(**common), train_dataset=data.select_columns(["input_ids", "labels"]),
                             processing_class=tok, peft_config=lora)
        if not cuda:  # same adapter dtype as CRLFTTrainer's fp32-compute path, so only the loss differs
            _keep_trainable_in_fp32(trainer.model)

    marks: dict[str, float] = {}

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
            if state.global_step == 1:  # step 1 is warm-up
                marks["t0"], marks["tok0"] = time.perf_counter(), trainer._total_train_tokens
            marks["t1"], marks["tok1"] = time.perf_counter(), trainer._total_train_tokens

    trainer.add_callback(Clock())
    trainer.train()
    seconds = marks["t1"] - marks["t0"]
    tokens = marks["tok1"] - marks["tok0"]
    result = {"trainer": opts.trainer, "layout": opts.layout, "timed_steps": opts.steps, "tokens": tokens,
              "seconds": round(seconds, 3), "tokens_per_s": round(tokens / seconds, 1)}
    if cuda:
        result["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
        result["peak_reserved_gib"] = round(torch.cuda.max_memory_reserved() / 2**30, 3)
        try:
            from course_utils.hardware.memory import estimate_memory

            est = estimate_memory(config, precision="nf4", compute_dtype=dtype, lora_rank=opts.lora_r,
                                  seq_len=opts.seq_len, batch=opts.batch, gradient_checkpointing=True,
                                  optimizer="paged_adamw_8bit")
            result["estimate_gib"] = est.as_gib()
            result["estimator_error_pct"] = round(100 * (est.total / 2**30 - result["peak_gib"]) / result["peak_gib"], 1)
        except Exception as exc:  # the estimator is optional for this script
            result["estimate_error"] = repr(exc)
    else:
        result["peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--shape", default=None, choices=list(SHAPES), help="default: smollm2-135m (cpu), mistral-7b (cuda)")
    parser.add_argument("--seq-len", type=int, default=None, help="default 96 (cpu), 2048 (cuda)")
    parser.add_argument("--batch", type=int, default=None, help="default 8 (cpu), 1 (cuda)")
    parser.add_argument("--steps", type=int, default=4, help="timed steps (one more warm-up step runs first)")
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--trainers", default="crlft,sft")
    parser.add_argument("--layouts", default="padded,padding-free")
    parser.add_argument("--record", help="write the JSON document here too")
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--trainer", help=argparse.SUPPRESS)
    parser.add_argument("--layout", help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    cuda = opts.device == "cuda"
    opts.shape = opts.shape or ("mistral-7b" if cuda else "smollm2-135m")
    opts.seq_len = opts.seq_len or (2048 if cuda else 96)
    opts.batch = opts.batch or (1 if cuda else 8)
    if opts.single:
        print("RESULT " + json.dumps(run_one(opts)), flush=True)
        return 0
    runs = []
    for layout in opts.layouts.split(","):
        for trainer in opts.trainers.split(","):
            cmd = [sys.executable, __file__, "--single", "--trainer", trainer, "--layout", layout,
                   "--device", opts.device, "--shape", opts.shape, "--seq-len", str(opts.seq_len),
                   "--batch", str(opts.batch), "--steps", str(opts.steps), "--lora-r", str(opts.lora_r)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
            if proc.returncode != 0 or not lines:
                runs.append({"trainer": trainer, "layout": layout, "error": proc.stderr[-2000:]})
            else:
                runs.append(json.loads(lines[-1][7:]))
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    overhead = {}
    for layout in opts.layouts.split(","):
        pair = {r["trainer"]: r for r in runs if r.get("layout") == layout and "tokens_per_s" in r}
        if "crlft" in pair and "sft" in pair:
            overhead[layout] = round(100 * (pair["sft"]["tokens_per_s"] / pair["crlft"]["tokens_per_s"] - 1), 1)
    doc = {"benchmark": "train_bench", "shape": opts.shape, "device": opts.device, "seq_len": opts.seq_len,
           "batch": opts.batch, "timed_steps": opts.steps, "lora_r": opts.lora_r, "machine": machine_info(),
           "runs": runs, "crlft_time_overhead_pct_vs_sft": overhead}
    text = json.dumps(doc, indent=2)
    print(text)
    if opts.record:
        Path(opts.record).parent.mkdir(parents=True, exist_ok=True)
        Path(opts.record).write_text(text + "\n")
    return 0 if all("error" not in r for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
