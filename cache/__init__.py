"""splitsecond.cache"""
