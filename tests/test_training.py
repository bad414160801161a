"""Tests of `course_utils.training.run`: methods, checkpoint/resume, saved artefacts, the `crlft train` command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from transformers import TrainerCallback

from course_utils.course.cli import build_parser
from course_utils.method.conditioning import EOT_TOKEN
from course_utils.training.run import METHODS, read_log, run_training, select_for_method
from crlft_testing import labeled_dataset, tiny_model, tiny_tokenizer


class _StopAt(TrainerCallback):
    """Simulates a Colab disconnect right after the checkpoint of step `step`."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_save = True
            control.should_training_stop = True


def _run(out, resume=False, callbacks=(), method="crlft", steps=6, stop_at=None):
    tok = tiny_tokenizer()
    return run_training(method, labeled_dataset(12), out, profile="cpu", max_steps=steps, learning_rate=5e-3,
                        seed=0, resume=resume, model=tiny_model(len(tok) + 1), tokenizer=tok, callbacks=callbacks,
                        stop_at=stop_at,
                        per_device_train_batch_size=2, gradient_accumulation_steps=2, save_steps=3,
                        train_sampling_strategy="random")


def test_resume_gives_the_same_loss_sequence(tmp_path):
    """Protects Colab users: interrupting after a checkpoint and resuming reproduces the uninterrupted losses."""
    full = _run(tmp_path / "full")
    _run(tmp_path / "cut", callbacks=[_StopAt(3)])
    resumed = _run(tmp_path / "cut", resume=True)
    assert resumed.resumed_from and resumed.resumed_from.endswith("checkpoint-3")
    expected = [round(v, 5) for _, v in full.losses()]
    assert len(expected) == 6
    assert [round(v, 5) for _, v in resumed.losses()] == expected
    assert [round(h["loss"], 5) for h in read_log(tmp_path / "cut") if "loss" in h] == expected  # the log file too


def test_resume_without_checkpoint_starts_a_fresh_log(tmp_path):
    """--resume on a folder with a log but no checkpoint restarts cleanly instead of appending to the old log."""
    out = tmp_path / "run"
    _run(out, steps=2)
    for checkpoint in out.glob("checkpoint-*"):
        shutil.rmtree(checkpoint)
    _run(out, resume=True, steps=2)
    assert [h["step"] for h in read_log(out) if "loss" in h] == [1, 2]


def test_output_dir_holds_adapter_tokenizer_and_log(tmp_path):
    """Protects the hand-over to the inference lesson: safetensors adapter with the end-of-turn rows,
    tokenizer with the conditioned template, training log and run description."""
    out = tmp_path / "run"
    _run(out, steps=2)
    for name in ("adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "training_log.jsonl",
                 "crlft_run.json"):
        assert (out / name).exists(), name
    with safe_open(str(out / "adapter_model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert any("trainable_tokens" in k for k in keys)  # the end-of-turn embedding rows
    assert not any(k.endswith("embed_tokens.weight") for k in keys)  # not the whole embedding matrix
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out)
    prompt = tok.apply_chat_template([{"role": "user", "content": "Hi"}], condition="expert",
                                     add_generation_prompt=True, tokenize=False)
    assert prompt.endswith(f"GPT4 Correct User: Hi{EOT_TOKEN}GPT4 Correct Assistant:")
    run = json.loads((out / "crlft_run.json").read_text())
    assert run["method"] == "crlft" and run["global_step"] == 2


def test_methods_select_data_and_switches():
    """Protects the ablation: each baseline differs from C-RLFT only in data, conditioning or weighting."""
    ds = labeled_dataset(8)
    assert set(METHODS) == {"crlft", "sft", "sft-expert", "crlft-no-weight", "crlft-no-condition", "sft-filtered", "kto"}
    assert {m for m, spec in METHODS.items() if spec.trainer == "kto"} == {"kto"}  # the only non-SFT loss
    assert METHODS["sft-filtered"].verified_only and not METHODS["sft-filtered"].conditioned
    assert set(select_for_method(ds, "sft-expert")["condition"]) == {"expert"}
    assert len(select_for_method(ds, "sft")) == 8
    assert (METHODS["crlft"].conditioned, METHODS["crlft"].weighted) == (True, True)
    assert (METHODS["crlft-no-weight"].conditioned, METHODS["crlft-no-weight"].weighted) == (True, False)
    assert (METHODS["crlft-no-condition"].conditioned, METHODS["crlft-no-condition"].weighted) == (False, True)
    assert not METHODS["sft"].conditioned and not METHODS["sft"].weighted


def test_train_command_is_registered():
    """Protects the script entry point `crlft train ... --resume`."""
    args = build_parser().parse_args(["train", "--profile", "cpu", "--method", "sft-expert", "--output-dir", "D",
                                      "--max-steps", "5", "--resume"])
    assert args.method == "sft-expert" and args.max_steps == 5 and args.resume and callable(args.func)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--method", "nope", "--output-dir", "D"])


def test_every_profile_builds_valid_configs(tmp_path):
    """Protects the profiles (the one source of hyperparameters) from API drift (the alignment-handbook failure:
    keys TRL renamed): every profile must build a CRLFTConfig and a LoraConfig with the installed versions."""
    import yaml

    from course_utils.hardware.profiles import PROFILES
    from course_utils.training.run import build_config, lora_config

    for profile in PROFILES.values():
        for method in METHODS:
            config = build_config(method, tmp_path, profile)
            assert config.max_length == profile.max_seq_length
        lora_config(profile, {"embed_tokens": [1], "lm_head": [1]})
    configs = Path(__file__).resolve().parents[1] / "course_utils" / "configs"
    for name in ("accelerate_ddp.yaml", "accelerate_zero2.yaml", "accelerate_zero3.yaml", "accelerate_fsdp.yaml"):
        assert yaml.safe_load((configs / name).read_text())["distributed_type"] in {"MULTI_GPU", "DEEPSPEED", "FSDP"}


def test_untied_model_trains_and_saves_its_end_of_turn_output_row(tmp_path):
    """Protects untied models (Mistral-7B, Llama-2: the 24gb and a100 profiles): the end-of-turn token's row of the
    LM head trains, travels in the adapter file, and comes back identical after reloading."""
    from peft import PeftModel

    from course_utils.method.conditioning import prepare_for_crlft

    tok = tiny_tokenizer()
    out = tmp_path / "untied"
    base = tiny_model(len(tok) + 1, tied=False)
    initial_row = base.lm_head.weight[-1].detach().clone()
    result = run_training("crlft", labeled_dataset(8), out, profile="cpu", max_steps=3, learning_rate=5e-2,
                          seed=0, model=base, tokenizer=tok, per_device_train_batch_size=4, save_steps=10)
    assert result.global_step == 3
    with safe_open(str(out / "adapter_model.safetensors"), "pt") as f:
        head_keys = [k for k in f.keys() if "lm_head" in k and "trainable_tokens" in k]
        assert head_keys, list(f.keys())
        saved_delta = f.get_tensor(head_keys[0])
    eot = tok.convert_tokens_to_ids(EOT_TOKEN)
    reloaded_base = tiny_model(len(tok) + 1, tied=False)  # same seed: the same base weights
    prepare_for_crlft(reloaded_base, tok)
    reloaded = PeftModel.from_pretrained(reloaded_base, str(out)).merge_and_unload()
    trained_row = reloaded.lm_head.weight[eot].detach()
    torch.testing.assert_close(trained_row, saved_delta.reshape(-1, trained_row.numel())[0])
    assert not torch.allclose(trained_row, initial_row)


def test_an_already_prepared_tokenizer_still_gets_trainable_end_of_turn_rows(tmp_path):
    """Protects `run_training(model=..., tokenizer=...)` with a tokenizer prepared earlier (a notebook cell run
    twice): the end-of-turn rows must still be trainable and saved."""
    from course_utils.method.conditioning import prepare_tokenizer

    tok = tiny_tokenizer()
    prepare_tokenizer(tok)
    out = tmp_path / "prepared"
    run_training("crlft", labeled_dataset(4), out, profile="cpu", max_steps=1, seed=0,
                 model=tiny_model(len(tok)), tokenizer=tok, per_device_train_batch_size=4, save_steps=10)
    with safe_open(str(out / "adapter_model.safetensors"), "pt") as f:
        assert any("trainable_tokens" in k for k in f.keys())



def test_resuming_a_finished_run_trains_nothing(tmp_path):
    """Re-running a lesson's training cell (resume=True) on a finished run returns at once, before any model is
    loaded: no extra step, no new checkpoint (transformers would run one more step past max_steps per resume)."""
    from course_utils.training import run as training

    from course_utils.data.loaders import load_train_dataset
    from course_utils.hardware.profiles import get_profile

    out = tmp_path / "run"
    (out / "checkpoint-40").mkdir(parents=True)
    (out / "adapter_model.safetensors").write_bytes(b"x")
    settings = training.run_settings("crlft", get_profile("cpu"), select_for_method(load_train_dataset(), "crlft"),
                                     precision=None, model_id=None, max_steps=40, learning_rate=None, seed=42)
    (out / training.RUN_FILE).write_text(json.dumps({"settings": settings, "status": "finished"}))
    result = training.run_training("crlft", dataset=None, output_dir=out, profile="cpu", max_steps=40, resume=True,
                                   model="not a model")
    assert result.global_step == 40 and result.losses() == [] and result.resumed_from.endswith("checkpoint-40")
    assert sorted(p.name for p in out.iterdir()) == ["adapter_model.safetensors", "checkpoint-40", training.RUN_FILE]


def test_resuming_refuses_a_run_made_with_other_settings(tmp_path):
    """Resuming (or taking as finished) a folder trained with another learning rate, method or data is an error
    that names what differs, never a silent reuse of a stale run."""
    out = tmp_path / "run"
    _run(out, steps=3)
    tok = tiny_tokenizer()
    with pytest.raises(ValueError, match="learning_rate: 0.005 there, 0.001 now"):
        run_training("crlft", labeled_dataset(12), out, profile="cpu", max_steps=3, learning_rate=1e-3, seed=0,
                     resume=True, model=tiny_model(len(tok) + 1), tokenizer=tok, per_device_train_batch_size=2,
                     gradient_accumulation_steps=2, save_steps=3, train_sampling_strategy="random")
    with pytest.raises(ValueError, match="data:"):
        run_training("crlft", labeled_dataset(10), out, profile="cpu", max_steps=3, learning_rate=5e-3, seed=0,
                     resume=True, model=tiny_model(len(tok) + 1), tokenizer=tok, per_device_train_batch_size=2,
                     gradient_accumulation_steps=2, save_steps=3, train_sampling_strategy="random")


def test_a_fresh_run_refuses_a_folder_with_checkpoints(tmp_path):
    """Without resume, a folder that already holds checkpoints is an error, never a mix of two runs' checkpoints."""
    out = tmp_path / "run"
    _run(out, steps=3)
    with pytest.raises(ValueError, match="already holds a training run"):
        _run(out, steps=3)


def test_resuming_refuses_checkpoints_without_a_record(tmp_path):
    """Checkpoints whose settings were never recorded cannot be resumed: nobody can tell what they were."""
    from course_utils.training import run as training

    (tmp_path / "checkpoint-3").mkdir()
    with pytest.raises(ValueError, match="cannot tell"):
        training.check_resumable(tmp_path, {"method": "crlft"})


def test_stop_at_ends_the_run_on_the_longer_schedule(tmp_path):
    """A validation-chosen length: `stop_at` trains exactly the first steps of the `max_steps` run (same losses, same
    learning rates), saves the adapter there, records it, and a second call trains nothing."""
    full = _run(tmp_path / "full")
    cut = _run(tmp_path / "cut", stop_at=4)
    assert cut.global_step == 4 and (tmp_path / "cut" / "adapter_model.safetensors").exists()
    assert [round(v, 5) for _, v in cut.losses()] == [round(v, 5) for _, v in full.losses()][:4]
    assert [h["learning_rate"] for h in cut.log_history] == [h["learning_rate"] for h in full.log_history][:4]
    assert json.loads((tmp_path / "cut" / "crlft_run.json").read_text())["settings"]["stop_at"] == 4
    again = _run(tmp_path / "cut", resume=True, stop_at=4)
    assert again.global_step == 4 and again.losses() == []
    with pytest.raises(ValueError, match="stop_at"):
        _run(tmp_path / "bad", stop_at=7)


def test_lesson03_runs_on_the_settings_chosen_on_its_regimes_validation_prompts():
    """Lesson 03's demo run uses C-RLFT's learning rate, schedule length and step size from the committed
    validation curves of its regime (results/validation/<regime>.json), and stops at one of their checkpoints."""
    from course_utils.paths import REPO_ROOT
    from course_utils.training.run import LESSON03_REGIME, LESSON03_RUN, lesson03_data

    tuning = json.loads((REPO_ROOT / "results" / "validation" / f"{LESSON03_REGIME}.json").read_text())
    assert LESSON03_RUN["learning_rate"] == tuning["chosen"]["crlft"]["learning_rate"]
    assert LESSON03_RUN["max_steps"] == tuning["config"]["max_steps"]
    assert LESSON03_RUN["gradient_accumulation_steps"] == tuning["config"]["grad_accum"]
    assert LESSON03_RUN.get("stop_at", LESSON03_RUN["max_steps"]) == tuning["chosen"]["crlft"]["step"]
    assert len(lesson03_data()) == 800


def test_lesson07_short_kto_run_uses_ktos_validation_learning_rate():
    """Lesson 07's 4-step KTO run trains at the learning rate chosen for KTO on the premise validation prompts
    (results/validation/kto/premise.json), on the premise data, with at least two conversations per micro-batch
    (KTO's KL estimate pairs each answer with another prompt of its micro-batch)."""
    from course_utils.hardware.profiles import get_profile
    from course_utils.paths import REPO_ROOT
    from course_utils.training.run import LESSON03_REGIME, LESSON07_RUN

    tuning = json.loads((REPO_ROOT / "results" / "validation" / "kto" / "premise.json").read_text())
    assert tuning["regime"] == LESSON03_REGIME
    assert LESSON07_RUN["learning_rate"] == tuning["chosen"]["kto"]["learning_rate"]
    assert get_profile("cpu").batch_size >= 2
