"""``make screenshots``: PNGs of the desk's pages in docs/screenshots/, taken with headless Chromium.

Runs the desk over the demo caseload (``desk.dev.caseload``, "today" 20 November 2026) on a free port, with an Entra
ID sign-in button configured (it needs no provider until pressed), and captures each page as its people see it.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

from argon2 import PasswordHasher
from playwright.sync_api import Browser, Page

from desk.app import create_app
from desk.dev.browser import chromium
from desk.dev.demo import demo_services, demo_today
from desk.dev.server import serve_in_thread
from desk.settings import DeskSettings, OidcSettings

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "screenshot-demo-password"
ENTRA = OidcSettings(
    issuer="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0",
    client_id="00000000-0000-0000-0000-000000000001",
    client_secret="not-a-secret",
    redirect_uri="https://desk.council.example/sign-in/oidc/callback",
    button_text="Sign in with your council Microsoft account",
)


def _shot(page: Page, name: str, written: list[Path]) -> None:
    path = OUT / f"desk-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    written.append(path)


def _fail(_: object) -> None:
    raise RuntimeError("a deliberate fault, to show the error page")


def _signed_in(browser: Browser, base: str, user: str) -> Page:
    page = browser.new_page(viewport={"width": 1024, "height": 720})
    page.goto(f"{base}/sign-in")
    page.fill("#user-name", user)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{base}/")
    return page


def main() -> int:
    """Write the screenshots; print each path."""
    OUT.mkdir(parents=True, exist_ok=True)
    logging.getLogger("desk").setLevel(logging.CRITICAL)  # the refusals and the fault below are deliberate
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        hasher = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)  # a demo: no need for the full cost
        services, _ = demo_services(PASSWORD, Path(tmp) / "screenshots.db", hasher=hasher)
        app = create_app(DeskSettings(cookie_secure=False, oidc=ENTRA), services, today=demo_today)
        app.add_api_route("/deliberate-fault", _fail)
        with serve_in_thread(app) as base, chromium() as browser:
            page = browser.new_page(viewport={"width": 1024, "height": 720})
            page.goto(f"{base}/sign-in")
            _shot(page, "sign-in", written)
            page.fill("#user-name", "tm1")
            page.fill("#password", "not the password")
            page.click("button:has-text('Sign in')")
            _shot(page, "sign-in-refused", written)
            page.close()

            tm = _signed_in(browser, base, "tm1")
            _shot(tm, "my-work", written)
            tm.goto(f"{base}/?view=team")
            _shot(tm, "team", written)
            tm.goto(f"{base}/cases/SO-1001")
            _shot(tm, "case", written)
            tm.goto(f"{base}/cases/SO-1001/actions/record_first_cin_meeting")
            tm.fill("#field-happened-on-day", "31")
            tm.fill("#field-happened-on-month", "2")
            tm.click("button:has-text('Record it')")
            _shot(tm, "form-errors", written)
            tm.fill("#field-happened-on-day", "20")
            tm.fill("#field-happened-on-month", "11")
            tm.click("button:has-text('Record it')")
            tm.wait_for_url(f"{base}/cases/SO-1001")
            _shot(tm, "case-recorded", written)
            tm.goto(f"{base}/escalations")
            _shot(tm, "escalations", written)
            tm.goto(f"{base}/cases/new/so")
            _shot(tm, "register", written)
            tm.goto(f"{base}/no-such-page")
            _shot(tm, "not-found", written)
            tm.goto(f"{base}/")
            tm.eval_on_selector("input[name=csrf_token]", "e => e.value = 'forged'")
            tm.click("button:has-text('Sign out')")
            _shot(tm, "refused", written)
            tm.goto(f"{base}/deliberate-fault")
            _shot(tm, "problem", written)
            tm.goto(f"{base}/")
            tm.click("button:has-text('Sign out')")
            tm.wait_for_url(f"{base}/signed-out")
            _shot(tm, "signed-out", written)

            iro = _signed_in(browser, base, "iro2")
            iro.goto(f"{base}/cases/SO-1006/actions/schedule_review")
            iro.fill("#field-review_on-day", "15")
            iro.fill("#field-review_on-month", "1")
            iro.fill("#field-review_on-year", "2027")
            iro.click("button:has-text('Record it')")
            _shot(iro, "action-refused", written)

            hos = _signed_in(browser, base, "hos1")
            hos.goto(f"{base}/dashboard")
            _shot(hos, "dashboard", written)
            hos.goto(f"{base}/cases/SO-1005/actions/decide_seek_extension")
            for field in hos.locator("textarea").all():
                field.fill("As discussed at the review with the team manager.")
            hos.click("button:has-text('Continue')")
            _shot(hos, "check-answers", written)

            su = _signed_in(browser, base, "su1")
            _shot(su, "queue", written)

            admin = _signed_in(browser, base, "admin1")
            admin.goto(f"{base}/people")
            _shot(admin, "people", written)
    for path in written:
        print(path.relative_to(OUT.parents[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
