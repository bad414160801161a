"""Generation speed and memory per precision (fp32 / bf16 / NF4 / FP4), batch 1 and batched.

    python benchmarks/generation_bench.py                       # CPU, the offline SmolLM2-135M
    python benchmarks/generation_bench.py --device cuda --shape mistral-7b --batch-sizes 1,16
    python benchmarks/generation_bench.py --shape tiny --precisions fp32,nf4 --new-tokens 4   # smoke test

Shapes: `offline` loads the real offline model (course_utils.hardware.models); `mistral-7b` and `llama2-13b` build
randomly initialised models of those architectures directly on the device (no hub, no data: speed and
memory depend on the shape, not on the weights' values); `tiny` is for tests. 4-bit variants of random
shapes are made by swapping each decoder Linear for a bitsandbytes Linear4bit (what `from_pretrained`
with a BitsAndBytesConfig does). Every run generates exactly `--new-tokens` tokens after a prompt of
`--prompt-tokens` random ids (no early stop), greedily, after one warm-up call. Prints one JSON object
(machine description + one row per precision x batch size); `--out` also writes it to a file.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

import torch

from course_utils.hardware.machine import machine_info
from course_utils.hardware.shapes import SHAPES, shape_config

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def quantize_linears(model, quant_type: str, compute_dtype: torch.dtype, double_quant: bool = True) -> None:
    """Replace every nn.Linear except the output head by a bitsandbytes Linear4bit, quantizing its weight."""
    import bitsandbytes as bnb

    device = next(model.parameters()).device
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if not isinstance(child, torch.nn.Linear) or full.endswith("lm_head"):
                continue
            q = bnb.nn.Linear4bit(
                child.in_features, child.out_features, bias=child.bias is not None,
                compute_dtype=compute_dtype, compress_statistics=double_quant, quant_type=quant_type,
                device="meta",
            )
            q.weight = bnb.nn.Params4bit(
                child.weight.data, requires_grad=False, quant_type=quant_type, compress_statistics=double_quant
            )
            if child.bias is not None:
                q.bias = torch.nn.Parameter(child.bias.data.to(compute_dtype), requires_grad=False)
            setattr(module, child_name, q.to(device))
            del child
    gc.collect()


def build_random(shape: str, precision: str, device: str):
    """A randomly initialised model of `shape` at `precision` on `device`."""
    from transformers import AutoModelForCausalLM

    config = shape_config(shape, max_position_embeddings=4096, tie_word_embeddings=False)
    four_bit = precision in ("nf4", "fp4")
    compute = torch.bfloat16 if (four_bit and device == "cuda") else torch.float32 if four_bit else DTYPES[precision]
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=compute)
    if four_bit:
        quantize_linears(model, precision, compute)
    return model.eval()


def build_offline(precision: str, device: str):
    """The offline SmolLM2-135M through the course's one loader."""
    from course_utils.hardware.models import load_model_and_tokenizer

    model, _ = load_model_and_tokenizer(precision=precision)
    if precision not in ("nf4", "fp4") and device != "cpu":
        model = model.to(device)
    return model.eval()


def _rss_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        return float("nan")


@torch.inference_mode()
def time_generation(model, batch: int, prompt_tokens: int, new_tokens: int, device: str) -> float:
    """Seconds to generate exactly `new_tokens` tokens for `batch` random prompts (greedy)."""
    vocab = model.config.vocab_size
    g = torch.Generator().manual_seed(batch)
    ids = torch.randint(10, vocab - 10, (batch, prompt_tokens), generator=g).to(device)
    mask = torch.ones_like(ids)
    kwargs = dict(do_sample=False, pad_token_id=0, eos_token_id=None, temperature=None, top_p=None, top_k=None)

    def run(n: int) -> None:
        model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, **kwargs)

    run(2)  # warm-up: kernels, caches
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    run(new_tokens)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def bench(
    shape: str = "offline", device: str = "cpu", precisions=("fp32", "bf16", "nf4", "fp4"),
    batch_sizes=(1, 8), prompt_tokens: int = 64, new_tokens: int = 32, progress: bool = True,
) -> dict:
    """Run the benchmark; returns {"machine", "settings", "rows"}."""
    rows = []
    for precision in precisions:
        gc.collect()
        if device == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        rss0 = _rss_mb()
        t0 = time.perf_counter()
        model = build_offline(precision, device) if shape == "offline" else build_random(shape, precision, device)
        load_s = time.perf_counter() - t0
        weights_mb = model.get_memory_footprint() / 2**20
        for batch in batch_sizes:
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            secs = time_generation(model, batch, prompt_tokens, new_tokens, device)
            row = {
                "precision": precision,
                "batch": batch,
                "new_tokens_per_sequence": new_tokens,
                "seconds": round(secs, 3),
                "tokens_per_s": round(batch * new_tokens / secs, 1),
                "weights_mb": round(weights_mb, 1),
                "load_s": round(load_s, 1),
            }
            if device == "cuda":
                row["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
            else:
                row["rss_delta_mb"] = round(_rss_mb() - rss0, 1)
            rows.append(row)
            if progress:
                print(json.dumps(row), file=sys.stderr, flush=True)
        del model
    return {
        "machine": machine_info(),
        "settings": {"shape": shape, "device": device, "prompt_tokens": prompt_tokens, "new_tokens": new_tokens},
        "rows": rows,
    }


def markdown(result: dict) -> str:
    """The rows as a markdown table."""
    mem = "peak_gpu_mb" if result["settings"]["device"] == "cuda" else "rss_delta_mb"
    lines = [f"| precision | batch | tokens/s | weights MB | {mem} |", "|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['precision']} | {r['batch']} | {r['tokens_per_s']} | {r['weights_mb']} | {r.get(mem)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    p.add_argument("--shape", default=None, choices=["offline", *SHAPES],
                   help="default: offline on CPU, mistral-7b on CUDA")
    p.add_argument("--precisions", default="fp32,bf16,nf4,fp4")
    p.add_argument("--batch-sizes", default="1,8")
    p.add_argument("--prompt-tokens", type=int, default=64)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--out", type=Path, help="also write the JSON here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    shape = args.shape or ("mistral-7b" if args.device == "cuda" else "offline")
    result = bench(
        shape, args.device, tuple(args.precisions.split(",")),
        tuple(int(b) for b in args.batch_sizes.split(",")), args.prompt_tokens, args.new_tokens,
    )
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
