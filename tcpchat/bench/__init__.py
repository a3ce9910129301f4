"""Benchmarks of every design of this chat: ``python -m tcpchat.bench`` (see __main__)."""
