"""Architecture shapes of the models the course names: the one place the memory estimator, the benchmarks and
the tests take them from, so estimates and random-weight benchmarks need no download."""

from __future__ import annotations

from transformers import LlamaConfig, MistralConfig, PretrainedConfig

#: name -> architecture and published shape (`arch` picks the transformers config class).
SHAPES: dict[str, dict] = {
    "tiny": dict(arch="llama", vocab_size=1024, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True),
    "smollm2-135m": dict(arch="llama", vocab_size=49152, hidden_size=576, intermediate_size=1536,
                         num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True),
    "smollm2-1.7b": dict(arch="llama", vocab_size=49152, hidden_size=2048, intermediate_size=8192,
                         num_hidden_layers=24, num_attention_heads=32, num_key_value_heads=32,
                         tie_word_embeddings=True),
    "mistral-7b": dict(arch="mistral", vocab_size=32000, hidden_size=4096, intermediate_size=14336,
                       num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=False),
    "llama2-13b": dict(arch="llama", vocab_size=32000, hidden_size=5120, intermediate_size=13824,
                       num_hidden_layers=40, num_attention_heads=40, num_key_value_heads=40,
                       tie_word_embeddings=False),
}
#: Hub model id of a profile -> its shape.
MODEL_SHAPES: dict[str, str] = {
    "HuggingFaceTB/SmolLM2-1.7B": "smollm2-1.7b",
    "mistralai/Mistral-7B-v0.1": "mistral-7b",
    "meta-llama/Llama-2-13b-hf": "llama2-13b",
}


def shape_config(name: str, **overrides) -> PretrainedConfig:
    """The transformers config of shape `name` (overrides win, e.g. ``max_position_embeddings``)."""
    spec = {**SHAPES[name], **overrides}
    arch = spec.pop("arch")
    return (MistralConfig if arch == "mistral" else LlamaConfig)(**spec)
