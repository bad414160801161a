"""Stage 3, hardware and loading (lesson 01): hardware profiles (`profiles`), loading the base model and tokenizer
in each precision (`models`), architecture shapes (`shapes`) and memory estimates (`memory`)."""
