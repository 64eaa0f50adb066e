"""Seal and open through every master-key provider: tamper-evident, bound to its row."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vault_helpers import fake_key, make_ctx

from voxroute.errors import DecryptionError, MasterKeyError, VaultError
from voxroute.vault import LocalKeyring, Secret, SecretContext, Vault
from voxroute.vault.blob import parse


async def test_a_sealed_secret_opens_to_the_same_value(any_vault: Vault) -> None:
    value = Secret(fake_key())
    sealed = await any_vault.seal(value, make_ctx())
    assert sealed.master_key_id == any_vault.provider.key_id
    assert sealed.master_key_version == any_vault.provider.current_version
    assert await any_vault.open(sealed.blob, make_ctx()) == value


async def test_sealing_the_same_value_twice_gives_different_blobs(any_vault: Vault) -> None:
    value, ctx = Secret(fake_key()), make_ctx()
    one, two = (
        parse((await any_vault.seal(value, ctx)).blob),
        parse((await any_vault.seal(value, ctx)).blob),
    )
    assert one.nonce != two.nonce
    assert one.wrapped_dek != two.wrapped_dek
    assert one.ciphertext != two.ciphertext


async def test_the_blob_never_contains_the_plaintext_in_any_encoding(any_vault: Vault) -> None:
    raw = fake_key().encode()
    blob = (await any_vault.seal(Secret(raw.decode()), make_ctx())).blob
    for form in (raw, base64.b64encode(raw), raw.hex().encode(), raw[-16:]):
        assert form not in blob


async def test_flipping_any_single_byte_of_the_blob_fails_to_open(any_vault: Vault) -> None:
    value, ctx = Secret(fake_key()), make_ctx()
    blob = (await any_vault.seal(value, ctx)).blob
    for position in range(len(blob)):
        tampered = bytearray(blob)
        tampered[position] ^= 0x01
        with pytest.raises(VaultError) as caught:
            await any_vault.open(bytes(tampered), ctx)
        assert value.reveal() not in str(caught.value)


async def test_flips_in_nonce_ciphertext_tag_and_wrapped_key_are_decryption_errors(
    vault: Vault,
) -> None:
    ctx = make_ctx()
    env = parse((await vault.seal(Secret(fake_key()), ctx)).blob)
    regions = {
        "wrapped_dek": env.wrapped_dek,
        "nonce": env.nonce,
        "ciphertext": env.ciphertext[:-16],
        "tag": env.ciphertext[-16:],
    }
    for name, region in regions.items():
        for i in range(len(region)):
            flipped = bytearray(region)
            flipped[i] ^= 0x80
            if name in ("ciphertext", "tag"):
                body = bytes(flipped) if name == "ciphertext" else env.ciphertext[:-16]
                tag = bytes(flipped) if name == "tag" else env.ciphertext[-16:]
                changed = dataclasses.replace(env, ciphertext=body + tag)
            else:
                changed = dataclasses.replace(env, **{name: bytes(flipped)})
            with pytest.raises(DecryptionError):
                await vault.open(changed.pack(), ctx)


@pytest.mark.parametrize(
    "moved_to",
    [
        {"org_id": "org_b"},
        {"provider": "deepgram"},
        {"credential_id": "cred_2"},
        {"credential_version": 2},
        {"field": "region"},
        {"purpose": "assistant_export"},
    ],
)
async def test_a_blob_moved_to_another_row_fails_to_open(
    any_vault: Vault, moved_to: dict[str, object]
) -> None:
    blob = (await any_vault.seal(Secret(fake_key()), make_ctx())).blob
    with pytest.raises(DecryptionError):
        await any_vault.open(blob, make_ctx(**moved_to))


async def test_swapped_context_fields_fail_to_open(any_vault: Vault) -> None:
    ctx = make_ctx(org_id="org_x", credential_id="cred_x", provider="openai", field="api_key")
    blob = (await any_vault.seal(Secret(fake_key()), ctx)).blob
    swapped = [
        make_ctx(org_id="cred_x", credential_id="org_x", provider="openai", field="api_key"),
        make_ctx(org_id="org_x", credential_id="cred_x", provider="api_key", field="openai"),
    ]
    for other in swapped:
        with pytest.raises(DecryptionError):
            await any_vault.open(blob, other)


def test_an_empty_or_malformed_context_is_refused_before_any_crypto() -> None:
    for bad in ({"org_id": ""}, {"field": ""}, {"credential_version": 0}, {"purpose": ""}):
        with pytest.raises(ValueError):
            make_ctx(**bad)


async def test_a_blob_from_another_master_key_names_the_key_not_the_secret(
    vault: Vault, tmp_path: Path
) -> None:
    other = Vault(LocalKeyring.open(tmp_path / "other.json"))
    value = Secret(fake_key())
    blob = (await other.seal(value, make_ctx())).blob
    with pytest.raises(DecryptionError, match="sealed under master key local:kr_") as caught:
        await vault.open(blob, make_ctx())
    assert value.reveal() not in str(caught.value)


async def test_an_unknown_master_key_version_is_a_master_key_error(vault: Vault) -> None:
    env = parse((await vault.seal(Secret(fake_key()), make_ctx())).blob)
    with pytest.raises(MasterKeyError, match="has no version 9"):
        await vault.open(dataclasses.replace(env, master_key_version=9).pack(), make_ctx())


async def test_inspect_reads_the_header_without_a_key(vault: Vault) -> None:
    sealed = await vault.seal(Secret(fake_key()), make_ctx())
    assert Vault.inspect(sealed.blob) == sealed


async def test_seal_accepts_only_secret_values(vault: Vault) -> None:
    with pytest.raises(TypeError):
        await vault.seal("plain string", make_ctx())  # type: ignore[arg-type]


async def test_nothing_secret_appears_in_the_repr_of_vault_objects(
    vault: Vault, keyring_path: Path
) -> None:
    value = Secret(fake_key())
    sealed = await vault.seal(value, make_ctx())
    texts = [repr(vault), repr(vault.provider), repr(sealed), repr(parse(sealed.blob))]
    texts += [repr(v) for v in vault.provider.versions()]
    key_b64 = json.loads(await asyncio.to_thread(keyring_path.read_text))["versions"][0]["key"]
    for text in texts:
        assert value.reveal() not in text
        assert key_b64 not in text
        assert sealed.blob.hex() not in text


@pytest.fixture(scope="module")
def property_vault(tmp_path_factory: pytest.TempPathFactory) -> Vault:
    """Module-scoped, so hypothesis reuses one keyring across its examples."""
    return Vault(LocalKeyring.open(tmp_path_factory.mktemp("prop") / "keyring.json"))


names = st.text(min_size=1, max_size=30)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    value=st.text(max_size=300),
    org=names,
    cred=names,
    provider=names,
    field=names,
    version=st.integers(1, 2**31),
)
async def test_round_trip_holds_for_any_value_and_context(
    property_vault: Vault,
    value: str,
    org: str,
    cred: str,
    provider: str,
    field: str,
    version: int,
) -> None:
    ctx = SecretContext(org, cred, provider, field, version)
    sealed = await property_vault.seal(Secret(value), ctx)
    assert (await property_vault.open(sealed.blob, ctx)).reveal() == value
