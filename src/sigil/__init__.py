"""Sigil: a self-hostable ECDSA signing service."""

__version__ = "0.1.0"
