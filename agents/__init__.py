"""splitsecond.agents"""
