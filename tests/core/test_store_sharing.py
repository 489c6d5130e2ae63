"""One database, several processes: a new database is migrated once; a read-only one is read."""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.errors import UserInputError
from workbench.store.db import HEAD_REVISION, Store

ROOT = Path(__file__).resolve().parents[2]


def test_processes_opening_a_new_database_together_migrate_it_once(tmp_path: Path) -> None:
    """All wait for one signal, then open the same new database at the same moment."""
    db, go = tmp_path / "wb.db", tmp_path / "go"
    # alembic imported up front: every process reaches the migration at the same moment
    code = ("import os, sys, time, pathlib\n"
            "import alembic.command, alembic.config, sqlmodel\n"
            "from workbench.store.db import Store\n"
            "go = pathlib.Path(sys.argv[2])\n"
            "(go.parent / f'ready-{os.getpid()}').touch()\n"
            "while not go.exists(): time.sleep(0.005)\n"
            "Store('sqlite:///' + sys.argv[1]).close()\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(db), str(go)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(6)]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < len(procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    go.touch()
    results = [p.communicate(timeout=120) for p in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
    con = sqlite3.connect(db)
    assert con.execute("select version_num from alembic_version").fetchall() == [(HEAD_REVISION,)]


def test_three_runs_started_together_on_a_new_home_all_complete(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    procs = [subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "run", "support-triage", "--approvals", "deny"],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True) for _ in range(3)]
    errors = [p.communicate(timeout=180)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    con = sqlite3.connect(home / "workbench.db")
    assert con.execute("select status, count(*) from session group by status").fetchall() == \
        [("completed", 3)]
    assert main(["--home", str(home), "audit", "verify"]) == 0


# -- a read-only home ---------------------------------------------------------------------


def _can_mount_read_only(tmp_path: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = tmp_path / "probe"
    probe.mkdir()
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", f"mount --bind {probe} {probe} && "
         f"mount -o remount,ro,bind {probe} {probe} && ! touch {probe}/x 2>/dev/null"],
        capture_output=True)
    return done.returncode == 0


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_read_only_commands_work_on_a_read_only_home(tmp_path: Path, capsys) -> None:
    """The home is mounted read-only (root cannot write there either): reading commands
    work, migrate nothing and leave no file behind."""
    if not _can_mount_read_only(tmp_path):
        pytest.skip("needs `unshare -m` and bind mounts (a mount namespace)")
    home = tmp_path / "home"
    subprocess.run([sys.executable, "-m", "workbench.cli", "--home", str(home), "run",
                    "support-triage", "--approvals", "deny"], cwd=ROOT, check=True,
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=180)
    con = sqlite3.connect(home / "workbench.db")
    session = con.execute("select id from session").fetchone()[0]
    con.close()
    before = _digest(home)
    # closed cleanly: no WAL files, so SQLite has no lock files to share in a read-only folder
    assert not (home / "workbench.db-wal").exists()
    out = tmp_path / "out"
    out.mkdir()
    commands = {"list": "sessions list", "show": f"sessions show {session}",
                "verify": "audit verify", "head": "audit head",
                "approvals": "approvals list --all"}
    script = [f"mount --bind {home} {home}", f"mount -o remount,ro,bind {home} {home}"]
    for name, command in commands.items():
        script.append(f"{shlex.quote(sys.executable)} -m workbench.cli --home {home} {command} "
                      f"> {out / name}.out 2> {out / name}.err; echo $? > {out / name}.rc")
    done = subprocess.run(["unshare", "-m", "sh", "-c", " && ".join(script[:2]) + "; "
                           + "; ".join(script[2:])], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    for name in commands:
        rc = (out / f"{name}.rc").read_text().strip()
        assert rc == "0", f"{name}: {(out / f'{name}.err').read_text()}"
    assert session[:12] in (out / "list.out").read_text()
    assert "support-triage: session" in (out / "show.out").read_text()
    assert "audit trail ok" in (out / "verify.out").read_text()
    assert len((out / "head.out").read_text().strip()) == 64
    assert "rejected" in (out / "approvals.out").read_text()
    assert _digest(home) == before


def test_a_read_only_store_refuses_writes_and_old_revisions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wb.db'}"
    Store(url).close()
    store = Store(url, read_only=True)
    assert store.list_sessions() == []
    with pytest.raises(Exception, match="readonly|read-only|query_only|attempt to write"):
        store.create_session(id="s", crew_name="c", engine="autogen", topology="star")
    store.close()
    con = sqlite3.connect(tmp_path / "wb.db")
    with con:
        con.execute("update alembic_version set version_num = '0002'")
    with pytest.raises(UserInputError, match="open it once with write access"):
        Store(url, read_only=True)
