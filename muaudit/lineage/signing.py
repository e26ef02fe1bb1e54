"""Ed25519 signatures of the manifest digest (cryptography). Keys are PEM files named by env vars.

MUAUDIT_SIGNING_KEY: path of the private key (PKCS8 PEM), kept outside the repository.
MUAUDIT_VERIFY_KEY: path of the public key; when unset, the public half of the signing key is used.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from muaudit.errors import BadInputError

SIGNING_ENV = "MUAUDIT_SIGNING_KEY"
VERIFY_ENV = "MUAUDIT_VERIFY_KEY"


def _load(env: str, private: bool):
    path = Path(os.environ[env])
    if not path.exists():
        raise BadInputError(f"{env}={path}: missing; expected an Ed25519 PEM key file")
    data = path.read_bytes()
    try:
        key = (serialization.load_pem_private_key(data, None) if private
               else serialization.load_pem_public_key(data))
    except ValueError:
        raise BadInputError(f"{env}={path}: not a PEM key; expected an unencrypted Ed25519 PEM key") from None
    wanted = Ed25519PrivateKey if private else Ed25519PublicKey
    if not isinstance(key, wanted):
        raise BadInputError(f"{env}={path}: not an Ed25519 key; expected an Ed25519 PEM key")
    return key


def public_hex(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def sign(digest: str) -> dict | None:
    """{"algorithm", "public_key", "value"} when a signing key is configured, else None."""
    if not os.environ.get(SIGNING_ENV):
        return None
    key = _load(SIGNING_ENV, private=True)
    return {"algorithm": "ed25519", "public_key": public_hex(key.public_key()),
            "value": key.sign(digest.encode()).hex()}


def verify_key() -> Ed25519PublicKey | None:
    if os.environ.get(VERIFY_ENV):
        return _load(VERIFY_ENV, private=False)
    if os.environ.get(SIGNING_ENV):
        return _load(SIGNING_ENV, private=True).public_key()
    return None


def check(digest: str, signature: dict, key: Ed25519PublicKey) -> bool:
    try:
        key.verify(bytes.fromhex(signature["value"]), digest.encode())
        return True
    except (InvalidSignature, ValueError, KeyError):
        return False


def new_key(path: Path) -> None:
    """Write a fresh private key (mode 600) and its public key next to it as <path>.pub."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.write_bytes(pem)
    path.chmod(0o600)
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    path.with_name(path.name + ".pub").write_bytes(pub)
