"""splitsecond.benchmarks"""
