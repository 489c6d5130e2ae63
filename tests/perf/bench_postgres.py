"""Team mode on PostgreSQL: event ingest from 4 concurrent runs, and decision-to-resume latency.

Starts its own throw-away PostgreSQL cluster (tests/pg.py) with the server's default
durability (fsync and synchronous commit on, as a team's server runs). Each run is its own
process publishing through the bus and the batched writer, as a run on a team member's
machine does. The approval latency is from a reviewer's decision (its decided_at) to the
waiting run's resumption, in another process: pushed by LISTEN/NOTIFY on PostgreSQL, polled
on SQLite (for comparison, on a file).

`python -m tests.perf bench_postgres` prints the figures; skipped without PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TARGET_EVENTS_PER_S = 20_000
TARGET_P95_S = {"postgres": 0.100, "sqlite": 1.0}
RUNS = 4


# -- workers (each in its own process) ---------------------------------------------------


def _ingest(url: str, session_id: str, n: int, go: str) -> None:
    from workbench.mesh.bus import EventBus
    from workbench.mesh.events import Event
    from workbench.store.db import Store
    from workbench.store.writer import EventWriter

    store = Store(url)
    store.create_session(id=session_id, crew_name="bench", engine="autogen",
                         topology="network")
    writer = EventWriter(store)
    bus = EventBus(session_id)
    bus.subscribe(writer.put)
    Path(go).with_name(f"ready-{session_id}").touch()
    while not Path(go).exists():
        time.sleep(0.002)
    cpu = time.process_time()
    for i in range(n):
        bus.publish(Event("message", "analyst", "lead", "The market is about 25M EUR a year.",
                          {"turn": i}))
    writer.close(timeout=600)
    assert writer.error is None, writer.error
    print(json.dumps({"done": time.time(), "cpu": time.process_time() - cpu}), flush=True)


def _waiter(url: str, session_id: str, count: int) -> None:
    """A run that asks for `count` approvals in turn, printing when each decision reached it."""
    from workbench.governance.approvals import DatabaseApprovals, create
    from workbench.governance.gate import Decision
    from workbench.store.db import Store

    store = Store(url)
    store.create_session(id=session_id, crew_name="bench", engine="autogen",
                         topology="network")
    approvals = DatabaseApprovals(store, timeout_s=120)

    async def ask() -> None:
        for _ in range(count):
            a = create(store, session_id, "liaison", "send_email", {"to": "x@acme.example.com"},
                       Decision("require_approval", "tool_call", ["bench"], ["bench"]), [], 120)
            decided = await approvals.wait(a)
            print(json.dumps({"id": decided.id, "resumed": time.time()}), flush=True)

    asyncio.run(ask())


# -- the measurements --------------------------------------------------------------------


def _python(*argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.perf.bench_postgres", *argv],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _server_cpu(data_dir: Path | None) -> float:
    """CPU seconds used so far by a PostgreSQL server's processes (Linux /proc; else 0)."""
    if data_dir is None:
        return 0.0
    try:
        postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid = int(stat.parent.name)
            if pid == postmaster or int(fields[1]) == postmaster:
                total += (int(fields[11]) + int(fields[12])) / tick
            if pid == postmaster:  # and its children that ended (a closed connection's)
                total += (int(fields[13]) + int(fields[14])) / tick
        return total
    except (OSError, ValueError):
        return 0.0


def ingest(url: str, n_per_run: int, data_dir: Path | None = None) -> dict[str, Any]:
    """RUNS processes publish `n_per_run` events each at the same moment."""
    from workbench.store.db import Store

    store = Store(url)
    with tempfile.TemporaryDirectory() as tmp:
        go = Path(tmp) / "go"
        procs = [_python("ingest", url, f"bench-{os.getpid()}-{i}", str(n_per_run), str(go))
                 for i in range(RUNS)]
        deadline = time.monotonic() + 120
        while len(list(Path(tmp).glob("ready-*"))) < RUNS and time.monotonic() < deadline:
            time.sleep(0.01)
        server_cpu = _server_cpu(data_dir)
        started = time.time()
        go.touch()
        ends, cpu = [], 0.0
        for p in procs:
            out, err = p.communicate(timeout=900)
            if p.returncode:
                raise RuntimeError(f"an ingesting run failed: {err[-2000:]}")
            last = json.loads(out.splitlines()[-1])
            ends.append(last["done"])
            cpu += last["cpu"]
    elapsed = max(ends) - started
    server_cpu = _server_cpu(data_dir) - server_cpu
    with store.engine.connect() as conn:
        from sqlalchemy import text

        stored = conn.execute(text("SELECT count(*) FROM event WHERE session_id LIKE "
                                   "'bench-%'")).scalar_one()
    store.close()
    # the CPU the runs and the server spent on it: on a shared machine, what the code costs
    cpu_total = cpu + server_cpu
    return {"events": stored, "seconds": round(elapsed, 3),
            "events_per_s": round(stored / elapsed), "runs_cpu_s": round(cpu, 2),
            "server_cpu_s": round(server_cpu, 2),
            "events_per_cpu_s": round(stored / cpu_total) if cpu_total else None,
            "load_average": round(os.getloadavg()[0], 1),
            "all_stored": stored == RUNS * n_per_run}


def latency(url: str, count: int) -> dict[str, Any]:
    """A run asks `count` times; this process decides each as soon as it sees it."""
    from sqlalchemy import text

    from workbench.governance.approvals import decide
    from workbench.store import notify
    from workbench.store.db import Store

    store = Store(url)
    waiter = _python("waiter", url, f"wait-{os.getpid()}-{time.time_ns()}", str(count))
    decided: set[str] = set()
    deadline = time.monotonic() + 300
    with store.listen(notify.APPROVALS, poll_s=0.02) as listener:
        while len(decided) < count and time.monotonic() < deadline:
            if waiter.poll() is not None:
                break
            with store.engine.connect() as conn:
                pending = [r[0] for r in conn.execute(text(
                    "SELECT id FROM approval WHERE status = 'pending'"))]
            for approval_id in pending:
                if approval_id not in decided:
                    time.sleep(0.05)  # the run is waiting by now, not still setting up
                    decide(store, approval_id, "approved", "bench")
                    decided.add(approval_id)
            listener.wait(1.0)
    out, err = waiter.communicate(timeout=120)
    if waiter.returncode:
        raise RuntimeError(f"the waiting run failed: {err[-2000:]}")
    resumed = {r["id"]: r["resumed"] for r in map(json.loads, out.splitlines())}
    with store.engine.connect() as conn:
        at = dict(conn.execute(text("SELECT id, decided_at FROM approval")).all())
    store.close()
    waits = sorted(resumed[i] - at[i] for i in resumed)
    p95 = waits[min(len(waits) - 1, round(0.95 * (len(waits) - 1)))]
    return {"decisions": len(waits), "median_ms": round(statistics.median(waits) * 1000, 1),
            "p95_ms": round(p95 * 1000, 1), "max_ms": round(waits[-1] * 1000, 1)}


def measure(n_per_run: int = 50_000, decisions: int = 40) -> dict[str, Any]:
    from tests.pg import PgCluster, pg_bin

    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        lat = latency(sqlite_url, decisions // 2)
        figures["sqlite_decision_to_resume"] = lat
        figures["sqlite_p95_meets_target"] = lat["p95_ms"] / 1000 < TARGET_P95_S["sqlite"]
    bin_dir = pg_bin()
    if bin_dir is None:
        figures["postgres"] = "skipped: PostgreSQL is not installed"
        return figures
    cluster = PgCluster(bin_dir, durable=True).start()
    try:
        cluster.admin("CREATE DATABASE bench")
        url = cluster.url("bench")
        got = ingest(url, n_per_run, cluster.data)
        figures["postgres_ingest_4_runs"] = got
        figures["target_events_per_s"] = TARGET_EVENTS_PER_S
        figures["postgres_ingest_meets_target"] = got["events_per_s"] >= TARGET_EVENTS_PER_S \
            and got["all_stored"]
        lat = latency(url, decisions)
        figures["postgres_decision_to_resume"] = lat
        figures["postgres_p95_meets_target"] = lat["p95_ms"] / 1000 < TARGET_P95_S["postgres"]
    finally:
        cluster.stop()
    return figures


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "ingest":
        _ingest(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    elif len(sys.argv) > 1 and sys.argv[1] == "waiter":
        _waiter(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        print(json.dumps(measure(), indent=2))
