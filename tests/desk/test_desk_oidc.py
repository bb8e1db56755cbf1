"""OpenID Connect sign-in in a real browser, against a local provider the tests start (oidc-provider-mock: Flask
and Authlib, RS256-signed ID tokens, a real authorization code exchange with PKCE and a nonce)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from urllib.parse import quote

import httpx
import oidc_provider_mock
import pytest
from playwright.sync_api import Page, expect

from desk.settings import OidcSettings
from tests.desk.axe import assert_accessible
from tests.desk.conftest import Desk, DeskFactory

TENANT = "11111111-2222-3333-4444-555555555555"
OBJECT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
BUTTON = "Sign in with your council account"


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """The provider's issuer URL."""
    with oidc_provider_mock.run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


def _user(provider: str, sub: str, **claims: str) -> None:
    response = httpx.put(f"{provider}/users/{quote(sub)}", json=claims)
    assert response.status_code == 204


def _settings(provider: str, tenant: str | None = None) -> Callable[[str], OidcSettings]:
    def for_base(base: str) -> OidcSettings:
        return OidcSettings(
            issuer=provider,
            client_id="orderwatch-desk",
            client_secret="desk-test-secret",
            redirect_uri=f"{base}/sign-in/oidc/callback",
            tenant_id=tenant,
        )

    return for_base


def _sign_in_at_provider(page: Page, desk: Desk, provider: str, sub: str) -> None:
    page.goto(desk.url("/sign-in?next=%2F"))
    page.click(f"text={BUTTON}")
    expect(page).to_have_url(re.compile(re.escape(f"{provider}/oauth2/authorize?")))
    page.fill("input[name=sub]", sub)
    page.click("button:has-text('Authorize')")
    page.wait_for_load_state()


def test_entra_style_sign_in_maps_tenant_and_object_id_to_a_person(
    page: Page, desk_factory: DeskFactory, provider: str
) -> None:
    _user(provider, "pairwise-sub-1", tid=TENANT, oid=OBJECT_ID, name="Sam Taylor", email="sam@council.example")
    desk = desk_factory(oidc_for=_settings(provider, tenant=TENANT))
    desk.links.link(f"entra:{TENANT}:{OBJECT_ID}", "tm1")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    _sign_in_at_provider(page, desk, provider, "pairwise-sub-1")
    expect(page).to_have_url(desk.url("/"))
    expect(page.locator(".desk-account__name")).to_have_text("Sam Taylor")
    authorize = next(u for u in requests if "/oauth2/authorize?" in u)
    for parameter in ("code_challenge=", "code_challenge_method=S256", "nonce=", "state=", "scope=openid"):
        assert parameter in authorize
    live = list(desk.sessions._sessions.values())
    assert [(s.person_id, s.auth_method) for s in live] == [("tm1", "oidc")]
    assert live[0].data == {}  # the state, nonce and verifier left with the anonymous session
    # the same callback again, from another browser: refused, nobody signed in there
    callback = next(u for u in requests if "/sign-in/oidc/callback?" in u)
    other = page.context.browser.new_context()  # type: ignore[union-attr]
    replay = other.new_page()
    replay.goto(callback)
    expect(replay.locator(".desk-refusal")).to_contain_text("start again")
    other.close()


def test_a_provider_without_entra_claims_maps_issuer_and_subject(
    page: Page, desk_factory: DeskFactory, provider: str
) -> None:
    _user(provider, "plain-subject", name="Jo Morgan")
    desk = desk_factory(oidc_for=_settings(provider))
    desk.links.link(f"{provider}|plain-subject", "hos1")
    _sign_in_at_provider(page, desk, provider, "plain-subject")
    expect(page).to_have_url(desk.url("/"))
    expect(page.locator(".desk-account__name")).to_have_text("Jo Morgan")


def test_an_identity_linked_to_nobody_is_refused(page: Page, desk_factory: DeskFactory, provider: str) -> None:
    _user(provider, "stranger", tid=TENANT, oid="ffffffff-0000-0000-0000-000000000000")
    desk = desk_factory(oidc_for=_settings(provider, tenant=TENANT))
    desk.links.link(f"entra:{TENANT}:{OBJECT_ID}", "tm1")
    _sign_in_at_provider(page, desk, provider, "stranger")
    expect(page.locator(".desk-refusal")).to_have_text(
        "Your council account is not linked to anyone who may use orderwatch: ask an administrator to add you."
    )
    assert_accessible(page)
    page.goto(desk.url("/"))
    expect(page).to_have_url(desk.url("/sign-in?next=%2F"))


def test_a_token_from_another_tenant_is_refused(page: Page, desk_factory: DeskFactory, provider: str) -> None:
    _user(provider, "other-tenant-user", tid="99999999-0000-0000-0000-000000000000", oid=OBJECT_ID)
    desk = desk_factory(oidc_for=_settings(provider, tenant=TENANT))
    desk.links.link(f"entra:99999999-0000-0000-0000-000000000000:{OBJECT_ID}", "tm1")
    _sign_in_at_provider(page, desk, provider, "other-tenant-user")
    expect(page.locator(".desk-refusal")).to_contain_text("did not complete, so you are not signed in")


def test_a_leaver_linked_through_oidc_cannot_sign_in(page: Page, desk_factory: DeskFactory, provider: str) -> None:
    _user(provider, "leaver", tid=TENANT, oid=OBJECT_ID)
    desk = desk_factory(oidc_for=_settings(provider, tenant=TENANT))
    desk.links.link(f"entra:{TENANT}:{OBJECT_ID}", "tm1")
    desk.accounts.set_active("tm1", False)
    _sign_in_at_provider(page, desk, provider, "leaver")
    expect(page.locator(".desk-refusal")).to_contain_text("not linked to anyone who may use orderwatch")


def test_a_forged_callback_is_refused(page: Page, desk_factory: DeskFactory, provider: str) -> None:
    desk = desk_factory(oidc_for=_settings(provider))
    page.goto(desk.url("/sign-in"))  # an anonymous session, but no sign-in started from it
    page.goto(desk.url("/sign-in/oidc/callback?code=made-up&state=made-up"))
    expect(page.locator(".desk-refusal")).to_contain_text("did not complete")
    page.goto(desk.url("/"))
    expect(page).to_have_url(desk.url("/sign-in?next=%2F"))


def test_an_unreachable_provider_is_said_plainly(page: Page, desk_factory: DeskFactory) -> None:
    desk = desk_factory(oidc_for=_settings("http://127.0.0.1:9"))  # the discard port: nothing answers
    page.goto(desk.url("/sign-in"))
    page.click(f"text={BUTTON}")
    expect(page.locator(".desk-refusal")).to_contain_text("not answering")
    assert page.locator("h1").text_content() == "You cannot do that"
