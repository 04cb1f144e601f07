"""Genesis data: content-addressed shards and batches addressed by (shard, offset, length)."""
