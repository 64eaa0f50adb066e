"""Credits and usage over the API: admin top-ups, idempotency, integer balances, isolation."""

from __future__ import annotations

from tests.utils.api import Api


async def test_admin_tops_up_and_the_org_reads_an_integer_balance(api: Api) -> None:
    org = await api.new_org()
    headers = {"Idempotency-Key": "topup-1"}
    first = await api.admin.post(
        "/billing/credits", json={"org_id": org.id, "amount": 2_500_000}, headers=headers
    )
    assert first.status_code == 201, first.text
    replay = await api.admin.post(
        "/billing/credits", json={"org_id": org.id, "amount": 2_500_000}, headers=headers
    )
    assert replay.json()["entry"]["id"] == first.json()["entry"]["id"]
    conflict = await api.admin.post(
        "/billing/credits", json={"org_id": org.id, "amount": 7}, headers=headers
    )
    assert conflict.status_code == 409
    balance = (await org.member.get("/billing/balance")).json()
    assert balance == {
        "balance": 2_500_000,
        "reserved": 0,
        "available": 2_500_000,
        "unit": "usd_micros",
    }
    ledger = (await org.member.get("/billing/ledger")).json()
    assert [e["amount_micros"] for e in ledger["entries"]] == [2_500_000]


async def test_only_platform_admins_add_credit_and_amounts_are_validated(api: Api) -> None:
    org = await api.new_org()
    assert (
        await org.owner.post("/billing/credits", json={"org_id": org.id, "amount": 10})
    ).status_code == 403
    for body in (
        {"org_id": org.id, "amount": -5},
        {"org_id": org.id, "amount": 1.5},
        {"org_id": org.id},
    ):
        assert (await api.admin.post("/billing/credits", json=body)).status_code == 422, body
    assert (
        await api.admin.post("/billing/credits", json={"org_id": "org_missing", "amount": 5})
    ).status_code == 404
    assert (await org.owner.get("/billing/balance")).json()["balance"] == 0


async def test_usage_reports_are_scoped_to_the_caller_org(api: Api) -> None:
    a = await api.new_org("A")
    usage = await a.member.get("/usage", params={"group_by": "key_source"})
    assert usage.status_code == 200 and usage.json()["rows"] == []
    csv = await a.member.get("/usage.csv")
    assert (
        csv.status_code == 200 and csv.text.splitlines()[0].startswith("call_id") or "," in csv.text
    )
    assert (await a.member.get("/usage", params={"group_by": "colour"})).status_code == 422


async def test_a_top_up_key_cannot_take_a_calls_settlement_key(api: Api) -> None:
    org = await api.new_org()
    response = await api.admin.post(
        "/billing/credits",
        json={"org_id": org.id, "amount": 1000},
        headers={"Idempotency-Key": "call:call_0123456789"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["entry"]["idempotency_key"] == "operator:call:call_0123456789"
