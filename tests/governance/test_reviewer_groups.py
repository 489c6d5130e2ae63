"""Reviewer groups: a rule's `reviewers: [group]` lets only that group's members approve.

Groups are defined in central.yaml; a misnamed group is a file:line error; an approval by
someone outside the groups is refused (exit 2) from the CLI and the TUI's services, on SQLite
and on PostgreSQL, and the run goes on once a member approves.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pg import Backend, wait_for
from workbench.cli import main
from workbench.errors import UserInputError
from workbench.governance.policy import PolicyError, load_policies

ROOT = Path(__file__).resolve().parents[2]
RULE = "external-email-needs-approval"


def _policies(tmp_path: Path, groups: str, reviewers: str = "[support-leads]",
              rule: str = RULE) -> Path:
    folder = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", folder)
    central = folder / "central.yaml"
    text = central.read_text()
    marker = f"  - id: {rule}\n"
    assert marker in text
    text = text.replace(marker, f"{marker}    reviewers: {reviewers}\n")
    central.write_text(text.replace("rules:\n", f"{groups}rules:\n", 1))
    return folder


GROUPS = "groups:\n  support-leads: [rita, ravi]\n  finance-leads: [fay]\n"


def test_groups_and_reviewers_load(tmp_path: Path) -> None:
    policy = load_policies(_policies(tmp_path, GROUPS))
    assert policy.groups == {"support-leads": ("rita", "ravi"), "finance-leads": ("fay",)}
    assert policy.approvers([RULE]) == {"groups": ["support-leads"], "names": ["ravi", "rita"]}
    assert policy.approvers(["custom-tools-need-approval"]) is None  # anyone
    # two rules naming groups: a reviewer must be in a group of each (none here)
    both = _policies(tmp_path / "b", GROUPS, rule="custom-tools-need-approval",
                     reviewers="[finance-leads]")
    text = (both / "central.yaml").read_text().replace(
        f"  - id: {RULE}\n", f"  - id: {RULE}\n    reviewers: [support-leads]\n")
    (both / "central.yaml").write_text(text)
    assert load_policies(both).approvers([RULE, "custom-tools-need-approval"]) == \
        {"groups": ["support-leads", "finance-leads"], "names": []}


def _line(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


@pytest.mark.parametrize("groups, reviewers, needle, problem", [
    (GROUPS, "[support-leeds]", "reviewers:", "reviewers: unknown group 'support-leeds' "
     "(groups in central.yaml: finance-leads, support-leads)"),
    ("", "[support-leads]", "reviewers:", "unknown group 'support-leads' (groups in "
     "central.yaml: none defined)"),
    (GROUPS, "support-leads", "reviewers:", "`reviewers` must be a list of group names"),
    ("groups:\n  support-leads: rita\n", "[support-leads]", "support-leads: rita",
     "group 'support-leads' must list its reviewers' names"),
    ("groups: [rita]\n", "[support-leads]", "groups:", "`groups` maps a group's name"),
], ids=["misspelt", "undefined", "not-a-list", "members-not-a-list", "groups-not-a-map"])
def test_bad_groups_are_file_line_errors(tmp_path: Path, groups: str, reviewers: str,
                                         needle: str, problem: str) -> None:
    folder = _policies(tmp_path, groups, reviewers)
    central = folder / "central.yaml"
    with pytest.raises(PolicyError) as caught:
        load_policies(folder)
    assert f"{central}:{_line(central, needle)}:" in str(caught.value)
    assert problem in str(caught.value)


def test_reviewers_only_on_require_approval_and_groups_only_central(tmp_path: Path,
                                                                     capsys) -> None:
    folder = _policies(tmp_path, GROUPS, rule="web-only-from-allowlist")
    central = folder / "central.yaml"
    with pytest.raises(PolicyError, match="only a require_approval rule has them, not a deny"):
        load_policies(folder)
    domain = tmp_path / "d" / "policies"
    shutil.copytree(ROOT / "policies", domain)
    legal = domain / "domains" / "legal.yaml"
    legal.write_text("groups: {x: [y]}\n" + legal.read_text())
    assert main(["--policies", str(domain), "policies", "check"]) == 2
    err = capsys.readouterr().err
    assert f"{legal}:1: unknown key 'groups' (only central.yaml sets it)" in err
    assert central.exists()


def test_only_a_member_may_approve_from_the_cli_and_the_tui(tmp_path: Path, capsys,
                                                             backend: Backend) -> None:
    from workbench.config import Settings
    from workbench.tui.services import Services

    home = tmp_path / "home"
    policies = _policies(tmp_path, GROUPS)
    env = {"WORKBENCH_HOME": str(home), "WORKBENCH_DB": backend.url,
           "WORKBENCH_POLICIES": str(policies)}
    run = subprocess.Popen([sys.executable, "-m", "workbench.cli", "run", "support-triage",
                            "--approvals", "wait", "--json"], cwd=ROOT,
                           env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        approval = wait_for(lambda: run.poll() is None and backend.scalar(
            "select id from approval where status = 'pending'"), timeout=120)
        cli = ["--home", str(home), "--db", backend.url, "approvals"]
        capsys.readouterr()
        assert main([*cli, "approve", approval, "--reviewer", "sam"]) == 2
        err = capsys.readouterr().err
        assert f"sam may not approve {approval}: its rules ({RULE}) let only support-leads " \
               "approve (ravi, rita)" in err
        assert "Traceback" not in err
        # the TUI's decide path: the reviewer named in the queue
        services = Services(Settings(home=home, db_url=backend.url), reviewer="fay")
        with pytest.raises(UserInputError, match="fay may not approve"):
            services.decide(approval, "approved")
        assert backend.scalar("select status from approval") == "pending"
        assert main([*cli, "approve", approval, "--reviewer", "rita"]) == 0
        out, err = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 0, err
    assert "only support-leads may approve (ravi, rita)" in err  # the run says who may
    decided = next(json.loads(line) for line in out.splitlines()
                   if json.loads(line)["kind"] == "approval.decided")
    assert decided["data"]["reviewer"] == "rita" and decided["data"]["decision"] == "approved"
    assert main(["--home", str(home), "--db", backend.url, "audit", "verify"]) == 0
