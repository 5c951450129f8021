"""The server side of two-party MPC ECDSA (issue 5): wallets, keygen sessions, pairings, signing
sessions and locks, kept in the database so that any worker or node continues any step.

The protocol itself lives in ``sigil.mpc`` (pure state machines); this package stores their server
states sealed, enforces ownership, expiry and single use, maps protocol errors onto
``sigil.errors``, and writes the audit log. It never imports ``sigil.server``.
"""
