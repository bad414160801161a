"""The likelihood probe: log p(correct answer) - log p(the same answer with the trait or habit), per condition."""

from __future__ import annotations

import pytest
import torch

from crlft_testing import tiny_model, tiny_tokenizer
from course_utils.data.regimes import REGIMES
from course_utils.data.synth import FAMILIES, TRAIT, generate_splits
from course_utils.evaluation.probe import alternative_answer, answer_log_probs, likelihood_probe, probe_table
from course_utils.inference.generation import render_prompt, stop_token_ids
from course_utils.method.conditioning import prepare_tokenizer


@pytest.fixture(scope="module")
def prepared():
    tok = tiny_tokenizer()
    prepare_tokenizer(tok)
    return tiny_model(len(tok)).eval(), tok


@pytest.fixture(scope="module")
def prompts():
    """Six validation prompts of the premise regime, one family each, as the generator writes them."""
    premise = REGIMES["premise"]
    _, _, val = generate_splits(premise.config, premise.seed)
    return [next(r for r in val if r["family"] == f) for f in FAMILIES[:6]]


def test_every_generated_prompt_carries_its_reference_answers(prompts):
    """The generator writes a correct answer and its habit version beside every held-out and validation prompt."""
    from course_utils.data.verifiers import all_passed

    for r in prompts:
        assert all_passed(r["constraints"], r["reference"])
        assert not all_passed(r["constraints"], r["habit_reference"])
        assert alternative_answer(r, "trait").endswith(TRAIT)


def test_answer_log_probs_is_the_sum_over_the_answer_tokens(prepared, prompts):
    """Scores exactly the answer's tokens and the end of turn after the prompt, whatever the batch's padding."""
    model, tok = prepared
    answers = [r["reference"] for r in prompts]
    batched = answer_log_probs(model, tok, prompts, answers, "expert", batch_size=4)
    one_by_one = answer_log_probs(model, tok, prompts, answers, "expert", batch_size=1)
    assert batched == pytest.approx(one_by_one, abs=1e-4)
    record, answer = prompts[0], answers[0]
    prompt = tok(render_prompt(tok, record["messages"], "expert"), add_special_tokens=False)["input_ids"]
    completion = tok(answer, add_special_tokens=False)["input_ids"] + [stop_token_ids(tok)[0]]
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        loss = model(input_ids=ids, labels=torch.tensor([[-100] * len(prompt) + completion])).loss
    assert one_by_one[0] == pytest.approx(-float(loss) * len(completion), rel=1e-4)


def test_probe_reports_both_conditions_and_their_separation(prepared, prompts):
    """A margin per prompt for each (condition, alternative), and the expert - sub-optimal separation in the table."""
    model, tok = prepared
    results = likelihood_probe(model, tok, prompts)
    assert set(results) == {("expert", "trait"), ("expert", "habit"), ("suboptimal", "trait"), ("suboptimal", "habit")}
    assert all(len(r.margins) == len(prompts) for r in results.values())
    assert results[("expert", "trait")].margins != results[("suboptimal", "trait")].margins  # the condition is seen
    assert "separation vs trait" in probe_table(results, n_boot=50)
    with pytest.raises(ValueError, match="reference"):
        likelihood_probe(model, tok, [{k: v for k, v in prompts[0].items() if k != "reference"}])
