"""The edge side of SpecEdge-style speculation: a local OpenAI-compatible endpoint that drafts tokens
next to the agent and has the server verify them (``EdgeEngine``, ``VerifierClient``, ``run_edge``)."""
