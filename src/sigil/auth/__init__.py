"""Device-key login (challenge-response with ECDSA P-256) and WebAuthn passkeys.

- ``challenges``: single-use, expiring challenges H = SHA-256(random ‖ domain): MAC'd tokens for
  device login, stored rows for WebAuthn;
- ``sessions``: ES256 session JWTs signed by the service's token key (published in the JWKS);
- ``devices``: users and their registered public keys;
- ``registration`` / ``login``: the pure checks of each ceremony step, and the flows around them;
- ``nodestate``: the node's ledger of consumed challenges and its rate counters, in memory shared
  by the node's workers.

No web imports here: the server's ``routes/auth.py`` parses requests and calls these.
"""
