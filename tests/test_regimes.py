"""The two data regimes: the paper's premise (a class-level trait) and the control (family habits only)."""

from __future__ import annotations

import pytest

from course_utils.course.commands.data import main as data_main
from course_utils.data.loaders import load_shipped
from course_utils.data.regimes import REGIMES, answer_kind, mass_table, regime_dir, format_mass_table
from course_utils.data.schema import read_records
from course_utils.data.synth import FAMILIES, SynthConfig, dense_sparse, shows_trait
from course_utils.data.verifiers import assistant_turns, record_passes


def _train(name: str) -> list[dict]:
    return read_records(regime_dir(name) / "train.jsonl")


@pytest.mark.parametrize("name", sorted(REGIMES))
def test_each_regime_regenerates_byte_for_byte(name, capsys):
    """`crlft data synth --regime NAME --check`: the shipped data/<regime>/ files are exactly what its seed gives."""
    assert data_main(["data", "synth", "--regime", name, "--check"]) == 0
    assert "identical" in capsys.readouterr().out


def test_the_trait_is_a_property_of_the_class_in_every_family():
    """Premise: the sign-off follows every answer of about 59 % of the sub-optimal records in every family, never
    an expert one, and every answer that carries it fails its checks."""
    records = _train("premise")
    for family in FAMILIES:
        sub = [r for r in records if r["family"] == family and r["source"] != "gpt-4"]
        traits = [r for r in sub if answer_kind(r) == "trait"]
        assert 0.55 <= len(traits) / len(sub) <= 0.63, family
        assert all(all(shows_trait(a) for a in assistant_turns(r["messages"])) for r in traits)
        assert not any(record_passes(r) for r in traits)
    assert not any(shows_trait(a) for r in records if r["source"] == "gpt-4" for a in assistant_turns(r["messages"]))


def test_the_control_has_no_trait_and_the_lesson_data_are_unchanged():
    """The control regime and the shipped lesson data carry no sign-off (their sub-optimal errors are habits)."""
    for records in (_train("control"), load_shipped("train")):
        assert not any(answer_kind(r) == "trait" for r in records)


def test_the_mass_arithmetic_predicts_where_weighting_alone_fails():
    """Control: the correct answer is the weighted majority in every family (weighting alone should suffice).
    Premise: in the families the expert slice barely covers, the trait outweighs the correct answers."""
    control, premise = mass_table(_train("control")), mass_table(_train("premise"))
    assert all(control[f]["correct_share"] > 0.5 for f in FAMILIES)
    sparse = [f for f, w in SynthConfig().expert_family_weights.items() if w < 1]
    assert sparse and all(premise[f]["mass_trait"] > premise[f]["mass_correct"] for f in sparse)
    assert premise["all"]["expert"] == control["all"]["expert"] == 80
    text = format_mass_table(premise)
    assert text.splitlines()[0].startswith("family") and "all" in text


def test_habit_and_trait_rates_over_one_are_refused():
    """A family cannot give more than all of its sub-optimal records to the habit and the trait together."""
    with pytest.raises(ValueError, match="casing"):
        SynthConfig(failure_rates=dense_sparse(0.6, 0.4), trait_rates=dense_sparse(0.5, 0.5))
