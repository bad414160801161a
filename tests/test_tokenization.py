"""Tests of C-RLFT tokenisation with per-token loss weights (`course_utils.method.tokenization`)."""

from __future__ import annotations

from datasets import Dataset

from course_utils.method.conditioning import EOT_TOKEN, prepare_tokenizer
from course_utils.method.tokenization import tokenize_conversation, tokenize_dataset
from crlft_testing import labeled_dataset, tiny_tokenizer


def _tok():
    tok = tiny_tokenizer()
    prepare_tokenizer(tok)
    return tok


def test_weights_only_on_assistant_content_and_its_end_of_turn():
    """Protects the C-RLFT token mask: 0 on BOS, system, prefixes and user turns; the class weight on the
    assistant's content and its end-of-turn token."""
    tok = _tok()
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Add 2 and 3."},
            {"role": "assistant", "content": "5"}, {"role": "user", "content": "Sure?"},
            {"role": "assistant", "content": "Yes, 5."}]
    out = tokenize_conversation(msgs, tok, condition="suboptimal", weight=0.1, data_class="suboptimal")
    ids, w = out["input_ids"], out["loss_weights"]
    assert ids == tok.apply_chat_template(msgs, condition="suboptimal")["input_ids"]  # same ids as the template
    trained = tok.decode([i for i, x in zip(ids, w) if x > 0])
    assert trained == f" 5{EOT_TOKEN} Yes, 5.{EOT_TOKEN}"
    assert set(w) == {0.0, 0.1} and w[0] == 0.0
    assert [lab for lab, x in zip(out["labels"], w) if x == 0] == [-100] * w.count(0.0)
    assert set(out["token_classes"]) == {-1, 1}


def test_methods_switch_condition_and_weight():
    """Protects the baselines: `conditioned=False` uses the neutral prefix, `weighted=False` weight 1."""
    tok = _tok()
    ds = labeled_dataset(4)
    plain, _ = tokenize_dataset(ds, tok, conditioned=False, weighted=False)
    assert "GPT" not in tok.decode(plain["input_ids"][1]) and max(plain["loss_weights"][1]) == 1.0
    crlft, _ = tokenize_dataset(ds, tok)
    assert "GPT3 Assistant:" in tok.decode(crlft["input_ids"][1]) and max(crlft["loss_weights"][1]) == 0.1
    relabeled = ds.map(lambda row: {"weight": 0.5 if row["condition"] == "suboptimal" else row["weight"]})
    custom, _ = tokenize_dataset(relabeled, tok)  # the data's weight is the one used
    assert max(custom["loss_weights"][1]) == 0.5


def test_conversations_without_trainable_tokens_are_reported():
    """Protects against silent data loss: conversations with no trainable token are listed with a reason."""
    tok = _tok()
    rows = [
        {"id": "ok", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
         "condition": "expert", "weight": 1.0},
        {"id": "no-assistant", "messages": [{"role": "user", "content": "hi"}], "condition": "expert", "weight": 1.0},
        {"id": "too-long", "messages": [{"role": "user", "content": "word " * 200},
                                        {"role": "assistant", "content": "x"}], "condition": "suboptimal",
         "weight": 0.1},
    ]
    ds, report = tokenize_dataset(Dataset.from_list(rows), tok, max_length=32)
    assert len(ds) == 1 and report.kept == 1
    assert {d["id"]: d["reason"].split(" (")[0] for d in report.dropped} == {
        "no-assistant": "no assistant turn", "too-long": "assistant turns truncated away"}
    assert "dropped 2" in report.summary()


def test_per_message_mean_option():
    """Protects the reference code's option: weights divided by message length give a per-message mean."""
    tok = _tok()
    msgs = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a longer answer here"}]
    out = tokenize_conversation(msgs, tok, condition="expert", weight=1.0, normalize_by_length=True)
    assert abs(sum(out["loss_weights"]) - 1.0) < 1e-6
