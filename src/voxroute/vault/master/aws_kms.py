"""AWS KMS as master-key provider: KMS wraps each data key, bound to an encryption context.

KMS rotates key material inside one KMS key transparently (old ciphertexts keep decrypting),
so voxroute only needs versions of its own when it moves to a *different* KMS key. A version
is therefore just the id (or ARN/alias) of a KMS key, kept in a small map file next to the
local data (no secret in it; still written 0600 by the same code as the local keyring).
Version 1 is seeded from `VOXROUTE_AWS_KMS_KEY_ID` on first run; later versions are added with
`rotate_master_key(provider, key_ref="<new KMS key id>")`. Retiring a version makes voxroute
refuse it; disabling or scheduling deletion of the KMS key itself is left to the operator.

boto3 is blocking, so every call runs in `asyncio.to_thread` (boto3 clients are thread-safe).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from voxroute.errors import DecryptionError, MasterKeyError
from voxroute.vault.master.base import WrapContext
from voxroute.vault.master.ringfile import RingFile
from voxroute.vault.master.versioned import RingBackedProvider

# Errors that mean "this ciphertext/context is wrong", as opposed to "KMS is unusable".
_CIPHERTEXT_ERRORS = {"InvalidCiphertextException", "IncorrectKeyException"}


def _validate_kms_key_id(ref: str) -> None:
    if not ref or len(ref) > 2048 or any(ch.isspace() for ch in ref):
        raise ValueError("kms_key_id must be a KMS key id, ARN or alias")


class AwsKmsMasterKey(RingBackedProvider):
    """Master key versions that are AWS KMS keys."""

    key_prefix = "aws-kms"
    destroy_on_retire = False
    public_references = True

    def __init__(self, *args: Any, client: Any) -> None:
        super().__init__(*args)
        self._client = client

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        initial_kms_key_id: str,
        region: str,
        endpoint_url: str | None = None,
        client: Any = None,
    ) -> AwsKmsMasterKey:
        """Load the KMS key map at `path` (creating it with `initial_kms_key_id` as v1)."""
        try:
            _validate_kms_key_id(initial_kms_key_id)
        except ValueError as exc:
            raise MasterKeyError(f"refusing to start: {exc}") from None
        ring_file = RingFile(
            path, kind="aws_kms", ref_field="kms_key_id", validate=_validate_kms_key_id
        )
        ring, stamp = ring_file.load_or_create(lambda: initial_kms_key_id)
        known = {entry.ref for entry in ring.entries.values()}
        if initial_kms_key_id not in known:
            raise MasterKeyError(
                f"refusing to start: KMS key {initial_kms_key_id} is not a version of the key "
                f"map {path}; add it with rotate_master_key(..., key_ref=...) instead of "
                "changing VOXROUTE_AWS_KMS_KEY_ID"
            )
        if client is None:
            client = boto3.client("kms", region_name=region, endpoint_url=endpoint_url or None)
        return cls(ring_file, ring, stamp, client=client)

    async def _new_ref(self, key_ref: str | None) -> str:
        if key_ref is None:
            raise MasterKeyError("aws_kms needs the id of the KMS key for a new version")
        try:
            _validate_kms_key_id(key_ref)
        except ValueError as exc:
            raise MasterKeyError(str(exc)) from None
        # Fail now, not at the first seal, if the key is unknown or unusable.
        await self._call("describe", self._client.describe_key, KeyId=key_ref)
        return key_ref

    async def _wrap_with(self, ref: str, version: int, dek: bytes, context: WrapContext) -> bytes:
        response = await self._call(
            "encrypt",
            self._client.encrypt,
            KeyId=ref,
            Plaintext=dek,
            EncryptionContext=dict(context),
        )
        return bytes(response["CiphertextBlob"])

    async def _unwrap_with(
        self, ref: str, version: int, wrapped: bytes, context: WrapContext
    ) -> bytes:
        response = await self._call(
            "decrypt",
            self._client.decrypt,
            KeyId=ref,
            CiphertextBlob=wrapped,
            EncryptionContext=dict(context),
        )
        return bytes(response["Plaintext"])

    async def _call(self, operation: str, method: Any, **kwargs: Any) -> dict[str, Any]:
        """Run one KMS call off the event loop; map errors without echoing request data."""
        try:
            response: dict[str, Any] = await asyncio.to_thread(method, **kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "unknown"))
            if operation == "decrypt" and code in _CIPHERTEXT_ERRORS:
                raise DecryptionError(
                    "data key did not unwrap: tampered data or a blob moved to another row"
                ) from None
            raise MasterKeyError(f"AWS KMS {operation} failed ({code})") from None
        except BotoCoreError as exc:
            raise MasterKeyError(f"AWS KMS {operation} failed ({type(exc).__name__})") from None
        return response
