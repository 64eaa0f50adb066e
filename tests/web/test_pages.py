"""The dashboard and softphone pages: strict CSP, no inline script, whitelisted assets only."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from tests.utils.api import make_settings
from voxroute.app import create_app
from voxroute.web.pages import ASSETS, STATIC_DIR, content_security_policy

PAGES = {"/": "dashboard.js", "/dashboard": "dashboard.js", "/softphone": "softphone.js"}
PUBLIC_URL = "https://voice.example.com"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(tmp_path, "sqlite+aiosqlite:///unused.db", public_url=PUBLIC_URL)
    app = create_app(settings)
    app.state.runtime = SimpleNamespace(settings=settings)  # pages read only the settings
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def csp_directives(header: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


@pytest.mark.parametrize("path", list(PAGES))
async def test_pages_are_served_with_a_strict_csp(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = csp_directives(response.headers["content-security-policy"])
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert csp["connect-src"] == "'self' wss://voice.example.com"
    assert csp["frame-ancestors"] == "'none'" and csp["base-uri"] == "'none'"
    assert "unsafe" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    microphone = "microphone=(self)" if path == "/softphone" else "microphone=()"
    assert microphone in response.headers["permissions-policy"]


@pytest.mark.parametrize("path", list(PAGES))
async def test_pages_have_no_inline_script_or_handlers(
    client: httpx.AsyncClient, path: str
) -> None:
    html = (await client.get(path)).text
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S | re.I)
    assert scripts, "pages load their code from files"
    for attrs, body in scripts:
        assert body.strip() == "", "inline script body"
        src = re.search(r'src="/web/static/([^"]+)"', attrs)
        assert src is not None and src.group(1) in ASSETS
    assert re.search(r"\son[a-z]+\s*=", html, flags=re.I) is None, "inline event handler"
    assert "<style" not in html.lower() and "style=" not in html.lower()
    assert f'src="/web/static/{PAGES[path]}"' in html


@pytest.mark.parametrize("name", sorted(ASSETS))
async def test_assets_are_served_with_their_type(client: httpx.AsyncClient, name: str) -> None:
    response = await client.get(f"/web/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == ASSETS[name]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == (STATIC_DIR / name).read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/web/static/dashboard.html",
        "/web/static/..%2fpages.py",
        "/web/static/%2e%2e%2f__init__.py",
        "/web/static/../pages.py",
        "/web/static/nope.js",
    ],
)
async def test_only_whitelisted_assets_are_served(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert "import" not in response.text


def test_scripts_never_parse_html_nor_put_tokens_in_urls() -> None:
    for path in STATIC_DIR.glob("*.js"):
        code = path.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in code, f"{path.name} uses {sink}"
        assert "localStorage" not in code, f"{path.name}: tokens stay in sessionStorage"
        assert not re.search(r"[?&](token|call_token|api_key)=", code), path.name


def test_the_csp_names_only_a_well_formed_stream_origin() -> None:
    assert "connect-src 'self';" in content_security_policy(None)
    assert "connect-src 'self' ws://127.0.0.1:9000;" in content_security_policy(
        "http://127.0.0.1:9000"
    )
    injected = content_security_policy("http://evil.example; script-src *")
    assert "script-src *" not in injected and "connect-src 'self';" in injected
