"""Stage 1, data (lesson 02): the data classes and conditions (`conditions`), the conversation schema and its
validation (`schema`), code checks of answers (`verifiers`), labeling with classes and weights (`labeling`), the
offline verifiable dataset generator (`synth`), its two data regimes (`regimes`) and loaders for the shipped and published data (`loaders`, `hub`)."""
