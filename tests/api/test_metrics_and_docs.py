"""`/metrics` only for the operator; `/docs` without any third-party script."""

from __future__ import annotations

import pytest

from tests.utils.api import Api

SCRAPE_TOKEN = "scrape-token-for-tests-0123456789"  # noqa: S105  (a test credential)


@pytest.fixture
def api_settings() -> dict[str, object]:
    return {"metrics_token": SCRAPE_TOKEN}


async def test_metrics_need_the_scrape_token_or_a_platform_admin(api: Api) -> None:
    org = await api.new_org()
    assert (await api.anon.get("http://test/metrics")).status_code == 401
    wrong = {"Authorization": "Bearer " + SCRAPE_TOKEN[:-1] + "x"}
    assert (await api.anon.get("http://test/metrics", headers=wrong)).status_code == 401
    assert (await org.owner.get("http://test/metrics")).status_code == 403
    assert (await org.member.get("http://test/metrics")).status_code == 403
    admin = await api.admin.get("http://test/metrics")
    assert admin.status_code == 200 and "voxroute_active_calls" in admin.text
    scraper = await api.anon.get(
        "http://test/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"}
    )
    assert scraper.status_code == 200 and "voxroute_calls_ended_total" in scraper.text
    assert SCRAPE_TOKEN not in scraper.text


async def test_docs_load_only_local_assets_under_a_strict_csp(api: Api) -> None:
    page = await api.anon.get("http://test/docs")
    assert page.status_code == 200
    html = page.text
    assert "cdn" not in html.lower() and "https://" not in html
    assert 'src="/docs-assets/swagger-ui-bundle.js"' in html
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self' 'sha256-" in csp and "unsafe-inline" not in csp.split(";")[1]
    assert "frame-ancestors 'none'" in csp
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert (await api.anon.get(f"http://test/docs-assets/{asset}")).status_code == 200
    assert (await api.anon.get("http://test/redoc")).status_code == 404
    assert (await api.anon.get("http://test/openapi.json")).status_code == 200
