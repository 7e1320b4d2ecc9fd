"""Who owns a run made in the app: the browser that made it.

The browser keeps an owner token (in a first-party cookie, ``ui.state``) and the run stores only the token's
hash, so a file read by anyone never gives the token away.
"""

from __future__ import annotations

import hashlib
import secrets

OWNER_HASH_LENGTH = 64  # hex digits of SHA-256


def new_owner_token() -> str:
    """A browser's secret: it stays in the browser's cookie and never in a file."""
    return secrets.token_urlsafe(16)


def owner_hash(token: str | None) -> str:
    """What a run stores of its owner's token; "" for no token (a CLI or shipped run: nobody owns it in the app)."""
    if not token:
        return ""
    return hashlib.sha256(f"vae-lab-owner:{token}".encode()).hexdigest()


def owns(token: str | None, stored_hash: str) -> bool:
    """Whether the holder of ``token`` owns a run that stores ``stored_hash``. A run with no owner has none."""
    return bool(token) and bool(stored_hash) and secrets.compare_digest(owner_hash(token), stored_hash)
