"""Several processes writing one database at once: one gapless audit chain, and a lapsed
session marked interrupted exactly once by whoever notices first (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.pg import Backend, wait_for
from workbench.store.audit import AuditChain
from workbench.store.db import Store

ROOT = Path(__file__).resolve().parents[2]

_TOGETHER = """
import json, os, pathlib, sys, time
from workbench.store.audit import AuditChain, AuditRecord
from workbench.store.db import Store
url, go, what = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
store = Store(url)
(go.parent / f"ready-{os.getpid()}").touch()
while not go.exists():
    time.sleep(0.002)
if what == "append":
    chain = AuditChain(store)
    for i in range(40):
        chain.append([AuditRecord(f"p{os.getpid()}", "writer", "test.entry", {"i": i, "j": j})
                      for j in range(3)])
    print(json.dumps([]))
else:
    print(json.dumps(store.reap_lapsed_sessions()))
"""


def _together(tmp_path: Path, url: str, what: str, n: int = 4) -> list[list]:
    """`n` processes do `what` at the same moment; what each printed."""
    go = tmp_path / f"go-{what}"
    procs = [subprocess.Popen([sys.executable, "-c", _TOGETHER, url, str(go), what], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(n)]
    wait_for(lambda: len(list(tmp_path.glob("ready-*"))) >= n, timeout=120)
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    return results


def test_concurrent_appenders_make_one_gapless_chain(tmp_path: Path, backend: Backend) -> None:
    _together(tmp_path, backend.url, "append")
    result = AuditChain(Store(backend.url)).verify()
    assert result.ok, result.message
    assert result.entries == 4 * 40 * 3
    assert backend.sql("select min(seq), max(seq), count(*) from audit_entry") == \
        [(1, 480, 480)]
    # each batch of three went in whole and in order: appenders did not interleave in one
    rows = backend.sql("select session_id, payload from audit_entry order by seq")
    for at in range(0, len(rows), 3):
        batch = rows[at:at + 3]
        assert len({sid for sid, _ in batch}) == 1
        assert [json.loads(p)["j"] for _, p in batch] == [0, 1, 2]


def test_a_lapsed_session_is_interrupted_once_by_whoever_notices_first(
        tmp_path: Path, backend: Backend) -> None:
    store = Store(backend.url)
    lapsed = time.time() - 5
    for sid in ("far1", "far2"):
        store.create_session(id=sid, crew_name="c", engine="autogen", topology="star",
                             owner_pid=4242, owner_host="another-host", lease_expires_at=lapsed)
        backend.sql(
            "INSERT INTO approval (id, session_id, agent, tool, args, rule_ids, reason, context,"
            " status, always, created_at, expires_at) VALUES (:id, :sid, 'a', 'send_email',"
            " '{}', '[]', 'r', '[]', 'pending', false, 1.0, 9999999999.0)",
            {"id": f"ap-{sid}", "sid": sid})
    reaped = _together(tmp_path, backend.url, "reap", n=4)
    assert sorted(sid for r in reaped for sid in r) == ["far1", "far2"]
    assert backend.sql("select status from session order by id") == [("interrupted",)] * 2
    assert backend.sql("select status from approval order by id") == [("expired",)] * 2
    kinds = Counter(k for (k,) in backend.sql("select kind from audit_entry"))
    assert kinds == {"session.interrupted": 2, "approval.decided": 2}
    assert AuditChain(store).verify().ok
