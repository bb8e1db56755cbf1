"""The case pages in a real browser (Debian's Chromium through Playwright), over a seeded SQLite casebook: a team
manager finds overdue work and records it; a refused action changes nothing; an action form completed with the
keyboard alone; an action recorded with JavaScript off; axe-core and the CSP on every page. One desk per module."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.desk.axe import assert_accessible
from tests.desk.conftest import PASSWORD, World
from tests.desk.test_desk_browser import _assert_clean


def sign_in(page: Page, world: World, user: str) -> None:
    page.goto(world.url_of("/sign-in"))
    page.fill("#user-name", user)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    expect(page.locator("h1")).to_have_text("My work")


def checked(page: Page) -> None:
    """No serious or critical axe violation, nothing against the CSP, no script error."""
    assert_accessible(page)
    _assert_clean(page)


def test_a_team_manager_finds_the_overdue_item_and_records_it(page: Page, sqlite_world: World) -> None:
    world = sqlite_world
    sign_in(page, world, "tm1")
    overdue = page.locator("table.desk-work", has=page.locator("caption", has_text="Overdue"))
    row = overdue.locator("tr", has_text="SO-1001")
    expect(row).to_contain_text("Hold the first Child-in-Need meeting")
    expect(row.locator(".govuk-tag")).to_have_text("Overdue by 4 working days")
    checked(page)
    row.get_by_role("link", name="SO-1001").click()
    expect(page.locator("h1")).to_have_text("Case SO-1001")
    expect(page.locator("#case-state")).to_have_text("Waiting for the first Child-in-Need meeting")
    entries_before = page.locator(".desk-timeline__entry").count()
    checked(page)
    page.get_by_role("link", name="Record the first Child-in-Need meeting").click()
    expect(page.locator("h1")).to_have_text("Record the first Child-in-Need meeting")
    expect(page.locator("#field-happened-on-day")).to_have_value("20")
    checked(page)
    page.fill("#field-note", "held at the family home")
    page.click("button:has-text('Record it')")
    expect(page).to_have_url(world.url_of("/cases/SO-1001"))
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text(
        "Record the first Child-in-Need meeting"
    )
    expect(page.locator("#case-state")).to_have_text("Waiting for the IRO's quality check")
    expect(page.locator(".desk-timeline__entry")).to_have_count(entries_before + 1)
    newest = page.locator(".desk-timeline__entry").first
    expect(newest).to_contain_text("tm1 (team manager) recorded the first Child-in-Need meeting.")
    expect(newest).to_contain_text("The case moved from “Waiting for the first Child-in-Need meeting” to “Waiting")
    quality = page.locator("table.desk-deadlines tr", has_text="Quality-check the plan")
    expect(quality.locator(".govuk-tag")).to_have_text("Due in 10 working days")
    expect(page.get_by_role("link", name="Record the first Child-in-Need meeting")).to_have_count(0)
    checked(page)


def test_a_refused_action_leaves_the_case_unchanged(page: Page, sqlite_world: World) -> None:
    world = sqlite_world
    sign_in(page, world, "iro2")
    page.goto(world.url_of("/cases/SO-1006"))
    entries = page.locator(".desk-timeline__entry").count()
    page.get_by_role("link", name="Schedule the month-9 review").click()
    page.fill("#field-review_on-day", "15")
    page.fill("#field-review_on-month", "1")
    page.fill("#field-review_on-year", "2027")
    page.click("button:has-text('Record it')")
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_contain_text("This was not recorded")
    expect(summary).to_contain_text(
        "the review must be held during month 9 of the order: from 2026-11-02 to 2026-12-01"
    )
    expect(page).to_have_title(re.compile(r"^Error: "))
    checked(page)
    page.goto(world.url_of("/cases/SO-1006"))
    expect(page.locator("#case-state")).to_have_text("Plan in progress")
    expect(page.locator(".desk-timeline__entry")).to_have_count(entries)
    assert world.book.load("SO-1006").dates.get("review_on") is None


def test_an_action_form_completed_with_the_keyboard_alone(page: Page, sqlite_world: World) -> None:
    world = sqlite_world
    sign_in(page, world, "su1")
    page.goto(world.url_of("/cases/SO-1002/actions/allocate_iro"))
    page.keyboard.press("Tab")
    expect(page.locator(".govuk-skip-link")).to_be_focused()
    page.keyboard.press("Enter")  # skip to the main content
    for _ in range(15):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "field-iro":
            break
    expect(page.locator("#field-iro")).to_be_focused()
    page.keyboard.type("iro2")  # a select chooses the option its typed letters start
    expect(page.locator("#field-iro")).to_have_value("iro2")
    for _ in range(6):  # on through the date (already today) to the button
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Record it":
            break
    page.keyboard.press("Enter")
    expect(page).to_have_url(world.url_of("/cases/SO-1002"))
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text("Allocate a named IRO")
    expect(page.locator("#case-state")).to_have_text("Waiting for the first Child-in-Need meeting")
    expect(page.locator(".desk-people")).to_contain_text("iro2")


def test_an_action_is_recorded_with_javascript_off(browser: Browser, sqlite_world: World) -> None:
    world = sqlite_world
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, world, "tm1")
        page.goto(world.url_of("/cases/SO-1004"))
        page.get_by_role("link", name="Confirm the agreed actions are applied").click()
        page.click("button:has-text('Record it')")  # the note is required: the error summary, without script
        expect(page.locator(".govuk-error-summary")).to_contain_text("Enter what was done")
        page.fill("#field-note", "the plan's actions were rewritten with the family")
        page.click("button:has-text('Record it')")
        expect(page).to_have_url(world.url_of("/cases/SO-1004"))
        expect(page.locator("#case-state")).to_have_text("Plan in progress")
    finally:
        context.close()


def test_every_case_page_passes_axe_and_keeps_the_csp(page: Page, sqlite_world: World) -> None:
    world = sqlite_world

    def visit(path: str, h1: str) -> None:
        page.goto(world.url_of(path))
        expect(page.locator("h1")).to_have_text(h1)
        checked(page)

    sign_in(page, world, "tm1")
    checked(page)
    visit("/?view=team", "My team's work")
    visit("/cases", "Cases")
    visit("/cases/SO-1004", "Case SO-1004")  # tm1 reads their own team's cases (need-to-know)
    visit("/cases/CP-2003", "Case CP-2003")
    visit("/escalations", "Escalations")
    visit("/dashboard", "Dashboard")
    visit("/cases/new/so", "Register a Supervision Order case")
    page.click("button:has-text('Continue')")  # nothing filled in: the error summary
    expect(page.locator(".govuk-error-summary")).to_be_focused()
    checked(page)
    visit("/cases/CP-2001/actions/inform_cpc", "Make the CPC aware of the ISO and the court timetable")
    page.fill("#field-happened-on-day", "31")
    page.fill("#field-happened-on-month", "2")
    page.click("button:has-text('Record it')")
    expect(page.locator(".govuk-error-summary")).to_contain_text("The date must be a real date")
    checked(page)
    visit("/cases?ref=NOPE", "Cases")
    page.goto(world.url_of("/cases/SO-1003/actions/pass_quality_check"))  # the IRO's, not the team manager's
    expect(page.locator("h1")).to_have_text("You cannot do that")
    checked(page)
    page.click("button:has-text('Sign out')")

    sign_in(page, world, "hos1")
    visit("/dashboard", "Dashboard")
    visit("/cases/SO-1005/actions/decide_seek_extension", "Decide to seek an extension")
    for field in page.locator("textarea").all():
        field.fill("an answer")
    page.select_option("#field-team_manager", "tm1")
    page.click("button:has-text('Continue')")
    expect(page.locator("h1")).to_have_text("Check your answers")
    checked(page)
    page.click("button:has-text('Change your answers')")
    expect(page.locator("h1")).to_have_text("Decide to seek an extension")
    checked(page)
    page.click("button:has-text('Sign out')")

    sign_in(page, world, "admin1")
    visit("/people", "People")
