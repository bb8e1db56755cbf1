"""``make screenshots``: PNGs of the desk's main pages in docs/screenshots/, taken with headless Chromium.

Runs the desk with the demo accounts on a free port (and an Entra ID sign-in button configured, which needs no
provider until it is pressed), signs in as the demo team manager, and captures each page.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from playwright.sync_api import Page

from desk.app import create_app
from desk.dev.browser import chromium
from desk.dev.demo import demo_services
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


def _shot(page: Page, name: str) -> Path:
    path = OUT / f"desk-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _fail(_: object) -> None:
    raise RuntimeError("a deliberate fault, to show the error page")


def main() -> int:
    """Write the screenshots; print each path."""
    OUT.mkdir(parents=True, exist_ok=True)
    logging.getLogger("desk").setLevel(logging.CRITICAL)  # the refusals and the fault below are deliberate
    services, _ = demo_services(PASSWORD)
    app = create_app(DeskSettings(cookie_secure=False, oidc=ENTRA), services)
    app.add_api_route("/deliberate-fault", _fail)
    written = []
    with serve_in_thread(app) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 1024, "height": 720})
        page.goto(f"{base}/sign-in")
        written.append(_shot(page, "sign-in"))
        page.fill("#user-name", "tm1")
        page.fill("#password", "not the password")
        page.click("button:has-text('Sign in')")
        written.append(_shot(page, "sign-in-refused"))
        page.fill("#password", PASSWORD)
        page.click("button:has-text('Sign in')")
        page.wait_for_url(f"{base}/")
        written.append(_shot(page, "my-work"))
        page.goto(f"{base}/no-such-page")
        written.append(_shot(page, "not-found"))
        page.goto(f"{base}/")
        page.eval_on_selector("input[name=csrf_token]", "e => e.value = 'forged'")
        page.click("button:has-text('Sign out')")
        written.append(_shot(page, "refused"))
        page.goto(f"{base}/deliberate-fault")
        written.append(_shot(page, "problem"))
        page.goto(f"{base}/")
        page.click("button:has-text('Sign out')")
        page.wait_for_url(f"{base}/signed-out")
        written.append(_shot(page, "signed-out"))
    for path in written:
        print(path.relative_to(OUT.parents[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
