"""Two-party ECDSA (Lindell 2017 family) on secp256k1: shares, keygen, pairing, signing — pure protocol code.

Transport-agnostic state machines over typed messages with one JSON encoding; no HTTP, no database, no
``cryptography`` (``transport`` and ``ethereum`` are the CPython-only exceptions and nothing here imports
them). The same modules run under Pyodide on the pure-Python arithmetic backend. Protocol: docs/mpc.md.
"""
