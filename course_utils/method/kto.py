"""KTO on the source labels: what a practitioner would try instead of C-RLFT (lesson 07).

KTO (Ethayarajh et al., 2024) takes unpaired answers marked *desirable* or *undesirable*: exactly the source class
C-RLFT uses (expert = desirable, sub-optimal = undesirable). It is TRL's `KTOTrainer`, configured, not rewritten:

- the data: each conversation becomes ``prompt`` (its messages up to the last answer), ``completion`` (the last
  answer) and ``label``, rendered by the course's chat template with the *neutral* prefix (KTO has no condition;
  the model is asked with ``User:``/``Assistant:`` at inference, like the SFT baselines);
- the reference model: the base with the adapter disabled (TRL's PEFT path), so QLoRA needs no second model;
- the class weights: TRL's defaults are 1 / 1; with 10 % desirable answers the KTO paper's rule (its Eq. 8) asks
  for ``desirable_weight * n_desirable`` about equal to ``undesirable_weight * n_undesirable``, which
  :func:`balanced_desirable_weight` computes from the data;
- the order: KTO estimates its KL term from each micro-batch's mismatched pairs and so reads the data in order
  (TRL requires ``train_sampling_strategy="sequential"``); :func:`kto_dataset` shuffles with the training seed,
  as the random sampler of the other methods does.

What it cannot train: the end-of-turn token's embedding row (TRL computes log-probabilities from ``lm_head.weight``
directly and refuses an adapter on the output layer), so a KTO model learns to end its answers through the LoRA
layers alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from datasets import Dataset
from trl import KTOConfig, KTOTrainer

from course_utils.data.conditions import Condition

#: KTO's temperature: TRL's and the paper's default (lesson 07's exercise changes it).
KTO_BETA = 0.1


def kto_rows(dataset: Dataset) -> list[dict[str, Any]]:
    """The unpaired rows KTO trains on: ``prompt`` (messages before the last answer), ``completion`` (the last
    answer), ``label`` (True for the expert class) and the template's neutral condition. A conversation that does
    not end with an assistant message, or has no ``condition``, is an error naming it."""
    rows = []
    for index, row in enumerate(dataset):
        name = row.get("id", f"row {index}")
        messages = row.get("messages") or []
        if not messages or messages[-1].get("role") != "assistant":
            raise ValueError(f"conversation {name!r}: field 'messages' must end with an assistant message for KTO")
        if row.get("condition") not in (Condition.EXPERT, Condition.SUBOPTIMAL):
            raise ValueError(f"conversation {name!r}: field 'condition' must be 'expert' or 'suboptimal' for KTO, "
                             f"not {row.get('condition')!r} (label the data first)")
        rows.append({"prompt": [dict(m) for m in messages[:-1]], "completion": [dict(messages[-1])],
                     "label": row["condition"] == Condition.EXPERT,
                     "chat_template_kwargs": {"condition": Condition.NEUTRAL.value}})
    return rows


def kto_dataset(dataset: Dataset, seed: int) -> Dataset:
    """:func:`kto_rows` as a `Dataset`, shuffled with `seed` (KTO reads its data in order)."""
    return Dataset.from_list(kto_rows(dataset)).shuffle(seed=seed)


def balanced_desirable_weight(dataset: Dataset, undesirable_weight: float = 1.0) -> float:
    """The desirable weight that balances the two classes' total weight (the KTO paper's Eq. 8, lower end):
    ``undesirable_weight * n_undesirable / n_desirable``, rounded to two decimals."""
    labels = [row["condition"] == Condition.EXPERT for row in dataset]
    desirable = sum(labels)
    if not desirable or desirable == len(labels):
        raise ValueError(f"KTO needs both classes: {desirable} desirable of {len(labels)} conversations")
    return round(undesirable_weight * (len(labels) - desirable) / desirable, 2)


@dataclass
class CourseKTOConfig(KTOConfig):
    """`KTOConfig` whose trainable (LoRA) weights stay in full precision unless the run computes in bf16."""

    keep_fp32_adapter: bool = field(default=True, metadata={
        "help": "TRL casts a quantized model's trainable weights to bf16 (the QLoRA paper's choice); without bf16 "
                "compute (a CPU without native bf16) keep them in fp32, where bf16 matrix products are emulated."})


class CourseKTOTrainer(KTOTrainer):
    """TRL's `KTOTrainer`; on a run without bf16 compute its LoRA weights go back to fp32 after TRL's bf16 cast."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.args.keep_fp32_adapter and not self.args.bf16:
            for param in self.model.parameters():
                if param.requires_grad and param.dtype == torch.bfloat16:
                    param.data = param.data.float()
