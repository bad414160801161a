"""Tokenisation for C-RLFT: token ids plus a per-token loss weight and class id.

Each conversation is rendered with the conditioned chat template (:mod:`course_utils.conditioning`) and tokenised
once as a whole string, so the ids are exactly those ``tokenizer.apply_chat_template`` produces. Weights:

* 0 on BOS, the system prompt, every role prefix and every user turn;
* the conversation's class weight on each assistant message's content **and** its end-of-turn token.

Conversations left with no trainable token (no assistant turn, a zero weight, or truncated away) are dropped *and
reported* in a :class:`TokenizationReport`, never silently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping

from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from course_utils.conditioning import DATA_CLASSES, NEUTRAL_CONDITION, render_conversation, special_strings

logger = logging.getLogger(__name__)

#: Default class rewards of C-RLFT (OpenChat): expert 1.0, sub-optimal 0.1.
DEFAULT_CLASS_WEIGHTS: dict[str, float] = {"expert": 1.0, "suboptimal": 0.1}
#: Columns the trainer reads from a tokenised dataset.
TOKENIZED_COLUMNS = ("input_ids", "labels", "loss_weights", "token_classes")


@dataclass
class TokenizationReport:
    """What tokenisation kept and what it dropped (with the reason), per data class."""

    kept: int = 0
    dropped: list[dict[str, str]] = field(default_factory=list)  # {"id", "reason"}
    truncated: int = 0
    tokens: int = 0
    trainable_tokens: dict[str, int] = field(default_factory=dict)
    conversations: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for logs and notebooks."""
        per_class = ", ".join(f"{c}: {n} conv / {self.trainable_tokens.get(c, 0)} trainable tok"
                              for c, n in sorted(self.conversations.items()))
        return (f"kept {self.kept} conversations ({per_class}); {self.tokens} tokens; "
                f"truncated {self.truncated}; dropped {len(self.dropped)}")


def class_index(name: str) -> int:
    """Stable integer id of a data class (its position in :data:`DATA_CLASSES`); -1 if unknown."""
    return DATA_CLASSES.index(name) if name in DATA_CLASSES else -1


def tokenize_conversation(
    messages: list[dict[str, str]],
    tokenizer: PreTrainedTokenizerBase,
    *,
    condition: str,
    weight: float,
    data_class: str | None = None,
    max_length: int | None = None,
    normalize_by_length: bool = False,
    specials: list[str] | None = None,
) -> dict[str, Any]:
    """Tokenise one conversation rendered under `condition` (a class name or ``"none"``).

    Returns ``input_ids``, ``labels`` (-100 where the weight is 0), ``loss_weights`` (floats), ``token_classes``
    (class id of `data_class` on trainable tokens, -1 elsewhere) and ``truncated`` (bool). With
    `normalize_by_length`, each assistant message's weight is divided by its token count (per-message mean)."""
    specials = special_strings(tokenizer) if specials is None else specials
    text, spans = render_conversation(messages, condition, bos_token=tokenizer.bos_token, specials=specials)
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = list(encoding["input_ids"])
    offsets = encoding["offset_mapping"]
    weights = [0.0] * len(ids)
    span_of_token = [-1] * len(ids)
    span_index = 0
    for t, (start, _end) in enumerate(offsets):
        while span_index < len(spans) and start >= spans[span_index][1]:
            span_index += 1
        if span_index < len(spans) and spans[span_index][0] <= start < spans[span_index][1]:
            span_of_token[t] = span_index
    if weight:
        counts: dict[int, int] = {}
        for s in span_of_token:
            if s >= 0:
                counts[s] = counts.get(s, 0) + 1
        for t, s in enumerate(span_of_token):
            if s >= 0:
                weights[t] = weight / counts[s] if normalize_by_length else weight
    truncated = max_length is not None and len(ids) > max_length
    if truncated:
        ids, weights = ids[:max_length], weights[:max_length]
    cls = class_index(data_class) if data_class is not None else -1
    labels = [i if w > 0 else -100 for i, w in zip(ids, weights)]
    token_classes = [cls if w > 0 else -1 for w in weights]
    return {"input_ids": ids, "labels": labels, "loss_weights": weights, "token_classes": token_classes,
            "truncated": truncated}


def tokenize_dataset(
    dataset: Dataset,
    tokenizer: PreTrainedTokenizerBase,
    *,
    conditioned: bool = True,
    weighted: bool = True,
    class_weights: Mapping[str, float] | None = None,
    max_length: int | None = None,
    normalize_by_length: bool = False,
) -> tuple[Dataset, TokenizationReport]:
    """Tokenise a labeled dataset (``messages``, ``condition``, optional ``weight``, ``id``) for the trainer.

    `conditioned=False` renders every conversation with the neutral prefix; `weighted=False` gives every
    assistant token weight 1. Otherwise the weight is ``class_weights[condition]`` when `class_weights` is given,
    else the row's ``weight`` column. Returns the dataset (columns :data:`TOKENIZED_COLUMNS` plus ``id``,
    ``condition``) and a report of what was kept and dropped."""
    specials = special_strings(tokenizer)
    report = TokenizationReport()
    rows: dict[str, list] = {c: [] for c in (*TOKENIZED_COLUMNS, "id", "condition")}
    has_weight = "weight" in dataset.column_names
    for index, example in enumerate(dataset):
        data_class = example.get("condition") or "expert"
        sample_id = str(example.get("id", index))
        if not weighted:
            weight = 1.0
        elif class_weights is not None:
            if data_class not in class_weights:
                raise KeyError(f"no class weight for condition {data_class!r} (row {sample_id})")
            weight = float(class_weights[data_class])
        elif has_weight and example["weight"] is not None:
            weight = float(example["weight"])
        else:
            weight = DEFAULT_CLASS_WEIGHTS.get(data_class, 1.0)
        out = tokenize_conversation(
            example["messages"], tokenizer,
            condition=data_class if conditioned else NEUTRAL_CONDITION,
            weight=weight, data_class=data_class, max_length=max_length,
            normalize_by_length=normalize_by_length, specials=specials,
        )
        n_trainable = sum(1 for w in out["loss_weights"] if w > 0)
        if n_trainable == 0:
            if not any(m["role"] == "assistant" for m in example["messages"]):
                reason = "no assistant turn"
            elif weight == 0:
                reason = "class weight is 0"
            else:
                reason = f"assistant turns truncated away (max_length={max_length})"
            report.dropped.append({"id": sample_id, "reason": reason})
            continue
        report.kept += 1
        report.truncated += int(out["truncated"])
        report.tokens += len(out["input_ids"])
        report.conversations[data_class] = report.conversations.get(data_class, 0) + 1
        report.trainable_tokens[data_class] = report.trainable_tokens.get(data_class, 0) + n_trainable
        for column in TOKENIZED_COLUMNS:
            rows[column].append(out[column])
        rows["id"].append(sample_id)
        rows["condition"].append(data_class)
    if report.dropped:
        logger.warning("C-RLFT tokenisation dropped %d conversation(s) with no trainable token: %s",
                       len(report.dropped), report.dropped[:5])
    return Dataset.from_dict(rows), report
