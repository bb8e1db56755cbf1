"""The desk's case pages over real HTTP, on SQLite and on PostgreSQL: My work, the team view, role queues, the case
page, every action form (every manual event recorded through its form), errors, refusals, check your answers, the
escalations inbox, registration, the dashboard, people. One desk per backend for the module; each test that changes
something works on a case of its own."""

from __future__ import annotations

import re
import time
from datetime import date
from html import unescape
from typing import Any

import pytest

from desk.routes.actions import ON_KEY
from machines.cp_iso import CpIsoRegistration
from machines.procedures import PROCEDURES
from machines.spec import Field, FieldKind
from storage.commands import AddPerson, CatchUp, DeactivatePerson, Fire, Register
from storage.notifications import NotifyEscalation
from tests.desk.conftest import CASEWORK_TODAY, DeskClient, World, csrf_of, snapshot_without_reads
from tests.desk.journeys import JOURNEYS, first_appearance, manual_events

SO_SPECS = PROCEDURES[next(k for k in PROCEDURES if k.value == "so")].events
ALL_SPECS = {name: spec for proc in PROCEDURES.values() for name, spec in proc.events.items()}


def form_of(fields: dict[str, Field], values: dict[str, Any]) -> dict[str, Any]:
    """What a browser would post for these answers."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        f, name = fields[key], f"field-{key}"
        if f.kind is FieldKind.DATE:
            out |= {f"{name}-day": str(value.day), f"{name}-month": str(value.month), f"{name}-year": str(value.year)}
        elif f.kind is FieldKind.BOOL:
            out[name] = "yes" if value else "no"
        elif f.kind in (FieldKind.PEOPLE, FieldKind.LIST):
            out[name] = list(value)
        elif f.kind is FieldKind.TASKS:  # one task a line
            out[name] = "\n".join(part.strip() for part in str(value).split(";"))
        else:
            out[name] = str(value)
    return out


def when(d: date) -> dict[str, str]:
    return {
        f"field-{ON_KEY}-day": str(d.day),
        f"field-{ON_KEY}-month": str(d.month),
        f"field-{ON_KEY}-year": str(d.year),
    }


def set_up(world: World, journey: str, ref: str, until: int) -> None:
    """Open ``ref`` and take it through the journey's steps before number ``until`` (through the casebook)."""
    register, steps = JOURNEYS[journey]
    registration = register(ref)
    opened_on = getattr(registration, "notified_on", None) or getattr(registration, "iso_date", None)
    world.book.handle(Register(actor="sw1", registration=registration, on=opened_on))
    for step in steps[:until]:
        world.book.handle(Fire(actor=step.actor, ref=ref, event=step.event, on=step.on, fields=step.values))


def post_action(client: DeskClient, ref: str, event: str, data: dict[str, Any]) -> Any:
    page = client.get(f"/cases/{ref}/actions/{event}")
    assert page.status_code == 200, page.text
    token = csrf_of(page.text)
    request_id = re.search(r'name="request_id" value="([^"]+)"', page.text)
    assert request_id
    return client.post(f"/cases/{ref}/actions/{event}",
                       data={"csrf_token": token, "request_id": request_id.group(1), **data})  # fmt: skip


def page_of(world: World, user: str, path: str) -> str:
    with world.client(user) as c:
        return c.get(path).text


def text_of(html: str) -> str:
    """The page's words, tags and spacing collapsed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


# -- My work ----------------------------------------------------------------------------------------------------------


def test_my_work_groups_the_work_by_when_with_working_day_tags(world: World) -> None:
    with world.client("tm1") as c:
        page = c.get("/")
    assert page.status_code == 200
    words = text_of(page.text)
    assert "Overdue (2)" in words and "Due this week (1)" in words
    assert re.search(r"SO-1001 Supervision Order Hold the first Child-in-Need meeting .* 16 November 2026 "
                     r"Overdue by 4 working days sw1", words)  # fmt: skip
    assert "Make the CPC aware of the ISO and the court timetable" in words and "Overdue by 2 working days" in words
    assert re.search(r"Confirm the agreed actions are fully applied .* Due in 4 working days You", words)
    assert "ESC-" in words and "The quality check failed" in words  # the escalations raised to tm1
    assert 'href="/?view=team"' in page.text
    with world.client("sw1") as c:
        words = text_of(c.get("/").text)
    assert "Hold the first Child-in-Need meeting" in words and "Confirm the agreed actions" not in words
    assert "My team's work" not in words  # not a manager


def test_a_manager_switches_to_the_team_view(world: World) -> None:
    with world.client("tm1") as c:
        words = text_of(c.get("/?view=team").text)
    assert "My team's work" in words and re.search(r"sw1 social worker 2 0 0 1", words)
    with world.client("hos1") as c:
        words = text_of(c.get("/?view=team").text)
    for user in ("tm1", "tm2", "irom1", "cpctm1", "sw1", "iro1", "iro2"):  # the reports, and everyone with work
        assert f" {user} " in words
    rows = re.findall(
        r'<th scope="row" class="govuk-table__header">.*?</tr>', page_of(world, "hos1", "/?view=team"), re.S
    )
    overdue = [int(re.findall(r'numeric">(\d+)<', r)[0]) for r in rows]
    assert overdue == sorted(overdue, reverse=True)  # the most overdue first
    with world.client("sw1") as c:
        assert ">My work</h1>" in c.get("/?view=team").text  # nobody to manage: their own work


def test_role_queues(world: World) -> None:
    with world.client("su1") as c:
        words = text_of(c.get("/").text)
    assert "The Safeguarding Unit queue" in words
    assert re.search(r"SO-1002 .* Allocate a named IRO .* Due in 1 working day Safeguarding Unit queue", words)
    with world.client("legal1") as c:
        words = text_of(c.get("/").text)
    assert "Take the evidence and minutes to Legal Gateway" in words and "Conclude proceedings within 26 weeks" in words
    with world.client("cpc1") as c:
        words = text_of(c.get("/").text)
    assert "Hold the 3-way discussion" in words and "Hold the midway discussion" in words and "Overdue by" in words
    with world.client("hos1") as c:
        words = text_of(c.get("/").text)
    assert re.search(r"SO-1005 .* Decide with the Team Manager: step down or seek an extension .* Due today", words)


def test_my_work_lists_my_notifications(world: World) -> None:
    esc = world.book.escalation_row_id("CP-2001", 1)
    world.book.handle(NotifyEscalation(actor="system", escalation=esc))
    with world.client("tm1") as c:
        words = text_of(c.get("/").text)
    assert (
        "Notifications" in words
        and "missed: make the CPC aware of the ISO and the court timetable, raised to you — case CP-2001" in words
    )


def test_people_without_casework_are_told_so(world: World) -> None:
    with world.client("admin1") as c:
        page = c.get("/")
    assert page.status_code == 200 and "Your role has no casework: use People." in page.text


# -- the case page ----------------------------------------------------------------------------------------------------


def test_the_case_page_says_where_the_case_is_and_what_happened(world: World) -> None:
    with world.client("tm1") as c:
        page = c.get("/cases/SO-1001")
    assert page.status_code == 200
    html, words = page.text, text_of(page.text)
    assert "Where it is Waiting for the first Child-in-Need meeting" in words
    assert "Order date 26 October 2026" in words and "Expiry 25 October 2027" in words
    assert re.search(r"Hold the first Child-in-Need meeting 16 November 2026 Missed", words)
    assert re.search(r"The order expires 25 October 2027 Due in \d+ working days", words)
    assert "Allocate a named IRO 3 November 2026 Done 29 October 2026" in words
    assert "Social worker sw1 (manager tm1)" in words and "IRO iro1 (manager irom1)" in words
    assert "Missed: hold the first Child-in-Need meeting" in words and "Head of Service (level 2)" in words
    assert "sw1 (social worker) registered the Supervision Order: order date 26 October 2026" in words
    assert "su1 (Safeguarding Unit) allocated a named IRO: the IRO iro1." in words
    assert "Not done by 16 November 2026: hold the first Child-in-Need meeting." in words
    assert "['" not in html and "{'" not in html  # sentences, never Python lists or dicts
    svg = re.search(r'<svg role="img" aria-labelledby="diagram-so-title diagram-so-desc".*?</svg>', html, re.S)
    assert svg and "The current state, Waiting for the first Child-in-Need meeting, is highlighted" in svg.group(0)
    actions = re.findall(r'href="/cases/SO-1001/actions/(\w+)"', html)
    assert actions == [
        "record_first_cin_meeting",
        "change_social_worker",
        "record_case_summary",
        "record_support_plan",
        "discharge",
    ]


def test_only_the_actions_a_person_may_take_are_offered_and_the_others_refused(world: World) -> None:
    before = snapshot_without_reads(world.url)
    with world.client("tm2") as c:  # another team's case: need-to-know (issue 13) — not even shown to exist
        assert c.get("/cases/SO-1001").status_code == 404
        assert c.get("/cases/SO-1001/actions/record_first_cin_meeting").status_code == 404
    with world.client("hos1") as c:  # reads every case, records none of these
        page = c.get("/cases/SO-1001")
        assert re.findall(r'href="/cases/SO-1001/actions/(\w+)"', page.text) == []
        refused = c.get("/cases/SO-1001/actions/record_first_cin_meeting")
        assert refused.status_code == 403
        assert "Only these roles may do this: social worker, team manager." in refused.text
        token = csrf_of(page.text)
        posted = c.post("/cases/SO-1001/actions/record_first_cin_meeting",
                        data={"csrf_token": token, **when(CASEWORK_TODAY)})  # fmt: skip
        assert posted.status_code == 403
    with world.client("sw1") as c:
        refused = c.get("/cases/SO-1001/actions/allocate_iro")
        assert refused.status_code == 403 and "This cannot be recorded now: the case is at" in refused.text
        assert c.get("/cases/SO-1001/actions/no_such_event").status_code == 403
        assert c.get("/cases/NO-SUCH-CASE").status_code == 404
    assert snapshot_without_reads(world.url) == before


# -- every manual event, through its form -------------------------------------------------------------------------------

APPEARS = first_appearance()


def test_every_manual_event_has_a_journey() -> None:
    assert sorted(APPEARS) == manual_events()


@pytest.mark.parametrize("event", manual_events())
def test_every_manual_event_can_be_recorded_through_its_form(world: World, event: str) -> None:
    journey, index = APPEARS[event]
    ref = f"EV-{event}-{world.backend}"
    set_up(world, journey, ref, index)
    step = JOURNEYS[journey][1][index]
    spec = ALL_SPECS[event]
    with world.client(step.actor) as c:
        posted = post_action(c, ref, event, {**form_of(dict(spec.fields), step.values), **when(step.on),
                                             **({"step": "confirm"} if spec.confirm else {})})  # fmt: skip
        assert posted.status_code == 303, text_of(posted.text)[-600:]
        assert posted.headers["location"] == f"/cases/{ref}"
        page = c.get(f"/cases/{ref}")
    assert spec.title in text_of(page.text)  # the banner, as HTML (never its markup shown as text)
    assert '<h3 class="govuk-notification-banner__heading">' in page.text and "&lt;h3" not in page.text
    last = [h for h in world.book.history(ref, "hos1") if h.source.startswith("manual")][-1]
    assert (last.event, last.actor, last.on, last.source) == (event, step.actor, step.on, "manual:desk")


# -- errors, refusals, checking answers -------------------------------------------------------------------------------


def test_missing_and_malformed_answers_show_the_error_summary(world: World) -> None:
    ref = f"ERR-{world.backend}"
    set_up(world, "so-extension", ref, 4)  # plan in progress: the review to schedule
    before = snapshot_without_reads(world.url)
    with world.client("iro1") as c:
        cases = [
            ({}, ["Enter review date", "Enter the date"]),
            ({"field-review_on-day": "31", "field-review_on-month": "2", "field-review_on-year": "2026",
              **when(date(2026, 9, 1))}, ["Review date must be a real date"]),
            ({"field-review_on-day": "3", "field-review_on-year": "2026", **when(date(2026, 9, 1))},
             ["Review date must include a month"]),
            ({**form_of(dict(SO_SPECS["schedule_review"].fields), {"review_on": date(2026, 9, 21)}),
              **when(date(2026, 12, 1))}, ["The date it happened must be today or in the past"]),
        ]  # fmt: skip
        for data, messages in cases:
            page = post_action(c, ref, "schedule_review", data)
            assert page.status_code == 400
            assert 'class="govuk-error-summary"' in page.text and "<title>Error: " in page.text
            for message in messages:
                assert message in page.text
                assert page.text.count(message) == 2  # in the summary and beside the field
    assert snapshot_without_reads(world.url) == before


def test_a_malformed_plan_is_said_beside_its_field_before_anything_is_sent(world: World) -> None:
    """A task without its owner is the field's error (the event's own rule, read by the form), not a refusal of the
    whole form after it was sent."""
    ref = f"PLAN-{world.backend}"
    set_up(world, "so-extension", ref, 0)
    before = snapshot_without_reads(world.url)
    answers = {"other_orders": "none", "court_wording": "as sealed", "plan": "weekly home visits"}
    with world.client("sw1") as c:
        page = post_action(
            c,
            ref,
            "record_case_summary",
            {**form_of(dict(SO_SPECS["record_case_summary"].fields), answers), **when(CASEWORK_TODAY)},
        )
    assert page.status_code == 400 and 'class="govuk-error-summary"' in page.text
    assert unescape(page.text).count("Task 1 must be 'owner: task' (who is responsible for what)") == 2
    assert snapshot_without_reads(world.url) == before


def test_a_refused_action_shows_the_rule_in_one_sentence_and_changes_nothing(world: World) -> None:
    ref = f"REF-{world.backend}"
    set_up(world, "so-extension", ref, 4)
    before = snapshot_without_reads(world.url)
    with world.client("iro1") as c:
        late = form_of(dict(SO_SPECS["schedule_review"].fields), {"review_on": date(2026, 10, 30)})
        page = post_action(c, ref, "schedule_review", {**late, **when(date(2026, 9, 1))})
    assert page.status_code == 409
    assert "This was not recorded" in page.text
    assert "the review must be held during month 9 of the order: from 2026-09-05 to 2026-10-04" in page.text
    assert 'value="30"' in page.text  # what was typed is shown again
    assert snapshot_without_reads(world.url) == before


def test_a_consequential_decision_asks_to_check_the_answers_first(world: World) -> None:
    ref = f"CHK-{world.backend}"
    set_up(world, "so-step-down", ref, 8)  # minutes issued: the Head of Service decides
    with world.client("hos1") as c:
        first = post_action(c, ref, "decide_step_down", {"field-note": "agreed with tm1", "field-team_manager": "tm1",
                                                          **when(date(2026, 10, 5))})  # fmt: skip
        assert first.status_code == 200 and "Check your answers" in first.text
        words = text_of(first.text)
        assert "Note agreed with tm1" in words and "When did it happen? 5 October 2026" in words
        assert world.book.load(ref).state == "hos_decision_pending"  # nothing recorded yet
        carried = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', first.text))
        change = c.post(f"/cases/{ref}/actions/decide_step_down", data={**carried, "step": "change"})
        assert change.status_code == 200 and "agreed with tm1</textarea>" in change.text
        done = c.post(f"/cases/{ref}/actions/decide_step_down", data={**carried, "step": "confirm"})
        assert done.status_code == 303
    assert world.book.load(ref).state == "stepping_down"


def test_an_action_needs_the_sessions_csrf_token(world: World) -> None:
    ref = f"CSRF-{world.backend}"
    set_up(world, "so-extension", ref, 2)
    before = snapshot_without_reads(world.url)
    with world.client("sw1") as c:
        forged = c.post(f"/cases/{ref}/actions/record_first_cin_meeting", data={"csrf_token": "forged",
                                                                                **when(date(2026, 1, 20))})  # fmt: skip
    assert forged.status_code == 403 and "did not come from this service" in forged.text
    assert snapshot_without_reads(world.url) == before


# -- escalations ------------------------------------------------------------------------------------------------------


def test_the_inbox_acknowledges_and_resolves_with_a_resolution(world: World) -> None:
    ref = f"INBOX-{world.backend}"
    registration = CpIsoRegistration(ref, f"CHILD-{ref}", date(2026, 11, 18), date(2027, 1, 14),
                                     last_review=date(2026, 10, 14), social_worker="sw1")  # fmt: skip
    world.book.handle(Register(actor="sw1", registration=registration, on=date(2026, 11, 18)))
    world.book.handle(CatchUp(ref=ref, as_of=CASEWORK_TODAY))  # the CPC was not told in time: raised to the TM
    esc_id = world.book.escalation_row_id(ref, 1)
    with world.client("tm1") as c:
        inbox = c.get("/escalations")
        row = re.search(rf'<tr class="govuk-table__row" id="ESC-{esc_id}">.*?</tr>', inbox.text, re.S)
        assert row and "Acknowledge" in row.group(0) and "Escalate" in row.group(0)
        token = csrf_of(inbox.text)
        quick = c.post(f"/escalations/ESC-{esc_id}/acknowledge", data={"csrf_token": token, "step": "quick",
                                                                      "request_id": "r1"})  # fmt: skip
        assert quick.status_code == 303 and quick.headers["location"] == "/escalations"
        assert "Acknowledge the escalation" in c.get("/escalations").text  # the banner
        form = c.get(f"/escalations/ESC-{esc_id}/resolve")
        assert form.status_code == 200 and "Resolution" in form.text
        empty = c.post(f"/escalations/ESC-{esc_id}/resolve", data={"csrf_token": token, **when(CASEWORK_TODAY)})
        assert empty.status_code == 400 and "Enter resolution" in empty.text
        done = c.post(f"/escalations/ESC-{esc_id}/resolve",
                      data={"csrf_token": token, "field-note": "the CPC is now aware", **when(CASEWORK_TODAY)})  # fmt: skip
        assert done.status_code == 303
        again = c.get(f"/escalations/ESC-{esc_id}/resolve")
        assert again.status_code == 403 and "This escalation is resolved" in again.text
    esc = world.book.load(ref).escalation(1)
    assert esc.state == "resolved" and esc.resolution == "the CPC is now aware"
    with world.client("sw1") as c:
        assert c.get(f"/escalations/ESC-{esc_id}/escalate").status_code == 403


# -- registering a case -----------------------------------------------------------------------------------------------


def test_registering_cases(world: World) -> None:
    ref = f"NEW-SO-{world.backend}"
    with world.client("sw1") as c:
        form = c.get("/cases/new/so")
        assert form.status_code == 200
        for label in ("Case reference", "Child&#39;s identifier", "Order date", "Expiry (optional)"):
            assert label in form.text
        token = csrf_of(form.text)
        missing = c.post("/cases/new/so", data={"csrf_token": token, **when(CASEWORK_TODAY)})
        assert missing.status_code == 400 and "Enter case reference" in missing.text
        answers = {"csrf_token": token, "field-ref": ref, "field-child_id": "CHILD-NEW-1",
                   "field-order_date-day": "16", "field-order_date-month": "11", "field-order_date-year": "2026",
                   "field-social_worker": "sw1", **when(CASEWORK_TODAY)}  # fmt: skip
        check = c.post("/cases/new/so", data=answers)
        assert check.status_code == 200 and "Check your answers" in check.text
        future = c.post("/cases/new/so", data={**answers, "field-order_date-day": "30", "step": "confirm"})
        assert future.status_code == 409 and "is in the future" in future.text
        done = c.post("/cases/new/so", data={**answers, "step": "confirm"})
        assert done.status_code == 303 and done.headers["location"] == f"/cases/{ref}"
        assert "Supervision Order registered" in c.get(f"/cases/{ref}").text
    assert world.book.load(ref).state == "registered"
    with world.client("cpc1") as c:
        assert "Next review" in c.get("/cases/new/cp-iso").text
    with world.client("legal1") as c:
        refused = c.get("/cases/new/so")
        assert refused.status_code == 403 and "Only these roles may register" in refused.text
        assert c.get("/cases/new/nothing").status_code == 404


def test_finding_a_case(world: World) -> None:
    with world.client("tm1") as c:
        found = c.get("/cases?ref=SO-1001")
        assert found.status_code == 303 and found.headers["location"] == "/cases/SO-1001"
        missing = c.get("/cases?ref=NOPE")
        assert missing.status_code == 404 and "There is no case with that reference" in missing.text
        assert "Register a Supervision Order case" in c.get("/cases").text


# -- the dashboard and people -----------------------------------------------------------------------------------------


def test_the_dashboard_draws_each_figure_with_its_numbers(world: World) -> None:
    with world.client("hos1") as c:
        page = c.get("/dashboard")
    assert page.status_code == 200
    assert len(re.findall(r'<svg role="img" aria-labelledby="chart-', page.text)) == 5
    words = text_of(page.text)
    assert "Every case" in words and re.search(r"Overdue by team Team Items .*tm1's team \d+ ", words)
    assert re.search(r"CPC queue \d+", words)
    assert re.search(r"Nov 2026 \d+ \d+ \d+%", words)
    assert re.search(r"SO: At Legal Gateway \d+", words)
    assert re.search(r"Level 2 \d+ \d+ \d+ \d+", words)
    with world.client("tm1") as c:
        mine = c.get("/dashboard")
    assert mine.status_code == 200 and "The cases of tm1's line" in text_of(mine.text)
    with world.client("sw1") as c:
        assert c.get("/dashboard").status_code == 403


def test_people_are_listed_for_admins_only(world: World) -> None:
    with world.client("admin1") as c:
        words = text_of(c.get("/people").text)
    assert "Everyone orderwatch knows (14)" in words and "sw1 Social worker tm1" in words.replace("social", "Social")
    with world.client("tm1") as c:
        assert c.get("/people").status_code == 403


def test_no_new_page_has_inline_script_or_style(world: World) -> None:
    with world.client("tm1") as c:
        pages = [c.get(p).text for p in ("/", "/?view=team", "/cases", "/cases/SO-1004", "/escalations", "/dashboard",
                                         "/cases/new/cp-iso", "/cases/SO-1004/actions/confirm_remedial_action")]  # fmt: skip
    for html in pages:
        assert re.findall(r"<script\b[^>]*>", html) == ['<script type="module" src="/static/desk.mjs">']
        assert re.search(r"\son[a-z]+\s*=", html) is None and "javascript:" not in html
        assert "style=" not in html


def test_the_service_wide_dashboard_is_kept_a_while_and_counted_again_in_the_background(world: World) -> None:
    from datetime import timedelta

    from storage.deskbook import DASHBOARD_FRESH

    def cases_counted(c: DeskClient) -> int:
        """The sum of the "Cases in each state" table."""
        table = re.search(r"Cases in each state</caption>(.*?)</table>", c.get("/dashboard").text, re.S)
        assert table
        return sum(int(n) for n in re.findall(r'govuk-table__cell--numeric">(\d+)<', table.group(1)))

    with world.client("hos1") as c:
        before = cases_counted(c)
        world.book.handle(Register(actor="sw1", registration=JOURNEYS["so-extension"][0](f"DASH-{world.backend}"),
                                   on=date(2026, 1, 6)))  # fmt: skip
        assert cases_counted(c) == before  # kept
        world.clock.advance(DASHBOARD_FRESH + timedelta(seconds=1))
        assert cases_counted(c) == before  # stale: served while it is counted again
        for _ in range(50):
            if cases_counted(c) == before + 1:
                break
            time.sleep(0.1)
        assert cases_counted(c) == before + 1
    with world.client("tm1") as c:
        assert "counted at" in c.get("/dashboard").text  # a line's figures: counted on each request


def test_a_form_offers_the_active_people_by_their_names(world: World) -> None:
    """A picker shows a person's recorded name with their user name; a leaver is not offered (they cannot be
    allocated)."""
    path = "/cases/SO-1002/actions/allocate_iro"
    world.book.handle(AddPerson(actor="admin1", user="iro9", role="iro", manager="irom1", display_name="Pat Lee"))
    assert "Pat Lee — iro9 (IRO)" in page_of(world, "su1", path)
    world.book.handle(DeactivatePerson(actor="admin1", user="iro9", on=CASEWORK_TODAY))
    assert "iro9" not in page_of(world, "su1", path)
