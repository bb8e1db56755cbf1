"""The desk over real HTTP (uvicorn on a free port, httpx): cookies, headers, CSRF, expiry, rate limits, errors."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from desk.middleware import CSP
from desk.settings import Limit
from tests.desk.conftest import PASSWORD, Desk, DeskClient, DeskFactory, csrf_of, http_client, http_sign_in

SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "strict-transport-security": "max-age=31536000",
}


def _assert_secure_headers(response: httpx.Response, *, page: bool = True) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, f"{name} on {response.request.url}"
    assert "camera=()" in response.headers["permissions-policy"]
    assert "server" not in response.headers
    if page:
        assert response.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in CSP and "frame-ancestors 'none'" in CSP and "unsafe-inline" not in CSP


def test_every_kind_of_response_carries_the_security_headers(desk: Desk, client: DeskClient) -> None:
    anonymous = [client.get("/"), client.get("/sign-in"), client.get("/signed-out"), client.get("/healthz")]
    assert anonymous[0].status_code == 303
    http_sign_in(client)
    pages = [client.get("/"), client.get("/no-such-page"), client.get("/deliberate-fault")]
    refused = client.post("/sign-out", data={"csrf_token": "forged"})
    assert [r.status_code for r in pages] + [refused.status_code] == [200, 404, 500, 403]
    for response in [*anonymous, *pages, refused]:
        _assert_secure_headers(response)
    for asset in ("/assets/govuk-frontend.min.css", "/assets/govuk-frontend.min.js", "/static/desk.mjs"):
        response = client.get(asset)
        assert response.status_code == 200
        _assert_secure_headers(response, page=False)
        assert response.headers["cache-control"] == "public, max-age=3600"


def test_no_page_has_inline_script_or_event_handlers(desk: Desk, client: DeskClient) -> None:
    bodies = [client.get("/sign-in").text]
    http_sign_in(client, password="wrong")
    bodies.append(client.post("/sign-in", data={"csrf_token": csrf_of(bodies[0])}).text)
    http_sign_in(client)
    for path in ("/", "/no-such-page", "/deliberate-fault"):
        bodies.append(client.get(path).text)
    bodies.append(client.post("/sign-out", data={"csrf_token": "forged"}).text)
    client.post("/sign-out", data={"csrf_token": csrf_of(bodies[2])})
    bodies.append(client.get("/signed-out").text)
    for html in bodies:
        scripts = re.findall(r"<script\b[^>]*>", html)
        assert scripts == ['<script type="module" src="/static/desk.mjs">'], scripts
        assert re.search(r"<script\b[^>]*>\s*[^<\s]", html) is None  # nothing between the tags
        assert re.search(r"\son[a-z]+\s*=", html) is None and "javascript:" not in html
        assert "style=" not in html


def test_session_cookie_is_secure_httponly_lax_and_rotated_on_sign_in(desk: Desk, client: DeskClient) -> None:
    first = client.get("/sign-in")
    cookie = first.headers["set-cookie"]
    assert re.fullmatch(r"__Host-orderwatch=[\w-]{43}; Path=/; HttpOnly; SameSite=Lax; Secure", cookie)
    anonymous_token = client.jar["__Host-orderwatch"]
    anonymous_csrf = csrf_of(first.text)
    signed_in = http_sign_in(client)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/"
    assert client.jar["__Host-orderwatch"] != anonymous_token
    assert csrf_of(client.get("/").text) != anonymous_csrf
    # the anonymous session is gone: its cookie no longer names any session
    with http_client(desk) as old:
        old.jar["__Host-orderwatch"] = anonymous_token
        assert old.get("/").status_code == 303
    assert len(desk.sessions) == 1


def test_insecure_cookies_are_available_for_loopback_development(desk_factory: DeskFactory) -> None:
    dev = desk_factory(cookie_secure=False)
    response = httpx.get(dev.url("/sign-in"))
    assert response.headers["set-cookie"].endswith("; Path=/; HttpOnly; SameSite=Lax")
    assert response.headers["set-cookie"].startswith("orderwatch=")
    assert "strict-transport-security" not in response.headers


def test_every_post_without_the_sessions_csrf_token_is_refused_and_changes_nothing(
    desk: Desk, client: DeskClient
) -> None:
    # a forged sign-in (login CSRF) with a right password: refused, nobody signed in
    client.get("/sign-in")
    for data in ({}, {"csrf_token": "forged"}):
        forged = client.post("/sign-in", data={**data, "user_name": "tm1", "password": PASSWORD})
        assert forged.status_code == 403 and "did not come from this service" in forged.text
    assert client.get("/").status_code == 303
    http_sign_in(client)
    token = csrf_of(client.get("/").text)
    for data in ({}, {"csrf_token": "forged"}, {"csrf_token": token[:-1]}):
        assert client.post("/sign-out", data=data).status_code == 403
    assert client.get("/").status_code == 200  # still signed in
    assert client.post("/sign-out", headers={"X-CSRF-Token": token}).status_code == 303
    assert client.get("/").status_code == 303


def test_sessions_end_after_the_idle_and_the_absolute_timeouts(desk_factory: DeskFactory) -> None:
    desk = desk_factory(idle_timeout=timedelta(minutes=30), absolute_timeout=timedelta(hours=2))
    with http_client(desk) as client:
        http_sign_in(client)
        desk.clock.advance(timedelta(minutes=29))
        assert client.get("/").status_code == 200
        desk.clock.advance(timedelta(minutes=29, seconds=59))
        assert client.get("/").status_code == 200  # idle for 29:59 since the last request
        desk.clock.advance(timedelta(minutes=30))
        ended = client.get("/")
        assert ended.status_code == 303 and ended.headers["location"] == "/sign-in?next=%2F&reason=idle"
        assert "Max-Age=0" in ended.headers["set-cookie"]
        http_sign_in(client)
        for _ in range(10):
            desk.clock.advance(timedelta(minutes=11))
            assert client.get("/").status_code == 200
        desk.clock.advance(timedelta(minutes=11))  # 121 minutes since signing in, 11 since the last request
        ended = client.get("/cases/SO-1?tab=timeline")
        assert ended.headers["location"] == "/sign-in?next=%2Fcases%2FSO-1%3Ftab%3Dtimeline&reason=absolute"
        assert len(desk.sessions) == 0


def test_deactivating_a_person_ends_their_session_at_once(desk: Desk, client: DeskClient) -> None:
    http_sign_in(client)
    assert client.get("/").status_code == 200
    desk.accounts.set_active("tm1", False)
    ended = client.get("/")
    assert ended.headers["location"] == "/sign-in?next=%2F&reason=inactive"
    refused = http_sign_in(client)
    assert refused.status_code == 400 and "The user name or password is not right" in refused.text


def test_sign_in_is_rate_limited_per_account_and_per_address(desk_factory: DeskFactory) -> None:
    desk = desk_factory(account_limit=Limit(3, timedelta(minutes=15)), address_limit=Limit(5, timedelta(minutes=15)))
    with http_client(desk) as client:
        for _ in range(3):
            assert http_sign_in(client, password="guess").status_code == 400
        blocked = http_sign_in(client)  # the right password, but the account is resting
        assert blocked.status_code == 429 and blocked.headers["retry-after"] == "900"
        assert "Wait 15 minutes, then try again" in blocked.text
        assert http_sign_in(client, "hos1").status_code == 303  # another account from here still may
        client.jar.clear()
        for _ in range(2):
            assert http_sign_in(client, "admin1", password="guess").status_code == 400
        # five failures from this address: every account is refused from it, before any password is checked
        assert http_sign_in(client, "admin1").status_code == 429
        desk.clock.advance(timedelta(minutes=15))
        assert http_sign_in(client).status_code == 303


def test_internal_errors_show_a_correlation_id_and_nothing_else(
    desk: Desk, client: DeskClient, caplog: pytest.LogCaptureFixture
) -> None:
    http_sign_in(client)
    response = client.get("/deliberate-fault")
    assert response.status_code == 500
    reference = response.headers["x-correlation-id"]
    assert re.fullmatch(r"[0-9a-f]{12}", reference) and reference in response.text
    assert "C-SECRET-1" not in response.text and "Traceback" not in response.text
    assert "Sam Taylor" not in response.text and "Sign out" not in response.text  # the 500 page names nobody
    assert any(reference in r.getMessage() for r in caplog.records)


def test_unknown_paths_send_strangers_to_sign_in_and_show_people_not_found(desk: Desk, client: DeskClient) -> None:
    stranger = client.get("/nowhere/secret")
    assert stranger.status_code == 303 and stranger.headers["location"] == "/sign-in?next=%2Fnowhere%2Fsecret"
    assert client.get("/sign-in?next=https://evil.example/").text.count('value="/"') == 1
    http_sign_in(client)
    missing = client.get("/nowhere/secret")
    assert missing.status_code == 404 and "Page not found" in missing.text
    assert client.get("/healthz").text == "ok"
