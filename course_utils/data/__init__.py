"""Data: the conversation schema and its validation (`schema`), labeling with classes and weights (`labeling`),
the offline verifiable dataset generator (`synth`), loaders for shipped and published data (`loaders`, `hub`),
and the shipped files themselves (``train.jsonl``, ``eval.jsonl``, ``facts.json``, installed as package data)."""
