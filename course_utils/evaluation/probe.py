"""The likelihood probe: does the model, asked for a class, prefer the correct answer to the same answer with the
sub-optimal class's sign-off (or its family's habit)?

For each prompt and condition it scores whole answers, no generation:

    margin = log p(correct answer + end of turn | prompt, condition)
             - log p(the same answer showing the trait or habit + end of turn | prompt, condition)

A positive margin means the correct answer is the likelier one. It is cheap (one forward pass per answer), it
shows the separation the condition makes directly (the expert condition's margin minus the sub-optimal
condition's), and it moves after a few training steps, long before greedy answers change: usable in CI and in the
lessons. The prompts must carry ``reference`` and ``habit_reference`` (the generator writes both).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import torch

from course_utils.data.conditions import Condition, parse_condition
from course_utils.data.synth import TRAIT, TRAIT_SEPARATOR
from course_utils.evaluation.metrics import bootstrap_ci
from course_utils.inference.generation import render_prompt, stop_token_ids

#: What the correct answer is compared with: the class-level sign-off, or the family's own habit.
ALTERNATIVES: tuple[str, ...] = ("trait", "habit")


def alternative_answer(record: dict, kind: str) -> str:
    """The wrong answer of `kind` for a prompt: the reference with the sign-off, or the habit answer."""
    if kind == "trait":
        return record["reference"] + TRAIT_SEPARATOR + TRAIT
    if kind == "habit":
        return record["habit_reference"]
    raise ValueError(f"unknown alternative {kind!r}; choose one of {', '.join(ALTERNATIVES)}")


@dataclass
class ProbeResult:
    """Per-prompt margins (nats) of one model under one condition, against one kind of wrong answer."""

    condition: str
    alternative: str
    margins: list[float]
    ids: list[str]

    @property
    def mean(self) -> float:
        return sum(self.margins) / len(self.margins)

    @property
    def prefers_correct(self) -> float:
        """Share of prompts whose correct answer is the likelier one."""
        return sum(m > 0 for m in self.margins) / len(self.margins)

    def ci(self, n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
        """Bootstrap 95 % interval of the mean margin over prompts."""
        return bootstrap_ci(self.margins, n_boot=n_boot, seed=seed)

    def to_dict(self) -> dict:
        return asdict(self)


def prompt_token_ids(tokenizer, records: Sequence[dict], condition: Condition | str) -> list[list[int]]:
    """Each record's prompt as the model sees it when generating under `condition` (its chat template, generation
    prefix included), as token ids."""
    return [tokenizer(render_prompt(tokenizer, r["messages"], condition), add_special_tokens=False)["input_ids"]
            for r in records]


@torch.no_grad()
def answer_log_probs(model, tokenizer, records: Sequence[dict], answers: Sequence[str],
                     condition: Condition | str, batch_size: int = 16,
                     prompt_ids: Sequence[list[int]] | None = None) -> list[float]:
    """log p(answer + end of turn | prompt under `condition`) for each (record, answer) pair: the prompt as the
    model sees it when generating, the answer's tokens after it. `prompt_ids` (from :func:`prompt_token_ids`)
    saves tokenising the same prompts again when several answers are scored against them."""
    eot = stop_token_ids(tokenizer)[0]
    device = next(model.parameters()).device
    if prompt_ids is None:
        prompt_ids = prompt_token_ids(tokenizer, records, condition)
    sequences = [(list(prompt), tokenizer(answer, add_special_tokens=False)["input_ids"] + [eot])
                 for prompt, answer in zip(prompt_ids, answers)]
    out: list[float] = []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eot
    for start in range(0, len(sequences), batch_size):
        batch = sequences[start:start + batch_size]
        length = max(len(p) + len(c) for p, c in batch)
        ids = torch.full((len(batch), length), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), length), dtype=torch.long)
        for row, (p, c) in enumerate(batch):
            ids[row, : len(p) + len(c)] = torch.tensor(p + c)
            mask[row, : len(p) + len(c)] = 1
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
        log_probs = torch.log_softmax(logits[:, :-1], dim=-1)
        targets = ids[:, 1:].to(device)
        token_lp = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        for row, (p, c) in enumerate(batch):
            out.append(float(token_lp[row, len(p) - 1: len(p) + len(c) - 1].sum()))
    return out


def likelihood_probe(model, tokenizer, records: Sequence[dict],
                     conditions: Sequence[Condition | str] = (Condition.EXPERT, Condition.SUBOPTIMAL),
                     alternatives: Sequence[str] = ALTERNATIVES, batch_size: int = 16) -> dict[tuple[str, str], ProbeResult]:
    """Margins for every (condition, alternative): ``{(condition, alternative): ProbeResult}``."""
    missing = [r.get("id", i) for i, r in enumerate(records) if "reference" not in r or "habit_reference" not in r]
    if missing:
        raise ValueError(f"prompts without 'reference'/'habit_reference' (regenerate them with `crlft data synth`): "
                         f"{missing[:5]}")
    model.eval()
    results = {}
    for condition in conditions:
        name = parse_condition(condition).value
        prompts = prompt_token_ids(tokenizer, records, condition)
        correct = answer_log_probs(model, tokenizer, records, [r["reference"] for r in records], condition, batch_size,
                                   prompts)
        for kind in alternatives:
            wrong = answer_log_probs(model, tokenizer, records, [alternative_answer(r, kind) for r in records],
                                     condition, batch_size, prompts)
            results[(name, kind)] = ProbeResult(name, kind, [c - w for c, w in zip(correct, wrong)],
                                                [str(r["id"]) for r in records])
    return results


def probe_table(results: dict[tuple[str, str], ProbeResult], n_boot: int = 2000) -> str:
    """The probe as a text table: mean margin with its 95 % CI and the share of prompts preferring the correct
    answer, per condition and alternative; then the expert - sub-optimal separation per alternative."""
    lines = [f"{'condition':<12}{'vs':<7}{'mean margin (nats)':>20}{'95 % CI':>18}{'prefers correct':>17}"]
    for (condition, kind), r in results.items():
        low, high = r.ci(n_boot)
        lines.append(f"{condition:<12}{kind:<7}{r.mean:>20.2f}{f'[{low:.2f}, {high:.2f}]':>18}{100 * r.prefers_correct:>16.0f}%")
    for kind in dict.fromkeys(k for _, k in results):
        pair = results.get((Condition.EXPERT.value, kind)), results.get((Condition.SUBOPTIMAL.value, kind))
        if all(pair):
            diff = [a - b for a, b in zip(pair[0].margins, pair[1].margins)]
            low, high = bootstrap_ci(diff, n_boot=n_boot)
            lines.append(f"separation vs {kind}: expert - sub-optimal margin {sum(diff) / len(diff):+.2f} nats "
                         f"[{low:+.2f}, {high:+.2f}]")
    return "\n".join(lines)
