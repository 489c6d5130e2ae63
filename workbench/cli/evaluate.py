"""`workbench eval CREW --cases FILE` runs and scores a crew's cases; `eval list | show ID |
compare E1 E2` read the stored results."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

from workbench.cli.common import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_OK,
    open_store,
    print_table,
    resolve_crew,
    settings,
    store_for,
    until_done,
    warn,
)
from workbench.errors import UserInputError

if TYPE_CHECKING:
    from workbench.mesh.evaluate import CaseRun, EvalOutcome, Evaluator

#: `eval ACTION ...`: these words are the stored-results commands, not crew names.
ACTIONS = {"list": 0, "show": 1, "compare": 2}
MARKS = {"passed": "✔", "failed": "✘", "error": "!", "not_scored": "?", "cancelled": "⏹"}

USAGE = """workbench eval CREW --cases FILE [--concurrency N] [--repeat K] [--model M]
                      [--approvals wait|prompt|deny] [--json]
       workbench eval list [--limit N] [--crew NAME] [--json]
       workbench eval show ID [--json]
       workbench eval compare E1 E2 [--json]"""


def register(sub: Any) -> None:
    """Add the `eval` command."""
    p = sub.add_parser(
        "eval", help="score a crew on a cases file; list, show and compare stored evals",
        usage=USAGE,
        description="Run every case of a cases file as a governed session and score it "
                    "(exit 0: every case passed, 1: any did not, 2: bad input). With list, "
                    "show or compare instead of a crew: the stored results (compare exits 1 "
                    "when a case regressed). A crew file named like an action is given by "
                    "its path.")
    p.set_defaults(handler=cmd_eval)
    p.add_argument("target", metavar="CREW|list|show|compare",
                   help="the crew to evaluate (a file or a crew name), or an action")
    p.add_argument("ids", nargs="*", metavar="ID", help="eval ids for show (one) and compare "
                                                       "(two); unique prefixes do")
    p.add_argument("--cases", metavar="FILE", help="the cases file (YAML)")
    p.add_argument("--concurrency", type=int, default=4, metavar="N",
                   help="cases run at once (default 4)")
    p.add_argument("--repeat", type=int, default=1, metavar="K",
                   help="runs of each case; its pass rate is reported (default 1)")
    p.add_argument("--model", help="run every agent (and judges that name none) on this model")
    p.add_argument("--approvals", choices=["wait", "prompt", "deny"], default="deny",
                   help="how approvals are answered (default deny: nobody is asked)")
    p.add_argument("--reviewer", help="reviewer name for --approvals prompt")
    p.add_argument("--human-default", metavar="TEXT",
                   help="the answer of a human agent's turn (else the turn is skipped)")
    p.add_argument("--json", action="store_true",
                   help="JSON: a line per case run and a summary line; one object for "
                        "list, show and compare")
    p.add_argument("--limit", type=int, default=50, help="list: at most this many evals")
    p.add_argument("--crew", dest="crew_filter", metavar="NAME",
                   help="list: only evals of this crew")
    from workbench.cli.run import otel_option

    otel_option(p)  # every case's run is one trace


def cmd_eval(args: argparse.Namespace) -> int:
    action = args.target if args.target in ACTIONS else None
    if action is None:
        if args.ids:
            raise UserInputError(f"eval: unexpected argument {args.ids[0]!r} after the crew")
        return _run_eval(args)
    if len(args.ids) != ACTIONS[action]:
        need = {0: "no id", 1: "one eval id", 2: "two eval ids"}[ACTIONS[action]]
        raise UserInputError(f"eval {action} takes {need} (see --help)")
    store = store_for(args, read_only=True)
    if action == "list":
        return _list(store, args)
    if action == "show":
        return _show(store, args.ids[0], args.json)
    return _compare(store, args.ids[0], args.ids[1], args.json)


# -- running an eval ------------------------------------------------------------------------


def _run_eval(args: argparse.Namespace) -> int:
    from workbench.governance.setup import run_notes
    from workbench.mesh.cases import load_cases
    from workbench.mesh.evaluate import Evaluator

    if not args.cases:
        raise UserInputError("eval CREW needs --cases FILE (see --help)")
    if args.concurrency < 1:
        raise UserInputError(f"--concurrency must be at least 1, not {args.concurrency}")
    if args.repeat < 1:
        raise UserInputError(f"--repeat must be at least 1, not {args.repeat}")
    config = settings(args)
    from workbench.cli.run import use_otel

    use_otel(args)
    path = resolve_crew(args.target, config)
    cases = load_cases(args.cases)
    store = open_store(config)
    store.reap_lapsed_sessions()
    printer = _Printer(args.json, args.repeat)
    evaluator = Evaluator(path, cases, config, store, concurrency=args.concurrency,
                          repeat=args.repeat, model=args.model, approvals=args.approvals,
                          reviewer=args.reviewer, human_default=args.human_default,
                          on_result=printer.case)
    warn(run_notes(evaluator.policy, evaluator.prepared.spec))
    printer.start(evaluator)
    try:
        outcome = asyncio.run(until_done(
            evaluator.run(), evaluator.cancel,
            "workbench: stopping every case (Ctrl-C again to quit at once)"))
    except KeyboardInterrupt:
        return EXIT_CANCELLED
    printer.summary(evaluator, outcome, store)
    if outcome.status == "cancelled":
        return EXIT_CANCELLED
    return EXIT_OK if outcome.passed else EXIT_FAILED


def _money(cost: float, unknown: int) -> str:
    from workbench.mesh.format import format_cost

    return format_cost(cost, not unknown)


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.0f}%"


class _Printer:
    """A line per case run as it finishes, then the summary (or JSON Lines)."""

    def __init__(self, json_lines: bool, repeat: int) -> None:
        self.json_lines = json_lines
        self.repeat = repeat

    def start(self, evaluator: Evaluator) -> None:
        if self.json_lines:
            return
        runs = evaluator.total_runs
        from workbench.mesh.format import plural

        print(f"eval {evaluator.eval_id[:12]}: {evaluator.crew_name} on "
              f"{plural(len(evaluator.cases.cases), 'case')}"
              + (f" × {evaluator.repeat}" if evaluator.repeat > 1 else "")
              + f", {plural(runs, 'run')}, {evaluator.concurrency} at once", flush=True)

    def case(self, run: CaseRun) -> None:
        from workbench.mesh.format import plural

        if self.json_lines:
            print(json.dumps({"type": "case", **run.to_dict()}, ensure_ascii=False,
                             default=str), flush=True)
            return
        name = run.case_id + (f" #{run.attempt}" if self.repeat > 1 else "")
        figures = [f"{run.checks_passed}/{len(run.checks)} checks", plural(run.turns, "turn"),
                   _money(run.cost_usd, run.cost_unknown_calls), f"{run.elapsed_s:.1f} s"]
        if run.session_id:
            figures.append(f"session {run.session_id[:12]}")
        print(f"{MARKS.get(run.status, '?')} {name}  {run.status}  {' · '.join(figures)}")
        if run.error and not run.checks:
            print(f"    {run.error}")
        for c in run.checks:
            if c.outcome != "passed":
                print(f"    {MARKS.get(c.outcome, '?')} {c.label}: {c.detail}")
                if c.reason:
                    print(f"      judge: {c.reason}")
        sys.stdout.flush()

    def summary(self, evaluator: Evaluator, outcome: EvalOutcome, store: Any) -> None:
        from workbench.mesh.evaluate import summarize
        from workbench.mesh.format import plural
        from workbench.store.evals import get_eval

        stored = get_eval(store, outcome.eval_id)
        per_case = summarize(stored)
        passed = sum(1 for r in outcome.runs if r.status == "passed")
        runs = len(outcome.runs)
        if self.json_lines:
            print(json.dumps({
                "type": "eval", "eval_id": outcome.eval_id, "crew": evaluator.crew_name,
                "status": outcome.status, "runs": runs, "passed": passed,
                "not_run": outcome.not_run, "pass_rate": passed / runs if runs else None,
                "all_passed": outcome.passed, "cost_usd": stored["cost_usd"],
                "cost_unknown_calls": stored["cost_unknown_calls"],
                "elapsed_s": round(outcome.elapsed_s, 3),
                "cases": [{"case_id": c.case_id, "runs": c.runs, "passed": c.passed,
                           "pass_rate": c.pass_rate} for c in per_case],
            }, ensure_ascii=False), flush=True)
            return
        print()
        if self.repeat > 1:
            print_table([[c.case_id, f"{c.passed}/{c.runs}", _pct(c.pass_rate)]
                         for c in per_case], ["CASE", "PASSED", "PASS RATE"])
            print()
        tail = f"; {outcome.not_run} not run (stopped)" if outcome.not_run else ""
        print(f"{passed} of {plural(runs, 'run')} passed "
              f"({_pct(passed / runs if runs else None)})"
              f"{tail} · {_money(stored['cost_usd'], stored['cost_unknown_calls'])} · "
              f"{outcome.elapsed_s:.1f} s · {outcome.status}")
        print(f"stored as eval {outcome.eval_id[:12]}: `workbench eval show "
              f"{outcome.eval_id[:12]}`")


# -- stored evals ---------------------------------------------------------------------------


def _when(ts: float | None) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else "-"


def _list(store: Any, args: argparse.Namespace) -> int:
    from workbench.store.evals import list_evals

    rows = list_evals(store, args.limit, args.crew_filter)
    if args.json:
        print(json.dumps(rows, default=str))
        return EXIT_OK
    if not rows:
        print("no evals yet; run one with `workbench eval CREW --cases FILE`")
        return EXIT_OK
    print_table([[r["id"][:12], r["crew_name"], r["status"], _when(r["started_at"]),
                  str(r["cases"]), f"{r['passed']}/{r['runs']}",
                  _pct(r["passed"] / r["runs"] if r["runs"] else None),
                  _money(r["cost_usd"], r["cost_unknown_calls"]),
                  f"{(r['ended_at'] or r['started_at']) - r['started_at']:.1f} s"]
                 for r in rows],
                ["ID", "CREW", "STATUS", "STARTED", "CASES", "PASSED", "RATE", "COST", "TIME"])
    return EXIT_OK


def _show(store: Any, eval_id: str, as_json: bool) -> int:
    from workbench.mesh.evaluate import summarize
    from workbench.mesh.format import plural
    from workbench.store.evals import get_eval

    data = get_eval(store, eval_id)
    if as_json:
        print(json.dumps(data, default=str, ensure_ascii=False))
        return EXIT_OK
    runs = data["runs"]
    print(f"eval {data['id']}: {data['crew_name']} ({data['status']}, {_when(data['started_at'])})")
    print(f"cases file {data['cases_path']}; {plural(data['cases'], 'case')}, "
          f"repeat {data['repeat']}, "
          f"concurrency {data['concurrency']}" + (f", model {data['model']}" if data["model"]
                                                 else ""))
    print(f"{data['passed']} of {plural(runs, 'run')} passed "
          f"({_pct(data['passed'] / runs if runs else None)}) · "
          f"{_money(data['cost_usd'], data['cost_unknown_calls'])}")
    by_case = {c.case_id: c for c in summarize(data)}
    current = None
    for r in data["case_runs"]:
        if r["case_id"] != current:
            current = r["case_id"]
            c = by_case[current]
            print(f"\n{current}  {c.passed}/{c.runs} passed ({_pct(c.pass_rate)})")
            print(f"  task: {r['task']}")
        session = f"session {r['session_id'][:12]}" if r["session_id"] else "no session"
        print(f"  {MARKS.get(r['status'], '?')} run {r['attempt']}: {r['status']} · "
              f"{r['checks_passed']}/{r['checks_total']} checks · {plural(r['turns'], 'turn')} · "
              f"{_money(r['cost_usd'], r['cost_unknown_calls'])} · {r['elapsed_s']:.1f} s · "
              f"{session}")
        if r["error"]:
            print(f"      {r['error']}")
        for check in r["checks"]:
            print(f"      {MARKS.get(check['outcome'], '?')} {check['label']}: "
                  f"{check['detail']}")
            if check["reason"]:
                print(f"          judge's reason: {check['reason']}")
            if check["judge_session_id"]:
                print(f"          judge session {check['judge_session_id'][:12]}")
    return EXIT_OK


def _compare(store: Any, first: str, second: str, as_json: bool) -> int:
    """Exit 1 when a case regressed (its pass rate dropped, or it is gone), else 0."""
    from workbench.mesh.compare import crew_diff
    from workbench.mesh.evaluate import compare_evals
    from workbench.store.evals import get_eval

    a, b = get_eval(store, first), get_eval(store, second)
    deltas = compare_evals(a, b)
    texts = [store.crew_text(e["crew_snapshot_id"]) if e["crew_snapshot_id"] else None
             for e in (a, b)]
    diff = crew_diff(texts[0], texts[1], f"E1 {a['crew_name']} (eval {a['id'][:12]})",
                     f"E2 {b['crew_name']} (eval {b['id'][:12]})")
    regressed = any(d.change in ("regressed", "removed") for d in deltas)
    if as_json:
        print(json.dumps({
            "e1": {k: a[k] for k in a if k != "case_runs"},
            "e2": {k: b[k] for k in b if k != "case_runs"},
            "crew_diff": diff, "regressed": regressed,
            "cases": [{"case_id": d.case_id, "change": d.change, "before": d.before,
                       "after": d.after,
                       "checks": [{"label": k, "before": v[0], "after": v[1]}
                                  for k, v in d.checks.items()]} for d in deltas],
        }, default=str, ensure_ascii=False))
        return EXIT_FAILED if regressed else EXIT_OK
    for tag, e in (("E1", a), ("E2", b)):
        print(f"{tag} {e['id'][:12]}  {e['crew_name']}  {_when(e['started_at'])}  "
              f"{e['passed']}/{e['runs']} passed  {_money(e['cost_usd'], e['cost_unknown_calls'])}")
    if diff:
        print("\nCrew change (E1 → E2):")
        for line in diff:
            print(f"  {line}")
    elif texts[0] is not None:
        print("\nCrew: the same crew file")
    print()
    for d in deltas:
        print(f"{d.change:<10} {d.case_id}  {_pct(d.before)} → {_pct(d.after)}")
        for label, (before, after) in d.checks.items():
            print(f"           {label}: {_pct(before)} → {_pct(after)}")
    counts = {c: sum(1 for d in deltas if d.change == c) for c in
              ("regressed", "improved", "unchanged", "new", "removed")}
    print("\n" + ", ".join(f"{n} {c}" for c, n in counts.items() if n))
    return EXIT_FAILED if regressed else EXIT_OK
