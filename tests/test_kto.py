"""Tests of `course_utils.method.kto` and the `kto` method of `run_training`: KTO on the source labels (lesson 07)."""

from __future__ import annotations

import json

import pytest
import torch
from datasets import Dataset
from peft import LoraConfig

from course_utils.method.conditioning import prepare_for_crlft
from course_utils.method.kto import CourseKTOConfig, CourseKTOTrainer, balanced_desirable_weight, kto_dataset, kto_rows
from course_utils.training.run import METHODS, build_config, read_log, run_training
from course_utils.hardware.profiles import get_profile
from crlft_testing import labeled_dataset, tiny_model, tiny_tokenizer


def test_rows_split_the_last_answer_off_and_label_the_expert_class_desirable():
    """Protects KTO's data: prompt = everything before the last answer, completion = that answer, expert = True."""
    data = labeled_dataset(6)
    rows = kto_rows(data)
    assert len(rows) == len(data)
    for row, source in zip(rows, data):
        assert row["prompt"] == source["messages"][:-1]
        assert row["completion"] == source["messages"][-1:]
        assert row["label"] is (source["condition"] == "expert")
        assert row["chat_template_kwargs"] == {"condition": "neutral"}
    multi_turn = rows[1]  # conversation c1 has two user turns: the first answer stays in the prompt
    assert [m["role"] for m in multi_turn["prompt"]] == ["user", "assistant", "user"]


@pytest.mark.parametrize("bad, field", [
    ({"messages": [{"role": "user", "content": "hi"}], "condition": "expert"}, "messages"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
      "condition": "neutral"}, "condition"),
])
def test_rows_name_the_conversation_and_field_that_cannot_be_a_kto_example(bad, field):
    """Bad input is an error naming the record and the field, never a silently dropped or mislabeled row."""
    data = Dataset.from_list([{"id": "ok", "messages": [{"role": "user", "content": "a"},
                                                         {"role": "assistant", "content": "b"}],
                               "condition": "expert"}, {"id": "broken", **bad}])
    with pytest.raises(ValueError, match=f"'broken'.*'{field}'"):
        kto_rows(data)


def test_the_desirable_weight_balances_the_two_classes():
    """Protects the KTO paper's rule: desirable_weight * n_desirable = undesirable_weight * n_undesirable."""
    rows = [{"condition": "expert" if i < 10 else "suboptimal"} for i in range(100)]
    assert balanced_desirable_weight(Dataset.from_list(rows)) == 9.0
    assert balanced_desirable_weight(Dataset.from_list(rows), undesirable_weight=0.5) == 4.5
    with pytest.raises(ValueError, match="both classes"):
        balanced_desirable_weight(Dataset.from_list(rows[:10]))


def test_the_dataset_is_shuffled_by_the_training_seed():
    """KTO reads its data in order: the order must follow the seed (as the other methods' sampler does)."""
    data = labeled_dataset(12)
    ids = lambda d: [r["completion"][0]["content"] for r in d]  # noqa: E731
    assert ids(kto_dataset(data, 0)) == ids(kto_dataset(data, 0))
    assert ids(kto_dataset(data, 0)) != ids(kto_dataset(data, 1))
    assert sorted(ids(kto_dataset(data, 0))) == sorted(r["messages"][-1]["content"] for r in data)


def test_kto_config_shares_the_optimiser_and_schedule_of_the_sft_methods(tmp_path):
    """Protects the comparison: KTO and C-RLFT differ in the loss, not in optimiser, schedule or batch."""
    profile = get_profile("cpu")
    kto = build_config("kto", tmp_path, profile, max_steps=10, learning_rate=1e-3)
    crlft = build_config("crlft", tmp_path, profile, max_steps=10, learning_rate=1e-3)
    assert isinstance(kto, CourseKTOConfig) and kto.beta == 0.1
    for name in ("learning_rate", "lr_scheduler_type", "warmup_steps", "adam_beta2", "max_grad_norm",
                 "per_device_train_batch_size", "gradient_accumulation_steps", "optim", "max_length"):
        assert getattr(kto, name) == getattr(crlft, name), name


def test_the_kto_trainer_renders_the_neutral_prompt_and_keeps_an_fp32_adapter():
    """Protects the wiring: TRL tokenizes with the course template's neutral prefix, and LoRA stays fp32 on CPU."""
    tok = tiny_tokenizer()
    model = tiny_model(len(tok) + 1)
    prepare_for_crlft(model, tok)
    args = CourseKTOConfig(output_dir="unused", per_device_train_batch_size=2, max_steps=1, report_to=[],
                           use_cpu=True, bf16=False)
    trainer = CourseKTOTrainer(model, args=args, train_dataset=kto_dataset(labeled_dataset(4), 0),
                               processing_class=tok,
                               peft_config=LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    prompt = tok.decode(trainer.train_dataset[0]["prompt_ids"])
    assert "User:" in prompt and "GPT4" not in prompt and "GPT3" not in prompt
    trainable = [p for p in trainer.model.parameters() if p.requires_grad]
    assert trainable and all(p.dtype == torch.float32 for p in trainable)


def test_a_short_kto_run_trains_logs_rewards_and_records_its_weights(tmp_path):
    """The kto method end to end: TRL's KTO loss is logged per step, and the run records beta and class weights."""
    tok = tiny_tokenizer()
    data = labeled_dataset(12)
    result = run_training("kto", data, tmp_path, profile="cpu", max_steps=3, learning_rate=5e-3, seed=0,
                          model=tiny_model(len(tok) + 1), tokenizer=tok, progress=False,
                          per_device_train_batch_size=2, gradient_accumulation_steps=2)
    assert result.global_step == 3
    logged = [h for h in read_log(tmp_path) if "loss" in h]
    assert len(logged) == 3 and all(torch.isfinite(torch.tensor(h["loss"])) for h in logged)
    assert any("rewards/chosen" in h for h in read_log(tmp_path))
    record = json.loads((tmp_path / "crlft_run.json").read_text())
    assert record["method"] == "kto" and record["beta"] == 0.1
    assert record["desirable_weight"] == 1.0  # labeled_dataset alternates the classes: balanced already
    assert (tmp_path / "adapter_model.safetensors").exists()
    assert METHODS["kto"].trainer == "kto"
