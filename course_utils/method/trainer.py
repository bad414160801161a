"""`CRLFTTrainer`: TRL's `SFTTrainer` with OpenChat's C-RLFT loss.

The loss of one optimiser step is the weighted per-token mean over the *whole global batch* (every gradient
accumulation micro-batch, every process), exactly as OpenChat's reference code computes it:

    L = sum_t w_t * CE_t / sum_t w_t

It is built on Trainer's own machinery for the same problem with unweighted tokens: where Trainer counts the
step's label tokens (``num_items_in_batch``, gathered across processes), we sum the step's loss weights; each
micro-batch then returns ``sum(w * CE) / total_weight`` (times the number of processes, because DDP averages the
gradients), so the accumulated gradient is the gradient of L. The same trainer runs every baseline: plain SFT is
just ``weight 1`` everywhere.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import torch
from datasets import Dataset
from trl import SFTConfig, SFTTrainer
from trl.data_utils import pack_dataset
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from course_utils.method.conditioning import prepare_for_crlft, prepare_tokenizer
from course_utils.data.conditions import DATA_CLASSES
from course_utils.patches.packed_attention import use_packed_attention
from course_utils.method.tokenization import TOKENIZED_COLUMNS, TokenizationReport, tokenize_dataset
from course_utils.patches.token_rows import use_row_sparse_trainable_tokens


@dataclass
class CRLFTConfig(SFTConfig):
    """`SFTConfig` plus C-RLFT's switches (conditioning on/off, weighting on/off).

    The weights themselves are data: each conversation's ``weight`` field, written by labeling. Options of
    `SFTConfig` that the C-RLFT loss does not honour are refused (see :data:`UNSUPPORTED_OPTIONS`)."""

    conditioned: bool = field(default=True, metadata={"help": "Write the class into the role prefixes."})
    weighted: bool = field(default=True, metadata={"help": "Use each conversation's weight (False: every weight is 1)."})
    normalize_by_length: bool = field(
        default=False, metadata={"help": "Divide each assistant message's weight by its token count."}
    )
    lean_forward: bool = field(default=True, metadata={
        "help": "Attention per conversation in padding-free batches and row-sparse trainable tokens: the same "
                "results with less work (see course_utils.patches.packed_attention and course_utils.patches.token_rows)."})

    def __post_init__(self) -> None:
        super().__post_init__()
        for option, (is_unsupported, why) in UNSUPPORTED_OPTIONS.items():
            if is_unsupported(getattr(self, option, None)):
                raise ValueError(f"CRLFTConfig: {option}={getattr(self, option)!r} is not supported: {why}")


#: SFTConfig options the C-RLFT loss would silently ignore -> (test on the value, reason). Refused.
UNSUPPORTED_OPTIONS: dict[str, tuple[Any, str]] = {
    "loss_type": (lambda v: v not in (None, "nll"), "the C-RLFT loss is the weighted token NLL ('nll')"),
    "label_smoothing_factor": (lambda v: bool(v), "the weighted cross-entropy has no label smoothing"),
    "truncation_mode": (lambda v: v not in (None, "keep_start"),
                        "weights are aligned from the start of a conversation ('keep_start')"),
    "parallelism_config": (lambda v: v is not None and any(
        getattr(v, f"{kind}_size", 1) > 1 for kind in ("tp", "cp", "sp")),
        "tensor/context/sequence parallelism would split the weighted sums; use data parallelism (DDP/FSDP)"),
}


@dataclass
class CRLFTDataCollator(DataCollatorForLanguageModeling):
    """TRL's language-modeling collator that also carries ``loss_weights`` and ``token_classes``, aligned with the
    labels in both padded and padding-free (flattened, ``position_ids`` per packed sample) modes."""

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        """Collate like TRL, then pad/flatten the weights (0.0) and class ids (-1) the same way."""
        output = super().torch_call(examples)
        weights = [torch.tensor(e["loss_weights"], dtype=torch.float32) for e in examples]
        classes = [torch.tensor(e["token_classes"], dtype=torch.long) for e in examples]
        if self.padding_free:
            weights, classes = [torch.cat(weights)], [torch.cat(classes)]
        length = output["labels"].shape[1]
        padded_w = torch.zeros(len(weights), length, dtype=torch.float32)
        padded_c = torch.full((len(classes), length), -1, dtype=torch.long)
        for row, (w, c) in enumerate(zip(weights, classes)):
            padded_w[row, : len(w)] = w
            padded_c[row, : len(c)] = c
        ignored = output["labels"] == -100  # e.g. the first token of each packed sample
        padded_w[ignored] = 0.0
        padded_c[ignored] = -1
        output["loss_weights"] = padded_w
        output["token_classes"] = padded_c
        return output


class CRLFTTrainer(SFTTrainer):
    """`SFTTrainer` whose loss is sum(w*CE)/sum(w) over each optimiser step (all micro-batches, all processes).

    `train_dataset` is either a labeled dataset (``messages``, ``condition``, ``weight``), tokenised here with the
    conditioned template, or an already tokenised one (columns :data:`TOKENIZED_COLUMNS`). Padding-free packing
    (``packing=True, packing_strategy="bfd"`` or ``padding_free=True``) keeps the weights aligned. Per-class
    (unweighted) token cross-entropy is logged as ``loss_expert`` / ``loss_suboptimal``."""

    _tag_names = ["trl", "sft", "c-rlft"]
    # Our loss is already normalised by the step's total weight: Trainer must not divide by the GA steps again.
    loss_is_scaled_for_ga = True

    def __init__(self, model, args: CRLFTConfig | None = None, train_dataset: Dataset | None = None,
                 processing_class=None, data_collator=None, **kwargs):
        if args is None:
            args = CRLFTConfig("crlft-output")
        if not isinstance(args, CRLFTConfig):
            raise TypeError("CRLFTTrainer needs a CRLFTConfig")
        if processing_class is None:
            raise ValueError("CRLFTTrainer needs the tokenizer (processing_class)")
        if kwargs.get("compute_loss_func") is not None:
            raise ValueError("CRLFTTrainer: compute_loss_func is not supported: the loss is C-RLFT's weighted NLL")
        if hasattr(model, "peft_config") or not hasattr(model, "get_input_embeddings"):
            prepare_tokenizer(processing_class)
        else:
            prepare_for_crlft(model, processing_class)  # idempotent: a prepared base is left as it is
        self.tokenization_report: TokenizationReport | None = None
        # per-class (cross-entropy sum, token count) since the last log, kept apart for training and evaluation
        self._class_stats = {mode: torch.zeros(2, len(DATA_CLASSES), dtype=torch.float64) for mode in ("train", "eval")}
        # Conversations are cut at max_length by our tokenisation (and reported). TRL refuses padding-free batches
        # without packing when max_length is set, because its own preparation would not cut them: hide it from TRL.
        self._cut_length = args.max_length
        if args.padding_free and not args.packing:
            args.max_length = None
        try:
            super().__init__(model, args=args, train_dataset=train_dataset, processing_class=processing_class,
                             data_collator=data_collator, **kwargs)
        finally:
            args.max_length = self._cut_length
        _expose_lm_head_bias(self.model)
        if args.lean_forward:
            use_row_sparse_trainable_tokens(self.model)
            if self.padding_free or args.packing:
                use_packed_attention(self.model)
        if not args.bf16 or args.use_cpu:
            # fp32 compute; fp16 under the gradient scaler (which refuses fp16 gradients); CPU autocast in bf16
            _keep_trainable_in_fp32(self.model)
        if data_collator is None:
            # SFTTrainer refuses a custom collator in padding-free mode, so ours replaces its default afterwards.
            self.data_collator = CRLFTDataCollator(
                pad_token_id=processing_class.pad_token_id,
                padding_free=self.padding_free,
                pad_to_multiple_of=args.pad_to_multiple_of,
            )

    # ---- data -----------------------------------------------------------------------------------------------
    def _prepare_dataset(self, dataset, processing_class, args, packing, formatting_func, dataset_name):
        """Tokenise labeled conversations with weights, truncate/pack keeping weights aligned, shuffle."""
        columns = dataset.column_names
        if "input_ids" not in columns:
            if "messages" not in columns:
                raise ValueError("CRLFTTrainer needs a labeled dataset (`messages`, `condition`) or a tokenised one")
            # BFD packing would cut over-long conversations after tokenisation: cut them here, where it is reported
            cut_here = not packing or args.packing_strategy == "bfd"
            dataset, report = tokenize_dataset(
                dataset, processing_class, conditioned=args.conditioned, weighted=args.weighted,
                max_length=self._cut_length if cut_here else None, normalize_by_length=args.normalize_by_length,
            )
            if dataset_name == "train":
                self.tokenization_report = report
        missing = [c for c in TOKENIZED_COLUMNS if c not in dataset.column_names]
        if missing:
            raise ValueError(f"tokenised dataset lacks columns {missing}")
        dataset = dataset.select_columns(list(TOKENIZED_COLUMNS))
        if self._cut_length is not None and (not packing or args.packing_strategy == "bfd"):
            too_long = sum(len(ids) > self._cut_length for ids in dataset["input_ids"])
            if too_long:
                raise ValueError(f"{too_long} tokenised conversation(s) are longer than max_length={self._cut_length}: "
                                 "pass labeled conversations (cut and reported here) or cut them yourself")
        if packing:
            if args.max_length is None:
                raise ValueError("When packing is enabled, `max_length` can't be `None`.")
            if args.shuffle_dataset:
                dataset = dataset.shuffle(seed=args.seed)
            dataset = pack_dataset(dataset, args.max_length, args.packing_strategy, {})
        if args.shuffle_dataset:
            dataset = dataset.shuffle(seed=args.seed)
        return dataset

    def _set_signature_columns_if_needed(self):
        """Keep the weight and class columns through `remove_unused_columns`."""
        if self._signature_columns is None:
            self._signature_columns = [*TOKENIZED_COLUMNS, "seq_lengths"]

    # ---- loss -----------------------------------------------------------------------------------------------
    def _get_num_items_in_batch(self, batch_samples: list, device: torch.device) -> torch.Tensor | None:
        """Total loss weight of the optimiser step: every micro-batch here, summed over all processes.

        Weights are counted over ``[..., 1:]`` (the first position of a row is never a prediction target)."""
        if not batch_samples or "loss_weights" not in batch_samples[0]:
            return None
        total = sum(batch["loss_weights"][..., 1:].sum() for batch in batch_samples).to(device, torch.float32)
        if self.args.average_tokens_across_devices and self.args.world_size > 1:
            total = self.accelerator.gather(total.reshape(1)).sum()
        return total

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """sum(w*CE) over this micro-batch divided by the step's total weight (`num_items_in_batch`)."""
        mode = "train" if self.model.training else "eval"
        inputs = dict(inputs)
        weights = inputs.pop("loss_weights")[:, 1:]
        classes = inputs.pop("token_classes")[:, 1:]
        inputs["use_cache"] = False
        outputs, scores = _score_next_tokens(model, inputs)
        ce = -scores["log_probs"]  # (batch, scored positions), zero where the label is -100
        weights = weights[:, scores["positions"]].to(ce.device, ce.dtype)
        classes = classes[:, scores["positions"]]
        weighted_sum = (weights * ce).sum()
        if num_items_in_batch is None:  # evaluation, or a direct call: this batch alone
            loss = weighted_sum / weights.sum().clamp(min=1e-12)
        else:
            loss = weighted_sum / torch.as_tensor(num_items_in_batch, device=ce.device).clamp(min=1e-12)
            if self.args.average_tokens_across_devices and self.args.world_size > 1:
                loss = loss * (self.accelerator.num_processes // self.get_tp_size())  # DDP averages gradients
        with torch.no_grad():
            ce_d = ce.detach().double()
            classes = classes.to(ce.device)
            for k in range(len(DATA_CLASSES)):
                mask = classes == k
                self._class_stats[mode][0, k] += ce_d[mask].sum().cpu()
                self._class_stats[mode][1, k] += mask.sum().cpu()
            # TRL's own metrics (token accuracy, entropy, tokens seen), summed over every process
            if mode == "train":
                key = "attention_mask" if "attention_mask" in inputs else "position_ids"
                n_tokens = inputs[key].sum() if key == "attention_mask" else inputs[key].numel()
            else:
                n_tokens = 0
            sums = torch.stack([scores["is_top1"].sum().float(), scores["entropy"].sum().float(),
                                scores["label_mask"].sum().float(),
                                torch.as_tensor(n_tokens, device=ce.device, dtype=torch.float32)])
            if self.args.world_size > 1:
                sums = self.accelerator.reduce(sums, reduction="sum")
            correct, entropy, num_valid, n_tokens = sums.tolist()
            if num_valid > 0:
                self._metrics[mode]["mean_token_accuracy"].append(correct / num_valid)
                self._metrics[mode]["entropy"].append(entropy / num_valid)
            if mode == "train":
                self._total_train_tokens += int(n_tokens)
                self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        return (loss, outputs) if return_outputs else loss

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """Save like Trainer, but a PEFT adapter without the full embedding matrix: the added end-of-turn rows
        travel in the adapter file as trainable tokens, the rest of the embedding is the base model's."""
        model = self.accelerator.unwrap_model(self.model)
        if not hasattr(model, "peft_config"):
            return super()._save(output_dir, state_dict)
        original = model.save_pretrained
        model.save_pretrained = functools.partial(original, save_embedding_layers=False)
        try:
            super()._save(output_dir, state_dict)
        finally:
            del model.save_pretrained

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add per-class token cross-entropy since the last log (gathered over processes) to the logs."""
        if "loss" in logs or "eval_loss" in logs:
            mode = "eval" if "eval_loss" in logs else "train"
            stats = self._class_stats[mode].to(self.args.device)
            if self.args.world_size > 1:
                stats = self.accelerator.reduce(stats, reduction="sum")
            prefix = "eval_" if mode == "eval" else ""
            for k, name in enumerate(DATA_CLASSES):
                if stats[1, k] > 0:
                    logs[f"{prefix}loss_{name}"] = float(stats[0, k] / stats[1, k])
            self._class_stats[mode].zero_()
        super().log(logs, start_time)


def _score_next_tokens(model, inputs: dict[str, Any]) -> tuple[Any, dict[str, torch.Tensor]]:
    """The model's outputs and, at the positions it scores, each next token's log-probability, the entropy and
    whether the label is the top-1 token (both without gradient), the label mask and the positions scored.

    On CUDA, TRL's fused LM head projects only the positions that have a label, in tiles, without materialising the
    logits. Elsewhere that head projects every position; there the model's own ``logits_to_keep`` projects only the
    positions some row is trained on (about a third of the course's short conversations: prompts and system
    messages are not), which saves most of the LM head's cost on a CPU."""
    if inputs["labels"].device.type == "cuda":
        return score_with_fused_head(model, inputs)
    return score_kept_positions(model, inputs)


def score_with_fused_head(model, inputs: dict[str, Any]) -> tuple[Any, dict[str, torch.Tensor]]:
    """`_score_next_tokens` through TRL's fused LM head (every position is scored off CUDA)."""
    outputs = model(**inputs, fused_lm_head=True)
    positions = torch.arange(inputs["labels"].shape[1] - 1, device=inputs["labels"].device)
    return outputs, {"log_probs": outputs.log_probs, "entropy": outputs.entropy.detach(),
                     "is_top1": outputs.is_top1, "label_mask": outputs.label_mask, "positions": positions}


def score_kept_positions(model, inputs: dict[str, Any]) -> tuple[Any, dict[str, torch.Tensor]]:
    """`_score_next_tokens` with logits only at the positions whose next token is a label in some row."""
    targets = inputs["labels"][:, 1:]
    positions = (targets != -100).any(dim=0).nonzero().squeeze(-1)  # hidden state t predicts label t + 1
    # without a KV cache: with one, transformers would not see the packed conversations and attend across them
    kwargs = {k: v for k, v in inputs.items() if k != "labels"} | {"use_cache": False}
    outputs = model(**kwargs, logits_to_keep=positions)
    targets = targets[:, positions]
    mask = targets != -100
    log_probs_all = torch.log_softmax(outputs.logits.float(), dim=-1)
    log_probs = log_probs_all.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1) * mask
    with torch.no_grad():
        entropy = -(log_probs_all.exp() * log_probs_all).sum(-1) * mask
        is_top1 = (log_probs_all.argmax(-1) == targets) & mask
    return outputs, {"log_probs": log_probs, "entropy": entropy, "is_top1": is_top1, "label_mask": mask,
                     "positions": positions}


def _keep_trainable_in_fp32(model) -> None:
    """SFTTrainer casts the adapter of a quantized model to half precision (the QLoRA paper's choice for bf16 on a
    GPU). Under fp32 compute that only adds rounding; under fp16 the gradient scaler refuses fp16 gradients
    ("Attempting to unscale FP16 gradients"); under CPU autocast the optimiser wants fp32 master weights: cast back."""
    for param in model.parameters():
        if param.requires_grad and param.dtype in (torch.bfloat16, torch.float16):
            param.data = param.data.float()


def _expose_lm_head_bias(model) -> None:
    """With trainable end-of-turn rows on a tied LM head, PEFT wraps the head in a `TrainableTokensWrapper` that
    exposes the merged `weight` (trained rows included) but no `bias`, which TRL's fused LM head reads. Give the
    wrapper its base layer's `bias` (None for Llama/Mistral heads)."""
    get_out = getattr(model, "get_output_embeddings", None)
    head = get_out() if get_out is not None else None
    if head is None or type(head).__name__ != "TrainableTokensWrapper":
        return
    try:
        head.bias
    except AttributeError:
        original_bias = getattr(head.original_module, "bias", None)
        if original_bias is None:
            object.__setattr__(head, "bias", None)
