"""The trainer's lean forward pass (per-conversation attention, row-sparse trainable tokens) computes what
transformers' ``sdpa`` and PEFT's own trainable-tokens layer compute, and only switches what it should."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model
from peft.tuners.trainable_tokens.layer import TrainableTokensLayer

from course_utils.method.conditioning import prepare_tokenizer
from course_utils.patches.packed_attention import PACKED_SDPA, conversation_lengths, use_packed_attention
from course_utils.method.tokenization import tokenize_dataset
from course_utils.patches.token_rows import RowSparseTrainableTokensLayer, use_row_sparse_trainable_tokens
from course_utils.method.trainer import CRLFTConfig, CRLFTDataCollator, CRLFTTrainer
from crlft_testing import labeled_dataset, tiny_model, tiny_tokenizer


def _batch(padding_free: bool, n: int = 4):
    tok = tiny_tokenizer()
    prepare_tokenizer(tok)
    tokenized, _ = tokenize_dataset(labeled_dataset(n), tok, max_length=64)
    collate = CRLFTDataCollator(pad_token_id=tok.pad_token_id, padding_free=padding_free)
    batch = collate([tokenized[i] for i in range(n)])
    return tok, {k: v for k, v in batch.items() if k not in ("loss_weights", "token_classes", "labels")}


def _logits_and_grads(model, inputs) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad()
    logits = model(**inputs, use_cache=False).logits
    logits.float().logsumexp(-1).sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return logits.detach(), grads


def _assert_close_grads(grad: torch.Tensor, reference: torch.Tensor, name: str) -> None:
    """Equal up to float32 summation order (relative to the gradient's scale)."""
    torch.testing.assert_close(grad, reference, atol=1e-4 * float(reference.abs().max()), rtol=1e-3,
                               msg=lambda m: f"{name}: {m}")


def test_conversation_lengths_follow_the_position_restarts():
    assert conversation_lengths(torch.tensor([[0, 1, 2, 0, 1, 0]])) == [3, 2, 1]
    assert conversation_lengths(torch.arange(5)[None]) == [5]


def test_packed_attention_equals_sdpa_on_a_packed_row():
    """Same logits and gradients as transformers' block-diagonal ``sdpa`` mask, on a model with GQA."""
    tok, inputs = _batch(padding_free=True)
    assert len(conversation_lengths(inputs["position_ids"])) == 4
    model = tiny_model(len(tok))
    assert model.config.num_key_value_heads < model.config.num_attention_heads
    reference, ref_grads = _logits_and_grads(model, inputs)
    assert use_packed_attention(model)
    assert model.config._attn_implementation == PACKED_SDPA
    logits, grads = _logits_and_grads(model, inputs)
    torch.testing.assert_close(logits, reference, atol=1e-5, rtol=1e-5)
    assert grads.keys() == ref_grads.keys()
    for name in grads:
        _assert_close_grads(grads[name], ref_grads[name], name)


def test_packed_attention_leaves_padded_batches_and_generation_to_sdpa():
    tok, inputs = _batch(padding_free=False)
    model = tiny_model(len(tok)).eval()
    with torch.no_grad():
        reference = model(**inputs).logits
        generated = model.generate(**inputs, max_new_tokens=4, do_sample=False)
        use_packed_attention(model)
        assert torch.equal(model(**inputs).logits, reference)
        assert torch.equal(model.generate(**inputs, max_new_tokens=4, do_sample=False), generated)


def test_only_sdpa_models_switch_to_packed_attention():
    model = tiny_model(64)
    model.set_attn_implementation("eager")
    assert not use_packed_attention(model)
    assert model.config._attn_implementation == "eager"


@pytest.mark.parametrize("tied", [True, False])
def test_row_sparse_tokens_equal_peft_layer(tied):
    """Outputs and gradients (LoRA, trained rows, inputs) of PEFT's layer, tied or separate LM head."""
    tok, inputs = _batch(padding_free=True)
    eot = len(tok) - 1  # the added end-of-turn token, present in every conversation
    assert (inputs["input_ids"] == eot).any()
    indices = {"embed_tokens": [eot, 5]} | ({} if tied else {"lm_head": [eot, 5]})
    model = get_peft_model(tiny_model(len(tok), tied=tied),
                           LoraConfig(r=4, target_modules="all-linear", trainable_token_indices=indices))
    with torch.no_grad():  # trained rows away from their initial values, so that a wrong lookup would show
        for layer in (m for m in model.modules() if isinstance(m, TrainableTokensLayer)):
            for delta in layer.trainable_tokens_delta.values():
                delta.add_(torch.randn_like(delta))
    keys = set(model.state_dict())
    reference, ref_grads = _logits_and_grads(model, inputs)
    assert use_row_sparse_trainable_tokens(model) == 2
    assert all(type(m) is RowSparseTrainableTokensLayer for m in model.modules() if isinstance(m, TrainableTokensLayer))
    assert set(model.state_dict()) == keys
    logits, grads = _logits_and_grads(model, inputs)
    torch.testing.assert_close(logits, reference, atol=1e-5, rtol=1e-5)
    assert any("trainable_tokens_delta" in name for name in grads)
    assert grads.keys() == ref_grads.keys()
    for name in grads:
        _assert_close_grads(grads[name], ref_grads[name], name)
    with model.disable_adapter(), torch.no_grad():  # adapters off: the base model's own rows
        base = model(**inputs).logits
    with torch.no_grad():
        assert not torch.allclose(base, reference, atol=1e-3)


@pytest.mark.parametrize("lean", [True, False])
def test_trainer_switches_the_lean_forward_only_when_asked(tmp_path, lean):
    tok = tiny_tokenizer()
    prepare_tokenizer(tok)
    eot = len(tok) - 1
    args = CRLFTConfig(output_dir=str(tmp_path), max_steps=1, report_to=[], use_cpu=True, bf16=False,
                       padding_free=True, lean_forward=lean, gradient_checkpointing=False, disable_tqdm=True)
    trainer = CRLFTTrainer(tiny_model(len(tok)), args=args, train_dataset=labeled_dataset(4), processing_class=tok,
                           peft_config=LoraConfig(r=4, target_modules="all-linear",
                                                  trainable_token_indices={"embed_tokens": [eot]}))
    layers = [m for m in trainer.model.modules() if isinstance(m, TrainableTokensLayer)]
    assert layers and all((type(m) is RowSparseTrainableTokensLayer) == lean for m in layers)
    assert trainer.model.config._attn_implementation == (PACKED_SDPA if lean else "sdpa")
