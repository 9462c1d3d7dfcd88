"""Speculative decoding: draft proposers, lossless verification, adaptive draft length."""
