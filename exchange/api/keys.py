"""``GET /api/v1/keys``: the public keys of the exchange's signatures, for ``exchange verify --key``.

The answer is a verifier's KEYS.json as it stands: save it once from the exchange (or from
wherever its keys are announced) and check every bundle against it. Each key is described as
``exchange.signing`` publishes it; ``development: true`` marks a key generated because none was
configured (``EXCHANGE_SIGNING_KEY``), whose signatures prove nothing.
"""

from __future__ import annotations

import msgspec
from litestar import Controller, get
from litestar.datastructures import State

from exchange.signing import SigningKey


class PublicKey(msgspec.Struct):
    kid: str
    """The first 16 bytes of SHA-256 of the raw public key, in hex: what a signature names."""
    algorithm: str
    """``Ed25519``."""
    public_key: str
    """The 32-byte public key, base64url without padding."""
    development: bool
    """A development key (no key configured): its signatures prove nothing."""


class PublishedKeys(msgspec.Struct):
    keys: list[PublicKey]


class KeyController(Controller):
    path = "/api/v1/keys"
    tags = ["documents"]
    security = [{}]

    @get(
        "/",
        operation_id="listSigningKeys",
        summary="The exchange's public signing keys (for exchange verify --key)",
        description="The Ed25519 keys that sign the result bundles (GET /api/v1/results/{listing_id}/bundle). "
        "Every instance of one exchange serves the same key; development: true marks a key generated "
        "because none was configured, whose signatures prove nothing.",
    )
    async def keys(self, state: State) -> PublishedKeys:
        key: SigningKey = state.signing_key
        return PublishedKeys(keys=[PublicKey(**key.public.description())])
