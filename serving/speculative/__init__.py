"""Speculative decoding split between edge drafters and the server's verifier (SpecEdge-style).

- ``verification``: lossless checks of a draft against the target (greedy; rejection sampling).
- ``proposers/``: draft sources — prompt lookup, a draft model, the target's first layers.
- ``adaptive`` / ``proactive``: the draft length per round; drafting the next round while one is in flight.
- ``batching`` / ``cost_model``: when the server holds a step for more drafts; what a draft token costs.
- ``protocol``: the compact wire messages; ``verifier_service``: the server's gRPC service.
- ``edge/``: the edge process — ``EdgeEngine`` behind the usual OpenAI-compatible app, its client,
  config and metrics (``splitsecond edge --server HOST:PORT``).
"""
