"""The desk in a real browser (Debian's Chromium through Playwright): sign-in, sign-out, CSRF, expiry, the rate
limit, the CSP holding with GOV.UK Frontend's JavaScript running, keyboard-only use, and axe on every page."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import Page, expect

from desk.settings import Limit
from tests.desk.axe import assert_accessible
from tests.desk.conftest import PASSWORD, Desk, DeskFactory, browser_sign_in


def _assert_clean(page: Page) -> None:
    """GOV.UK Frontend ran (from the external module), nothing broke the CSP, no script error."""
    assert page.evaluate("document.body.classList.contains('govuk-frontend-supported')"), page.url
    assert page.watched.csp_violations(page) == []  # type: ignore[attr-defined]
    assert page.watched.console == [] and page.watched.errors == []  # type: ignore[attr-defined]


def test_sign_in_and_sign_out(page: Page, desk: Desk) -> None:
    page.goto(desk.url("/"))
    expect(page).to_have_url(desk.url("/sign-in?next=%2F"))
    expect(page.locator("h1")).to_have_text("Sign in to orderwatch")
    browser_sign_in(page, desk)
    expect(page).to_have_url(desk.url("/"))
    expect(page.locator("h1")).to_have_text("My work")
    expect(page.locator(".desk-account__name")).to_have_text("Sam Taylor")
    expect(page.locator(".govuk-service-navigation__item--active")).to_have_text("My work")
    cookie = next(c for c in page.context.cookies() if c["name"] == "__Host-orderwatch")
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    _assert_clean(page)
    page.click("button:has-text('Sign out')")
    expect(page).to_have_url(desk.url("/signed-out"))
    expect(page.locator("h1")).to_have_text("You have signed out")
    assert not [c for c in page.context.cookies() if c["name"] == "__Host-orderwatch"]
    page.goto(desk.url("/"))
    expect(page).to_have_url(desk.url("/sign-in?next=%2F"))
    assert len(desk.sessions) == 1  # only the new anonymous one of this sign-in page


def test_a_wrong_password_is_refused_with_the_error_summary(page: Page, desk: Desk) -> None:
    browser_sign_in(page, desk, password="not it")
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_focused()  # GOV.UK Frontend's ErrorSummary moved focus: the module ran under the CSP
    expect(summary).to_contain_text("The user name or password is not right")
    expect(page).to_have_title("Error: Sign in – orderwatch")
    summary.locator("a").click()
    expect(page.locator("#user-name")).to_be_focused()
    page.click("button:has-text('Sign in')")  # both fields empty now? the user name is kept
    expect(page.locator(".govuk-error-summary")).to_contain_text("Enter your password")
    _assert_clean(page)


def test_password_reveal_is_progressive_enhancement(page: Page, desk: Desk) -> None:
    page.goto(desk.url("/sign-in"))
    page.fill("#password", "secret words")
    page.click("button:has-text('Show')")
    expect(page.locator("#password")).to_have_attribute("type", "text")
    page.click("button:has-text('Hide')")
    expect(page.locator("#password")).to_have_attribute("type", "password")
    _assert_clean(page)


def test_a_forged_form_is_refused_and_changes_nothing(page: Page, desk: Desk) -> None:
    page.goto(desk.url("/sign-in"))
    page.eval_on_selector("input[name=csrf_token]", "e => e.value = 'forged'")
    page.fill("#user-name", "tm1")
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    expect(page.locator("h1")).to_have_text("You cannot do that")
    expect(page.locator(".desk-refusal")).to_contain_text("did not come from this service, so nothing was changed")
    page.goto(desk.url("/"))
    expect(page).to_have_url(desk.url("/sign-in?next=%2F"))  # not signed in
    browser_sign_in(page, desk)
    page.eval_on_selector("input[name=csrf_token]", "e => e.value = 'forged'")
    page.click("button:has-text('Sign out')")
    expect(page.locator("h1")).to_have_text("You cannot do that")
    page.goto(desk.url("/"))
    expect(page.locator("h1")).to_have_text("My work")  # still signed in


def test_an_idle_session_ends_and_says_why(page: Page, desk: Desk) -> None:
    browser_sign_in(page, desk)
    desk.clock.advance(timedelta(minutes=31))
    page.goto(desk.url("/"))
    expect(page).to_have_url(desk.url("/sign-in?next=%2F&reason=idle"))
    expect(page.locator(".govuk-notification-banner")).to_contain_text("You were signed out because you had not")
    assert_accessible(page)
    page.fill("#user-name", "tm1")
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    expect(page).to_have_url(desk.url("/"))
    _assert_clean(page)


def test_a_session_ends_at_the_absolute_timeout_however_busy(page: Page, desk_factory: DeskFactory) -> None:
    desk = desk_factory(absolute_timeout=timedelta(hours=1))
    browser_sign_in(page, desk)
    for _ in range(3):
        desk.clock.advance(timedelta(minutes=20))
        page.goto(desk.url("/"))
    expect(page).to_have_url(desk.url("/sign-in?next=%2F&reason=absolute"))
    expect(page.locator(".govuk-notification-banner")).to_contain_text("signed in for a long time")


def test_sign_in_is_rate_limited_and_reopens_after_the_window(page: Page, desk_factory: DeskFactory) -> None:
    desk = desk_factory(account_limit=Limit(3, timedelta(minutes=10)))
    for _ in range(3):
        browser_sign_in(page, desk, password="a guess")
        expect(page.locator(".govuk-error-summary")).to_contain_text("not right")
    browser_sign_in(page, desk)  # the right password, too soon
    expect(page.locator(".govuk-error-summary")).to_contain_text("Wait 10 minutes, then try again")
    assert_accessible(page)
    desk.clock.advance(timedelta(minutes=10))
    browser_sign_in(page, desk)
    expect(page).to_have_url(desk.url("/"))


def test_keyboard_only_sign_in_and_sign_out(page: Page, desk: Desk) -> None:
    page.goto(desk.url("/sign-in"))
    page.keyboard.press("Tab")
    expect(page.locator(".govuk-skip-link")).to_be_focused()
    page.keyboard.press("Enter")  # skip to the main content
    for _ in range(10):  # Tab on to the user name field
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "user-name":
            break
    expect(page.locator("#user-name")).to_be_focused()
    page.keyboard.type("tm1")
    page.keyboard.press("Tab")
    expect(page.locator("#password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(desk.url("/"))
    expect(page.locator("h1")).to_have_text("My work")
    for _ in range(10):  # from the top of the page to the sign-out button
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Sign out":
            break
    expect(page.locator("button:has-text('Sign out')")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(desk.url("/signed-out"))


def test_every_page_passes_axe_and_keeps_the_csp(page: Page, desk: Desk) -> None:
    visited = []

    def check(expected_h1: str) -> None:
        expect(page.locator("h1")).to_have_text(expected_h1)
        assert_accessible(page)
        _assert_clean(page)
        visited.append(page.url.removeprefix(desk.base))

    page.goto(desk.url("/sign-in"))
    check("Sign in to orderwatch")
    page.click("button:has-text('Sign in')")
    check("Sign in to orderwatch")  # with the error summary
    browser_sign_in(page, desk)
    check("My work")
    page.goto(desk.url("/no-such-page"))
    check("Page not found")
    page.goto(desk.url("/deliberate-fault"))
    check("Sorry, there is a problem with the service")
    page.goto(desk.url("/"))
    page.eval_on_selector("input[name=csrf_token]", "e => e.value = 'forged'")
    page.click("button:has-text('Sign out')")
    check("You cannot do that")
    page.goto(desk.url("/"))
    page.click("button:has-text('Sign out')")
    check("You have signed out")
    assert visited == ["/sign-in", "/sign-in", "/", "/no-such-page", "/deliberate-fault", "/sign-out", "/signed-out"]


def test_pages_answer_only_their_own_origin_in_a_frame(page: Page, desk: Desk) -> None:
    # frame-ancestors 'none': another origin (here a data: page) cannot frame the desk
    page.set_content(f'<iframe id="f" src="{desk.url("/sign-in")}"></iframe>')  # waits for the frame's load
    framed = page.frames[1]
    assert framed.url == desk.url("/sign-in") or framed.url.startswith("chrome-error://")
    assert "Sign in to orderwatch" not in framed.content()
