"""A real call on mixed keys is metered and charged exactly as the pricing file says."""

from __future__ import annotations

import asyncio
import gc

import httpx
from sqlalchemy import select

from tests.metering.conftest import (
    AUDIO,
    SCRAPE_TOKEN,
    Served,
    call_demo_until_settled,
    wait_until,
)
from voxroute.billing import balance, price
from voxroute.billing.types import UsageEvent
from voxroute.db.models import UsageRecord
from voxroute.softphone import place_call

BYO_STT = "dg-assistant-byo-key-000001"
ORG_TTS = "sk_car_org-byok-key-0000002"
TWILIO_TOKEN = "7a1c0f3e9b2d4c6a8e0f1a2b3c4d0003"  # Twilio's shape: 32 hex digits
ACCOUNT = "AC" + "7" * 32


async def test_mixed_key_call_charges_platform_fee_plus_managed_llm_only(served: Served) -> None:
    suite = served.runtime.emulators
    assert suite is not None
    stt_key_id = suite.register_key("deepgram", BYO_STT)
    tts_key_id = suite.register_key("cartesia", ORG_TTS)
    suite.register_key("twilio", TWILIO_TOKEN, account_sid=ACCOUNT, numbers=["+15550142222"])
    owner = served.client(served.demo.token)
    assert (
        await owner.post("/byok", json={"provider": "cartesia", "api_key": ORG_TTS})
    ).status_code == 200
    assistant = (
        await owner.post(
            "/assistants",
            json={
                "name": "Mixed",
                "first_message": "Hi.",
                "stt_config": {
                    "provider": "deepgram",
                    "byo_api_keys": {"deepgram": {"api_key": BYO_STT}},
                },
                "llm_config": {"provider": "openai", "model": "gpt-4o-mini"},
                "tts_config": {"provider": "cartesia"},
            },
        )
    ).json()
    number = await owner.post(
        "/phone-numbers",
        json={
            "number": "+15550142222",
            "assistant_id": assistant["id"],
            "telephony": {"provider": "twilio", "account_sid": ACCOUNT, "auth_token": TWILIO_TOKEN},
        },
    )
    assert number.status_code == 201
    before = await balance(served.runtime.session_factory, org_id=served.demo.org_id)

    result = await place_call(
        served.url,
        "+15550142222",
        "+15550149999",
        ACCOUNT,
        TWILIO_TOKEN,
        [AUDIO / "utterance-02.ulaw8k.wav"],
        None,
    )
    assert result.ok, result.error
    calls = (await owner.get("/calls")).json()
    [call] = [c for c in calls if c["provider_call_id"] == result.call_sid]

    async def settled() -> bool:
        detail = (await owner.get(f"/calls/{call['id']}")).json()
        return bool(detail.get("cost", {}).get("charged_micros"))

    await wait_until(settled)
    detail = (await owner.get(f"/calls/{call['id']}")).json()
    sources = {s["stage"]: s["source"] for s in detail["resolution"]}
    assert sources == {"stt": "assistant", "llm": "managed", "tts": "organization"}
    # The emulators saw exactly the keys the trace claims.
    assert stt_key_id in {r.key_id for r in suite.requests("deepgram")}
    assert tts_key_id in {r.key_id for r in suite.requests("cartesia")}

    async with served.runtime.session_factory() as session:
        rows = (
            await session.scalars(select(UsageRecord).where(UsageRecord.call_id == call["id"]))
        ).all()
    by_source = {(r.stage, r.key_source) for r in rows}
    assert ("stt", "assistant") in by_source and ("llm", "managed") in by_source
    assert ("tts", "organization") in by_source and ("transport", "organization") in by_source
    assert all(r.billed_micros == 0 for r in rows if r.key_source in ("assistant", "organization"))
    llm_cost = sum(r.cost_micros for r in rows if r.stage == "llm")
    assert llm_cost > 0 and all(r.billed_micros == r.cost_micros for r in rows if r.stage == "llm")
    # Re-price the stored usage with the pricing file: the stored costs agree.
    events = [
        UsageEvent(
            org_id=r.org_id,
            call_id=r.call_id,
            stage=r.stage,
            provider=r.provider,  # type: ignore[arg-type]
            model=r.model,
            key_source=r.key_source,
            unit=r.unit,
            quantity=r.quantity,  # type: ignore[arg-type]
            seq=r.seq,
            occurred_at=r.created_at,
        )
        for r in rows
    ]
    priced = price(served.runtime.billing.policy.pricing, events)  # type: ignore[union-attr]
    assert sum(r.cost_micros for r in rows) == priced.cost_micros  # type: ignore[attr-defined]

    connected_ms = sum(r.quantity for r in rows if r.unit == "transport_ms")
    minutes = -(-connected_ms // 60_000)
    fee = minutes * served.runtime.settings.platform_fee_per_minute_micros
    cost = detail["cost"]
    assert cost["platform"]["billed_micros"] == fee
    assert cost["charged_micros"] == fee + llm_cost
    after = await balance(served.runtime.session_factory, org_id=served.demo.org_id)
    assert before.balance_micros - after.balance_micros == fee + llm_cost
    assert after.reserved_micros == 0
    ledger = (await owner.get("/billing/ledger")).json()["entries"]
    charges = [e for e in ledger if e["call_id"] == call["id"]]
    assert len(charges) == 1 and charges[0]["amount_micros"] == -(fee + llm_cost)


async def test_duplicate_and_out_of_order_status_callbacks_settle_once(served: Served) -> None:
    from voxroute.telephony.twilio.signature import compute_signature

    demo = served.demo
    result, call = await call_demo_until_settled(served, "+15550148888")
    owner = served.client(demo.token)
    url = f"{served.runtime.settings.resolved_public_url}/telephony/twilio/status"
    async with httpx.AsyncClient() as client:
        for status in ("completed", "in-progress", "completed", "ringing", "completed"):
            params = {
                "CallSid": result.call_sid,
                "AccountSid": demo.account_sid,
                "CallStatus": status,
                "To": demo.number,
                "From": "+15550148888",
                "CallDuration": "9",
            }
            response = await client.post(
                f"{served.url}/telephony/twilio/status",
                data=params,
                headers={"X-Twilio-Signature": compute_signature(demo.auth_token, url, params)},
            )
            assert response.status_code in (200, 204), response.text
    await asyncio.sleep(1.5)  # several sweeps run meanwhile
    ledger = (await owner.get("/billing/ledger")).json()["entries"]
    assert len([e for e in ledger if e["call_id"] == call["id"]]) == 1
    detail = (await owner.get(f"/calls/{call['id']}")).json()
    assert detail["status"] == "ended" and detail["end_reason"] == "caller_hung_up"


async def test_a_call_whose_credit_runs_out_is_ended_politely_and_still_settled(
    served: Served,
) -> None:
    from voxroute.billing import debit
    from voxroute.calls.session import HANG_UP_MESSAGES

    demo = served.demo
    owner = served.client(demo.token)
    clips = [AUDIO / f"utterance-0{i}.ulaw8k.wav" for i in (1, 2, 3)]
    call_task = asyncio.create_task(
        place_call(
            served.url, demo.number, "+15550147777", demo.account_sid, demo.auth_token, clips, None
        )
    )

    async def connected() -> bool:
        return any(c["status"] == "connected" for c in (await owner.get("/calls")).json())

    await wait_until(connected)
    available = (await balance(served.runtime.session_factory, org_id=demo.org_id)).available_micros
    await debit(
        served.runtime.session_factory,
        org_id=demo.org_id,
        amount_micros=available,
        idempotency_key="drain-credit",
    )
    result = await asyncio.wait_for(call_task, timeout=60)
    [call] = [
        c for c in (await owner.get("/calls")).json() if c["provider_call_id"] == result.call_sid
    ]

    async def ended() -> bool:
        return (await owner.get(f"/calls/{call['id']}")).json()["status"] == "ended"

    await wait_until(ended)
    detail = (await owner.get(f"/calls/{call['id']}")).json()
    assert detail["end_reason"] == "insufficient_credit"
    assert result.hung_up_by == "server" and len(result.reply_latency_ms) < len(clips)
    message = HANG_UP_MESSAGES["insufficient_credit"]
    async with served.runtime.session_factory() as session:
        tts_rows = (
            await session.scalars(
                select(UsageRecord).where(
                    UsageRecord.call_id == call["id"], UsageRecord.unit == "tts_characters"
                )
            )
        ).all()
    # TTS usage is metered per request: the goodbye is one request of exactly its length.
    assert len(message) in [r.quantity for r in tts_rows], [r.quantity for r in tts_rows]

    async def settled() -> bool:
        ledger = (await owner.get("/billing/ledger")).json()["entries"]
        return any(e["call_id"] == call["id"] for e in ledger)

    await wait_until(settled)
    final = await balance(served.runtime.session_factory, org_id=demo.org_id)
    assert final.reserved_micros == 0


SCRAPE = {"Authorization": f"Bearer {SCRAPE_TOKEN}"}


async def test_metrics_count_calls_and_key_sources_without_ids_or_secrets(served: Served) -> None:
    demo = served.demo
    result = await place_call(
        served.url,
        demo.number,
        "+15550146666",
        demo.account_sid,
        demo.auth_token,
        [AUDIO / "utterance-02.ulaw8k.wav"],
        None,
    )
    assert result.ok, result.error

    async def counted() -> bool:
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"{served.url}/metrics", headers=SCRAPE)).text
        return 'voxroute_calls_ended_total{reason="caller_hung_up"} 1.0' in text

    await wait_until(counted)
    gc.collect()  # the worker observes every collector pause (gc_policy.py)
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{served.url}/metrics", headers=SCRAPE)).text
    assert 'voxroute_gc_pause_seconds_count{generation="2"}' in text
    for stage, provider in (("stt", "deepgram"), ("llm", "openai"), ("tts", "cartesia")):
        labels = f'provider="{provider}",source="managed",stage="{stage}"'
        assert f"voxroute_stage_keys_total{{{labels}}} 1.0" in text
    assert "voxroute_active_calls 0.0" in text and "voxroute_turn_latency_seconds_count" in text
    assert "voxroute_event_loop_busy_ratio " in text
    managed = served.runtime.managed
    secrets = [s.reveal() for p in managed.providers for s in managed.secrets(p).values()]
    for value in [*secrets, demo.auth_token, demo.token, demo.org_id, result.call_sid]:
        assert value not in text
