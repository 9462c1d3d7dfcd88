"""splitsecond.serving"""
