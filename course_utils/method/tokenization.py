"""Tokenisation for C-RLFT: token ids plus a per-token loss weight and class id.

Each conversation is rendered with the conditioned chat template (:mod:`course_utils.method.conditioning`) and tokenised
once as a whole string, so the ids are exactly those ``tokenizer.apply_chat_template`` produces. Weights:

* 0 on BOS, the system prompt, every role prefix and every user turn;
* the conversation's class weight on each assistant message's content **and** its end-of-turn token.

The weight of a conversation is its ``weight`` field, written by labeling (:mod:`course_utils.data.labeling`);
``weighted=False`` makes it 1. Conversations left with no trainable token (no assistant turn, a zero weight, or
truncated away) are dropped, and conversations cut at ``max_length`` are counted with the tokens and the
trainable weight they lost: all of it in a :class:`TokenizationReport`, never silently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from course_utils.method.conditioning import render_conversation, special_strings
from course_utils.data.conditions import DATA_CLASSES, Condition, class_index

logger = logging.getLogger(__name__)

#: Columns the trainer reads from a tokenised dataset.
TOKENIZED_COLUMNS = ("input_ids", "labels", "loss_weights", "token_classes")


@dataclass
class TokenizationReport:
    """What tokenisation kept and what it dropped (with the reason), per data class."""

    kept: int = 0
    dropped: list[dict[str, str]] = field(default_factory=list)  # {"id", "reason"}
    truncated: int = 0
    truncated_tokens: int = 0
    truncated_weight: float = 0.0
    trainable_weight: float = 0.0
    tokens: int = 0
    trainable_tokens: dict[str, int] = field(default_factory=dict)
    conversations: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for logs and notebooks."""
        per_class = ", ".join(f"{c}: {n} conv / {self.trainable_tokens.get(c, 0)} trainable tok"
                              for c, n in sorted(self.conversations.items()))
        cut = ""
        if self.truncated:
            cut = (f" ({self.truncated_tokens} tokens, {100 * self.truncated_weight_share:.1f} % of the trainable "
                   f"weight cut)")
        return (f"kept {self.kept} conversations ({per_class}); {self.tokens} tokens; "
                f"truncated {self.truncated}{cut}; dropped {len(self.dropped)}")

    @property
    def truncated_weight_share(self) -> float:
        """Share of the trainable weight (before truncation) that truncation cut away."""
        total = self.trainable_weight + self.truncated_weight
        return self.truncated_weight / total if total else 0.0


def tokenize_conversation(
    messages: list[dict[str, str]],
    tokenizer: PreTrainedTokenizerBase,
    *,
    condition: str | Condition,
    weight: float,
    data_class: str | None = None,
    max_length: int | None = None,
    normalize_by_length: bool = False,
    specials: list[str] | None = None,
) -> dict[str, Any]:
    """Tokenise one conversation rendered under `condition` (a :class:`Condition` or its name).

    Returns ``input_ids``, ``labels`` (-100 where the weight is 0), ``loss_weights`` (floats), ``token_classes``
    (class id of `data_class` on trainable tokens, -1 elsewhere), ``truncated`` (bool), and ``cut_tokens`` /
    ``cut_weight`` (what truncation removed). With
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
    cut_tokens, cut_weight = 0, 0.0
    if truncated:
        cut_tokens, cut_weight = len(ids) - max_length, sum(weights[max_length:])
        ids, weights = ids[:max_length], weights[:max_length]
    cls = class_index(data_class) if data_class is not None else -1
    labels = [i if w > 0 else -100 for i, w in zip(ids, weights)]
    token_classes = [cls if w > 0 else -1 for w in weights]
    return {"input_ids": ids, "labels": labels, "loss_weights": weights, "token_classes": token_classes,
            "truncated": truncated, "cut_tokens": cut_tokens, "cut_weight": cut_weight}


def tokenize_dataset(
    dataset: Dataset,
    tokenizer: PreTrainedTokenizerBase,
    *,
    conditioned: bool = True,
    weighted: bool = True,
    max_length: int | None = None,
    normalize_by_length: bool = False,
) -> tuple[Dataset, TokenizationReport]:
    """Tokenise a labeled dataset (``messages``, ``condition``, ``weight``, ``id``) for the trainer.

    `conditioned=False` renders every conversation with the neutral prefix; `weighted=False` gives every
    assistant token weight 1, otherwise each conversation's ``weight`` is used. Returns the dataset (columns
    :data:`TOKENIZED_COLUMNS` plus ``id``, ``condition``) and a report of what was kept, cut and dropped."""
    missing = [c for c in ("messages", "condition", *(("weight",) if weighted else ())) if c not in dataset.column_names]
    if missing:
        raise ValueError(f"the dataset lacks the column(s) {missing}: label it first "
                         "(course_utils.data.labeling.label_by_source or label_by_score)")
    specials = special_strings(tokenizer)
    report = TokenizationReport()
    rows: dict[str, list] = {c: [] for c in (*TOKENIZED_COLUMNS, "id", "condition")}
    for index, example in enumerate(dataset):
        sample_id = str(example.get("id", index))
        data_class = example["condition"]
        if data_class not in DATA_CLASSES:
            raise ValueError(f"record {index} (id {sample_id!r}): condition: unknown class {data_class!r} "
                             f"(expected one of {[c.value for c in DATA_CLASSES]})")
        weight = float(example["weight"]) if weighted else 1.0
        if weighted and not (weight >= 0 and weight != float("inf")):
            raise ValueError(f"record {index} (id {sample_id!r}): weight: is {example['weight']!r}, "
                             "expected a finite number >= 0")
        out = tokenize_conversation(
            example["messages"], tokenizer,
            condition=data_class if conditioned else Condition.NEUTRAL,
            weight=weight, data_class=data_class, max_length=max_length,
            normalize_by_length=normalize_by_length, specials=specials,
        )
        n_trainable = sum(1 for w in out["loss_weights"] if w > 0)
        if n_trainable == 0:
            if not any(m["role"] == "assistant" for m in example["messages"]):
                reason = "no assistant turn"
            elif weight == 0:
                reason = "weight is 0"
            else:
                reason = f"assistant turns truncated away (max_length={max_length})"
            report.dropped.append({"id": sample_id, "reason": reason})
            continue
        report.kept += 1
        report.truncated += int(out["truncated"])
        report.truncated_tokens += out["cut_tokens"]
        report.truncated_weight += out["cut_weight"]
        report.trainable_weight += sum(out["loss_weights"])
        report.tokens += len(out["input_ids"])
        report.conversations[data_class] = report.conversations.get(data_class, 0) + 1
        report.trainable_tokens[data_class] = report.trainable_tokens.get(data_class, 0) + n_trainable
        for column in TOKENIZED_COLUMNS:
            rows[column].append(out[column])
        rows["id"].append(sample_id)
        rows["condition"].append(str(data_class))
    if report.dropped:
        logger.warning("C-RLFT tokenisation dropped %d conversation(s) with no trainable token: %s",
                       len(report.dropped), report.dropped[:5])
    if report.truncated:
        logger.warning("C-RLFT tokenisation cut %d conversation(s) at max_length=%s: %s", report.truncated,
                       max_length, report.summary())
    return Dataset.from_dict(rows), report


def token_weights(tokenizer, messages: Sequence[Mapping[str, str]], condition: str, weight: float) -> list[tuple[str, float]]:
    """``(token text, loss weight)`` for one conversation as the C-RLFT trainer sees it.

    Uses the trainer's tokenisation on a tokenizer prepared with
    ``conditioning.prepare_tokenizer``: zero on BOS, system prompt, role prefixes and user turns, ``weight`` on
    each assistant answer and its end-of-turn token."""
    out = tokenize_conversation(list(messages), tokenizer, condition=condition, weight=weight, data_class=condition)
    return [(tokenizer.decode([i]), w) for i, w in zip(out["input_ids"], out["loss_weights"])]


def token_weights_html(pairs: Sequence[tuple[str, float]], max_weight: float = 1.0) -> str:
    """HTML that colours each token by its loss weight (white = 0, green = ``max_weight``)."""
    import html

    spans = []
    for text, w in pairs:
        alpha = min(1.0, w / max_weight) if max_weight else 0.0
        shown = html.escape(text).replace("\n", "\u21b5<br>")
        spans.append(
            f'<span title="weight {w:g}" style="background: rgba(0, 160, 0, {0.15 + 0.7 * alpha if w else 0:.2f}); '
            f'border: 1px solid #ddd; font-family: monospace">{shown}</span>'
        )
    return '<div style="line-height: 2">' + "".join(spans) + "</div>"
