"""Two data regimes from the same generator: where the paper's premise holds, and a control where it does not.

* ``premise``: the sub-optimal source has a *class-level* trait, the same sign-off after every answer in every
  family (:data:`course_utils.data.synth.TRAIT`), in most of its answers (59 %), beside family-specific habits
  (20 %); the expert slice is small (10 %) and patchy (dense in four families, a tenth of that in the other four),
  so the sub-optimal data bring the coverage. This is the paper's situation: GPT-3.5's style is a property of
  the class, present in every kind of task.
* ``control``: the shipped data's design (family-specific habits only, 60 % / 40 %), at the premise's size.
  With weights 1.0 / 0.1 the correct answer is already the weighted majority in every family, so weighting alone
  should do what C-RLFT does: the condition has nothing left to separate.

Both regenerate byte for byte from their seeds (``crlft data synth --regime NAME``) into ``data/NAME/``.
:func:`mass_table` does the arithmetic that predicts which method should win, before anything trains.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from course_utils.data.loaders import data_dir
from course_utils.data.synth import EXPERT_SOURCE, FAMILIES, SynthConfig, dense_sparse, shows_habit, shows_trait
from course_utils.data.verifiers import assistant_turns


@dataclass(frozen=True)
class Regime:
    """A named data design: the generator's settings and seed, and what it is for."""

    name: str
    config: SynthConfig
    seed: int
    description: str


REGIMES: dict[str, Regime] = {
    r.name: r
    for r in (
        Regime("premise", SynthConfig(n_train=800, failure_rates=dense_sparse(0.2, 0.2),
                                      trait_rates=dense_sparse(0.59, 0.59)), 0,
               "the paper's premise: a class-level sign-off in 59 % of the sub-optimal answers, family habits in "
               "20 %; a small, patchy expert slice"),
        Regime("control", SynthConfig(n_train=800), 0,
               "the control: family-specific habits only (60 % dense, 40 % sparse families); weighting alone makes "
               "the correct answer the weighted majority in every family"),
    )
}


def regime(name: str) -> Regime:
    """The regime called `name` (an unknown name is an error listing the known ones)."""
    if name not in REGIMES:
        raise ValueError(f"unknown regime {name!r}; choose one of {', '.join(REGIMES)}")
    return REGIMES[name]


def regime_dir(name: str) -> Path:
    """The folder of a regime's shipped files (``data/<name>/``)."""
    return data_dir() / regime(name).name


def answer_kind(record: Mapping[str, Any]) -> str:
    """What a training record's final answer is: ``"trait"`` (the class's sign-off), ``"habit"`` (its family's
    habit) or ``"correct"``; expert records are correct by construction."""
    if record.get("source") == EXPERT_SOURCE:
        return "correct"
    answer = assistant_turns(record["messages"])[-1]
    if shows_trait(answer):
        return "trait"
    return "habit" if shows_habit(record["family"], answer) else "correct"


def mass_table(records: Iterable[Mapping[str, Any]], expert_weight: float = 1.0,
               suboptimal_weight: float = 0.1) -> dict[str, dict[str, float]]:
    """Per family (and ``"all"``): the counts of expert answers and of sub-optimal answers of each kind, and the
    *weighted mass* of each kind of answer under the class weights, i.e. what weighted SFT without the condition
    sees. ``correct_share`` is the correct answers' share of that mass: above one half, the correct answer is the
    weighted majority and greedy decoding should return it without the condition."""
    rows: dict[str, dict[str, float]] = {f: {"expert": 0, "correct": 0, "habit": 0, "trait": 0} for f in FAMILIES}
    for r in records:
        kind = "expert" if r.get("source") == EXPERT_SOURCE else answer_kind(r)
        rows[r["family"]][kind] += 1
    rows["all"] = {k: sum(rows[f][k] for f in FAMILIES) for k in ("expert", "correct", "habit", "trait")}
    for row in rows.values():
        row["mass_correct"] = expert_weight * row["expert"] + suboptimal_weight * row["correct"]
        row["mass_habit"] = suboptimal_weight * row["habit"]
        row["mass_trait"] = suboptimal_weight * row["trait"]
        total = row["mass_correct"] + row["mass_habit"] + row["mass_trait"]
        row["correct_share"] = row["mass_correct"] / total if total else float("nan")
    return rows


def format_mass_table(table: Mapping[str, Mapping[str, float]]) -> str:
    """:func:`mass_table` as the text table lesson 02 and lesson 06 print."""
    lines = [f"{'family':<12}{'expert':>7}{'sub ok':>7}{'habit':>7}{'trait':>7}   "
             f"{'mass ok':>8}{'habit':>7}{'trait':>7}{'ok share':>10}"]
    for family, row in table.items():
        lines.append(f"{family:<12}{row['expert']:>7.0f}{row['correct']:>7.0f}{row['habit']:>7.0f}{row['trait']:>7.0f}   "
                     f"{row['mass_correct']:>8.1f}{row['mass_habit']:>7.1f}{row['mass_trait']:>7.1f}"
                     f"{100 * row['correct_share']:>9.0f}%")
    return "\n".join(lines)
