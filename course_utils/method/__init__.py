"""Stage 2, the C-RLFT method (lesson 03): the conditioned chat template (`conditioning`), tokenization with
per-token class weights (`tokenization`) and the class-weighted trainer built on TRL's `SFTTrainer` (`trainer`)."""
