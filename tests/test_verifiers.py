"""Verifiers: each constraint type accepts a correct answer and rejects the sub-optimal habit."""

import json

import pytest

from course_utils.data.synth import generate
from course_utils.data.verifiers import (
    CheckResult, all_passed, constraint_problems, pass_fraction, record_passes, register, verify, VERIFIERS,
)

CASES = [
    ({"type": "uppercase"}, "THE SUN IS HOT.", "The sun is hot."),
    ({"type": "lowercase"}, "the sun is hot.", "The sun is hot."),
    ({"type": "bullet_count", "n": 3}, "- a\n- b\n* c", "Here are 3: a, b and c."),
    ({"type": "bullet_count", "n": 2}, "- a\n- b", "- a\n- b\n- c"),
    ({"type": "json_keys", "keys": ["name", "age"], "values": {"name": "Ana", "age": 31}},
     '{"name": "Ana", "age": 31}', 'Here is the JSON:\n```json\n{"name": "Ana", "age": 31}\n```'),
    ({"type": "json_keys", "keys": ["name"]}, '{"name": "Ana"}', '{"name": "Ana", "age": 3}'),
    ({"type": "max_words", "n": 5}, "A cat naps a lot.", "Sure! A cat is a small pet that naps a lot."),
    ({"type": "include_keywords", "keywords": ["cat"]}, "My Cat sleeps.", "My dog sleeps."),
    ({"type": "end_with", "phrase": "That is all."}, "Bees make honey. That is all.", "Bees make honey."),
    ({"type": "exact_answer", "answer": "81"}, "81", "The answer is 81."),
    ({"type": "exact_answer", "answer": "Paris"}, "Paris.", "The capital of France is Paris."),
    ({"type": "exact_list", "items": ["3", "7", "9"]}, "3, 7, 9", "9, 7, 3"),
]


@pytest.mark.parametrize("constraint,good,bad", CASES, ids=[f"{c['type']}-{i}" for i, (c, _, _) in enumerate(CASES)])
def test_verifier_accepts_good_rejects_bad(constraint, good, bad):
    """Every constraint type passes a correct answer and fails the typical wrong one."""
    assert verify([constraint], good) == [CheckResult(constraint["type"], True, verify([constraint], good)[0].detail)]
    result = verify([constraint], bad)[0]
    assert not result.passed and result.detail


def test_every_registered_type_is_tested():
    """A new constraint type cannot be added without a positive/negative case here."""
    assert {c["type"] for c, _, _ in CASES} == set(VERIFIERS) - {"test_vowel_free"}


def test_verify_accepts_json_text_and_unknown_types_fail():
    """Datasets store constraints as JSON text; unknown types fail instead of passing silently."""
    assert all_passed(json.dumps([{"type": "uppercase"}]), "OK")
    assert verify([{"type": "nope"}], "x")[0].passed is False
    assert constraint_problems([{"type": "nope"}, {"type": "bullet_count"}, 3]) == [
        ("constraints[0].type", "unknown constraint type 'nope'"),
        ("constraints[1].n", "missing parameter for 'bullet_count'"),
        ("constraints[2]", "is int, expected an object"),
    ]


def test_register_adds_a_verifier():
    """The lesson's exercise path: a registered verifier is used by verify()."""
    @register("test_vowel_free")
    def _vowel_free(c, r):
        return not any(v in r.lower() for v in "aeiou"), ""
    try:
        assert all_passed([{"type": "test_vowel_free"}], "rhythm")
        assert not all_passed([{"type": "test_vowel_free"}], "music")
    finally:
        VERIFIERS.pop("test_vowel_free")


def test_record_passes_checks_every_turn_and_pass_fraction():
    """Multi-turn records pass only if every assistant turn passes; pass_fraction grades the final one."""
    train, _ = generate()
    multi = next(r for r in train if "turn_constraints" in r and r["source"] == "gpt-4")
    assert record_passes(multi)
    broken = dict(multi, messages=[dict(m) for m in multi["messages"]])
    first_answer = next(m for m in broken["messages"] if m["role"] == "assistant")
    first_answer["content"] = "?"
    assert not record_passes(broken)
    assert pass_fraction(multi) == 1.0
