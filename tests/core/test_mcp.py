"""MCP tool servers: real servers from PyPI (mcp-server-time, mcp-server-git) over stdio and a
real streamable-HTTP server on 127.0.0.1, offered on both engines through the gate, and never
left running after a run, whatever way it ends."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.governance.test_policies import write_policies
from workbench.cli import main
from workbench.config import Settings
from workbench.mesh.session import Session, prepare
from workbench.store.db import Store

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TIME = str(BIN / "mcp-server-time")
GIT = str(BIN / "mcp-server-git")
ALLOW_ALL = "version: 1\ndefault: allow\nrules: []\n"


# -- helpers -----------------------------------------------------------------------------------


def _processes_of(folder: Path) -> list[tuple[int, str]]:
    """Live processes started in `folder` or naming it (every test server runs there)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:  # gone, a zombie, or not ours to read
            continue
        if str(folder) in cmd or cwd.startswith(str(folder)):
            found.append((int(entry.name), cmd.strip()))
    return found


@pytest.fixture(autouse=True)
def no_orphans(tmp_path: Path):
    """After each test, no server process it started is still running."""
    yield
    deadline = time.monotonic() + 5.0
    left = _processes_of(tmp_path)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = _processes_of(tmp_path)
    for pid, _ in left:  # do not leave them to the next test either
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left running after the test: {left}"


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.email=qa@example.com", "-c", "user.name=QA"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "first commit"], check=True)
    return repo


def _servers(tmp_path: Path, time_server: str | None = None, git: bool = True) -> str:
    lines = ["mcp_servers:",
             time_server or f"  time: {{command: {TIME}, args: [--local-timezone, UTC], "
                            f"cwd: {tmp_path}}}"]
    if git:
        lines.append(f"  git: {{command: {GIT}, args: [--repository, {tmp_path / 'repo'}], "
                     f"cwd: {tmp_path}}}")
    return "\n".join(lines) + "\n"


def _crew(tmp_path: Path, tools: str, script: str, servers: str, extra: str = "") -> Path:
    crew = tmp_path / "crew.yaml"
    crew.write_text(f"""\
name: mcp-crew
model: scripted/demo
topology: {{kind: network, max_turns: 4}}
{servers}agents:
  - {{name: clerk, role: Clerk, goal: Tell the time and the history, tools: {tools}}}
  - {{name: reader, role: Reader, goal: Read the report}}
script:
{script}  - {{agent: clerk, say: "Done. TERMINATE"}}
{extra}""")
    return crew


def _events(home: Path) -> list[dict]:
    store = Store(f"sqlite:///{home / 'workbench.db'}")
    try:
        return list(store.iter_events(store.list_sessions()[0]["id"]))
    finally:
        store.close()


def _run(home: Path, crew: Path, policies: Path, *extra: str) -> tuple[int, list[dict]]:
    code = main(["--home", str(home), "--policies", str(policies), "run", str(crew),
                 "--approvals", "deny", *extra])
    return code, _events(home)


def _results(events: list[dict]) -> list[dict]:
    return [e for e in events if e["kind"] == "tool.result"]


TWO_CALLS = """\
  - {agent: clerk, call: get_current_time, args: {timezone: UTC}}
  - {agent: clerk, call: git_log, args: {repo_path: REPO, max_count: 1}}
"""


# -- the real servers on both engines ----------------------------------------------------------


@pytest.mark.parametrize("engine", ["autogen", "crewai"])
def test_a_crew_uses_two_real_servers_on_both_engines(tmp_path: Path, home: Path,
                                                      engine: str) -> None:
    repo = _repo(tmp_path)
    crew = _crew(tmp_path, '["mcp:time", "mcp:git/git_log"]',
                 TWO_CALLS.replace("REPO", str(repo)), _servers(tmp_path))
    code, events = _run(home, crew, write_policies(tmp_path / "p", ALLOW_ALL),
                        "--engine", engine)
    assert code == 0
    results = _results(events)
    assert [(r["data"]["tool"], r["data"]["ok"]) for r in results] == \
        [("get_current_time", True), ("git_log", True)]
    assert json.loads(results[0]["content"])["timezone"] == "UTC"
    assert "first commit" in results[1]["content"]
    assert events[-1]["kind"] == "run.completed"
    logs = sorted(p.name for p in (home / "sessions").glob("*/mcp-*.log"))
    assert logs == ["mcp-git.log", "mcp-time.log"]  # the servers' stderr, kept with the run


async def test_agents_are_offered_a_whole_server_or_one_tool_tagged_for_policies(
        tmp_path: Path) -> None:
    from tests.support import make_context
    from workbench.spec.loader import parse_crew
    from workbench.tools.mcp import McpServers, crew_servers

    spec = parse_crew(f"""\
name: offered
mcp_servers:
  time: {{command: {TIME}, cwd: {tmp_path}, tags: [clock]}}
agents:
  - {{name: a, role: A, goal: G, tools: ["mcp:time", calculator]}}
  - {{name: b, role: B, goal: G, tools: ["mcp:time/convert_time"]}}
tool_tags: {{"mcp:time/convert_time": [trusted]}}
""", "offered.yaml")
    ctx, _ = make_context(spec, tmp_path)
    group = McpServers(crew_servers(spec), tmp_path)
    try:
        await group.start()
        group.register(ctx.tools, spec.tool_tags)
        assert [t.name for t in ctx.agent_tools("a")] == \
            ["get_current_time", "convert_time", "calculator"]
        convert, = ctx.agent_tools("b")
        assert convert.name == "convert_time" and convert.server == "time"
        assert convert.tags == {"mcp", "time", "clock", "trusted"}
        assert ctx.tools.get("mcp:time/convert_time") is convert
        assert "timezone" in convert.parameters["properties"]["source_timezone"]["description"]
        outcome = await ctx.call_tool("b", "convert_time", {
            "source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"})
        assert outcome.ok and "21:00" in outcome.output
        # what a policy sees of the tool
        seen = ctx.activation("b", tool={"name": convert.name, "tags": sorted(convert.tags),
                                         "server": convert.server})["tool"]
        assert seen["server"] == "time"
    finally:
        await group.stop()
    failed = await ctx.call_tool("b", "convert_time", {
        "source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"})
    assert not failed.ok and "MCP server 'time' is not running" in failed.output


# -- governance --------------------------------------------------------------------------------


def test_policies_deny_by_server_and_hold_an_mcp_tool_for_approval(tmp_path: Path, home: Path,
                                                                   capsys) -> None:
    repo = _repo(tmp_path)
    policies = write_policies(tmp_path / "p", """\
version: 1
default: allow
rules:
  - {id: no-git-tools, on: tool_call, when: 'tool.server == "git"', effect: deny,
     reason: the repository is read by people}
  - {id: clock-needs-review, on: tool_call, when: '"mcp" in tool.tags && tool.server == "time"',
     effect: require_approval, reason: a reviewer checks what the clock is asked}
""")
    assert main(["policies", "check", str(policies)]) == 0  # tool.server is a policy name
    crew = _crew(tmp_path, '["mcp:time", "mcp:git"]', TWO_CALLS.replace("REPO", str(repo)),
                 _servers(tmp_path))
    code, events = _run(home, crew, policies)
    assert code == 0
    decisions = {e["data"]["rule_ids"][0]: e for e in events
                 if e["kind"] == "policy.decision" and e["data"]["action"] == "tool_call"}
    assert decisions["no-git-tools"]["data"]["effect"] == "deny"
    assert decisions["clock-needs-review"]["data"]["effect"] == "require_approval"
    time_result, git_result = _results(events)
    assert not time_result["data"]["ok"]
    assert "approvals are set to deny" in time_result["content"]
    assert not git_result["data"]["ok"]
    assert git_result["content"] == "denied by policy: the repository is read by people"
    assert main(["--home", str(home), "audit", "verify"]) == 0


def _wait_pending(home: Path, proc: subprocess.Popen, timeout: float = 90) -> str:
    import sqlite3

    db = home / "workbench.db"
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if db.exists():
            try:
                row = sqlite3.connect(db).execute(
                    "select id from approval where status='pending'").fetchone()
            except sqlite3.OperationalError:
                row = None
            if row:
                return row[0]
        time.sleep(0.1)
    raise AssertionError(f"no approval was requested: {proc.communicate()[1]}")


def test_a_reviewer_in_another_process_approves_an_mcp_tool(tmp_path: Path) -> None:
    home = tmp_path / "home"
    policies = write_policies(tmp_path / "p", """\
version: 1
default: allow
rules:
  - {id: clock-needs-review, on: tool_call, when: 'tool.server == "time"',
     effect: require_approval, reason: a reviewer checks the clock}
""")
    crew = _crew(tmp_path, '["mcp:time"]',
                 "  - {agent: clerk, call: get_current_time, args: {timezone: UTC}}\n",
                 _servers(tmp_path, git=False))
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "--policies", str(policies), "run", str(crew),
         "--approvals", "wait", "--json"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, cwd=ROOT)
    try:
        approval = _wait_pending(home, proc)
        assert main(["--home", str(home), "approvals", "approve", approval,
                     "--reviewer", "rita"]) == 0
        out, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    requested = next(e for e in events if e["kind"] == "approval.requested")
    assert requested["data"]["tool"] == "get_current_time"
    assert {"mcp", "time"} <= set(requested["data"]["tags"])
    decided = next(e for e in events if e["kind"] == "approval.decided")
    assert decided["data"]["reviewer"] == "rita"
    result, = _results(events)
    assert result["data"]["ok"] and json.loads(result["content"])["timezone"] == "UTC"


# -- servers that fail ---------------------------------------------------------------------------

PIDFILE: list[Path] = []


def kill_time_server() -> str:
    """Kills the time server (its pid is in the file the test names) and waits until it is gone."""
    pid = int(PIDFILE[0].read_text())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            break
        if state == "Z":
            break
        time.sleep(0.02)
    return f"killed {pid}"


def test_a_server_that_dies_mid_run_fails_its_calls_naming_it(tmp_path: Path,
                                                              home: Path) -> None:
    pidfile = tmp_path / "time.pid"
    PIDFILE[:] = [pidfile]
    # the real server, started by a shell that leaves its pid behind for the test
    server = (f"  time: {{command: sh, args: [-c, 'echo $$ > {pidfile}; exec {TIME}'], "
              f"cwd: {tmp_path}}}")
    crew = _crew(tmp_path, '["mcp:time", "tests.core.test_mcp:kill_time_server"]', """\
  - {agent: clerk, call: get_current_time, args: {timezone: UTC}}
  - {agent: clerk, call: kill_time_server}
  - {agent: clerk, call: get_current_time, args: {timezone: UTC}}
""", _servers(tmp_path, server, git=False))
    code, events = _run(home, crew, write_policies(tmp_path / "p", ALLOW_ALL))
    assert code == 0  # the agent is told; the run goes on
    first, kill, again = _results(events)
    assert first["data"]["ok"] and kill["data"]["ok"]
    assert not again["data"]["ok"]
    assert again["content"].startswith("MCP server 'time' ")
    assert "process ended" in again["content"]


def test_a_server_that_cannot_start_fails_the_run_naming_it(tmp_path: Path, home: Path,
                                                            capsys) -> None:
    broken = (f"  broken: {{command: sh, args: [-c, 'echo loading config >&2; "
              f"echo no such table: tz >&2; exit 3'], cwd: {tmp_path}}}")
    crew = _crew(tmp_path, '["mcp:broken"]', "", _servers(tmp_path, broken, git=False))
    code, events = _run(home, crew, write_policies(tmp_path / "p", ALLOW_ALL))
    assert code == 1
    err = capsys.readouterr().err
    assert "run failed: MCP server 'broken'" in err and "could not start" in err
    assert "its stderr ends: loading config | no such table: tz" in err
    assert "Traceback" not in err
    assert events[-1]["kind"] == "run.failed"


def test_a_server_command_that_is_not_installed_is_bad_input(tmp_path: Path, home: Path,
                                                             capsys) -> None:
    missing = "  ghost: {command: mcp-server-that-is-not-installed}"
    crew = _crew(tmp_path, '["mcp:ghost"]', "", _servers(tmp_path, missing, git=False))
    assert main(["--home", str(home), "crews", "validate", str(crew)]) == 0  # portable
    capsys.readouterr()
    assert main(["--home", str(home), "run", str(crew)]) == 2
    err = capsys.readouterr().err
    assert "crew.yaml:5: MCP server 'ghost': command 'mcp-server-that-is-not-installed' " \
        "is not found" in err


STARTED = threading.Event()
RELEASE = threading.Event()


def hold() -> str:
    """Blocks until the test releases it (or gives up)."""
    STARTED.set()
    return "released" if RELEASE.wait(60) else "starved"


hold.timeout = 120


def test_cancelling_a_run_stops_its_servers(tmp_path: Path) -> None:
    STARTED.clear()
    RELEASE.clear()
    _repo(tmp_path)
    crew = _crew(tmp_path, '["mcp:time", "mcp:git", "tests.core.test_mcp:hold"]', """\
  - {agent: clerk, call: get_current_time, args: {timezone: UTC}}
  - {agent: clerk, call: hold}
""", _servers(tmp_path))
    settings = Settings(home=tmp_path / "home", policies=write_policies(tmp_path / "p",
                                                                         ALLOW_ALL))
    settings.ensure_home()
    store = Store(settings.database_url)
    session = Session(prepare(crew, task="Work"), settings, store)

    async def run() -> str:
        running = asyncio.ensure_future(session.execute())
        while not STARTED.is_set():
            if running.done():
                return f"ended before the tool ran: {running.result()}"
            await asyncio.sleep(0.05)
        assert _processes_of(tmp_path), "the servers should be running now"
        session.cancel()
        return (await running).status

    try:
        assert asyncio.run(run()) == "cancelled"
    finally:
        RELEASE.set()
        store.close()


# -- streamable HTTP ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_streamable_http_server_is_reached_with_headers_from_the_environment(
        tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "tests.core.mcp_http_server", str(port)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline and server.poll() is None, "no HTTP server"
            time.sleep(0.1)
        monkeypatch.setenv("DOCS_TOKEN", "s3cret-token")
        docs = (f'  docs: {{url: "http://127.0.0.1:{port}/mcp", timeout: 1, '
                'headers: {X-Docs-Token: "${DOCS_TOKEN}"}}')
        crew = _crew(tmp_path, '["mcp:docs"]', """\
  - {agent: clerk, call: wait, args: {seconds: 30}}
  - {agent: clerk, call: lookup, args: {term: mesh}}
""", _servers(tmp_path, docs, git=False))
        code, events = _run(home, crew, write_policies(tmp_path / "p", ALLOW_ALL))
    finally:
        server.kill()
        server.wait()
    assert code == 0
    slow, result = _results(events)
    # the server's time limit gives up on a call; the session goes on serving the next
    assert not slow["data"]["ok"]
    assert slow["content"].startswith("wait timed out after 1 s")
    assert result["data"]["ok"]
    assert result["content"] == "mesh: a word in the glossary (a token of 12 characters)"
    assert "s3cret-token" not in json.dumps(events)


# -- workbench mcp tools -------------------------------------------------------------------------


def test_mcp_tools_lists_what_each_server_offers(tmp_path: Path, home: Path, capsys) -> None:
    _repo(tmp_path)
    broken = (f"  broken: {{command: sh, args: [-c, 'echo cannot open the index >&2; exit 1'], "
              f"cwd: {tmp_path}}}")
    crew = _crew(tmp_path, '["mcp:time"]', "", _servers(tmp_path) + broken + "\n")
    assert main(["--home", str(home), "mcp", "tools", str(crew)]) == 1
    out, err = capsys.readouterr()
    assert f"time  (stdio: {TIME} --local-timezone UTC)" in out
    assert "  get_current_time\n      Get current time in a specific timezone\n" in out
    assert "      - timezone: string (required) - IANA timezone name" in out
    assert "  git_log\n" in out and "      - repo_path: string (required)" in out
    assert "  error: could not start: its process ended; its stderr ends: cannot open the " \
        "index" in out
    assert "MCP server 'broken'" in err and "Traceback" not in err

    assert main(["--home", str(home), "mcp", "tools", str(crew), "--json"]) == 1
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [s["server"] for s in listed] == ["time", "git", "broken"]
    assert [t["name"] for t in listed[0]["tools"]] == ["get_current_time", "convert_time"]


def test_mcp_tools_on_a_crew_without_servers(tmp_path: Path, home: Path, capsys) -> None:
    crew = _crew(tmp_path, "[calculator]", "", "")
    assert main(["--home", str(home), "mcp", "tools", str(crew)]) == 0
    assert "mcp-crew has no MCP servers" in capsys.readouterr().out


# -- crew files ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "problem"), [
    ({'"mcp:time"': '"mcp:clock"'},
     "crew.yaml:7: agent 'clerk' lists 'mcp:clock', but no MCP server 'clock' is defined for "
     "it; its servers are time"),
    ({'"mcp:time"': '"mcp:time/"'}, "crew.yaml:7: MCP tool 'mcp:time/' must be written"),
    ({"  time: {command": '  "the time": {command', '"mcp:time"': '"mcp:the time"'},
     "crew.yaml:5: MCP server name 'the time' must be letters, digits"),
    ({"args: [--local-timezone, UTC]": "url: 'http://127.0.0.1:1/mcp'"},
     "crew.yaml:5: mcp_servers.time: an MCP server needs a command (stdio) or a url"),
    ({"cwd:": "headers: {a: b}, cwd:"}, "crew.yaml:5: mcp_servers.time: headers are for a url"),
])
def test_mcp_servers_in_a_crew_are_checked(tmp_path: Path, capsys, change: dict,
                                           problem: str) -> None:
    crew = _crew(tmp_path, '["mcp:time"]', "", _servers(tmp_path, git=False))
    text = crew.read_text()
    for old, new in change.items():
        text = text.replace(old, new)
    crew.write_text(text)
    assert main(["crews", "validate", str(crew)]) == 2
    err = capsys.readouterr().err
    assert problem in err and "Traceback" not in err


def test_an_agents_own_server_is_for_that_agent(tmp_path: Path, capsys) -> None:
    crew = tmp_path / "crew.yaml"
    crew.write_text(f"""\
name: own
agents:
  - name: a
    role: A
    goal: G
    tools: ["mcp:time"]
    mcp_servers: {{time: {{command: {TIME}}}}}
  - {{name: b, role: B, goal: G, tools: ["mcp:time"]}}
""")
    assert main(["crews", "validate", str(crew)]) == 2
    assert "crew.yaml:8: agent 'b' lists 'mcp:time', but no MCP server 'time' is defined " \
        "for it; define it under mcp_servers" in capsys.readouterr().err


def test_a_script_call_of_an_mcp_tool_the_agent_lacks_is_named_at_the_run(
        tmp_path: Path, home: Path, capsys) -> None:
    crew = _crew(tmp_path, '["mcp:time/convert_time"]',
                 "  - {agent: clerk, call: get_current_time, args: {timezone: UTC}}\n",
                 _servers(tmp_path, git=False))
    code, _ = _run(home, crew, write_policies(tmp_path / "p", ALLOW_ALL))
    assert code == 1
    err = capsys.readouterr().err
    assert "crew.yaml:10: script calls 'get_current_time', which agent 'clerk' does not " \
        "have; its tools are convert_time" in err


def test_the_mcp_sdk_is_imported_only_when_a_server_starts(tmp_path: Path) -> None:
    crew = _crew(tmp_path, '["mcp:time"]', "", _servers(tmp_path, git=False))
    code = (
        "import sys, contextlib, io\n"
        "from workbench.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try: main(['--help'])\n"
        "    except SystemExit: pass\n"
        f"    assert main(['crews', 'validate', {str(crew)!r}]) == 0\n"
        "print(','.join(m for m in ('mcp', 'anyio', 'httpx') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == ""


def test_the_example_crew_validates(capsys) -> None:
    assert main(["crews", "validate", str(ROOT / "docs" / "examples" / "mcp-tools.yaml")]) == 0
