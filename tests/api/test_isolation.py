"""Tenant isolation: org B acting on org A's ids gets 404 and changes nothing."""

from __future__ import annotations

from tests.utils.api import Api

ASSISTANT = {
    "name": "A",
    "stt_config": {"provider": "deepgram"},
    "llm_config": {"provider": "openai"},
    "tts_config": {"provider": "cartesia"},
}


async def test_every_id_endpoint_answers_404_to_another_org(api: Api) -> None:
    a = await api.new_org("A")
    b = await api.new_org("B")
    await a.owner.post("/byok", json={"provider": "openai", "api_key": "sk-org-a-key-000000"})
    [cred] = (await a.owner.get("/credentials")).json()
    aid = (await a.owner.post("/assistants", json=ASSISTANT)).json()["id"]
    nid = (
        await a.owner.post(
            "/phone-numbers",
            json={
                "number": "+15551239999",
                "assistant_id": aid,
                "telephony": {"account_sid": "AC" + "a1" * 16, "auth_token": "a0" * 15 + "aa"},
            },
        )
    ).json()["id"]
    attempts = [
        ("GET", f"/credentials/{cred['id']}", None),
        ("PUT", f"/credentials/{cred['id']}", {"fields": {"api_key": "sk-hijack-00000000"}}),
        ("PATCH", f"/credentials/{cred['id']}", {"priority": 5}),
        ("DELETE", f"/credentials/{cred['id']}", None),
        ("GET", f"/assistants/{aid}", None),
        ("PATCH", f"/assistants/{aid}", {"name": "hijacked"}),
        ("GET", f"/assistants/{aid}/export", None),
        ("DELETE", f"/assistants/{aid}", None),
        ("GET", f"/phone-numbers/{nid}", None),
        ("PATCH", f"/phone-numbers/{nid}", {"assistant_id": None}),
        ("DELETE", f"/phone-numbers/{nid}", None),
    ]
    for method, path, body in attempts:
        response = await b.owner.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
    # B cannot point its own number at A's assistant either.
    cross = await b.owner.post(
        "/phone-numbers",
        json={
            "number": "+15551238888",
            "assistant_id": aid,
            "telephony": {"account_sid": "AC" + "b1" * 16, "auth_token": "b0" * 15 + "bb"},
        },
    )
    assert cross.status_code == 404
    after = (await a.owner.get("/credentials")).json()
    assert after == [cred]
    assert (await a.owner.get(f"/assistants/{aid}")).json()["name"] == "A"
    assert (await a.owner.get(f"/phone-numbers/{nid}")).json()["assistant_id"] == aid
    assert (await b.owner.get("/audit-events")).json()[-1]["org_id"] == b.id
    assert all(e["org_id"] == b.id for e in (await b.owner.get("/audit-events")).json())


async def test_interleaved_tenants_on_pooled_connections_see_only_their_rows(api: Api) -> None:
    import asyncio

    orgs = [await api.new_org(f"T{i}") for i in range(4)]

    async def work(index: int) -> None:
        org = orgs[index]
        for round_ in range(5):
            await org.owner.post("/assistants", json=dict(ASSISTANT, name=f"{index}-{round_}"))
            names = {x["name"] for x in (await org.member.get("/assistants")).json()}
            assert all(n.startswith(f"{index}-") for n in names)

    await asyncio.gather(*(work(i) for i in range(4)))
