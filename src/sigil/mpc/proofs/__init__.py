"""The protocol's zero-knowledge proofs: CGGMP21 Π_mod, Π_fac, Π_prm, Π_log*, and Fiat-Shamir Schnorr."""
