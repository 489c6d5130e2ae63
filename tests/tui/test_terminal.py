"""The app in a real terminal (tmux), and what it imports before its first frame."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("sqlalchemy", "sqlmodel", "litellm", "crewai", "autogen_agentchat", "autogen_core",
         "keyring", "pydantic")


def _tmux(socket: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True,
                          timeout=30)


def test_the_app_opens_in_a_terminal_and_quits_cleanly(tmp_path: Path) -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (apt-get install -y tmux); the terminal test needs it")
    socket = f"workbench-test-{os.getpid()}"
    done = tmp_path / "exit-code"
    command = (f"WORKBENCH_HOME={tmp_path / 'home'} {sys.executable} -m workbench.cli; "
               f"echo $? > {done}")
    started = _tmux(socket, "new-session", "-d", "-s", "wb", "-x", "100", "-y", "30", "-c",
                    str(ROOT), command)
    assert started.returncode == 0, started.stderr
    try:
        screen = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            screen = _tmux(socket, "capture-pane", "-p", "-t", "wb").stdout
            if "Sessions" in screen and "pending" in screen and "No sessions yet" in screen:
                break
            time.sleep(0.2)
        assert "1 Sessions" in screen and "4 Approvals" in screen, screen
        assert "No sessions yet" in screen, screen
        _tmux(socket, "send-keys", "-t", "wb", "C-q")
        deadline = time.monotonic() + 20
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert done.exists(), "the app did not exit after ctrl+q"
        assert done.read_text().strip() == "0"
    finally:
        _tmux(socket, "kill-server")


def test_nothing_heavy_is_imported_before_the_first_frame(tmp_path: Path) -> None:
    """sqlalchemy, pydantic and the frameworks load in workers after the first frame."""
    out = tmp_path / "modules.json"
    code = (
        "import json, sys\n"
        "import workbench.tui.app as app_module\n"
        "def first_frame(self):\n"
        f"    json.dump(sorted(sys.modules), open({str(out)!r}, 'w'))\n"
        "    self.exit(0)\n"
        "app_module.WorkbenchApp._first_frame = first_frame\n"
        "from workbench.cli import main\n"
        f"main(['--home', {str(tmp_path / 'home')!r}])\n"
    )
    env = {**os.environ, "TERM": "xterm-256color"}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, timeout=60,
                   stdin=subprocess.DEVNULL, capture_output=True, check=False)
    loaded = set(json.loads(out.read_text()))
    assert not [m for m in HEAVY if m in loaded], [m for m in HEAVY if m in loaded]
