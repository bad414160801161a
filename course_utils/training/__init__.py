"""Stage 4, training runs (lesson 03): `run` trains a QLoRA adapter with C-RLFT or a baseline on a profile's base
model, resumes from its last checkpoint and records what it trained with."""
