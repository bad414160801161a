"""The offline dataset: deterministic, shipped files reproducible, quality properties the lessons depend on."""

from collections import Counter

import pytest

from course_utils.data.labeling import summarize
from course_utils.data.schema import validate_file
from course_utils.data.loaders import data_dir
from course_utils.data.synth import (FAMILIES, HABITS, SynthConfig, generate, generate_splits, shows_habit,
                                     write_dataset)
from course_utils.data.verifiers import record_passes, verify

DATA = data_dir()
CASE_RULE = {"uppercase": "casing rule", "lowercase": "casing rule"}  # one habit: ignoring the requested case


@pytest.fixture(scope="module")
def dataset():
    return generate(SynthConfig(), 0)


def test_regeneration_reproduces_shipped_files_byte_for_byte(tmp_path):
    """`crlft data synth --seed 0` writes exactly the files shipped in data/."""
    paths = write_dataset(tmp_path, SynthConfig(), 0)
    for path in paths.values():
        assert path.read_bytes() == (DATA / path.name).read_bytes(), path.name


def test_shipped_files_validate():
    """Every shipped conversation file validates without a single problem."""
    assert validate_file(DATA / "train.jsonl", known_sources={"gpt-4", "gpt-3.5-turbo"})[1].ok
    assert validate_file(DATA / "eval.jsonl")[1].ok
    assert validate_file(DATA / "val.jsonl", kind="prompts")[1].ok


def test_sizes_shares_and_multi_turn(dataset):
    """At least 2,000 training conversations (10 %+ multi-turn), 200+ eval prompts, expert share 5-20 %."""
    train, evals = dataset
    stats = summarize(train)
    assert len(train) >= 2000 and len(evals) >= 200
    assert stats["multi_turn_share"] >= 0.10
    assert 0.05 <= stats["class_share"]["expert"] <= 0.20
    assert set(Counter(r["family"] for r in evals)) == set(FAMILIES) and len(FAMILIES) >= 6


def test_expert_always_passes_suboptimal_in_band(dataset):
    """Expert answers pass every check; sub-optimal ones pass 30-70 % overall and in every family."""
    train, _ = dataset
    stats = summarize(train)
    assert stats["per_class"]["expert"]["pass_rate"] == 1.0
    assert 0.30 <= stats["per_class"]["suboptimal"]["pass_rate"] <= 0.70
    for family, row in stats["per_family"].items():
        assert 0.30 <= row["suboptimal"]["pass_rate"] <= 0.70, family


def test_suboptimal_failures_are_systematic(dataset):
    """Each family's sub-optimal failures are one habit (same failing check), not dispersed noise."""
    train, _ = dataset
    failing_checks = {f: Counter() for f in FAMILIES}
    for r in train:
        if r["source"] == "gpt-3.5-turbo" and not record_passes(r):
            answer = [m for m in r["messages"] if m["role"] == "assistant"][-1]["content"]
            failed = tuple(CASE_RULE.get(c.name, c.name) for c in verify(r["constraints"], answer) if not c.passed)
            failing_checks[r["family"]][failed] += 1
    for family, counts in failing_checks.items():
        assert counts and len(counts) == 1, (family, counts)
    assert set(HABITS) == set(FAMILIES)


def test_expert_coverage_is_dense_in_some_families_sparse_in_others(dataset):
    """The expert slice lacks coverage the sub-optimal data has (the paper's setting)."""
    train, _ = dataset
    expert = Counter(r["family"] for r in train if r["source"] == "gpt-4")
    sub = Counter(r["family"] for r in train if r["source"] != "gpt-4")
    assert max(expert.values()) >= 5 * min(expert.get(f, 0) for f in FAMILIES)
    assert min(sub[f] for f in FAMILIES) > 100


def test_heldout_entities_and_prompts_do_not_occur_in_training(dataset):
    """Evaluation entities (topics, countries, names, number sets) and prompts never appear in training."""
    train, evals = dataset
    train_entities = {e for r in train for e in r.get("turn_entities", [r["entity"]])}
    eval_entities = {e for r in evals for e in r.get("turn_entities", [r["entity"]])}
    assert not train_entities & eval_entities
    train_prompts = {m["content"] for r in train for m in r["messages"] if m["role"] == "user"}
    assert not train_prompts & {m["content"] for r in evals for m in r["messages"] if m["role"] == "user"}


def test_validation_prompts_use_entities_of_neither_training_nor_evaluation():
    """The validation split (where knobs are chosen) shares no entity or prompt with training or evaluation,
    and the share of expert data does not change the entity split (the sweep's data keeps the same eval prompts)."""
    train, evals, val = generate_splits(SynthConfig(), 0)
    entities = {name: {e for r in rs for e in r.get("turn_entities", [r["entity"]])}
                for name, rs in (("train", train), ("eval", evals), ("val", val))}
    assert not entities["val"] & entities["train"] and not entities["val"] & entities["eval"]
    assert len(val) >= 120 and set(Counter(r["family"] for r in val)) == set(FAMILIES)
    other_train, _, _ = generate_splits(SynthConfig(expert_share=0.02), 0)
    assert not {e for r in other_train for e in r.get("turn_entities", [r["entity"]])} & entities["eval"]


def test_arithmetic_and_sorting_are_small_enough_to_learn(dataset):
    """One-digit arithmetic and three numbers up to 20: the earlier two-digit versions scored 0 for every variant."""
    train, _ = dataset
    for r in train:
        if r["family"] == "arithmetic":
            assert all(len(tok) == 1 for tok in r["entity"].split()[::2])
        if r["family"] == "sorting":
            numbers = [int(x) for x in r["entity"].split(", ")]
            assert len(numbers) == 3 and max(numbers) <= 20


def test_eval_prompts_are_answerable(dataset):
    """Each eval prompt has constraints that a correct answer can satisfy (ids unique, prompt-only)."""
    _, evals = dataset
    assert len({r["id"] for r in evals}) == len(evals)
    assert all(r["messages"][-1]["role"] == "user" and r["constraints"] for r in evals)


def test_deterministic_and_knobs_change_the_data():
    """Same seed -> same data; another seed or knob -> different data with the requested properties."""
    assert generate(SynthConfig(n_train=300), 1) == generate(SynthConfig(n_train=300), 1)
    assert generate(SynthConfig(n_train=300), 1) != generate(SynthConfig(n_train=300), 2)
    cfg = SynthConfig(n_train=400, expert_share=0.2, failure_rates={f: 0.7 for f in FAMILIES},
                      expert_family_weights={f: 1.0 for f in FAMILIES}, n_eval_per_family=5)
    train, evals = generate(cfg, 3)
    stats = summarize(train)
    assert stats["class_share"]["expert"] == pytest.approx(0.2)
    assert stats["per_class"]["suboptimal"]["pass_rate"] == pytest.approx(0.3, abs=0.02)
    assert len(evals) == 5 * len(FAMILIES)
    with pytest.raises(ValueError):
        SynthConfig(failure_rates={"poetry": 0.5})


def test_answers_are_short(dataset):
    """Conversations stay short for a 135M model trained on 256-token sequences."""
    train, _ = dataset
    lengths = sorted(sum(len(m["content"]) for m in r["messages"]) for r in train)
    assert lengths[int(0.95 * len(lengths))] < 400  # characters: roughly < 120 tokens


def test_habit_detector_tells_the_planted_failures_from_correct_answers(dataset):
    """`shows_habit` is true on every habit-failing sub-optimal answer and false on every correct one."""
    train, _ = dataset
    for r in train:
        answer = r["messages"][-1]["content"]
        assert shows_habit(r["family"], answer) == (not record_passes(r)), (r["id"], answer)
