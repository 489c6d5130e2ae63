"""Command groups for governance: `policies`, `approvals` and `audit`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from workbench.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    actions,
    print_table,
    settings,
    store_for,
)
from workbench.errors import UserInputError


def register(sub: Any) -> None:
    """Add the `policies`, `approvals` and `audit` command groups."""
    pol = actions(sub.add_parser("policies", help="policy files"))
    check = pol.add_parser("check", help="compile every rule and check every name")
    check.add_argument("dir", metavar="DIR", nargs="?", help="policy folder (default: active)")
    check.set_defaults(handler=cmd_policies_check)
    show = pol.add_parser("show", help="the rules that apply to a domain: the central ones "
                          "(noting which the domain lifts), then its own")
    show.add_argument("domain", metavar="DOMAIN", nargs="?",
                      help="a domain (default: the central rules alone)")
    show.add_argument("--json", action="store_true", help="one JSON object per rule")
    show.set_defaults(handler=cmd_policies_show)

    ap = actions(sub.add_parser("approvals", help="the approvals queue"))
    ls = ap.add_parser("list", help="pending approvals (all with --all)")
    ls.add_argument("--all", action="store_true")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=cmd_approvals_list)
    ok = ap.add_parser("approve", help="approve a pending request")
    ok.add_argument("id", metavar="ID")
    ok.add_argument("--always", action="store_true",
                    help="also approve later calls of this tool by this agent in the session")
    ok.add_argument("--args", help="run with these arguments instead (a JSON object)")
    ok.add_argument("--reviewer", help="reviewer name (default: WORKBENCH_REVIEWER or the OS user)")
    ok.set_defaults(handler=cmd_approvals_approve)
    no = ap.add_parser("reject", help="reject a pending request; the agent is told why")
    no.add_argument("id", metavar="ID")
    no.add_argument("--reason", required=True)
    no.add_argument("--reviewer", help="reviewer name (default: WORKBENCH_REVIEWER or the OS user)")
    no.set_defaults(handler=cmd_approvals_reject)
    say = ap.add_parser("answer", help="answer a question for a person (a human agent's turn, "
                                       "or feedback on an answer: empty accepts it)")
    say.add_argument("id", metavar="ID")
    say.add_argument("text", metavar="TEXT")
    say.add_argument("--reviewer", help="your name (default: WORKBENCH_REVIEWER or the OS user)")
    say.set_defaults(handler=cmd_approvals_answer)

    au = actions(sub.add_parser("audit", help="the tamper-evident audit trail"))
    ver = au.add_parser("verify", help="recompute the hash chain")
    ver.add_argument("--expect-head", metavar="HASH",
                     help="also check the chain ends at this head (catches a cut-off tail)")
    ver.set_defaults(handler=cmd_audit_verify)
    head = au.add_parser("head", help="print the head hash, to keep elsewhere")
    head.set_defaults(handler=cmd_audit_head)


def cmd_policies_check(args: argparse.Namespace) -> int:
    from workbench.governance.policy import load_policies

    config = settings(args)
    folder = Path(args.dir) if args.dir else config.policy_dir()
    policy = load_policies(folder)
    domains = ", ".join(f"{d} ({len(r)})" for d, r in sorted(policy.domains.items())) or "none"
    budgets = ", ".join(f"{k} {v:g}" for k, v in policy.budgets.items()) or "none"
    print(f"{folder}: ok · {len(policy.central)} central rules · domains: {domains} · "
          f"default {policy.default} · budgets: {budgets} · policy set {policy.hash[:16]}")
    # not errors (the set is usable), but nothing that looks like a rule is silently unused
    for note in policy.notes:
        print(f"note: {note}")
    for domain, agents in sorted(_crew_domains(config).items()):
        if policy.unknown_domains([domain]):
            print(f"note: domain {domain!r} has no policy file ({', '.join(agents)}): only "
                  "the central rules apply to it")
    return EXIT_OK


def cmd_policies_show(args: argparse.Namespace) -> int:
    from workbench.governance.activation import domain_key
    from workbench.governance.effective import effective_rules
    from workbench.governance.policy import load_policies

    folder = settings(args).policy_dir()
    policy = load_policies(folder)
    domain = args.domain
    local = None if domain is None else policy.domains.get(domain_key(domain), [])
    rows = effective_rules(policy.central, local)
    if args.json:
        for e in rows:
            r = e.rule
            print(json.dumps({
                "id": r.id, "on": r.on, "effect": r.effect, "when": r.when, "reason": r.reason,
                "source": r.domain or "central", "where": f"{r.file}:{r.line}" if r.line
                else r.file, "overridable": r.overridable, "lifted_by": list(e.lifted_by),
                "note": e.note or None}))
        return EXIT_OK
    what = "central rules" if domain is None else f"effective rules for {domain}"
    print(f"{folder}: {what} · default {policy.default} · policy set {policy.hash[:16]}")
    if domain is not None and policy.unknown_domains([domain]):
        print(f"note: domain {domain!r} has no policy file: only the central rules apply to it")
    if not rows:
        print("no rules")
        return EXIT_OK
    print()
    print_table([[e.rule.effect, e.rule.id, e.rule.domain or "central", e.rule.on,
                  e.note or "-"] for e in rows], ["EFFECT", "ID", "FROM", "ON", "NOTE"])
    return EXIT_OK


def _crew_domains(config: Any) -> dict[str, list[str]]:
    """Each domain the known crews' agents name, with its agents as crew/agent."""
    from workbench.crews import crew_dirs
    from workbench.spec.yamlpos import load_file

    out: dict[str, list[str]] = {}
    seen: set[str] = set()
    for d in crew_dirs(config):
        for path in sorted([*d.glob("*.yaml"), *d.glob("*.yml")]):
            if path.stem in seen:  # an earlier folder's crew of that name overrides it
                continue
            seen.add(path.stem)
            try:  # read, not validated: `crews validate` reports broken crews
                data = load_file(path)
            except UserInputError:
                continue
            agents = data.get("agents") if isinstance(data, dict) else None
            for agent in agents if isinstance(agents, list) else []:
                if isinstance(agent, dict) and isinstance(agent.get("domain"), str):
                    name = f"{data.get('name', path.stem)}/{agent.get('name', '?')}"
                    out.setdefault(agent["domain"], []).append(name)
    return out


def cmd_approvals_list(args: argparse.Namespace) -> int:
    from workbench.governance.approvals import list_approvals
    from workbench.governance.human import list_questions

    store = store_for(args, read_only=True)
    items = list_approvals(store, pending_only=not args.all)
    questions = list_questions(store, pending_only=not args.all)
    if args.json:
        for a in items:
            print(json.dumps(a.__dict__, default=str))
        for q in questions:  # told apart by their kind
            print(json.dumps({"kind": "question", **q.__dict__}, default=str))
        return EXIT_OK
    for q in questions:
        left = max(0, int(q.expires_at - time.time()))
        status = q.status if q.status != "pending" else f"pending ({left}s left)"
        print(f"{q.id}  {status}  session {q.session_id[:12]}  👤 {q.prompt}")
        if q.status == "pending":
            print(f"    answer: workbench approvals answer {q.id} TEXT")
        elif q.status == "answered":
            print(f"    answered by {q.answered_by} ({q.how})")
        else:
            print(f"    {q.reason or q.status}")
    if not items:
        if not questions:
            print("no pending approvals" if not args.all else "no approvals yet")
        return EXIT_OK
    for a in items:
        left = max(0, int(a.expires_at - time.time()))
        status = a.status if a.status != "pending" else f"pending ({left}s left)"
        print(f"{a.id}  {status}  session {a.session_id[:12]}  {a.agent} → {a.tool}"
              f"({json.dumps(a.args, ensure_ascii=False)})")
        print(f"    flagged by {', '.join(a.rule_ids)}: {a.reason}")
        if a.reviewer:
            print(f"    decided by {a.reviewer}" + (f": {a.decision_reason}"
                                                   if a.decision_reason else ""))
    return EXIT_OK


def cmd_approvals_answer(args: argparse.Namespace) -> int:
    from workbench.governance.human import answer

    q = answer(store_for(args), args.id, args.text, _reviewer(args))
    what = "accepted the answer of" if q.kind == "feedback" and not q.answer else "answered for"
    print(f"{what} {q.agent} ({q.id}) as {q.answered_by}")
    return EXIT_OK


def _reviewer(args: argparse.Namespace) -> str:
    from workbench.governance.reviewer import default_reviewer

    return args.reviewer or default_reviewer()


def cmd_approvals_approve(args: argparse.Namespace) -> int:
    from workbench.governance.approvals import decide

    edited = None
    if args.args is not None:
        try:
            edited = json.loads(args.args)
        except ValueError as exc:
            raise UserInputError(f"--args is not valid JSON: {exc}") from None
    a = decide(store_for(args), args.id, "approved", _reviewer(args), args=edited,
               always=args.always)
    print(f"approved {a.id} ({a.agent} → {a.tool}) as {a.reviewer}")
    if edited is not None:  # approved is not sent: the run judges the new call first
        print("  the run judges the edited call by its policy again: a deny still wins")
    return EXIT_OK


def cmd_approvals_reject(args: argparse.Namespace) -> int:
    from workbench.governance.approvals import decide

    a = decide(store_for(args), args.id, "rejected", _reviewer(args), reason=args.reason)
    print(f"rejected {a.id} ({a.agent} → {a.tool}) as {a.reviewer}: {args.reason}")
    return EXIT_OK


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from workbench.store.audit import AuditChain

    result = AuditChain(store_for(args, read_only=True)).verify(args.expect_head)
    from workbench.mesh.format import plural

    rate = result.entries / result.seconds if result.seconds else 0
    entries = plural(result.entries, "entry", "entries")
    if result.ok:
        print(f"audit trail ok: {entries}, head {result.head} "
              f"({rate:,.0f} entries/s)")
        return EXIT_OK
    where = " before it" if result.broken_seq is not None else ""  # else every entry was
    print(f"audit trail BROKEN: {result.message} ({entries} verified{where})",
          file=sys.stderr)
    return EXIT_FAILED


def cmd_audit_head(args: argparse.Namespace) -> int:
    from workbench.store.audit import AuditChain

    seq, head = AuditChain(store_for(args, read_only=True)).head()
    print(head)
    return EXIT_OK
