"""Honest, code-checked evaluation on the held-out prompts (the shipped `eval.jsonl`).

Each prompt carries machine-checkable constraints (IFEval style); `course_utils.data.verifiers.verify`
checks an answer against them. From those checks this module reports
- **prompt-level strict accuracy**: the share of prompts whose answer passes *every* constraint;
- **instruction-level strict accuracy**: the share of all constraints (over all prompts) that pass;
each with a bootstrap 95 % confidence interval (prompts resampled with replacement), overall and per
task family. Several seeds are pooled per prompt (the mean pass rate of a prompt over the seeds)
before bootstrapping, and the per-seed scores are kept so their spread can be shown too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from course_utils.data.conditions import Condition
from course_utils.data.synth import shows_habit, shows_trait
from course_utils.data.loaders import load_eval_set  # noqa: F401  (lessons call it as evaluation.load_eval_set)
from course_utils.inference.generation import GenerationStats, generate
from course_utils.data.verifiers import verify as verify_constraints

EVAL_MAX_NEW_TOKENS = 40  # new tokens per scored answer: the one default of the evaluations and the experiments

# --------------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------------
@dataclass
class PromptScore:
    """The verdict on one answer: did it pass every constraint, and how many it passed."""

    id: str
    family: str
    passed: bool
    n_instructions: int
    n_passed: int
    failed: list[str] = field(default_factory=list)


def score_responses(
    records: Sequence[dict], responses: Sequence[str], verify: Callable | None = None
) -> list[PromptScore]:
    """Check each response against its prompt's constraints (strict: the answer as generated)."""
    if len(records) != len(responses):
        raise ValueError(f"{len(records)} prompts but {len(responses)} responses")
    verify = verify or verify_constraints
    scores = []
    for rec, resp in zip(records, responses):
        checks = verify(rec["constraints"], resp)
        n_pass = sum(bool(c.passed) for c in checks)
        scores.append(
            PromptScore(
                id=str(rec["id"]),
                family=rec.get("family", "all"),
                passed=bool(checks) and n_pass == len(checks),
                n_instructions=len(checks),
                n_passed=n_pass,
                failed=[c.name for c in checks if not c.passed],
            )
        )
    return scores


# --------------------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------------------
def bootstrap_ci(
    values: Sequence[float],
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    weights: Sequence[float] | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the (weighted) mean of `values`, resampling items.

    With `weights`, each resample's statistic is sum(w*v)/sum(w): the ratio estimator used for
    instruction-level accuracy (v = share passed in a prompt, w = its number of instructions).
    Returns (nan, nan) for no data.
    """
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return (float("nan"), float("nan"))
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(n_boot, v.size))
    num = (v[idx] * w[idx]).sum(axis=1)
    den = w[idx].sum(axis=1)
    stats = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    alpha = (1.0 - confidence) / 2
    lo, hi = np.quantile(stats, [alpha, 1 - alpha])
    return (float(lo), float(hi))


@dataclass
class Accuracy:
    """An accuracy with its bootstrap interval (all in [0, 1]) and the number of prompts behind it."""

    mean: float
    low: float
    high: float
    n: int

    def pct(self) -> str:
        """`61.2 [55.0, 67.1]` in percent."""
        return f"{100 * self.mean:.1f} [{100 * self.low:.1f}, {100 * self.high:.1f}]"


def _pool(runs: Sequence[Sequence[PromptScore]]) -> list[dict]:
    """One row per prompt: its family, mean prompt-pass over runs, mean instruction share, #instructions."""
    rows: dict[str, dict] = {}
    for run in runs:
        for s in run:
            r = rows.setdefault(s.id, {"family": s.family, "p": [], "i": [], "n": s.n_instructions})
            r["p"].append(float(s.passed))
            r["i"].append(s.n_passed / s.n_instructions if s.n_instructions else 0.0)
    return [
        {"id": k, "family": r["family"], "p": float(np.mean(r["p"])), "i": float(np.mean(r["i"])), "n": r["n"]}
        for k, r in rows.items()
    ]


def _accuracies(rows: list[dict], n_boot: int, seed: int) -> dict[str, Accuracy]:
    p = [r["p"] for r in rows]
    i = [r["i"] for r in rows]
    n = [r["n"] for r in rows]
    prompt = Accuracy(float(np.mean(p)) if p else float("nan"), *bootstrap_ci(p, n_boot, seed=seed), len(p))
    total = float(np.sum(n))
    instr_mean = float(np.dot(i, n) / total) if total else float("nan")
    instr = Accuracy(instr_mean, *bootstrap_ci(i, n_boot, seed=seed, weights=n), len(p))
    return {"prompt": prompt, "instruction": instr}


@dataclass
class Summary:
    """Prompt- and instruction-level strict accuracy with CIs, overall, per family and per seed."""

    prompt: Accuracy
    instruction: Accuracy
    per_family: dict[str, dict[str, Accuracy]]
    per_seed_prompt: list[float]
    per_seed_instruction: list[float]

    def to_dict(self) -> dict:
        """Plain JSON-able form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Summary":
        """Inverse of `to_dict`."""
        return cls(
            prompt=Accuracy(**d["prompt"]),
            instruction=Accuracy(**d["instruction"]),
            per_family={f: {k: Accuracy(**a) for k, a in v.items()} for f, v in d["per_family"].items()},
            per_seed_prompt=list(d["per_seed_prompt"]),
            per_seed_instruction=list(d["per_seed_instruction"]),
        )


def summarize(
    runs: Sequence[PromptScore] | Sequence[Sequence[PromptScore]], n_boot: int = 2000, seed: int = 0
) -> Summary:
    """Summarize one run (a list of `PromptScore`) or several seeds' runs (a list of such lists)."""
    if runs and isinstance(runs[0], PromptScore):
        runs = [runs]  # type: ignore[list-item]
    runs = [list(r) for r in runs]  # type: ignore[union-attr]
    rows = _pool(runs)
    overall = _accuracies(rows, n_boot, seed)
    families = sorted({r["family"] for r in rows})
    per_family = {f: _accuracies([r for r in rows if r["family"] == f], n_boot, seed) for f in families}
    per_seed_p = [float(np.mean([s.passed for s in run])) for run in runs if run]
    per_seed_i = [
        float(sum(s.n_passed for s in run) / max(1, sum(s.n_instructions for s in run))) for run in runs if run
    ]
    return Summary(overall["prompt"], overall["instruction"], per_family, per_seed_p, per_seed_i)


def per_seed_difference(a: Summary, b: Summary) -> list[float]:
    """Prompt-level accuracy of A minus B, seed by seed (seed k of A against seed k of B).

    The paired bootstrap resamples prompts, so it cannot see training noise that moves every prompt at once (one
    behaviour, such as appending a sign-off, learned or not by a whole run); the per-seed differences can."""
    if len(a.per_seed_prompt) != len(b.per_seed_prompt):
        raise ValueError(f"per-seed difference needs the same seeds: {len(a.per_seed_prompt)} against "
                         f"{len(b.per_seed_prompt)}")
    return [x - y for x, y in zip(a.per_seed_prompt, b.per_seed_prompt)]


def paired_difference(
    runs_a: Sequence[PromptScore] | Sequence[Sequence[PromptScore]],
    runs_b: Sequence[PromptScore] | Sequence[Sequence[PromptScore]],
    n_boot: int = 2000,
    seed: int = 0,
) -> Accuracy:
    """Prompt-level accuracy of A minus B on the same prompts, with a paired bootstrap 95 % interval
    (prompts resampled together, so the prompt-to-prompt variation common to both cancels out).
    An interval that excludes 0 is a difference this evaluation can actually see."""

    def rows(runs):
        if runs and isinstance(runs[0], PromptScore):
            runs = [runs]
        return {r["id"]: r["p"] for r in _pool([list(x) for x in runs])}

    a, b = rows(runs_a), rows(runs_b)
    ids = sorted(set(a) & set(b))
    if not ids:
        raise ValueError("the two runs share no prompt")
    d = np.array([a[i] - b[i] for i in ids])
    return Accuracy(float(d.mean()), *bootstrap_ci(d, n_boot, seed=seed), len(ids))


# --------------------------------------------------------------------------------------------------
# Model -> scores
# --------------------------------------------------------------------------------------------------
@dataclass
class EvalRun:
    """Answers of one model under one condition on a list of prompts, and their scores."""

    condition: str  # a Condition value
    responses: list[str]
    scores: list[PromptScore]
    seconds: float
    new_tokens: int

    def to_dict(self) -> dict:
        """Plain JSON-able form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "EvalRun":
        """Inverse of `to_dict`."""
        d = dict(d)
        d["scores"] = [PromptScore(**s) for s in d["scores"]]
        return cls(**d)


@dataclass(frozen=True)
class AnswerKinds:
    """What one run's answers carried: the share with the sub-optimal class's trait (the sign-off), the share of
    answers *without* the trait that show their family's habit (a sign-off alone already breaks some habit
    detectors, so the two are counted apart), and prompt-level accuracy over all answers and over those without
    the trait."""

    n: int
    trait: float
    habit: float
    accuracy: float
    accuracy_without_trait: float | None  # None when every answer carries the trait

    def to_dict(self) -> dict:
        """Plain JSON-able form."""
        return asdict(self)


def answer_kinds(run: EvalRun) -> AnswerKinds:
    """Count the kinds of answers of `run` (:class:`AnswerKinds`)."""
    if len(run.responses) != len(run.scores):
        raise ValueError(f"{len(run.responses)} responses against {len(run.scores)} scores")
    n = len(run.responses)
    if not n:
        raise ValueError("the run has no answers")
    trait = [shows_trait(r) for r in run.responses]
    clean = [s for s, t in zip(run.scores, trait) if not t]
    habit = sum(shows_habit(s.family, r) for r, s, t in zip(run.responses, run.scores, trait) if not t)
    return AnswerKinds(n=n, trait=sum(trait) / n, habit=habit / n, accuracy=sum(s.passed for s in run.scores) / n,
                       accuracy_without_trait=sum(s.passed for s in clean) / len(clean) if clean else None)


def evaluate_model(
    model,
    tokenizer,
    records: Sequence[dict],
    condition: Condition | str = Condition.EXPERT,
    max_new_tokens: int | None = None,
    batch_size: int = 16,
    progress: bool = False,
    verify: Callable | None = None,
) -> EvalRun:
    """Generate greedily for every prompt under `condition` (at most `max_new_tokens`, default
    `EVAL_MAX_NEW_TOKENS`) and score the answers."""
    max_new_tokens = max_new_tokens or EVAL_MAX_NEW_TOKENS
    stats = GenerationStats()
    responses = generate(
        model,
        tokenizer,
        [r["messages"] for r in records],
        condition=condition,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        progress=progress,
        stats=stats,
    )
    scores = score_responses(records, responses, verify=verify)
    return EvalRun(str(condition), responses, scores, stats.seconds, stats.new_tokens)


# --------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------
def summary_table(summaries: dict[str, Summary], per_family: bool = True) -> str:
    """A markdown table: one row per variant, prompt- and instruction-level accuracy with 95 % CIs (prompts
    resampled, seeds pooled per prompt), the prompt-level accuracy of each seed (the spread across training seeds),
    then (optionally) prompt-level accuracy per family."""
    if not summaries:
        return ""
    families = sorted({f for s in summaries.values() for f in s.per_family}) if per_family else []
    head = ["variant", "prompt-level % [95% CI]", "instruction-level % [95% CI]", "n", "seeds",
            "prompt-level % per seed"] + families
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, s in summaries.items():
        per_seed = " / ".join(f"{100 * v:.1f}" for v in s.per_seed_prompt)
        cells = [name, s.prompt.pct(), s.instruction.pct(), str(s.prompt.n), str(len(s.per_seed_prompt)), per_seed]
        cells += [f"{100 * s.per_family[f]['prompt'].mean:.1f}" if f in s.per_family else "" for f in families]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# The condition knob: one model, two conditions
# --------------------------------------------------------------------------------------------------
@dataclass
class ConditionComparison:
    """One model's answers to the same prompts under two conditions, scored, with each answer checked for its
    family's planted sub-optimal habit (`course_utils.data.synth.shows_habit`) and for the sub-optimal class's
    sign-off (`course_utils.data.synth.shows_trait`)."""

    records: list[dict]
    runs: dict[str, EvalRun]  # condition value -> its run
    habits: dict[str, list[bool]]  # condition value -> per prompt: does the answer show the family's habit
    traits: dict[str, list[bool]]  # condition value -> per prompt: does the answer carry the class's sign-off

    @classmethod
    def from_runs(cls, records: Sequence[dict], runs: dict[str, EvalRun]) -> "ConditionComparison":
        """Compare runs that are already there (condition value -> run on `records`, two of them)."""
        from course_utils.data.synth import shows_habit, shows_trait

        if len(runs) != 2:
            raise ValueError(f"compare two conditions, not {len(runs)}")
        traits = {c: [shows_trait(a) for a in run.responses] for c, run in runs.items()}
        habits = {c: [shows_habit(r["family"], a) and not t for r, a, t in zip(records, run.responses, traits[c])]
                  for c, run in runs.items()}
        return cls(list(records), dict(runs), habits, traits)

    @property
    def difference(self) -> Accuracy:
        """Prompt-level accuracy of the first condition minus the second (paired bootstrap 95 % CI)."""
        first, second = self.runs.values()
        return paired_difference(first.scores, second.scores)

    def table(self) -> str:
        """Per family: pass rate and the shares of answers showing the family's habit and carrying the class's
        sign-off, under each condition (the sign-off columns only when some answer carries it)."""
        names = list(self.runs)
        families = sorted({r["family"] for r in self.records})
        with_trait = any(any(v) for v in self.traits.values())
        head = ["family", "n"] + [f"{c} pass %" for c in names] + [f"{c} habit %" for c in names]
        head += [f"{c} sign-off %" for c in names] if with_trait else []
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for family in [*families, "all"]:
            idx = [i for i, r in enumerate(self.records) if family in ("all", r["family"])]
            cells = [family, str(len(idx))]
            cells += [f"{100 * np.mean([self.runs[c].scores[i].passed for i in idx]):.0f}" for c in names]
            cells += [f"{100 * np.mean([self.habits[c][i] for i in idx]):.0f}" for c in names]
            if with_trait:
                cells += [f"{100 * np.mean([self.traits[c][i] for i in idx]):.0f}" for c in names]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def side_by_side(self, n: int = 4) -> str:
        """Up to `n` prompts (one per family first) where the two conditions' answers differ."""
        first, second = self.runs
        differ = [i for i, _ in enumerate(self.records)
                  if self.runs[first].responses[i].strip() != self.runs[second].responses[i].strip()]
        picked, seen = [], set()
        for i in differ:  # one per family, then the rest
            if self.records[i]["family"] not in seen:
                seen.add(self.records[i]["family"])
                picked.append(i)
        picked += [i for i in differ if i not in picked]
        blocks = []
        for i in picked[:n]:
            r = self.records[i]
            blocks.append(f"[{r['family']}] {r['messages'][-1]['content']}")
            for c in (first, second):
                mark = "pass" if self.runs[c].scores[i].passed else "FAIL"
                habit = ", shows the habit" if self.habits[c][i] else ", carries the sign-off" if self.traits[c][i] else ""
                blocks.append(f"  {c:>10} ({mark}{habit}): {self.runs[c].responses[i].strip()!r}")
        return "\n".join(blocks) if blocks else "(the two conditions gave the same answer to every prompt)"


def compare_conditions(model, tokenizer, records: Sequence[dict],
                       conditions: tuple[Condition, Condition] = (Condition.EXPERT, Condition.SUBOPTIMAL),
                       max_new_tokens: int = EVAL_MAX_NEW_TOKENS, batch_size: int = 16) -> ConditionComparison:
    """Answer `records` with one C-RLFT model under each of two conditions and check the planted habits."""
    runs = {str(c): evaluate_model(model, tokenizer, records, condition=c, max_new_tokens=max_new_tokens,
                                   batch_size=batch_size) for c in conditions}
    return ConditionComparison.from_runs(records, runs)
