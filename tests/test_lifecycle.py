"""The data's lifecycle (issue 13, part B): backup while a sweep runs -> restore -> verify -> replay, on both
backends; restore's refusals."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from machines.supervision_order import SORegistration
from storage import uow as uow_module
from storage.backup import backup, restore
from storage.casebook import Casebook
from storage.commands import Register
from storage.db import make_engine
from storage.verify import verify
from tests.conftest import FIXED_NOW, Cli
from tests.test_refusals import SO, build_so

CASES = 30


def _caseload(book: Casebook) -> list[str]:
    """Cases whose first deadlines are long past: the sweep has work for every one of them."""
    refs = [f"SO-L{i}" for i in range(CASES)]
    commands = []
    for i, ref in enumerate(refs):
        order = date(2025, 1, 6) + timedelta(days=i)
        reg = SORegistration(ref, f"C-L{i}", order, None, None, order + timedelta(days=1), "sw1")
        commands.append(Register(actor="sw1", registration=reg, on=order + timedelta(days=1)))
    results = book.handle_all(commands)
    assert not [r for r in results if isinstance(r, Exception)], results
    return refs


def _events(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as c:
        n = int(c.scalar(sa.text("SELECT count(*) FROM events")) or 0)
    engine.dispose()
    return n


def test_backup_while_a_sweep_runs_restores_verifies_and_replays(book: Casebook, db_url: str, tmp_path: Path) -> None:
    refs = _caseload(book)
    registered = _events(db_url)
    batches: list[Sequence[str]] = []
    mid_sweep, backed_up = threading.Event(), threading.Event()

    def pause_in_the_third_batch(point: str, locked: Sequence[str]) -> None:
        if point != "locked":
            return
        batches.append(locked)
        if len(batches) == 3:  # two batches committed, the third holds its cases, uncommitted
            mid_sweep.set()
            assert backed_up.wait(120), "the backup did not finish"

    failures: list[BaseException] = []

    def sweep() -> None:
        try:
            book.sweep(date(2026, 6, 1), batch_size=5)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    uow_module.HOOKS.append(pause_in_the_third_batch)
    worker = threading.Thread(target=sweep)
    try:
        worker.start()
        assert mid_sweep.wait(120), "the sweep never reached its third batch"
        taken = backup(book.engine, tmp_path / "backups" / "mid-sweep.bak")
        backed_up.set()
        worker.join(300)
    finally:
        uow_module.HOOKS.remove(pause_in_the_third_batch)
        backed_up.set()
    assert not failures and not worker.is_alive()
    assert Path(taken.path).stat().st_mode & 0o777 == 0o600
    after_sweep = _events(db_url)
    assert verify(book.engine).ok

    # restore: into a new SQLite file; on PostgreSQL over the same schema (the sweep's work is lost, as it should be)
    if db_url.startswith("sqlite"):
        target_url = f"sqlite:///{tmp_path / 'restored.db'}"
        target = make_engine(target_url)
        restored = restore(target, Path(taken.path))
    else:
        target_url, target = db_url, book.engine
        with pytest.raises(Exception, match="--force"):
            restore(target, Path(taken.path))
        restored = restore(target, Path(taken.path), force=True)
    assert restored.verified.ok, restored.verified.broken
    mid = _events(target_url)
    assert registered < mid < after_sweep  # two batches' work, not the third's: one consistent moment
    again = Casebook(target, clock=lambda: FIXED_NOW)
    for ref in refs:
        assert again.replay_matches(ref), ref
    # the restored system carries on: the same sweep finishes the work, and the record still verifies
    again.sweep(date(2026, 6, 1), batch_size=5)
    assert _events(target_url) == after_sweep
    assert verify(target).ok
    if target is not book.engine:
        target.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # this backend's probe only
def test_restore_refuses_a_backup_that_does_not_verify_and_a_missing_one(book: Casebook, db_url: str,
                                                                        tmp_path: Path) -> None:  # fmt: skip
    _caseload(book)
    taken = backup(book.engine, tmp_path / "b.db")
    assert taken.verified is not None and taken.verified.ok
    with pytest.raises(Exception, match="exists already"):
        backup(book.engine, tmp_path / "b.db")
    spoilt = make_engine(f"sqlite:///{taken.path}")
    with spoilt.begin() as c:
        c.execute(sa.text("DROP TRIGGER events_no_update"))
        c.execute(sa.text("UPDATE events SET actor = 'mallory' WHERE seq = 1"))
    spoilt.dispose()
    target = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    with pytest.raises(Exception, match="does not verify"):
        restore(target, Path(taken.path))
    with pytest.raises(Exception, match="no backup at"):
        restore(target, tmp_path / "nothing.db")
    target.dispose()


def test_export_holds_everything_about_the_case_as_json_and_escaped_html(cli: Cli, db_url: str,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("ORDERWATCH_TODAY", "2027-12-31")
    build_so("urgent_review", "--dob", "2012-03-04")(cli)
    note = "<script>alert('x')</script> & co"
    assert cli("fire", SO, "record_progress", "--actor", "sw1", "--on", "2026-10-10", "--set", f"note={note}").rc == 0
    assert cli("sweep", "--as-of", "2027-06-01").rc == 0  # deadlines missed: escalations raised
    assert cli("show", SO, "--actor", "hos1").rc == 0
    out = cli("export", SO, "--actor", "hos1").json
    assert out["case"]["ref"] == SO and out["case"]["child_id"] == "C-1" and out["case"]["dob"] == "2012-03-04"
    assert out["chain"] == {"ok": True}
    assert [e["seq"] for e in out["events"]] == list(range(1, len(out["events"]) + 1))
    assert all(len(e["hash"]) == 64 for e in out["events"])
    assert [e["payload"]["note"] for e in out["events"] if e["event"] == "record_progress"] == [note]
    assert {d["kind"] for d in out["deadlines"]} and out["escalations"] and out["involvements"]
    assert out["notifications"] and all(n["case_ref"] in (SO, None) for n in out["notifications"])
    # the export is itself a logged read, and is in its own access log
    assert [a["what"] for a in out["access_log"] if a["actor"] == "hos1"] == ["show", "export"]
    assert all(a["allowed"] for a in out["access_log"] if a["actor"] == "hos1")
    refused = cli("export", SO, "--actor", "iro2")  # not involved: need-to-know (storage.access)
    assert refused.rc == 2 and "C-1" not in refused.err + refused.out
    page = cli("export", SO, "--actor", "hos1", "--format", "html", json_out=False)
    assert page.rc == 0 and page.out.startswith("<!DOCTYPE html>")
    assert "<script>" not in page.out and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in page.out
    assert "C-1" in page.out and "Event log" in page.out and "verified" in page.out
    assert cli("export", "SO-404", "--actor", "hos1").rc == 2
