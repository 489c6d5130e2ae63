"""Make the SVG screenshots in `screenshots/` with the app itself, from real offline runs.

    python -m workbench.tui.screenshots [OUT_DIR] [--size COLSxROWS]

Works in a fresh temporary home: runs two shipped crews headless (AutoGen and CrewAI),
evaluates `market-entry` on its cases, edits its lead's last line, runs and evaluates it
again (a prompt designer's loop), then opens the app, composes and runs `support-triage`
live until it asks for an approval, approves it from the queue, compares the two
`market-entry` runs and the two evals, replays a `translation-desk` run (a marketplace),
and saves a screenshot of every section on the way. No real
key is involved: the keyring is replaced by a throwaway in-memory one for the duration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import keyring
from keyring.backend import KeyringBackend

DEFAULT_OUT = Path("screenshots")
TASK = "Acme Ltd cannot export invoices as PDF since this morning's release"


class InMemoryKeyring(KeyringBackend):
    """A throwaway keyring, so no real key's presence shows in a picture."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self._store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self._store.pop((service, username), None)


InMemoryKeyring.__module__ = "workbench.tui.screenshots"  # its name on the Models screen


#: The designer's edit between the two market-entry runs: the lead's last line.
EDIT = ("Decision: GO. Enter Sweden first, 25M EUR serviceable market, board informed.",
        "Decision: NO-GO for now: the margin is too thin to pay a local partner.")


def _cli(home: Path, *args: str) -> str:
    """`workbench ARGS` in a subprocess, as a user would type it; returns its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    done = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "--home", str(home), *args],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env)
    if done.returncode not in (0, 1):
        raise SystemExit(f"workbench {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def _headless_runs(home: Path) -> tuple[str, str, str]:
    """Finished sessions for the list and two evals, all from the CLI: market-entry and
    contract-review run; market-entry evaluated, edited, run and evaluated again;
    translation-desk run. Returns the two market-entry sessions (before and after the
    edit) and the translation-desk one."""
    from workbench.config import SHIPPED_CREWS

    cases = str(SHIPPED_CREWS / "cases" / "market-entry.yaml")
    runs: list[str] = []
    for crew, engine in (("market-entry", "autogen"), ("contract-review", "crewai")):
        print(f"  running {crew} on {engine} ...", flush=True)
        out = _cli(home, "run", crew, "--engine", engine, "--approvals", "deny", "--json")
        runs.append(json.loads(out.splitlines()[0])["session_id"])
    print("  evaluating market-entry ...", flush=True)
    _cli(home, "eval", "market-entry", "--cases", cases)
    print("  editing market-entry, running and evaluating it again ...", flush=True)
    edited = (SHIPPED_CREWS / "market-entry.yaml").read_text(encoding="utf-8")
    if EDIT[0] not in edited:
        raise SystemExit("screenshots: market-entry's last line changed; update EDIT")
    (home / "crews").mkdir(parents=True, exist_ok=True)
    (home / "crews" / "market-entry.yaml").write_text(edited.replace(*EDIT),
                                                      encoding="utf-8")
    out = _cli(home, "run", "market-entry", "--approvals", "deny", "--json")
    after = json.loads(out.splitlines()[0])["session_id"]
    _cli(home, "eval", "market-entry", "--cases", cases)
    print("  running translation-desk (a marketplace star) ...", flush=True)
    out = _cli(home, "run", "translation-desk", "--approvals", "deny", "--json")
    market = json.loads(out.splitlines()[0])["session_id"]
    return runs[0], after, market


async def _wait(pilot, condition: Callable[[], bool], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def _settle(pilot) -> None:
    app = pilot.app
    for _ in range(40):
        await pilot.pause()
        busy = [w for w in app.workers if w.group != "live-run" and w.is_running]
        if not busy:
            break
        await pilot.pause(0.05)
    await pilot.pause(0.2)


async def _shoot(home: Path, out: Path, size: tuple[int, int],
                 compared: tuple[str, str], market: str) -> list[Path]:
    from textual.widgets import DataTable, Input

    from workbench.config import Settings
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.screens.modals import ConfirmModal

    saved: list[Path] = []
    app = WorkbenchApp(Settings(home=home), cursor_blink=False)

    def save(name: str) -> None:
        path = out / f"{name}.svg"
        app.save_screenshot(filename=path.name, path=str(out))
        saved.append(path)
        print(f"  saved {path}", flush=True)

    async with app.run_test(size=size) as pilot:
        await _settle(pilot)
        await _wait(pilot, lambda: bool(getattr(app.screen, "_rows", None)), "the sessions")
        await _settle(pilot)
        save("sessions")

        await pilot.press("2")
        await _settle(pilot)
        compose = app.screen
        crews = [c.name for c in compose._crews]
        compose.query_one("#compose-crews").highlighted = crews.index("support-triage") + 1
        compose.query_one("#compose-crews").focus()
        await pilot.press("enter")
        await _wait(pilot, lambda: compose.query_one("#crew-name", Input).value
                    == "support-triage", "the crew to open")
        compose.query_one("#crew-task", Input).value = TASK
        await _settle(pilot)
        save("compose")

        await pilot.press("ctrl+r")
        await _wait(pilot, lambda: app.pending >= 1, "the approval request")
        await _settle(pilot)
        save("run-waiting-for-approval")

        await pilot.press("4")
        await _settle(pilot)
        save("approvals")

        await pilot.press("a")  # send_email is tagged external: it asks once more
        await _settle(pilot)
        await pilot.press("y")
        await _settle(pilot)
        await pilot.press("3")
        run = app.screen
        await _wait(pilot, lambda: run.model is not None and run.model.status == "completed",
                    "the run to complete")
        await _settle(pilot)
        save("run-completed")

        await pilot.press("5")
        await _settle(pilot)
        save("models")
        await pilot.press("c")
        await _settle(pilot)
        save("models-catalog")

        await pilot.press("6")
        await _settle(pilot)
        for _ in range(5):
            await pilot.press("down")
        await _settle(pilot)
        save("policies")

        await pilot.press("1")
        await _settle(pilot)
        await pilot.press("r")
        await _settle(pilot)
        save("sessions-after-run")

        sessions = app.screen
        for sid in compared:  # A: market-entry as shipped, B: after the edit
            sessions.query_one(DataTable).move_cursor(row=sessions._ids.index(sid))
            await pilot.press("space")
        await pilot.press("c")
        await _wait(pilot, lambda: bool(getattr(app.screen, "_starts", None)),
                    "the comparison")
        await _settle(pilot)
        save("compare")
        await pilot.press("escape")
        await _settle(pilot)

        await pilot.press("7")
        evals = app.screen
        await _wait(pilot, lambda: getattr(evals, "detail", None) is not None, "the evals")
        # the newest run's cases, its first case's checks, and the second check's outcome
        await pilot.press("enter", "enter", "down")
        await _settle(pilot)
        save("evals")
        evals.query_one("#evals-runs").focus()
        await pilot.press("c")  # against the run before it: regressions first
        await _settle(pilot)
        save("evals-compare")

        # the marketplace: a replay with the first award selected (its bids on the topology,
        # the bid table in the detail pane)
        app.open_replay(market)
        await _wait(pilot, lambda: getattr(app.screen, "model", None) is not None
                    and app.screen.model.status == "completed", "the marketplace replay")
        await _settle(pilot)
        model = app.screen.model
        award = next(e.index for e in model.entries if e.kind == "task.awarded")
        for _ in range(len(model.visible) - 1 - model.visible.index(award)):
            await pilot.press("up")
        await _settle(pilot)
        save("run-marketplace")
        await app.action_quit()
        await _settle(pilot)
        if isinstance(app.screen, ConfirmModal):  # Compose's edit was run, never saved
            await pilot.press("y")
            await _settle(pilot)
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbench.tui.screenshots",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT,
                        help="folder for the SVG files (default: screenshots)")
    parser.add_argument("--size", default="120x40", help="terminal size (default: 120x40)")
    args = parser.parse_args(argv)
    try:
        cols, rows = (int(n) for n in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size must look like 120x40, not {args.size!r}")
    args.out.mkdir(parents=True, exist_ok=True)
    previous = keyring.get_keyring()
    demo = InMemoryKeyring()
    demo.set_password("workbench", "openai", "placeholder-not-a-key")
    keyring.set_keyring(demo)
    try:
        with tempfile.TemporaryDirectory(prefix="workbench-shots-") as tmp:
            home = Path(tmp) / "home"
            print("Recording sessions in a temporary home", flush=True)
            before, after, market = _headless_runs(home)
            print(f"Taking screenshots at {cols}x{rows}", flush=True)
            asyncio.run(_shoot(home, args.out.resolve(), (cols, rows), (before, after),
                               market))
    finally:
        keyring.set_keyring(previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
