"""The engine: sequences, paged KV block manager, scheduler, model runner, sync and async front ends."""
