"""Tests of `CRLFTTrainer`: its loss is sum(w*CE)/sum(w) over the whole optimiser step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset
from transformers import TrainerCallback

from course_utils.method.conditioning import prepare_tokenizer
from course_utils.method.tokenization import tokenize_dataset
from course_utils.method.trainer import CRLFTConfig, CRLFTDataCollator, CRLFTTrainer
from crlft_testing import labeled_dataset, tiny_model, tiny_tokenizer


class _GradCatcher(TrainerCallback):
    """Copies every gradient just before the first optimiser step."""

    def __init__(self):
        self.grads: dict[str, torch.Tensor] = {}

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        if not self.grads:
            self.grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def _trainer_step(tok, ds, tmp_path, batch, accum, **extra):
    """One optimiser step of CRLFTTrainer (lr 0, no clipping): returns (logged loss, gradients)."""
    catcher = _GradCatcher()
    args = CRLFTConfig(output_dir=str(tmp_path / f"b{batch}a{accum}"), per_device_train_batch_size=batch,
                       gradient_accumulation_steps=accum, max_steps=1, learning_rate=0.0, max_grad_norm=0.0,
                       logging_steps=1, report_to=[], save_strategy="no", train_sampling_strategy="sequential",
                       use_cpu=True, disable_tqdm=True, bf16=False, gradient_checkpointing=False,
                       **extra)
    trainer = CRLFTTrainer(tiny_model(len(tok)), args=args, train_dataset=ds, processing_class=tok,
                           callbacks=[catcher])
    trainer.train()
    return trainer.state.log_history[0]["loss"], catcher.grads


def _reference(tok, ds):
    """The formula computed independently: plain forward on the padded global batch, full logits."""
    tokenized, _ = tokenize_dataset(ds, tok)
    model = tiny_model(len(tok))
    batch = CRLFTDataCollator(pad_token_id=tok.pad_token_id)([tokenized[i] for i in range(len(tokenized))])
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    targets = batch["input_ids"][:, 1:]
    ce = F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="none")
    w = batch["loss_weights"][:, 1:].reshape(-1)
    loss = (w * ce).sum() / w.sum()
    loss.backward()
    return loss.item(), {n: p.grad for n, p in model.named_parameters() if p.grad is not None}


def test_loss_and_gradients_match_formula_for_every_micro_batch_split(tmp_path):
    """Protects the core of C-RLFT: loss and gradients equal sum(w*CE)/sum(w) over the step, whatever the
    gradient-accumulation split (8x1, 4x2, 2x4, 1x8) and in padding-free packing mode."""
    tok = tiny_tokenizer()
    prepare_tokenizer(tok)
    ds = labeled_dataset(8)
    ref_loss, ref_grads = _reference(tok, ds)
    runs = [dict(batch=8, accum=1), dict(batch=4, accum=2), dict(batch=2, accum=4), dict(batch=1, accum=8),
            dict(batch=4, accum=2, packing=True, max_length=64)]
    for run in runs:
        loss, grads = _trainer_step(tok, ds, tmp_path, **run)
        assert abs(loss - ref_loss) < 1e-4 * ref_loss, (run, loss, ref_loss)
        assert grads.keys() == ref_grads.keys()
        for name, ref in ref_grads.items():
            torch.testing.assert_close(grads[name], ref, rtol=1e-3, atol=2e-4 * ref.abs().max().item(),
                                       msg=lambda m: f"{run} {name}: {m}")


def test_mean_per_sample_would_differ():
    """Protects the test's power: on this data the global weighted token mean differs from a per-sample mean."""
    tok = tiny_tokenizer()
    prepare_tokenizer(tok)
    tokenized, _ = tokenize_dataset(labeled_dataset(8), tok)
    counts = [sum(1 for w in row if w > 0) for row in tokenized["loss_weights"]]
    assert len(set(counts)) > 1  # unequal lengths: per-sample and per-token means disagree


def test_collator_keeps_weights_aligned_in_padding_free_mode():
    """Protects padding-free training: weights stay aligned with labels when samples are flattened."""
    tok = tiny_tokenizer()
    prepare_tokenizer(tok)
    tokenized, _ = tokenize_dataset(labeled_dataset(3), tok)
    rows = [tokenized[i] for i in range(3)]
    flat = CRLFTDataCollator(pad_token_id=tok.pad_token_id, padding_free=True)(rows)
    padded = CRLFTDataCollator(pad_token_id=tok.pad_token_id)(rows)
    assert flat["input_ids"].shape[0] == 1 and "position_ids" in flat
    assert flat["loss_weights"].sum() == padded["loss_weights"].sum()
    assert ((flat["loss_weights"] > 0) == (flat["labels"] != -100)).all()
    assert ((padded["loss_weights"] > 0) == (padded["labels"] != -100)).all()


def test_unweighted_unconditioned_config_is_plain_sft_loss(tmp_path):
    """Protects the `sft` baseline: weights all 1 and no condition give the plain token-mean SFT loss."""
    tok = tiny_tokenizer()
    prepare_tokenizer(tok)
    ds = labeled_dataset(4)
    loss, _ = _trainer_step(tok, ds, tmp_path, batch=2, accum=2, weighted=False, conditioned=False)
    tokenized, _ = tokenize_dataset(ds, tok, weighted=False, conditioned=False)
    assert all(w in (0.0, 1.0) for row in tokenized["loss_weights"] for w in row)
    assert "GPT" not in tok.decode(tokenized["input_ids"][0])
    batch = CRLFTDataCollator(pad_token_id=tok.pad_token_id)([tokenized[i] for i in range(4)])
    out = tiny_model(len(tok))(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                               labels=batch["labels"])
    assert abs(loss - out.loss.item()) < 1e-4 * loss


def test_the_data_weight_drives_the_step_loss(tmp_path):
    """Protects the data's ownership of the weight (labeling writes it, the trainer uses it): changing one
    conversation's weight changes the step loss exactly as sum(w*CE)/sum(w) says."""
    tok = tiny_tokenizer()
    prepare_tokenizer(tok)
    ds = labeled_dataset(8)
    reweighted = ds.map(lambda row, i: {"weight": 0.7 if i == 1 else row["weight"]}, with_indices=True)
    ref_loss, _ = _reference(tok, reweighted)
    old_loss, _ = _reference(tok, ds)
    loss, _ = _trainer_step(tok, reweighted, tmp_path, batch=4, accum=2)
    assert abs(loss - ref_loss) < 1e-4 * ref_loss and abs(ref_loss - old_loss) > 1e-3


@pytest.mark.parametrize("option", [dict(loss_type="dft"), dict(label_smoothing_factor=0.1),
                                    dict(truncation_mode="keep_end")])
def test_options_the_loss_ignores_are_refused(tmp_path, option):
    """Protects against silently ignored settings: SFTConfig options the C-RLFT loss does not honour raise,
    naming the option."""
    name = next(iter(option))
    with pytest.raises(ValueError, match=name):
        CRLFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[], **option)


def test_compute_loss_func_is_refused(tmp_path):
    """Protects the loss: a custom `compute_loss_func` would replace C-RLFT's weighted NLL."""
    tok = tiny_tokenizer()
    args = CRLFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[], max_steps=1)
    with pytest.raises(ValueError, match="compute_loss_func"):
        CRLFTTrainer(tiny_model(len(tok) + 1), args=args, train_dataset=labeled_dataset(2), processing_class=tok,
                     compute_loss_func=lambda *a, **k: 0)


def test_packing_reports_the_tokens_it_cuts(tmp_path):
    """Protects against silent truncation: BFD packing cuts over-long conversations where the tokenisation
    report counts them, with the tokens and the share of trainable weight lost."""
    tok = tiny_tokenizer()
    prepare_tokenizer(tok)
    rows = [{"id": f"long{i}", "messages": [{"role": "user", "content": "Count."},
                                            {"role": "assistant", "content": " ".join(["one two three"] * 12)}],
             "condition": "expert", "weight": 1.0} for i in range(2)]
    args = CRLFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[], max_steps=1, packing=True,
                       max_length=40, per_device_train_batch_size=1, bf16=False)
    trainer = CRLFTTrainer(tiny_model(len(tok)), args=args, train_dataset=Dataset.from_list(rows),
                           processing_class=tok)
    report = trainer.tokenization_report
    assert report.truncated == 2 and report.truncated_tokens > 0
    assert 0 < report.truncated_weight_share < 1 and "cut" in report.summary()
    assert max(len(ids) for ids in trainer.train_dataset["input_ids"]) <= 40


def test_evaluation_does_not_absorb_training_class_losses(tmp_path):
    """Protects the per-class logs: training and evaluation keep separate counters."""
    tok = tiny_tokenizer()
    prepare_tokenizer(tok)
    ds = labeled_dataset(8)
    args = CRLFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[], max_steps=2, logging_steps=100,
                       eval_strategy="no", per_device_train_batch_size=4, per_device_eval_batch_size=8,
                       bf16=False, disable_tqdm=True, save_strategy="no")
    trainer = CRLFTTrainer(tiny_model(len(tok)), args=args, train_dataset=ds, eval_dataset=ds, processing_class=tok)
    trainer.train()
    trainer._class_stats["train"].fill_(1e6)  # pretend unlogged training tokens
    metrics = trainer.evaluate()
    assert metrics["eval_loss_expert"] < 1e3 and metrics["eval_loss_suboptimal"] < 1e3


@pytest.mark.parametrize("padding_free", [True, False])
def test_scoring_only_trained_positions_equals_the_fused_head(padding_free):
    """Off CUDA the trainer projects only the positions that carry loss (`logits_to_keep`); it must give exactly the
    log-probabilities TRL's fused head gives at those positions, padded or padding-free (packed conversations must not
    attend to each other, which a KV cache would silently allow)."""
    from trl.trainer.utils import add_fused_lm_head

    from course_utils.method.trainer import score_kept_positions, score_with_fused_head

    tok = tiny_tokenizer()
    prepare_tokenizer(tok)
    tokenized, _ = tokenize_dataset(labeled_dataset(4), tok, max_length=64)
    batch = CRLFTDataCollator(pad_token_id=tok.pad_token_id, padding_free=padding_free)([tokenized[i] for i in range(4)])
    inputs = {k: v for k, v in batch.items() if k not in ("loss_weights", "token_classes")}
    model = tiny_model(len(tok))
    add_fused_lm_head(model, outputs=("log_probs", "entropy", "is_top1"))
    model.eval()
    with torch.no_grad():
        _, fused = score_with_fused_head(model, dict(inputs))
        _, kept = score_kept_positions(model, dict(inputs))
    positions = kept["positions"]
    assert len(positions) < inputs["labels"].shape[1] - 1  # prompts are not projected
    for key in ("log_probs", "entropy"):
        torch.testing.assert_close(kept[key], fused[key][:, positions], atol=1e-5, rtol=1e-5)
    assert torch.equal(kept["is_top1"], fused["is_top1"][:, positions].bool())
    assert kept["label_mask"].sum() == fused["label_mask"].sum()  # every labelled position is scored
