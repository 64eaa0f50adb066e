"""Every list endpoint answers one bounded page (`limit` ≤ 200, `offset`) and names the next
page in a `Link` header; the body stays a JSON array."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.utils.api import Api

LISTS = ["/assistants", "/credentials", "/phone-numbers", "/calls", "/audit-events"]
ASSISTANT = {
    "name": "A",
    "stt_config": {"provider": "deepgram"},
    "llm_config": {"provider": "openai"},
    "tts_config": {"provider": "cartesia"},
}


def _next(response: httpx.Response) -> str | None:
    match = re.fullmatch(r'<([^>]+)>; rel="next"', response.headers.get("link", ""))
    return match.group(1) if match else None


async def test_following_the_link_header_visits_every_row_once(api: Api) -> None:
    org = await api.new_org()
    for i in range(5):
        created = await org.owner.post("/assistants", json={**ASSISTANT, "name": f"a{i}"})
        assert created.status_code == 201
    seen: list[str] = []
    url: str | None = "/assistants?limit=2"
    pages = 0
    while url is not None:
        response = await org.member.get(url)
        assert response.status_code == 200 and len(response.json()) <= 2
        seen += [a["name"] for a in response.json()]
        url, pages = _next(response), pages + 1
    assert seen == [f"a{i}" for i in range(5)] and pages == 3


@pytest.mark.parametrize("path", [*LISTS, "/billing/ledger"])
async def test_every_list_endpoint_bounds_its_page_size(api: Api, path: str) -> None:
    org = await api.new_org()
    too_many = 501 if path == "/billing/ledger" else 201  # the ledger's bound is 500
    for query in (f"limit={too_many}", "limit=0", "limit=-1", "offset=-1", "limit=1.5"):
        if path == "/billing/ledger" and query.startswith("offset"):
            continue  # the ledger pages by `before_seq`
        response = await org.member.get(f"{path}?{query}")
        assert response.status_code == 422, (path, query, response.text)
    ok = await org.member.get(f"{path}?limit=200")
    assert ok.status_code == 200, ok.text


async def test_admin_org_listing_is_paged_too(api: Api) -> None:
    for i in range(3):
        await api.new_org(f"o{i}")
    first = await api.admin.get("/admin/orgs?limit=2")
    assert len(first.json()) == 2 and _next(first) is not None
    assert (await api.admin.get("/admin/orgs?limit=500")).status_code == 422
