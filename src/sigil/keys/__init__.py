"""The key service domain: principals and tokens, key lifecycle, signing, verification, JWT."""
