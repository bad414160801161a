"""Stage 6, evaluation (lesson 05): verifiable scoring with bootstrap intervals and paired differences (`metrics`),
the likelihood probe (`probe`), an LLM judge and its calibration (`judge`), and the course's plots (`plots`)."""
