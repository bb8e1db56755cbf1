"""A zygote for fault-injection tests: one Python process that imports orderwatch once, then forks a real
``orderwatch`` process per request (``cli.main.main`` in the child), so a hundred processes to kill cost seconds,
not a minute of interpreter start-ups. The children are ordinary processes: the test kills them with SIGKILL.

A request may also name a ``kill_at`` step: the child then SIGKILLs itself just before its n-th database step —
each statement sent (``before_cursor_execute``), each COMMIT (``commit``), each connection handed back to the pool
after its transaction (``checkin``, i.e. just after a commit) — so a kill lands at an exact point of a transaction,
not only wherever the clock happens to be. ``count`` asks the child to write how many steps it took.

Protocol (JSON lines on stdin/stdout): ``{"op": "spawn", "argv": [...], "env": {...}, "out": path, "err": path,
"kill_at": n | null, "count": path | null}`` → ``{"pid": n}``; ``{"op": "wait", "pid": n}`` →
``{"rc": n}`` or ``{"signal": n}``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _install_fault(kill_at: int | None) -> list[int]:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import Pool

    steps = [0]

    def tick(*_: Any, **__: Any) -> None:
        steps[0] += 1
        if kill_at is not None and steps[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    event.listen(Engine, "before_cursor_execute", tick)
    event.listen(Engine, "commit", tick)
    event.listen(Pool, "checkin", tick)
    return steps


def _child(request: dict[str, Any]) -> None:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    out = os.open(request["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    err = os.open(request["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    os.dup2(err, 2)
    for key, value in request.get("env", {}).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    steps = _install_fault(request.get("kill_at"))
    from cli.main import main

    rc = main(request["argv"])
    sys.stdout.flush()
    sys.stderr.flush()
    if request.get("count") is not None:
        Path(request["count"]).write_text(str(steps[0]))
    os._exit(rc)


def serve() -> None:
    # everything a command imports, imported once here (the children inherit it)
    import alembic.command
    import alembic.script  # noqa: F401
    import psycopg  # noqa: F401

    import cli.dispatch
    import cli.main  # noqa: F401
    import machines.procedures  # noqa: F401
    import storage.casebook
    import storage.config
    import storage.migrate  # noqa: F401
    from machines.calendar import ENGLAND

    ENGLAND.is_working_day(__import__("datetime").date(2026, 1, 1))  # load the bank holidays
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "spawn":
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                try:
                    _child(request)
                except SystemExit as exc:
                    os._exit(exc.code if isinstance(exc.code, int) else 1)
                except BaseException:  # pragma: no cover - reported as exit 70
                    os._exit(70)
            print(json.dumps({"pid": pid}), flush=True)
        elif request["op"] == "wait":
            _, status = os.waitpid(request["pid"], 0)
            reply = {"signal": os.WTERMSIG(status)} if os.WIFSIGNALED(status) else {"rc": os.WEXITSTATUS(status)}
            print(json.dumps(reply), flush=True)


class Zygote:
    """The test side: start the zygote, spawn children, kill them, reap them."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.count = 0
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.forker"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        assert json.loads(self._read()) == {"ready": True}

    def _read(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the zygote died")
        return line

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        reply: dict[str, Any] = json.loads(self._read())
        return reply

    def spawn(self, argv: list[str], env: dict[str, str | None] | None = None, kill_at: int | None = None,
              count: bool = False) -> Child:  # fmt: skip
        self.count += 1
        base = self.workdir / f"child-{self.count}"
        request = {"op": "spawn", "argv": argv, "env": env or {}, "out": f"{base}.out", "err": f"{base}.err",
                   "kill_at": kill_at, "count": f"{base}.count" if count else None}  # fmt: skip
        return Child(self, self._ask(request)["pid"], base)

    def run(self, argv: list[str], **kwargs: Any) -> Finished:
        return self.spawn(argv, **kwargs).wait()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


class Child:
    def __init__(self, zygote: Zygote, pid: int, base: Path) -> None:
        self.zygote, self.pid, self.base = zygote, pid, base

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):  # already gone (a zombie until reaped: no error either)
            os.kill(self.pid, signal.SIGKILL)

    def wait(self) -> Finished:
        reply = self.zygote._ask({"op": "wait", "pid": self.pid})
        count_file, out, err = (Path(f"{self.base}.{suffix}") for suffix in ("count", "out", "err"))
        return Finished(  # a child killed as soon as it was forked has not opened its files yet
            rc=reply.get("rc"),
            signal=reply.get("signal"),
            out=out.read_text(errors="replace") if out.exists() else "",
            err=err.read_text(errors="replace") if err.exists() else "",
            steps=int(count_file.read_text()) if count_file.exists() else None,
        )


class Finished:
    def __init__(self, rc: int | None, signal: int | None, out: str, err: str, steps: int | None) -> None:
        self.rc, self.signal, self.out, self.err, self.steps = rc, signal, out, err, steps

    @property
    def killed(self) -> bool:
        return self.signal is not None

    def json(self) -> Any:
        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"Finished(rc={self.rc}, signal={self.signal}, err={self.err[-300:]!r})"


if __name__ == "__main__":
    serve()
