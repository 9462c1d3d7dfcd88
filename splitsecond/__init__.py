"""SplitSecond: what does your LLM agent win or lose when it thinks slower?

``import splitsecond`` registers the Gymnasium environments (``splitsecond/StreetFighter-v0``,
``splitsecond/HFTBench-v0``). The subsystems live in ``splitsecond.envs``, ``splitsecond.agents``,
``splitsecond.serving``, ``splitsecond.cache`` and ``splitsecond.benchmarks``.
"""

from splitsecond import envs as envs  # registers the Gymnasium ids

__version__ = "0.1.0"
__all__ = ["__version__", "envs"]
