"""The GPU path verified by one script (one or two calls of at most 10 minutes on one H100/H200), or its plumbing
dry-run on a CPU.

    python benchmarks/gpu_check.py --out benchmarks/results/gpu        # on a CUDA machine
    python benchmarks/gpu_check.py --dry-run --out /tmp/gpu-dry         # anywhere: the same steps, smallest settings

Four parts, each recorded even when another fails, in ``<out>/gpu_check.json`` (and a log beside it). They run
in the order shapes, untied row, lessons, ablation (quick ones first); ``--budget-min`` starts no part after that
many minutes, and ``--parts`` picks some, so the whole can be split over two calls to a lent machine (estimated,
not yet measured: the lessons about 8 minutes in both dtypes, the ablation about 5):

1. ``lessons``: lessons 03-06 executed headless under ``COURSE_PROFILE=workshop``, once in bf16 and once with fp16
   forced (``CRLFT_GPU_DTYPE=fp16``: what a T4 runs), each in its own runs folder; per lesson the runtime and the
   peak GPU memory in use while it ran; then the validation score of the adapter lesson 03 trained.
2. ``shapes``: the ``t4`` profile's 1.7B shape and the ``24gb`` profile's 7B shape, random-initialised (speed and
   memory do not depend on the weights), a few QLoRA C-RLFT steps each (``train_bench.py``): tokens/s and peak
   memory against the memory estimator.
3. ``untied_end_of_turn_row``: the test that the untied end-of-turn output row trains and is saved
   (``tests/test_training.py``), run where CUDA is (the 7B shape is untied).
4. ``ablation``: the central-claim ablation at the CPU design's settings (``--profile cpu``: the same steps, batch
   and learning rate) with three seeds, its wall time, and whether each variant's accuracy lies inside the
   interval of the committed CPU run on the lessons' data (``results/lessons-data/experiment.json``) and the CPU's inside the GPU's.

``--dry-run`` runs every part through the same code on the CPU with the smallest settings (lesson 00 instead of
03-06, one pass in fp32 instead of bf16 and fp16, a tiny random model for the adapter, the ``tiny`` shape, C-RLFT
alone with one seed, one step and two prompts), so the script cannot rot between GPU runs: ``tests/test_gpu_check.py`` runs it in the test command.

On a lent GPU machine whose image lacks the course's libraries, carry them as wheels (``benchmarks/README.md``)
and point ``CRLFT_OFFLINE_GGUF`` at the offline model's GGUF file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GPU_LESSONS = ("03_crlft_qlora", "04_quantized_inference", "05_evaluation", "06_when_does_crlft_pay", "07_crlft_beside_kto")
GPU_DTYPES = ("bf16", "fp16")
SHAPES = (("t4", "smollm2-1.7b"), ("24gb", "mistral-7b"))


class PeakGpuMemory:
    """Peak GPU memory in use (all processes, above what was in use at the start), sampled every 0.1 s while
    the `with` block runs: a lesson's kernel is another process, so its own allocator statistics are out of reach."""

    def __enter__(self) -> "PeakGpuMemory":
        import torch

        self.cuda = torch.cuda.is_available()
        self.peak_gib = None
        if self.cuda:
            free, total = torch.cuda.mem_get_info()
            self.base, self.peak, self.total = total - free, 0, total
            self.stop = threading.Event()
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self) -> None:
        import torch

        while not self.stop.wait(0.1):
            free, _ = torch.cuda.mem_get_info()
            self.peak = max(self.peak, self.total - free - self.base)

    def __exit__(self, *exc) -> None:
        if self.cuda:
            self.stop.set()
            self.thread.join()
            self.peak_gib = round(self.peak / 2**30, 3)


def lessons_part(out: Path, dry_run: bool) -> dict:
    """Each lesson under the workshop profile in each dtype, then lesson 03's adapter scored on validation."""
    from course_utils.course.runner import run_lesson

    lessons = ("00_setup",) if dry_run else GPU_LESSONS
    dtypes = ("fp32",) if dry_run else GPU_DTYPES  # one pass: the loop is the same code for each dtype
    result: dict = {}
    for dtype in dtypes:
        runs = out / f"runs-{dtype}"
        env = {"COURSE_PROFILE": "cpu" if dry_run else "workshop", "CRLFT_RUNS_DIR": str(runs),
               ("CRLFT_CPU_DTYPE" if dry_run else "CRLFT_GPU_DTYPE"): dtype}
        with mock.patch.dict(os.environ, env):  # the lessons' kernels inherit it; restored afterwards
            rows = []
            for name in lessons:
                with PeakGpuMemory() as peak:
                    run = run_lesson(REPO / "notebooks" / f"{name}.ipynb", out / f"executed-{dtype}", timeout=600)
                rows.append({"lesson": name, "ok": run.ok, "seconds": round(run.seconds, 1), "error": run.error,
                             "peak_gpu_gib": peak.peak_gib})
                print(f"[lessons {dtype}] {name}: {'ok' if run.ok else 'FAILED ' + run.error} "
                      f"({run.seconds:.0f} s, peak {peak.peak_gib} GiB)", flush=True)
            result[dtype] = {"env": env, "lessons": rows, "adapter": _score_lesson03_adapter(runs, dry_run)}
    return result


def _score_lesson03_adapter(runs: Path, dry_run: bool) -> dict:
    """Prompt-level accuracy of lesson 03's adapter on the validation prompts, expert condition (in the dry run a
    one-step adapter on a tiny random model stands in for it)."""
    import torch

    from course_utils.evaluation.metrics import evaluate_model
    from course_utils.data.loaders import load_eval_set
    from course_utils.inference.generation import load_for_inference

    adapter = runs / "lesson03" / "crlft"
    if dry_run:
        adapter = _tiny_adapter(runs / "tiny")
    if not (adapter / "adapter_model.safetensors").exists():
        return {"error": f"no adapter at {adapter}"}
    records = load_eval_set(split="val", limit=2 if dry_run else 120)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    model, tok = load_for_inference(adapter, precision="fp32" if dry_run else "nf4")
    start = time.perf_counter()
    run = evaluate_model(model, tok, records, max_new_tokens=2 if dry_run else None, batch_size=60)
    passed = sum(score.passed for score in run.scores)
    summary = {"prompts": len(records), "prompt_level_pct": round(100 * passed / len(records), 1),
               "seconds": round(time.perf_counter() - start, 1)}
    if torch.cuda.is_available():
        summary["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
    return summary


def _tiny_adapter(folder: Path) -> Path:
    """A one-step C-RLFT adapter on a tiny random Llama with the offline tokenizer (the dry run's stand-in)."""
    from transformers import LlamaForCausalLM

    from course_utils.data.loaders import load_train_dataset
    from course_utils.hardware.models import load_tokenizer
    from course_utils.hardware.profiles import OFFLINE_MODEL_ID
    from course_utils.hardware.shapes import shape_config
    from course_utils.training.run import run_training

    base = folder / "base"
    if not (base / "config.json").exists():
        LlamaForCausalLM(shape_config("tiny", vocab_size=320, max_position_embeddings=256)).save_pretrained(base)
        load_tokenizer(OFFLINE_MODEL_ID).save_pretrained(base)
    adapter = folder / "adapter"
    run_training("crlft", load_train_dataset().select(range(4)), adapter, profile="cpu", max_steps=1,
                 model_id=str(base), precision="fp32", seed=0, resume=True, progress=False,
                 per_device_train_batch_size=2)
    return adapter


def shapes_part(out: Path, dry_run: bool) -> dict:
    """A few QLoRA C-RLFT steps of each hub profile's shape at its own sequence length and batch."""
    from course_utils.hardware.profiles import PROFILES

    result = {}
    for profile, shape in ((("cpu", "tiny"),) if dry_run else SHAPES):
        p = PROFILES[profile]
        record = out / f"train-{shape}.json"
        cmd = [sys.executable, str(REPO / "benchmarks" / "train_bench.py"), "--device", "cpu" if dry_run else "cuda",
               "--shape", shape, "--seq-len", str(32 if dry_run else p.max_seq_length), "--batch",
               str(1 if dry_run else p.batch_size), "--steps", "1" if dry_run else "4", "--lora-r", str(p.lora_r),
               "--trainers", "crlft", "--layouts", "padding-free", "--record", str(record)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        entry = {"profile": profile, "shape": shape, "command": " ".join(cmd[1:]), "rc": done.returncode}
        entry.update(json.loads(record.read_text()) if record.exists() else {"stderr": done.stderr[-2000:]})
        result[shape] = entry
        print(f"[shapes] {shape}: rc {done.returncode}", flush=True)
    return result


def untied_row_part(dry_run: bool) -> dict:
    """The untied end-of-turn output row test, run where this machine computes (CUDA when there is one)."""
    test = "tests/test_training.py::test_untied_model_trains_and_saves_its_end_of_turn_output_row"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    import torch

    print(f"[untied end-of-turn row] rc {done.returncode}", flush=True)
    return {"test": test, "passed": done.returncode == 0, "device": "cuda" if torch.cuda.is_available() else "cpu",
            "output_tail": done.stdout[-600:]}


def ablation_part(out: Path, dry_run: bool) -> dict:
    """The ablation at the cpu profile's settings; each variant's mean against the committed CPU run's interval."""
    from course_utils.experiments.ablation import ExperimentConfig, run_experiment

    if dry_run:
        config = ExperimentConfig(variants=("crlft",), seeds=(0,), max_steps=1, eval_limit=2, max_new_tokens=2,
                                  profile="cpu")
    else:
        config = ExperimentConfig(seeds=(0, 1, 2), profile="cpu")
    start = time.perf_counter()
    result = run_experiment(config, work_dir=out / "ablation-work", results_dir=out / "ablation", progress=False,
                            command="benchmarks/gpu_check.py")
    wall = time.perf_counter() - start
    committed = json.loads((REPO / "results" / "lessons-data" / "experiment.json").read_text())["summaries"]
    rows = {}
    for name, here in result["summaries"].items():
        cpu = committed.get(name)
        row = {"here": _ci(here), "committed_cpu": _ci(cpu) if cpu else None}
        if cpu:  # each run's mean inside the other's 95 % interval
            g, c = row["here"], row["committed_cpu"]
            row["agree"] = c["low"] <= g["mean"] <= c["high"] and g["low"] <= c["mean"] <= g["high"]
        rows[name] = row
    print(f"[ablation] {wall / 60:.1f} min; agree: {[n for n, r in rows.items() if r.get('agree')]}", flush=True)
    return {"wall_min": round(wall / 60, 2), "seeds": list(config.seeds), "variants": rows}


def _ci(summary: dict) -> dict:
    """Mean and 95 % interval of a summary's prompt-level accuracy, in points."""
    p = summary["prompt"]
    return {"mean": round(100 * p["mean"], 1), "low": round(100 * p["low"], 1), "high": round(100 * p["high"], 1)}


# the order they run in: the quick ones first, so a call cut short by its time limit still brings them back
PARTS = {"shapes": shapes_part, "untied_end_of_turn_row": untied_row_part, "lessons": lessons_part,
         "ablation": ablation_part}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for gpu_check.json and the work it needs")
    parser.add_argument("--dry-run", action="store_true", help="the same steps on the CPU, smallest settings")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {', '.join(PARTS)}")
    parser.add_argument("--budget-min", type=float, default=None,
                        help="start no part after this many minutes (the rest are recorded as skipped), so that "
                             "one call to a lent machine returns within its limit; split the rest with --parts")
    args = parser.parse_args(argv)
    import torch

    from course_utils.hardware.machine import machine_info

    if not args.dry_run and not torch.cuda.is_available():
        print("no CUDA GPU here: run with --dry-run to check the plumbing on the CPU")
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"dry_run": args.dry_run, "machine": machine_info(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
              "parts": {}}
    began = time.perf_counter()
    for name in [n for n in PARTS if n in args.parts.split(",")]:
        start = time.perf_counter()
        if args.budget_min is not None and (start - began) / 60 > args.budget_min:
            report["parts"][name] = {"ok": False, "skipped": f"time budget of {args.budget_min:g} min spent"}
            print(f"[{name}] skipped: time budget spent", flush=True)
            continue
        fn = PARTS[name]
        try:
            value = fn(args.dry_run) if name == "untied_end_of_turn_row" else fn(out, args.dry_run)
            report["parts"][name] = {"ok": True, "seconds": round(time.perf_counter() - start, 1), "result": value}
        except Exception as exc:  # one broken part must not cost the others' figures
            report["parts"][name] = {"ok": False, "seconds": round(time.perf_counter() - start, 1),
                                     "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-3000:]}
            print(f"[{name}] FAILED: {type(exc).__name__}: {exc}", flush=True)
        (out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str))  # after every part
    report["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str))
    return 0 if all(p["ok"] for p in report["parts"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
