"""Stage 7, experiments (lessons 05 and 06): the seeded ablation of C-RLFT against its baselines (`ablation`), the
same validation search for every method (`tuning`) and the expert-share sweep (`sweep`), resumable, with the command, code fingerprint and machine recorded."""
