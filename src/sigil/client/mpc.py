"""The client party of an MPC wallet: ``/v1/mpc`` over HTTP and the flows that create, pair, sign, recover.

This module is the public face; the code lives in:

- :mod:`sigil.client.mpc_http`: ``MpcClient``, one method per route of the MPC API (docs/mpc.md; the JSON
  of every protocol message is the ``to_json()`` of the :mod:`sigil.mpc` dataclasses).
- :mod:`sigil.client.mpc_wallet`: ``create_wallet`` (2-party DKG, or dealer mode; share 1 kept in the local
  wallet file, share 3 written to the backup file, both sealed under the passphrase, then share 1 paired)
  and ``pair`` (a fresh pairing, also the way out of a locked pairing).
- :mod:`sigil.client.mpc_signing`: ``sign_hash`` (two rounds; a signature that fails to verify locks the
  pairing here, then on the server: CVE-2023-33242), ``sign_hash_with_backup`` (the backup share paired
  for one signature) and ``export_key`` (the private key rebuilt OFFLINE from shares 1 and 3).
- :mod:`sigil.client.mpc_errors`: the errors these flows raise.

The client's secrets stay in the local wallet store (:mod:`sigil.client.wallet_store`), driven by the pure
state machines of :mod:`sigil.mpc`.
"""

from sigil.client.mpc_errors import NoPairing, PairingIncomplete, PairingLocked, ServerMismatch
from sigil.client.mpc_http import MpcClient
from sigil.client.mpc_signing import (
    MpcSignature,
    export_key,
    open_backup,
    sign_hash,
    sign_hash_with_backup,
)
from sigil.client.mpc_wallet import PAILLIER_BITS, CreatedWallet, create_wallet, pair, resolve_server_url

__all__ = [
    "PAILLIER_BITS",
    "CreatedWallet",
    "MpcClient",
    "MpcSignature",
    "NoPairing",
    "PairingIncomplete",
    "PairingLocked",
    "ServerMismatch",
    "create_wallet",
    "export_key",
    "open_backup",
    "pair",
    "resolve_server_url",
    "sign_hash",
    "sign_hash_with_backup",
]
