"""Speed patches for CPU training and inference, kept in one place so that each can be deleted once the upstream
libraries do the same: attention per conversation in padding-free rows (`packed_attention`, for transformers) and
row-sparse trainable tokens (`token_rows`, for PEFT). Nothing here changes results, only how fast they come."""
