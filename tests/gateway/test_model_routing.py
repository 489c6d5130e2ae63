"""Model routing by rule: a routed alias picks its model per call (prompt size, domain, a
default), the gate judges the routed model (never the alias, never another route's model),
model.call records the rule, keys are checked for every model a route may pick, and
`workbench models route` explains a choice."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.fakeprovider import FakeProvider, Reply
from tests.gateway.conftest import FAST
from tests.gateway.test_fallback_governance import _closed_port_base
from tests.governance.test_policies import write_policies
from tests.support import make_context
from workbench.cli import main
from workbench.cli.printer import RunPrinter
from workbench.config import Settings
from workbench.errors import ProviderError, SpecError, UserInputError
from workbench.gateway.credentials import missing_keys_for
from workbench.gateway.model_config import crew_profiles, parse_user_config
from workbench.gateway.types import ModelRequest
from workbench.governance.policy import load_policies
from workbench.governance.policy_gate import PolicyGate
from workbench.mesh.events import Event
from workbench.mesh.session import Session, prepare
from workbench.spec.loader import parse_crew
from workbench.store.db import Store

ROUTES = """\
  smart-default:
    route:
      - {when: 'request.prompt_tokens > 600', use: long-context}
      - {when: 'agent.domain == "legal"', use: careful}
      - {use: fast}
"""
CREW = """\
name: routed
model: smart-default
models:
  long-context: scripted/long
  careful: scripted/careful
  fast: scripted/fast
""" + ROUTES + """\
topology: {kind: network, max_turns: 2}
agents:
  - {name: lead, role: Lead, goal: Decide}
  - {name: counsel, role: Counsel, goal: Check, domain: Legal}
script:
  - {agent: lead, say: "Counsel, is this fine?"}
  - {agent: counsel, say: "It is fine. TERMINATE"}
"""
DENY_CAREFUL = """\
version: 1
rules:
  - {id: no-careful, on: model_call, effect: deny, reason: careful is closed today,
     when: 'model.name == "careful" && agent.model == "smart-default"'}
"""


def _ctx(tmp_path: Path, crew: str = CREW, policy: str | None = None):
    spec = parse_crew(crew, "routed.yaml")
    kwargs = {}
    if policy is not None:
        kwargs["gate"] = PolicyGate(load_policies(write_policies(tmp_path / "p", policy)))
    return make_context(spec, tmp_path, **kwargs)


def _ask(agent: str, chars: int = 40) -> ModelRequest:
    return ModelRequest(agent, "smart-default", [{"role": "user", "content": "x" * chars}])


def _calls(events: list[Event]) -> list[Event]:
    return [e for e in events if e.kind == "model.call"]


# -- each rule kind ------------------------------------------------------------------------


async def test_the_prompt_size_rule_wins_over_the_domain(tmp_path: Path) -> None:
    ctx, events = _ctx(tmp_path)
    await ctx.complete(_ask("counsel", chars=4000))  # ~1000 tokens > 600
    call = _calls(events)[-1]
    assert call.data["model"] == "scripted/long"
    assert call.data["requested"] == "smart-default"
    assert call.data["route"] == [{"alias": "smart-default", "index": 1,
                                   "when": "request.prompt_tokens > 600",
                                   "use": "long-context"}]


async def test_the_domain_rule_routes_legal_and_the_default_the_rest(tmp_path: Path) -> None:
    ctx, events = _ctx(tmp_path)
    await ctx.complete(_ask("counsel"))
    await ctx.complete(_ask("lead"))
    legal, other = _calls(events)
    assert (legal.agent, legal.data["model"]) == ("counsel", "scripted/careful")
    assert legal.data["route"][0]["index"] == 2
    assert legal.data["route"][0]["when"] == 'agent.domain == "legal"'
    assert (other.agent, other.data["model"]) == ("lead", "scripted/fast")
    assert other.data["route"] == [{"alias": "smart-default", "index": 3, "when": "",
                                    "use": "fast"}]


async def test_a_route_to_a_routed_alias_is_followed_and_both_rules_recorded(
        tmp_path: Path) -> None:
    crew = CREW.replace("      - {use: fast}\n", "      - {use: by-purpose}\n").replace(
        "  fast: scripted/fast\n",
        "  fast: scripted/fast\n  by-purpose:\n    route:\n"
        "      - {when: 'request.tools > 0', use: scripted/tooled}\n      - {use: fast}\n")
    ctx, events = _ctx(tmp_path, crew)
    request = _ask("lead")
    request.tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    await ctx.complete(request)
    call = _calls(events)[-1]
    assert call.data["model"] == "scripted/tooled"
    assert [(s["alias"], s["index"], s["use"]) for s in call.data["route"]] == [
        ("smart-default", 3, "by-purpose"), ("by-purpose", 1, "scripted/tooled")]


async def test_no_rule_holding_fails_the_call_and_sends_nothing(tmp_path: Path) -> None:
    crew = CREW.replace("      - {use: fast}\n", "")
    ctx, events = _ctx(tmp_path, crew)
    with pytest.raises(ProviderError, match="no route holds for agent 'lead'"):
        await ctx.complete(_ask("lead"))
    failed = _calls(events)[-1]
    assert failed.data["ok"] is False and failed.data["model"] == "smart-default"


@pytest.mark.parametrize("engine", ["autogen", "crewai"])
def test_a_whole_run_records_each_agents_route_and_prints_it(tmp_path: Path,
                                                            engine: str) -> None:
    crew = tmp_path / "routed.yaml"
    crew.write_text(CREW)
    settings = Settings(home=tmp_path / "home")
    settings.ensure_home()
    seen: list[Event] = []
    lines: list[str] = []
    printer = RunPrinter(color=False)
    session = Session(prepare(crew, engine=engine, task="Check the deal"), settings,
                      Store(settings.database_url),
                      subscribers=[seen.append, lambda e: lines.append(printer.render(e))])
    outcome = asyncio.run(session.execute())
    assert outcome.status == "completed", outcome.error
    chosen = {e.agent: e.data["model"] for e in _calls(seen)}
    assert chosen == {"lead": "scripted/fast", "counsel": "scripted/careful"}
    shown = [line for line in lines if line and "⤳" in line]
    assert shown == ["  ⤳ lead on smart-default: fast (route 3, the default)",
                     '  ⤳ counsel on smart-default: careful (route 2: agent.domain == "legal")']


def test_the_printer_shows_a_route_only_when_it_changes() -> None:
    printer = RunPrinter(color=False)
    step = {"alias": "smart", "index": 3, "when": "", "use": "fast"}
    call = Event("model.call", "lead", None, None, {"model": "scripted/fast", "route": [step]})
    assert printer.render(call) == "  ⤳ lead on smart: fast (route 3, the default)"
    assert printer.render(call) is None
    long = dict(step, index=1, when="request.prompt_tokens > 600", use="long")
    moved = Event("model.call", "lead", None, None, {"model": "scripted/long", "route": [long]})
    assert printer.render(moved) == \
        "  ⤳ lead on smart: long (route 1: request.prompt_tokens > 600)"


# -- the gate judges the routed model ------------------------------------------------------


async def test_the_gate_denies_the_routed_model_and_no_other_route_is_used(
        tmp_path: Path) -> None:
    ctx, events = _ctx(tmp_path, policy=DENY_CAREFUL)
    response = await ctx.complete(_ask("counsel"))
    assert response.finish_reason == "blocked"
    assert "careful is closed today" in response.content
    assert ctx.blocked_calls == 1 and _calls(events) == []  # fast was not used instead
    decision = next(e for e in events if e.kind == "policy.decision")
    assert decision.data["effect"] == "deny" and decision.data["rule_ids"] == ["no-careful"]
    # the same alias for an agent routed elsewhere passes
    await ctx.complete(_ask("lead"))
    assert [e.data["model"] for e in _calls(events)] == ["scripted/fast"]


async def test_a_denied_routed_model_falls_back_only_within_its_own_chain(
        tmp_path: Path) -> None:
    crew = CREW.replace("  careful: scripted/careful\n",
                        "  careful: {model: scripted/careful, fallbacks: [scripted/backup]}\n")
    ctx, events = _ctx(tmp_path, crew, DENY_CAREFUL)
    response = await ctx.complete(_ask("counsel"))
    assert response.finish_reason != "blocked"
    call = _calls(events)[-1]
    # its own fallback answered (judged for itself), never the default route's model
    assert call.data["model"] == "scripted/backup"
    assert call.data["fallback_from"] == "careful"
    assert call.data["blocked"] == ["careful: careful is closed today"]
    assert [(d["model"], d["effect"]) for d in call.data["decisions"]] == [
        ("scripted/careful", "deny"), ("scripted/backup", "allow")]
    assert call.data["route"][0]["use"] == "careful"


@pytest.mark.usefixtures("warm_litellm")
async def test_over_http_the_denied_route_is_never_called_nor_replaced(tmp_path: Path) -> None:
    fast = ", ".join(f"{k}: {v}" for k, v in {**FAST, "num_retries": 0}.items())
    with FakeProvider(responder=lambda p: Reply(content=f"from {p['model']}")) as server:
        crew = CREW.replace(
            "  careful: scripted/careful\n  fast: scripted/fast\n",
            f"  careful: {{model: openai/careful, api_base: '{server.api_base}', "
            f"credential: none, {fast}}}\n"
            f"  fast: {{model: openai/fast, api_base: '{server.api_base}', "
            f"credential: none, {fast}}}\n")
        ctx, events = _ctx(tmp_path, crew, DENY_CAREFUL)
        blocked = await ctx.complete(_ask("counsel"))
        allowed = await ctx.complete(_ask("lead"))
    assert blocked.finish_reason == "blocked"
    assert allowed.content == "from fast"
    await _a_failed_routed_call_records_its_route(
        tmp_path, crew.replace(server.api_base, _closed_port_base()))
    assert [r["model"] for r in server.requests] == ["fast"]
    call = _calls(events)[-1]
    assert call.data["route"][0]["use"] == "fast" and call.data["provider"] == "openai"


async def _a_failed_routed_call_records_its_route(tmp_path: Path, crew: str) -> None:
    """Nothing answers: the call fails for good, and its record still names the rule."""
    ctx, events = _ctx(tmp_path, crew)
    with pytest.raises(ProviderError):
        await ctx.complete(_ask("lead"))
    failed = _calls(events)[-1]
    assert failed.data["ok"] is False
    assert failed.data["route"] == [{"alias": "smart-default", "index": 3, "when": "",
                                     "use": "fast"}]


# -- keys ----------------------------------------------------------------------------------


def test_keys_are_checked_for_every_model_a_route_may_pick(monkeypatch) -> None:
    crew = CREW.replace("  long-context: scripted/long\n",
                        "  long-context: anthropic/claude-3-5-sonnet-20240620\n")
    spec = parse_crew(crew, "routed.yaml")
    profiles = crew_profiles(spec.models)
    missing = missing_keys_for(spec, profiles)
    # only a long prompt would reach it, yet no agent may start without its key
    assert len(missing) == 1 and missing[0].startswith("no API key for anthropic (lead, counsel")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-123456")
    assert missing_keys_for(spec, profiles) == []


def test_a_run_without_a_key_for_a_routed_model_does_not_start(tmp_path: Path) -> None:
    crew = tmp_path / "routed.yaml"
    crew.write_text(CREW.replace("  careful: scripted/careful\n", "  careful: openai/gpt-4o\n"))
    settings = Settings(home=tmp_path / "home")
    settings.ensure_home()
    with pytest.raises(UserInputError, match="no API key for openai"):
        Session(prepare(crew, task="x"), settings, Store(settings.database_url))


# -- checked when read ---------------------------------------------------------------------


def _user(body: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_user_config("models:\n  fast: scripted/fast\n" + body, "models.yaml")
    return info.value


@pytest.mark.parametrize("when, problem", [
    ("request.prompt_tokens >", "CEL syntax error"),
    ("request.size > 3", "unknown name 'request.size'"),
    ("request.purpose", "gives a string, not true or false"),
    ('model.name == "x"', "'model' cannot be used in a route"),
])
def test_a_bad_condition_is_refused_with_its_line(when: str, problem: str) -> None:
    error = _user(f"  smart:\n    route:\n      - {{when: '{when}', use: fast}}\n"
                  "      - {use: fast}\n")
    assert (error.file, error.line) == ("models.yaml", 5)
    assert "models.smart.route[1].when" in str(error) and problem in str(error)


def test_only_the_last_route_may_leave_out_when() -> None:
    error = _user("  smart:\n    route:\n      - {use: fast}\n      - {when: 'true', use: fast}\n")
    assert error.line == 5 and "only the last route may leave out `when`" in str(error)


def test_a_routed_profile_has_only_route() -> None:
    error = _user("  smart:\n    model: openai/x\n    route: [{use: fast}]\n")
    assert error.line == 4 and "has only `route`" in str(error)


def test_unknown_aliases_and_loops_are_refused_with_the_route_line() -> None:
    from workbench.gateway.model_config import check_references

    unknown = parse_user_config("models:\n  smart:\n    route:\n      - {use: nowhere}\n",
                                "models.yaml")
    with pytest.raises(SpecError) as info:
        check_references(unknown)
    assert info.value.line == 4 and "'nowhere' is neither an alias" in str(info.value)
    loop = parse_user_config(
        "models:\n  a:\n    route:\n      - {when: 'request.tools > 1', use: b}\n"
        "      - {use: scripted/x}\n  b:\n    route:\n      - {use: a}\n", "models.yaml")
    with pytest.raises(SpecError) as info:
        check_references(loop)
    assert "the routes loop (a -> b -> a)" in str(info.value)
    assert info.value.line in (4, 8)


# -- workbench models route ----------------------------------------------------------------


def test_models_route_explains_each_rule_the_choice_and_the_gate(
        home: Path, tmp_path: Path, capsys) -> None:
    crew = tmp_path / "routed.yaml"
    crew.write_text(CREW)
    policies = write_policies(tmp_path / "p", DENY_CAREFUL)
    args = ["--policies", str(policies), "models", "route", "smart-default", "--crew",
            str(crew), "--agent", "counsel", "--prompt-tokens", "120"]
    assert main(args) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line[:1].isdigit()]
    assert [r[-1] for r in rows] == ["long-context", "chosen", "fast"]
    assert rows[0][:2] == ["1", "request.prompt_tokens"] and "false" in rows[0]
    assert "true" in rows[1]
    assert "chain: careful (scripted/careful)" in out
    assert "gate: scripted/careful: deny [no-careful]: careful is closed today" in out
    assert "no other route's model is used instead" in out

    assert main([*args[:-1], "90000", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["chosen"] == "long-context"
    assert [r["value"] for r in result["levels"][0]["routes"]] == [True, True, True]
    assert [r["chosen"] for r in result["levels"][0]["routes"]] == [True, False, False]
    assert result["chain"] == [{"label": "long-context", "model": "scripted/long",
                                "api_base": None}]
    assert result["gate"][0]["effect"] == "allow"


def test_models_route_without_a_crew_takes_the_domain_given(home: Path, capsys) -> None:
    home.mkdir(parents=True)
    (home / "models.yaml").write_text(
        "models:\n  fast: scripted/fast\n  careful: scripted/careful\n" + ROUTES.replace(
            "use: long-context", "use: scripted/long"))
    assert main(["models", "route", "smart-default", "--agent", "a", "--domain", "Legal",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["domain"], result["chosen"], result["gate"]) == ("legal", "careful", None)


def test_models_route_errors_exit_2(home: Path, tmp_path: Path, capsys) -> None:
    crew = tmp_path / "routed.yaml"
    crew.write_text(CREW.replace("agent.domain == \"legal\"", "agent.domain"))
    assert main(["models", "route", "smart-default", "--crew", str(crew),
                 "--agent", "lead"]) == 2
    err = capsys.readouterr().err
    assert f"{crew}:10:" in err and "gives a string, not true or false" in err
    crew.write_text(CREW)
    assert main(["models", "route", "fast", "--crew", str(crew), "--agent", "lead"]) == 2
    assert "'fast' does not route by rule" in capsys.readouterr().err
    assert main(["models", "route", "smart-default", "--crew", str(crew),
                 "--agent", "nobody"]) == 2
    assert "has no agent 'nobody'" in capsys.readouterr().err
    assert main(["models", "route", "nothing", "--agent", "lead"]) == 2
    assert "no alias 'nothing'" in capsys.readouterr().err


def test_a_run_with_a_route_to_no_alias_is_refused_with_its_line(
        home: Path, tmp_path: Path, capsys) -> None:
    crew = tmp_path / "routed.yaml"
    crew.write_text(CREW.replace("use: careful}", "use: carefull}"))
    assert main(["run", str(crew), "--approvals", "deny"]) == 2
    err = capsys.readouterr().err
    assert f"{crew}:10: models.smart-default.route[2].use: 'carefull' is neither an alias" \
        in err
    assert "Traceback" not in err


# -- the call's facts, and conditions as CEL means them ----------------------------------


def test_the_prompt_is_measured_incrementally_as_the_whole() -> None:
    from workbench.gateway.routing import PromptSizes, estimate_tokens

    sizes = PromptSizes()
    history: list[dict] = []
    for i in range(6):
        history = [*history, {"role": "user", "content": "word " * (i * 50 + 3)},
                   {"role": "assistant", "content": None, "tool_calls": [
                       {"id": "c", "type": "function",
                        "function": {"name": "f", "arguments": '{"q": "%s"}' % ("z" * i)}}]}]
        request = ModelRequest("lead", "smart", history)
        assert sizes.view(request)["prompt_tokens"] == estimate_tokens(history)
    edited = [dict(history[0], content="short"), *history[1:]]  # a history rewritten
    assert sizes.view(ModelRequest("lead", "smart", edited))["prompt_tokens"] == \
        estimate_tokens(edited)


@pytest.mark.parametrize("when", [
    'agent.domain == "legal" && request.prompt_tokens > 10',
    '"agent.domain" == agent.domain',                       # a name inside a string is text
    'agent.domain.startsWith("le") || agent.name.matches("^co")',
    'agent == {"name": "counsel", "role": "Counsel", "domain": "legal", "model": "m"}',
    '["x", "y"].exists(agent, agent == "y") && request.purpose == "agent"',
    'crew.name.size() > 3 && session.turns == 2',
])
def test_a_route_condition_means_what_cel_says_on_the_whole_facts(when: str) -> None:
    import cel

    from workbench.gateway.routing import compile_rule
    from workbench.governance.activation import sample
    from workbench.governance.condition import FUNCTIONS

    rule = compile_rule(1, "fast", when, "x.yaml:1")
    for domain, tokens in (("legal", 20), ("legal", 5), ("sales", 20)):
        facts = dict(sample(), agent={"name": "counsel", "role": "Counsel", "domain": domain,
                                      "model": "m"},
                     request={"prompt_tokens": tokens, "purpose": "agent", "tools": 0},
                     crew={"name": "routed"}, session={"cost_usd": 0.0, "tokens": 0,
                                                       "turns": 2})
        expected = cel.compile(when).execute(cel.Context(facts, FUNCTIONS))
        assert rule.holds(facts) is expected, (when, domain, tokens)


async def test_a_model_call_policy_sees_the_calls_request(tmp_path: Path) -> None:
    policy = ("version: 1\nrules:\n  - {id: too-long, on: model_call, effect: deny, "
              "reason: prompt too long, when: 'request.prompt_tokens > 500 && "
              "request.purpose == \"agent\"'}\n")
    ctx, events = _ctx(tmp_path, CREW.replace("model: smart-default\n", "model: fast\n"),
                       policy)
    assert (await ctx.complete(ModelRequest("lead", "fast", [
        {"role": "user", "content": "x" * 4000}]))).finish_reason == "blocked"
    assert (await ctx.complete(_ask("lead"))).finish_reason != "blocked"
    assert [e.data["model"] for e in _calls(events)] == ["scripted/fast"]


def test_crews_validate_refuses_a_route_to_no_alias_at_its_line(
        home: Path, tmp_path: Path, capsys) -> None:
    crew = tmp_path / "routed.yaml"
    crew.write_text(CREW.replace("use: careful}", "use: carefull}"))
    assert main(["crews", "validate", str(crew)]) == 2
    captured = capsys.readouterr()
    assert f"{crew}:10: models.smart-default.route[2].use: 'carefull'" in captured.err
    assert ": ok (" not in captured.out
