"""Schema and validation: both layouts normalise; every problem is reported with record and field."""

from pathlib import Path

import pytest

from course_utils.data.schema import DataValidationError, read_records, validate_file, validate_records

FIXTURES = Path(__file__).parent / "fixtures"


def _msgs(*pairs):
    return [{"role": r, "content": c} for r, c in pairs]


def test_sharegpt_and_role_content_normalise_the_same():
    """ShareGPT (from/value, model) and role/content (source) give identical normalised records."""
    sharegpt = {"id": "a", "model": "gpt-4", "conversations": [
        {"from": "system", "value": "S"}, {"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]}
    chat = {"id": "a", "source": "gpt-4", "messages": _msgs(("system", "S"), ("user", "Q"), ("assistant", "A"))}
    (r1,), _ = validate_records([sharegpt])
    (r2,), _ = validate_records([chat])
    assert r1 == r2 == {"id": "a", "source": "gpt-4", "messages": _msgs(("system", "S"), ("user", "Q"), ("assistant", "A"))}


def test_single_and_multi_turn_without_system_are_valid():
    """Optional system prompt; single- and multi-turn conversations are accepted."""
    good, report = validate_records([
        {"messages": _msgs(("user", "Q"), ("assistant", "A"))},
        {"messages": _msgs(("user", "Q"), ("assistant", "A"), ("user", "Q2"), ("assistant", "A2"))},
    ])
    assert report.ok and [r["id"] for r in good] == ["0", "1"]


EXPECTED = {  # record index in malformed.jsonl -> (field, words in the message)
    1: ("messages[1].content", "empty turn"),
    2: ("messages[0].role", "unknown role"),
    3: ("messages[1]", "not alternating"),
    4: ("messages", "assistant turn missing"),
    5: ("messages[1].content", "content is int"),
    6: ("source", "unknown source"),
    7: ("id", "duplicated id"),
    8: ("constraints[0].type", "unknown constraint type"),
    10: ("line 11", "invalid JSON"),
}


def test_each_problem_kind_is_named_with_record_and_field():
    """Each malformed record is reported once with its index, id and field; good records stay valid."""
    good, report = validate_file(FIXTURES / "malformed.jsonl", on_error="skip", known_sources={"gpt-4", "gpt-3.5-turbo"})
    found = {i.index: (i.field, i.message) for i in report.issues}
    assert set(found) == set(EXPECTED)
    for index, (field, words) in EXPECTED.items():
        assert found[index][0] == field and words in found[index][1], (index, found[index])
    assert report.valid_indices == [0, 9] and [r["id"] for r in good] == ["good-1", "good-2"]
    assert "record 6 (id 'unknown-source'): source: unknown source" in report.format()


def test_fail_mode_raises_with_the_report_and_skip_mode_returns_it():
    """The caller chooses fail or skip and gets the full report either way."""
    records = read_records(FIXTURES / "malformed.jsonl")
    with pytest.raises(DataValidationError) as err:
        validate_records(records, on_error="fail")
    assert len(err.value.report.issues) >= 8 and "empty turn" in str(err.value)
    good, report = validate_records(records, on_error="skip")
    assert len(good) == len(report.valid_indices) >= 2


@pytest.mark.parametrize("record,field,words", [
    ({"messages": _msgs(("assistant", "A"))}, "messages[0]", "starts with 'assistant'"),
    ({"messages": _msgs(("user", "Q"), ("assistant", "A"), ("system", "S"))}, "messages[2]", "system turn"),
    ({"messages": _msgs(("user", "Q"), ("assistant", "A"), ("user", "Q2"))}, "messages[2]", "ends with a user turn"),
    ({"messages": []}, "messages", "no turns"),
    ({"messages": "hi"}, "messages", "expected a list"),
    ({"text": "hi"}, "messages", "missing"),
    ({"id": 1.5, "messages": _msgs(("user", "Q"), ("assistant", "A"))}, "id", "expected a string"),
    ({"source": 3, "messages": _msgs(("user", "Q"), ("assistant", "A"))}, "source", "expected a string"),
    ("not a dict", "record", "expected a JSON object"),
])
def test_structural_problems(record, field, words):
    """Structural problems name the field and say what is wrong."""
    _, report = validate_records([record], on_error="skip")
    assert any(i.field == field and words in i.message for i in report.issues), report.format()


def test_prompt_kind_requires_a_final_user_turn():
    """Held-out prompts end on a user turn; a training record must end on an assistant turn."""
    prompt = {"messages": _msgs(("user", "Q"))}
    assert validate_records([prompt], kind="prompts")[1].ok
    assert not validate_records([prompt], on_error="skip", kind="train")[1].ok
    answered = {"messages": _msgs(("user", "Q"), ("assistant", "A"))}
    assert not validate_records([answered], on_error="skip", kind="prompts")[1].ok
