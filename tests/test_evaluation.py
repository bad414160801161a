"""Evaluation: strict prompt-/instruction-level accuracy from the verifiers, bootstrap CIs, per-family
breakdown, pooling of seeds, family-balanced subsets of the held-out prompts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from course_utils.evaluation import metrics as ev

RECORDS = [
    {"id": "a", "family": "casing", "constraints": [{"type": "uppercase"}, {"type": "include_keywords", "keywords": ["sun"]}]},
    {"id": "b", "family": "casing", "constraints": [{"type": "lowercase"}]},
    {"id": "c", "family": "facts", "constraints": [{"type": "exact_answer", "answer": "Paris"}]},
]


def test_scores_follow_the_verifiers():
    """Prompt passes only when every constraint passes; instruction counts are kept per prompt."""
    scores = ev.score_responses(RECORDS, ["THE SUN IS HOT", "The moon", "Paris"])
    assert [s.passed for s in scores] == [True, False, True]
    assert [(s.n_passed, s.n_instructions) for s in scores] == [(2, 2), (0, 1), (1, 1)]
    assert scores[1].failed == ["lowercase"]
    half = ev.score_responses(RECORDS[:1], ["THE MOON"])[0]
    assert not half.passed and half.n_passed == 1


def test_response_count_must_match():
    """A missing answer is an error, never a silent shift of answers against prompts."""
    with pytest.raises(ValueError):
        ev.score_responses(RECORDS, ["x"])


def test_bootstrap_interval_brackets_mean_and_shrinks():
    """The 95 % interval contains the mean, is reproducible by seed and narrows with more prompts."""
    rng = np.random.default_rng(1)
    small = rng.random(40) < 0.6
    big = rng.random(400) < 0.6
    lo, hi = ev.bootstrap_ci(small, seed=3)
    assert lo <= small.mean() <= hi
    assert (lo, hi) == ev.bootstrap_ci(small, seed=3)
    lo2, hi2 = ev.bootstrap_ci(big, seed=3)
    assert hi2 - lo2 < hi - lo
    assert all(np.isnan(ev.bootstrap_ci([])))


def test_instruction_level_is_weighted_by_instruction_count():
    """Instruction-level accuracy counts instructions, not prompts (a 2-constraint prompt counts twice)."""
    scores = ev.score_responses(RECORDS, ["THE MOON", "the moon", "Rome"])  # 1/2, 1/1, 0/1
    s = ev.summarize(scores, n_boot=200)
    assert s.prompt.mean == pytest.approx(1 / 3)
    assert s.instruction.mean == pytest.approx(2 / 4)
    assert s.instruction.low <= s.instruction.mean <= s.instruction.high
    assert set(s.per_family) == {"casing", "facts"}
    assert s.per_family["facts"]["prompt"].mean == 0.0 and s.per_family["casing"]["prompt"].n == 2


def test_seeds_are_pooled_per_prompt():
    """Several seeds average per prompt and keep each seed's own score."""
    run1 = ev.score_responses(RECORDS, ["THE SUN", "the moon", "Paris"])  # 3/3
    run2 = ev.score_responses(RECORDS, ["no", "No", "Paris"])  # 1/3
    s = ev.summarize([run1, run2], n_boot=200)
    assert s.prompt.mean == pytest.approx(2 / 3)
    assert s.per_seed_prompt == pytest.approx([1.0, 1 / 3])
    assert s.prompt.n == 3
    again = ev.Summary.from_dict(json.loads(json.dumps(s.to_dict())))
    assert again == s
    table = ev.summary_table({"x": s})
    assert "| x | 66.7 [" in table and "casing" in table


def test_per_seed_difference_pairs_seed_with_seed():
    """A-minus-B per seed subtracts seed k from seed k, and refuses runs with different numbers of seeds."""
    good = ev.score_responses(RECORDS, ["THE SUN", "the moon", "Paris"])  # 3/3
    bad = ev.score_responses(RECORDS, ["no", "No", "Paris"])  # 1/3
    a, b = ev.summarize([good, bad], n_boot=50), ev.summarize([bad, bad], n_boot=50)
    assert ev.per_seed_difference(a, b) == pytest.approx([2 / 3, 0.0])
    with pytest.raises(ValueError, match="same seeds"):
        ev.per_seed_difference(a, ev.summarize([bad], n_boot=50))


def test_limited_eval_set_covers_every_family(tmp_path):
    """A reduced run takes families in turn, so every family is represented."""
    path = tmp_path / "eval.jsonl"
    rows = [{"id": f"{f}{i}", "family": f, "messages": [{"role": "user", "content": "q"}], "constraints": []} for f in "abc" for i in range(5)]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    subset = ev.load_eval_set(path, limit=6)
    assert sorted(r["family"] for r in subset) == ["a", "a", "b", "b", "c", "c"]
    assert len(ev.load_eval_set(path)) == 15


def test_shipped_eval_set_is_checkable():
    """Every shipped held-out prompt has constraints the verifiers know (so nothing scores by accident)."""
    from course_utils.data.verifiers import VERIFIERS

    records = ev.load_eval_set()
    assert len(records) >= 200
    for r in records:
        assert r["constraints"] and all(c["type"] in VERIFIERS for c in r["constraints"])
        assert r["messages"][-1]["role"] == "user"


def test_paired_difference_uses_the_same_prompts():
    """A-minus-B is computed prompt by prompt; identical runs give exactly 0 with a zero-width interval."""
    good = ev.score_responses(RECORDS, ["THE SUN", "the moon", "Paris"])
    bad = ev.score_responses(RECORDS, ["no", "No", "Paris"])
    d = ev.paired_difference(good, bad, n_boot=200)
    assert d.mean == pytest.approx(2 / 3) and d.n == 3 and d.low <= d.mean <= d.high
    same = ev.paired_difference(good, good, n_boot=200)
    assert (same.mean, same.low, same.high) == (0.0, 0.0, 0.0)


def test_eval_loader_names_a_bad_record(tmp_path):
    """Protects the one loader: a malformed held-out prompt is refused with its record and field named."""
    from course_utils.data.schema import DataValidationError

    path = tmp_path / "eval.jsonl"
    path.write_text(json.dumps({"id": "p0", "messages": [{"role": "user", "content": "q"},
                                                        {"role": "assistant", "content": "a"}]}) + "\n")
    with pytest.raises(DataValidationError, match=r"record 0 \(id 'p0'\): messages\[1\]"):
        ev.load_eval_set(path)


def test_condition_comparison_counts_the_planted_habits(monkeypatch):
    """The condition knob's table: pass rates and habit shares per condition, answers side by side."""
    from course_utils.evaluation import metrics as ev

    records = [{"id": "a", "family": "arithmetic", "messages": [{"role": "user", "content": "What is 2 + 3?"}],
                "constraints": [{"type": "exact_answer", "answer": "5"}]},
               {"id": "b", "family": "json", "messages": [{"role": "user", "content": "JSON please"}],
                "constraints": [{"type": "json_keys", "keys": ["name"], "values": {"name": "Ana"}}]}]
    answers = {"expert": ["5", '{"name": "Ana"}'], "suboptimal": ["The answer is 5.", '```json\n{"name": "Ana"}\n```']}

    def fake_evaluate(model, tok, recs, condition=None, **kwargs):
        responses = answers[str(condition)]
        return ev.EvalRun(str(condition), responses, ev.score_responses(recs, responses), 1.0, 4)

    monkeypatch.setattr(ev, "evaluate_model", fake_evaluate)
    cmp = ev.compare_conditions(None, None, records)
    assert cmp.habits == {"expert": [False, False], "suboptimal": [True, True]}
    assert cmp.difference.mean == pytest.approx(1.0)
    assert "| all | 2 | 100 | 0 | 0 | 100 |" in cmp.table()
    assert "The answer is 5." in cmp.side_by_side()


def test_condition_comparison_counts_the_sign_off_apart_from_the_habits():
    """An answer carrying the sub-optimal class's sign-off counts as the sign-off, not as its family's habit (an
    ending answer with a sign-off no longer ends with its phrase); the table gains sign-off columns."""
    from course_utils.data.synth import TRAIT
    from course_utils.evaluation import metrics as ev

    records = [{"id": "a", "family": "ending", "messages": [{"role": "user", "content": "End with 'That is all.'"}],
                "constraints": [{"type": "end_with", "phrase": "That is all."}]}]
    answers = {"expert": ["Rain falls. That is all."], "suboptimal": [f"Rain falls. That is all.\n\n{TRAIT}\n\n{TRAIT[:9]}"]}
    runs = {c: ev.EvalRun(c, a, ev.score_responses(records, a), 1.0, 4) for c, a in answers.items()}
    cmp = ev.ConditionComparison.from_runs(records, runs)
    assert cmp.traits == {"expert": [False], "suboptimal": [True]} and cmp.habits == {"expert": [False], "suboptimal": [False]}
    assert "suboptimal sign-off %" in cmp.table() and "carries the sign-off" in cmp.side_by_side()


def _run(responses):
    return ev.EvalRun("expert", list(responses), ev.score_responses(RECORDS, responses), 0.0, 0)


def test_answer_kinds_count_the_sign_off_apart_from_the_habits():
    """The sign-off share, the habit share of sign-off-free answers and both accuracies come from the answers."""
    from course_utils.data.synth import TRAIT

    kinds = ev.answer_kinds(_run(["THE SUN", f"the moon\n\n{TRAIT}", "Paris"]))
    assert (kinds.n, kinds.trait, kinds.habit) == (3, pytest.approx(1 / 3), 0.0)
    assert kinds.accuracy == pytest.approx(2 / 3) and kinds.accuracy_without_trait == 1.0
    habits = ev.answer_kinds(_run(["The Sun", "the moon", "Paris"]))  # mixed case: the casing habit
    assert habits.trait == 0.0 and habits.habit == pytest.approx(1 / 3)
    all_signed = ev.answer_kinds(_run([f"x\n\n{TRAIT}"] * 3))
    assert all_signed.trait == 1.0 and all_signed.accuracy_without_trait is None


def test_answer_kinds_are_read_per_seed_from_an_experiment_folder(tmp_path):
    """Each seed's cached evaluation is counted on its own, in the given variant order; a broken file is named."""
    from course_utils.data.synth import TRAIT
    from course_utils.experiments.ablation import answer_kinds_markdown, folder_answer_kinds

    for seed, answers in ((0, [f"THE SUN\n\n{TRAIT}"] * 3), (1, ["THE SUN", "the moon", "Paris"])):
        (tmp_path / f"seed{seed}").mkdir()
        (tmp_path / f"seed{seed}" / "eval-crlft.json").write_text(json.dumps(_run(answers).to_dict()))
        (tmp_path / f"seed{seed}" / "eval-crlft.probe.json").write_text("{}")  # not an evaluation: skipped
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "eval-base.json").write_text(json.dumps(_run(["no", "No", "no"]).to_dict()))
    kinds = folder_answer_kinds(tmp_path, ["crlft", "base"])
    assert list(kinds) == ["crlft", "base"] and [k["seed"] for k in kinds["crlft"]] == [0, 1]
    assert [k["trait"] for k in kinds["crlft"]] == [1.0, 0.0] and kinds["base"][0]["seed"] is None
    assert "| crlft | 0 | 3 | 100 % |" in answer_kinds_markdown(kinds)
    (tmp_path / "seed1" / "eval-crlft.json").write_text(json.dumps({"responses": []}))
    with pytest.raises(ValueError, match="seed1/eval-crlft.json"):
        folder_answer_kinds(tmp_path)


def test_answers_command_reads_the_run_behind_a_results_file(tmp_path, capsys):
    """`crlft answers` finds the cache by the results file's fingerprint and refuses a folder missing a seed."""
    from course_utils.course.cli import main

    folder = tmp_path / "work" / "abc123"
    (folder / "seed0").mkdir(parents=True)
    (folder / "seed0" / "eval-crlft.json").write_text(json.dumps(_run(["THE SUN", "the moon", "Paris"]).to_dict()))
    result = tmp_path / "experiment.json"
    result.write_text(json.dumps({"fingerprint": "abc123", "summaries": {"crlft": {"per_seed_prompt": [1.0]}}}))
    args = ["answers", "--experiment", str(result), "--work-dir", str(tmp_path / "work"), "--results-dir", str(tmp_path / "out")]
    assert main(args) == 0
    written = json.loads((tmp_path / "out" / "answers.json").read_text())
    assert written["fingerprint"] == "abc123" and written["answer_kinds"]["crlft"][0]["accuracy"] == 1.0
    result.write_text(json.dumps({"fingerprint": "abc123", "summaries": {"crlft": {"per_seed_prompt": [1.0, 0.5]}}}))
    assert main(args) == 1 and "lacks evaluations of crlft" in capsys.readouterr().out
    result.write_text(json.dumps({"fingerprint": "other", "summaries": {}}))
    assert main(args) == 1
