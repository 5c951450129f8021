"""Device-key login (challenge-response with ECDSA P-256) and WebAuthn passkeys.

- ``challenges``: single-use, expiring challenges H = SHA-256(random ‖ domain), consumed atomically;
- ``sessions``: ES256 session JWTs signed by the service's token key (published in the JWKS);
- ``devices``: users and their registered public keys;
- ``registration`` / ``login``: the pure checks of each ceremony step, and the flows around them;
- ``ratelimit``: fixed-window counters shared by every worker.

No web imports here: the server's ``routes/auth.py`` parses requests and calls these.
"""
