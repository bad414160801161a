"""C-RLFT training runs (QLoRA by default).

One function, :func:`run_training`, runs C-RLFT or any of its ablation baselines (:data:`METHODS`) with the same
trainer, data and budget; the variants differ only in conditioning (class prefix vs neutral ``User:``) and
weighting (the data's weights vs 1). It loads the profile's base model (NF4 + double quantization on every
profile, LoRA on all linear layers), prepares it for C-RLFT (:func:`course_utils.method.conditioning.prepare_for_crlft`:
end-of-turn token whose input and output rows train and are saved with the adapter, conditioned template),
checkpoints regularly and can resume. The hardware profile is the one source of hyperparameters; keyword
arguments override single `CRLFTConfig` fields.

Output directory layout::

    D/adapter_model.safetensors, adapter_config.json   LoRA adapter (+ the end-of-turn token's embedding rows)
    D/tokenizer.json, tokenizer_config.json, chat_template.jinja   tokenizer with the conditioned template
    D/training_log.jsonl                                one JSON object per logged step (loss, loss_expert, ...)
    D/crlft_run.json                                    method, profile, model, settings, data report, results
    D/checkpoint-N/                                     resumable checkpoints (the last `save_total_limit`)

Load a run for inference with ``course_utils.inference.generation.load_for_inference(D)``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from datasets import Dataset
from peft import LoraConfig, prepare_model_for_kbit_training
from tqdm import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback
from transformers.trainer_utils import get_last_checkpoint

from course_utils.method.conditioning import EOT_TOKEN, TEMPLATE_CONDITIONS, prepare_for_crlft, trainable_token_indices
from course_utils.data.conditions import Condition
from course_utils.data.loaders import load_train_dataset
from course_utils.data.regimes import regime_dir
from course_utils.data.verifiers import record_passes
from course_utils.hardware.models import load_model_and_tokenizer, quiet_progress
from course_utils.paths import display_path
from course_utils.hardware.profiles import HardwareProfile, get_profile
from course_utils.method.kto import KTO_BETA, CourseKTOConfig, CourseKTOTrainer, balanced_desirable_weight, kto_dataset
from course_utils.method.trainer import CRLFTConfig, CRLFTTrainer

logger = logging.getLogger(__name__)

RUN_FILE = "crlft_run.json"
LOG_FILE = "training_log.jsonl"


@dataclass(frozen=True)
class Method:
    """A training variant: which data, whether the class is in the prompt, whether tokens are class-weighted."""

    name: str
    conditioned: bool
    weighted: bool
    expert_only: bool
    description: str
    verified_only: bool = False  # train only on conversations whose every answer passes the verifiers
    trainer: str = "crlft"  # "crlft": CRLFTTrainer (every SFT variant); "kto": TRL's KTOTrainer on the class labels


#: The methods of the course's ablation (names used by the CLI and the experiment).
METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("crlft", True, True, False, "C-RLFT: class-conditioned prefixes + the data's weights (1.0 / 0.1)"),
        Method("sft", False, False, False, "plain SFT on the whole mixture: neutral prefix, weight 1"),
        Method("sft-expert", False, False, True, "SFT on the expert slice only: neutral prefix, weight 1"),
        Method("crlft-no-weight", True, False, False, "conditioned SFT: class prefixes, weight 1"),
        Method("crlft-no-condition", False, True, False, "weighted SFT: neutral prefix, the data's weights"),
        Method("sft-filtered", False, False, False, "SFT on the conversations whose answers pass the verifiers "
               "(a label for every answer, which C-RLFT does not have): neutral prefix, weight 1", verified_only=True),
        Method("kto", False, False, False, "KTO (TRL's KTOTrainer): expert answers desirable, sub-optimal ones "
               "undesirable, the classes balanced by weight; reference: the base (adapter disabled); neutral prefix",
               trainer="kto"),
    )
}


#: The course's training budget in optimiser steps: lesson 03's run and every training of the experiments.
COURSE_STEPS = 40

#: Lesson 03's C-RLFT run (``runs/lesson03/crlft``), which lesson 04 reuses and ``crlft catch-up`` trains: the same
#: data and settings in all three places. The data are the ``premise`` regime's (lesson 02, section 7); steps of 32
#: conversations (8 x 4 accumulated) for 24 steps at 4e-3: the learning rate and length chosen for C-RLFT on that
#: regime's validation prompts (``results/validation/premise.md``; a test keeps the two equal). At step 8 the
#: greedy answers of both conditions still carry the sign-off alike; by step 24 the condition separates them.
LESSON03_REGIME = "premise"
LESSON03_RUN: dict[str, Any] = {"max_steps": 24, "seed": 0, "save_steps": 8, "learning_rate": 4e-3,
                                "gradient_accumulation_steps": 4}


#: Lesson 07's short KTO run (``runs/lesson07/kto``, on :func:`lesson03_data`): KTO's learning rate chosen on the
#: premise regime's validation prompts (``results/validation/kto/premise.md``; a test keeps the two equal), 4 steps
#: of 16 conversations (8 x 2): enough to show where KTO pushes the likelihoods, far from its chosen length.
LESSON07_RUN: dict[str, Any] = {"max_steps": 4, "seed": 0, "save_steps": 4, "learning_rate": 2e-3,
                                "gradient_accumulation_steps": 2}


def lesson03_data() -> Dataset:
    """Lesson 03's training conversations, labeled: the ``premise`` regime's ``train.jsonl``."""
    return load_train_dataset(regime_dir(LESSON03_REGIME) / "train.jsonl")


@dataclass
class TrainResult:
    """What a run left behind and how it went."""

    method: str
    output_dir: str
    global_step: int
    train_loss: float | None
    runtime_s: float
    train_tokens_per_s: float | None
    log_history: list[dict[str, Any]] = field(default_factory=list)
    tokenization: dict[str, Any] = field(default_factory=dict)
    resumed_from: str | None = None

    def losses(self, key: str = "loss") -> list[tuple[int, float]]:
        """(step, value) pairs of a logged quantity (``loss``, ``loss_expert``, ``loss_suboptimal``, ...)."""
        return [(h["step"], h[key]) for h in self.log_history if key in h]

    def table(self, every: int = 10) -> str:
        """A short table of the log: every `every`-th step (and the last) with the step loss and the mean token
        cross-entropy of each class since the previous row."""
        rows = [h for h in self.log_history if "loss" in h]
        if not rows:
            return "(nothing trained in this call)"
        lines = [f"{'step':>5} {'step loss':>10} {'expert CE':>10} {'sub-opt. CE':>12}"]
        start = 0
        for i, h in enumerate(rows):
            if h["step"] % every and i != len(rows) - 1:
                continue
            window = rows[start:i + 1]
            start = i + 1
            cells = [sum(r["loss"] for r in window) / len(window)]
            for key in ("loss_expert", "loss_suboptimal"):
                values = [r[key] for r in window if key in r]
                cells.append(sum(values) / len(values) if values else float("nan"))
            lines.append(f"{h['step']:>5} {cells[0]:>10.3f} {cells[1]:>10.3f} {cells[2]:>12.3f}")
        return "\n".join(lines)


# ---- data ----------------------------------------------------------------------------------------------------
def _row_filter(method: str | Method) -> Callable[[Mapping[str, Any]], bool] | None:
    """The one predicate of the rows a method trains on (None: every row)."""
    spec = METHODS[method] if isinstance(method, str) else method
    if spec.expert_only:
        return lambda row: row["condition"] == Condition.EXPERT
    if spec.verified_only:
        return record_passes
    return None


def select_for_method(dataset: Dataset, method: str | Method) -> Dataset:
    """The rows a method trains on: the expert slice for ``sft-expert``, the conversations whose every answer
    passes its constraints for ``sft-filtered``, everything otherwise (in their order; ``select`` prints no
    progress bar, unlike ``Dataset.filter``)."""
    keep = _row_filter(method)
    return dataset if keep is None else dataset.select([i for i, row in enumerate(dataset) if keep(row)])


def rows_for_method(dataset: Dataset, method: str | Method) -> int:
    """How many rows `method` trains on (:func:`select_for_method`), counted without building the filtered copy."""
    keep = _row_filter(method)
    return len(dataset) if keep is None else sum(map(keep, dataset))


# ---- model --------------------------------------------------------------------------------------------------
def lora_config(profile: HardwareProfile, trainable_tokens: dict[str, list[int]] | None = None,
                **overrides: Any) -> LoraConfig:
    """LoRA on every linear layer of the backbone (not the LM head), rank/alpha/dropout from the profile.

    `trainable_tokens` (from :func:`course_utils.method.conditioning.trainable_token_indices`) makes the end-of-turn
    token's rows trainable; they are saved in the adapter file."""
    kwargs: dict[str, Any] = dict(r=profile.lora_r, lora_alpha=profile.lora_alpha, lora_dropout=profile.lora_dropout,
                                  target_modules="all-linear", task_type="CAUSAL_LM")
    if trainable_tokens:
        kwargs["trainable_token_indices"] = trainable_tokens
    kwargs.update(overrides)
    return LoraConfig(**kwargs)


def load_base_for_training(profile: HardwareProfile, precision: str | None = None,
                           model_id: str | None = None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, list[int]]:
    """Base model (NF4 + double quant by default), prepared for C-RLFT.

    Returns ``(model, tokenizer, token_ids)`` (the ids whose rows train); quantized models are prepared for k-bit
    training."""
    precision = precision or profile_precision(profile)
    model, tokenizer = load_model_and_tokenizer(model_id, precision=precision, profile=profile, double_quant=True)
    token_ids = prepare_for_crlft(model, tokenizer)
    if precision in ("nf4", "fp4"):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=profile.gradient_checkpointing)
    return model, tokenizer, token_ids


def profile_precision(profile: HardwareProfile) -> str:
    """The precision a profile loads its base in: ``nf4`` for QLoRA profiles, else its compute dtype."""
    if profile.quantization == "nf4":
        return "nf4"
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(profile.compute_dtype, "fp32")


# ---- configuration ------------------------------------------------------------------------------------------
def build_config(method: str, output_dir: str | Path, profile: HardwareProfile, *, max_steps: int = -1,
                 learning_rate: float | None = None, seed: int = 42, save_steps: int = 25,
                 **overrides: Any) -> CRLFTConfig | CourseKTOConfig:
    """The trainer configuration of `method` on `profile` (overrides win): a `CRLFTConfig`, or for KTO a
    `CourseKTOConfig` with the same optimiser, schedule, batches and logging."""
    spec = METHODS[method]
    on_gpu = torch.cuda.is_available()
    kwargs: dict[str, Any] = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=profile.batch_size, gradient_accumulation_steps=profile.grad_accum,
        learning_rate=learning_rate or profile.learning_rate, max_steps=max_steps, num_train_epochs=1,
        max_length=profile.max_seq_length, lr_scheduler_type="cosine", warmup_steps=0.05,
        adam_beta1=0.9, adam_beta2=0.95, weight_decay=0.0, max_grad_norm=1.0,
        optim=profile.optim if on_gpu else "adamw_torch",
        activation_checkpointing=profile.gradient_checkpointing and on_gpu,
        bf16=profile.compute_dtype == torch.bfloat16,  # on a CPU too, where the profile chose it (fast bf16)
        fp16=on_gpu and profile.compute_dtype == torch.float16,
        use_cpu=not on_gpu, seed=seed, data_seed=seed, logging_steps=1, logging_first_step=True,
        save_strategy="steps", save_steps=save_steps, save_total_limit=2, report_to=[],
        dataloader_num_workers=0, disable_tqdm=True,
    )
    if spec.trainer == "kto":
        kwargs.update(beta=KTO_BETA)
        kwargs.update(overrides)
        return CourseKTOConfig(**kwargs)
    kwargs.update(conditioned=spec.conditioned, weighted=spec.weighted, padding_free=profile.padding_free)
    kwargs.update(overrides)
    return CRLFTConfig(**kwargs)


class _CompactProgress(TrainerCallback):
    """One progress bar for the whole run, with the latest loss beside it (instead of a printed dict per step)."""

    def __init__(self):
        self.bar = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            # plain text (not a widget), redrawn at most every 30 s, so a saved notebook keeps a few lines
            self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc="training", unit="step",
                            file=sys.stdout, mininterval=30, ncols=100)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is not None and logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{float(logs['loss']):.3f}", refresh=False)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class _StopAt(TrainerCallback):
    """Ends training at `step` (saving a checkpoint there), whatever the schedule's `max_steps`."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True
            control.should_save = True


class _JsonlLogger(TrainerCallback):
    """Appends every log entry (with its step) to ``training_log.jsonl`` in the output directory."""

    def __init__(self, path: Path):
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"step": state.global_step, **logs}) + "\n")


# ---- the run ------------------------------------------------------------------------------------------------
def run_training(
    method: str = "crlft",
    dataset: Dataset | None = None,
    output_dir: str | Path = "runs/crlft",
    profile: Any = None,
    max_steps: int = -1,
    learning_rate: float | None = None,
    seed: int = 42,
    resume: bool = False,
    *,
    stop_at: int | None = None,
    precision: str | None = None,
    model_id: str | None = None,
    model: PreTrainedModel | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
    use_lora: bool = True,
    lora_overrides: dict[str, Any] | None = None,
    callbacks: Sequence[TrainerCallback] = (),
    progress: bool = True,
    **config_overrides: Any,
) -> TrainResult:
    """Train `method` (a key of :data:`METHODS`) on a labeled `dataset` (default: the shipped ``train.jsonl``).

    `profile` is a profile name or object (default: auto-detected). With `model`/`tokenizer` given (tests), they
    are used as they are instead of loading the profile's base. `resume=True` continues from the last checkpoint
    in `output_dir` (or starts fresh if there is none) and refuses a folder trained with other settings; without it,
    a folder that already holds checkpoints is refused (a fresh run would mix its checkpoints with them).
    `stop_at` ends the run at that step, on the learning-rate schedule of `max_steps` (the checkpoint a validation
    learning curve chose; the steps after it are never trained). `progress` shows one progress bar. Extra keyword
    arguments override `CRLFTConfig` fields."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    prof = profile if hasattr(profile, "lora_r") else get_profile(profile)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    dataset = select_for_method(dataset if dataset is not None else load_train_dataset(), method)
    settings = run_settings(method, prof, dataset, precision=precision, model_id=model_id, max_steps=max_steps,
                            learning_rate=learning_rate, seed=seed, lora_overrides=lora_overrides,
                            config_overrides=config_overrides, stop_at=stop_at)
    if stop_at is not None and not 0 < stop_at <= max_steps:
        raise ValueError(f"stop_at={stop_at} must lie in 1..max_steps={max_steps}")
    end = stop_at or max_steps
    last = get_last_checkpoint(str(output_dir))  # the checkpoint a resumed run continues from
    if resume:
        check_resumable(output_dir, settings)
    elif last is not None:  # a fresh run would mix its checkpoints with these
        raise ValueError(f"{display_path(output_dir)} already holds a training run (checkpoints); resume it "
                         "(resume=True, `crlft train --resume`), or delete it (`crlft reset`) or use another output_dir")
    if last is not None and 0 < end <= _checkpoint_step(last) \
            and (output_dir / "adapter_model.safetensors").exists():
        # a finished run: resuming it would run (and save) one more step each time, so re-running a cell is idempotent
        return TrainResult(method=method, output_dir=str(output_dir), global_step=_checkpoint_step(last),
                           train_loss=None, runtime_s=0.0, train_tokens_per_s=None, resumed_from=last)

    if model is None:
        model, tokenizer, token_ids = load_base_for_training(prof, precision, model_id)
    else:
        if tokenizer is None:
            raise ValueError("pass the tokenizer together with the model")
        token_ids = prepare_for_crlft(model, tokenizer)
    kto = METHODS[method].trainer == "kto"
    # KTO computes log-probabilities from lm_head.weight itself: the end-of-turn token's rows cannot train there
    tokens = {} if kto else trainable_token_indices(model, token_ids)
    peft_config = lora_config(prof, tokens, **(lora_overrides or {})) if use_lora else None
    if kto:
        config_overrides = {"desirable_weight": balanced_desirable_weight(dataset), **config_overrides}
    args = build_config(method, output_dir, prof, max_steps=max_steps, learning_rate=learning_rate, seed=seed,
                        **config_overrides)
    if resume and last is None:
        logger.info("--resume: no checkpoint in %s, starting from scratch", display_path(output_dir))
    if last is None:  # a fresh start (also --resume without a checkpoint) must not append to an old log
        (output_dir / LOG_FILE).unlink(missing_ok=True)
    else:
        _truncate_log(output_dir / LOG_FILE, _checkpoint_step(last))

    logged = [_JsonlLogger(output_dir / LOG_FILE), *callbacks]
    if kto:
        with quiet_progress(True):  # KTOTrainer tokenizes with datasets' map, one progress bar per pass
            trainer = CourseKTOTrainer(model, args=args, train_dataset=kto_dataset(dataset, seed),
                                       processing_class=tokenizer, peft_config=peft_config, callbacks=logged)
    else:
        trainer = CRLFTTrainer(model, args=args, train_dataset=dataset, processing_class=tokenizer,
                               peft_config=peft_config, callbacks=logged)
    if trainer.is_world_process_zero():  # recorded before the first checkpoint: a resume can always be checked
        (output_dir / RUN_FILE).write_text(json.dumps({"settings": settings, "status": "training"}, indent=2))
    # the log goes to training_log.jsonl and TrainResult.table(); on screen, one compact bar (or nothing)
    for callback in list(trainer.callback_handler.callbacks):
        printing = isinstance(callback, (PrinterCallback, ProgressCallback))
        if printing or type(callback).__name__ == "NotebookProgressCallback":
            trainer.remove_callback(callback)
    if progress:
        trainer.add_callback(_CompactProgress())
    if stop_at is not None and stop_at < max_steps:
        trainer.add_callback(_StopAt(stop_at))
    start = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=last)
    runtime = time.perf_counter() - start
    trainer.save_model(str(output_dir))  # adapter (safetensors) + tokenizer with the conditioned template

    report = getattr(trainer, "tokenization_report", None)  # CRLFTTrainer's; KTO has none
    tokens = trainer._total_train_tokens
    result = TrainResult(
        method=method, output_dir=str(output_dir), global_step=trainer.state.global_step,
        train_loss=output.training_loss if output else None, runtime_s=runtime,
        train_tokens_per_s=tokens / runtime if runtime > 0 and tokens else None,
        log_history=[h for h in trainer.state.log_history if "loss" in h],
        tokenization=asdict(report) if report else {}, resumed_from=last,
    )
    if trainer.is_world_process_zero():
        run_info = {
            "settings": settings, "status": "finished",
            "method": method, "method_description": METHODS[method].description, "profile": prof.name,
            "model_id": model_id or prof.model_id, "precision": precision or profile_precision(prof),
            "conditions": TEMPLATE_CONDITIONS, "end_of_turn_token": EOT_TOKEN,
            "conditioned": METHODS[method].conditioned, "weighted": METHODS[method].weighted,
            **({"beta": args.beta, "desirable_weight": args.desirable_weight,
                "undesirable_weight": args.undesirable_weight} if kto else {}),
            "max_steps": args.max_steps,
            "learning_rate": args.learning_rate, "seed": seed, "global_step": result.global_step,
            "train_loss": result.train_loss, "runtime_s": runtime, "resumed_from": last,
            "tokenization": result.tokenization,
        }
        (output_dir / RUN_FILE).write_text(json.dumps(run_info, indent=2, default=str))
    return result


def dataset_fingerprint(dataset: Dataset) -> str:
    """Short hash of a training set's rows (ids, messages, classes and weights): which data a run saw."""
    digest = hashlib.sha1()
    for row in dataset:
        digest.update(json.dumps(row, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:12]


def run_settings(method: str, profile: HardwareProfile, dataset: Dataset, *, precision: str | None,
                 model_id: str | None, max_steps: int, learning_rate: float | None, seed: int,
                 lora_overrides: dict[str, Any] | None = None,
                 config_overrides: dict[str, Any] | None = None, stop_at: int | None = None) -> dict[str, Any]:
    """Everything a run's result depends on, as recorded in its ``crlft_run.json`` (in JSON's own types, so it
    compares equal to what is read back): a folder trained with other settings is never taken for this run
    (:func:`check_resumable`)."""
    return json.loads(json.dumps({
        "method": method, "profile": profile.name, "model_id": model_id or profile.model_id,
        "precision": precision or profile_precision(profile), "compute_dtype": str(profile.compute_dtype),
        "max_steps": max_steps, "learning_rate": learning_rate or profile.learning_rate, "seed": seed,
        "data": dataset_fingerprint(dataset), "lora_overrides": dict(lora_overrides or {}),
        "config_overrides": dict(sorted((config_overrides or {}).items())),
        **({"stop_at": stop_at} if stop_at is not None else {}),  # absent when unset: older records stay valid
    }, default=str))


def check_resumable(output_dir: Path, settings: dict[str, Any]) -> None:
    """Raise ``ValueError`` when `output_dir` holds a run (checkpoints or a record) made with other settings, or
    checkpoints without a record: resuming it, or taking it as finished, would reuse a stale run."""
    record = output_dir / RUN_FILE
    recorded = json.loads(record.read_text()).get("settings") if record.exists() else None
    has_checkpoints = get_last_checkpoint(str(output_dir)) is not None
    if recorded is None:
        if has_checkpoints:
            raise ValueError(f"{display_path(output_dir)} holds checkpoints but no settings in {RUN_FILE}: cannot "
                             "tell what they were trained with; delete the folder (`crlft reset`) or use another")
        return
    differ = [f"{k}: {recorded.get(k)!r} there, {settings.get(k)!r} now"
              for k in sorted(set(recorded) | set(settings)) if recorded.get(k) != settings.get(k)]
    if differ:
        raise ValueError(f"{display_path(output_dir)} was trained with other settings ({'; '.join(differ)}); "
                         "resume only the same run: delete the folder (`crlft reset`) or use another output_dir")


def finished_run(output_dir: str | Path, settings: dict[str, Any]) -> bool:
    """Whether `output_dir` holds a finished run with exactly these settings (its adapter saved)."""
    output_dir = Path(output_dir)
    record = output_dir / RUN_FILE
    if not record.exists() or not (output_dir / "adapter_model.safetensors").exists():
        return False
    info = json.loads(record.read_text())
    return info.get("status") == "finished" and info.get("settings") == settings


def _checkpoint_step(checkpoint: str | Path) -> int:
    """The global step of a Trainer checkpoint folder (``checkpoint-N``)."""
    return int(Path(checkpoint).name.split("-")[-1])


def _truncate_log(path: Path, step: int) -> None:
    """Keep the log entries up to `step` (a resumed run rewrites what followed its checkpoint)."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines() if line and json.loads(line).get("step", 0) <= step]
    path.write_text("".join(line + "\n" for line in kept))


def read_log(output_dir: str | Path) -> list[dict[str, Any]]:
    """The training log of a run directory (one dict per logged step)."""
    path = Path(output_dir) / LOG_FILE
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
