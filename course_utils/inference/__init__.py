"""Stage 5, inference (lesson 04): loading a trained adapter on its base model in a chosen precision, conditioned
generation, chat sessions and merging (`generation`)."""
