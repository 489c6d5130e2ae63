"""`workbench keys ...`, `workbench models list` and `models route`: credentials, model profiles
and how a routed alias chooses.

A key is read with a masked prompt (or from stdin when it is piped), handed to the OS
keyring, and never printed, logged or stored by the workbench itself.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from workbench.cli.common import EXIT_FAILED, EXIT_OK, actions, print_table, settings
from workbench.errors import UserInputError


def register(subparsers: Any) -> None:
    """Add the `keys` and `models` command groups to the top-level parser."""
    keys = subparsers.add_parser("keys", help="API keys in the OS keyring")
    keys.set_defaults(handler=cmd_keys)
    key_actions = actions(keys)
    put = key_actions.add_parser(
        "set", help="store a provider's key (masked prompt, or piped on stdin)")
    put.add_argument("provider", metavar="PROVIDER", help="e.g. openai, anthropic, groq")
    key_actions.add_parser("list", help="where each provider's key comes from (never the key)")
    delete = key_actions.add_parser("delete", help="remove a provider's key from the keyring")
    delete.add_argument("provider", metavar="PROVIDER")

    models = subparsers.add_parser("models", help="model aliases, prices and key status")
    models.set_defaults(handler=cmd_models)
    m_actions = actions(models)
    ls = m_actions.add_parser(
        "list", help="aliases from <home>/models.yaml (and a crew's), resolved, with prices")
    ls.add_argument("--crew", metavar="CREW", help="also a crew's aliases and agents' models")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    route = m_actions.add_parser(
        "route", help="explain which model a routed alias picks for an agent's call")
    route.add_argument("alias", metavar="ALIAS", help="a routed alias (models: NAME: route:)")
    route.add_argument("--crew", metavar="CREW",
                       help="its aliases and agents, and judge the chosen models by the policies")
    route.add_argument("--agent", metavar="AGENT", required=True,
                       help="the calling agent (with --crew: one of its agents)")
    route.add_argument("--domain", metavar="DOMAIN",
                       help="the agent's domain (default: the crew's, else default)")
    route.add_argument("--prompt-tokens", metavar="N", type=int, default=0,
                       help="the call's prompt size in tokens (request.prompt_tokens)")
    route.add_argument("--purpose", choices=("agent", "selector", "manager"), default="agent",
                       help="request.purpose (default agent)")
    route.add_argument("--tools", metavar="N", type=int, default=0,
                       help="how many tools the call offers (request.tools)")
    route.add_argument("--json", action="store_true", help="one JSON object")


# -- keys ----------------------------------------------------------------------------------


def _read_key(provider: str) -> str:
    """The key typed at a masked prompt, or the first line piped in."""
    from workbench.gateway.credentials import env_var

    stdin = sys.stdin
    if stdin is not None and stdin.isatty():
        key = getpass.getpass(f"API key for {provider} (input hidden): ")
    else:
        key = stdin.readline() if stdin is not None else ""
    if not key.strip():
        raise UserInputError(
            f"no key given for {provider}: type it at the prompt, or pipe it in, e.g. "
            f"`printenv {env_var(provider)} | workbench keys set {provider}`")
    return key


def cmd_keys(args: argparse.Namespace) -> int:
    from workbench.gateway import credentials as cred

    if args.action == "list":
        return _keys_list(args)
    provider = cred.check_provider(args.provider)
    if not cred.keyring_available():  # said before asking for a key that cannot be kept
        raise UserInputError(cred.no_keyring_help(provider))
    if args.action == "set":
        cred.store_key(provider, _read_key(provider))
        print(f"stored the key for {provider} in the keyring ({cred.keyring_name()})")
        return EXIT_OK
    if not cred.remove_key(provider):
        print(f"no key for {provider} in the keyring; nothing deleted", file=sys.stderr)
        return EXIT_FAILED
    print(f"deleted the key for {provider} from the keyring")
    if cred.key_source(provider) == "env":
        print(f"note: {cred.env_var(provider)} is still set in this environment")
    return EXIT_OK


def _keys_list(args: argparse.Namespace) -> int:
    from workbench.gateway import credentials as cred

    print_table([[k.provider, k.source, k.env_var]
                 for k in cred.key_sources(settings(args).home)],
                ["PROVIDER", "KEY", "ENV VAR"])
    if not cred.keyring_available():
        print(f"\nkeyring: {cred.no_keyring_help()}")
    return EXIT_OK


# -- models --------------------------------------------------------------------------------


def _user_profiles(args: argparse.Namespace) -> Any:
    from workbench.gateway.model_config import load_user_config

    return load_user_config(settings(args).home)


def _load(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """(settings, the profiles in force, the crew spec or None): the user's aliases with
    `--crew`'s laid over them, every reference checked (file:line on a problem)."""
    from pathlib import Path

    from workbench.gateway.model_config import check_references, crew_profiles

    config = settings(args)
    profiles = _user_profiles(args)
    spec = None
    if args.crew:
        from workbench.crews import find_crew
        from workbench.spec.loader import load_crew

        path = find_crew(args.crew, config)
        spec = load_crew(path)
        crew = crew_profiles(spec.models, str(path), Path(path).read_text(encoding="utf-8"))
        profiles = profiles.merged(crew)
    check_references(profiles)
    return config, profiles, spec


def cmd_models(args: argparse.Namespace) -> int:
    from workbench.gateway.model_config import USER_CONFIG

    if args.action == "route":
        return cmd_route(args)
    config, profiles, spec = _load(args)
    rows = _alias_rows(profiles)
    if spec is not None:
        rows += _crew_rows(spec, profiles, {r["alias"] for r in rows})
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return EXIT_OK
    if not rows:
        print(f"no model aliases yet: define them in {config.home / USER_CONFIG} "
              "(see docs/local-models.md), or pass --crew CREW")
        return EXIT_OK
    from workbench.gateway.pricing import format_price

    print_table(
        [[r["alias"], r["source"], r["model"], r["api_base"] or "-", r["key"],
          format_price(r["input_per_million"]), format_price(r["output_per_million"]),
          ", ".join(r["fallbacks"]) or "-"] for r in rows if r["source"] != "agent"],
        ["ALIAS", "FROM", "MODEL", "API BASE", "KEY", "$/1M IN", "$/1M OUT", "FALLBACKS"],
    )
    if profiles.domains:
        print("\ndomain defaults: " + ", ".join(
            f"{d} -> {name}" for d, name in sorted(profiles.domains.items())))
    agents = [r for r in rows if r["source"] == "agent"]
    if agents:
        print()
        print_table([[r["agent"], r["domain"], r["alias"], r["model"], r["chosen_by"]]
                for r in agents], ["AGENT", "DOMAIN", "USES", "RESOLVES TO", "CHOSEN BY"])
    return EXIT_OK


def _row(alias: str, source: str, model: str, api_base: str | None,
         fallbacks: tuple[str, ...] = (), credential: str | None = None) -> dict[str, Any]:
    from workbench.gateway.credentials import key_status
    from workbench.gateway.pricing import price_per_million
    from workbench.gateway.types import split_model

    provider, name = split_model(model)
    price_in, price_out = price_per_million(model)
    return {
        "alias": alias, "source": source, "model": model, "provider": provider, "name": name,
        "api_base": api_base, "key": key_status(credential or provider, api_base),
        "input_per_million": price_in, "output_per_million": price_out,
        "fallbacks": list(fallbacks),
    }


def _alias_rows(profiles: Any) -> list[dict[str, Any]]:
    return [
        _routed_row(alias, p) if p.routes else
        _row(alias, p.source, p.model, p.api_base, p.fallbacks, p.credential)
        for alias, p in sorted(profiles.profiles.items())
    ]


def _routed_row(alias: str, profile: Any) -> dict[str, Any]:
    """A routed alias has no model, key or price of its own: its rules' models have them."""
    uses = [rule.use for rule in profile.routes]
    return {
        "alias": alias, "source": profile.source, "model": "route: " + " | ".join(uses),
        "provider": "routed", "name": alias, "api_base": None, "key": "per route",
        "input_per_million": None, "output_per_million": None, "fallbacks": [],
        "route": [{"index": r.index, "when": r.when or "", "use": r.use}
                  for r in profile.routes],
    }


def _crew_rows(spec: Any, profiles: Any, seen: set[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for agent in spec.agents:
        name = profiles.model_for(spec, agent)
        chosen_by = ("agent" if agent.model else
                     "domain" if agent.domain in profiles.domains else "crew")
        route = profiles.resolve(name, spec.api_base_for(agent))
        primary = route.primary
        if profiles.routed(name):
            rows.append({"source": "agent", "agent": agent.name, "domain": agent.domain,
                         "alias": name, "model": "(routed per call)", "chosen_by": chosen_by})
            continue
        if name not in seen:  # a plain model string: show its price and key too
            seen.add(name)
            rows.append(_row(name, "crew", primary.model, primary.api_base))
            rows[-1]["alias"] = "-"
        rows.append({"source": "agent", "agent": agent.name, "domain": agent.domain,
                     "alias": name, "model": primary.model, "chosen_by": chosen_by})
    return rows


# -- models route --------------------------------------------------------------------------


def cmd_route(args: argparse.Namespace) -> int:
    """Explain a routed alias's choice for one call: each rule and its condition's value, the
    rule chosen, the chain it leads to, and the policies' decision on each of its models."""
    from workbench.gateway.routing import explain
    from workbench.governance.activation import build, domain_key

    if args.prompt_tokens < 0 or args.tools < 0:
        raise UserInputError("--prompt-tokens and --tools must be 0 or more")
    config, profiles, spec = _load(args)
    alias = args.alias
    profile = profiles.get(alias)
    if profile is None:
        raise UserInputError(f"no alias {alias!r}; aliases are {profiles.known()}")
    if not profile.routes:
        raise UserInputError(
            f"{profile.where}: {alias!r} does not route by rule (it always calls "
            f"{profile.model}); routed aliases: "
            f"{', '.join(sorted(a for a in profiles.profiles if profiles.routed(a))) or '(none)'}")
    role, domain, crew_name, api_base = "", args.domain or "default", "", None
    if spec is not None:
        agents = {a.name: a for a in spec.agents}
        if args.agent not in agents:
            raise UserInputError(f"crew {spec.name!r} has no agent {args.agent!r}; its agents "
                                 f"are {', '.join(agents)}")
        agent = agents[args.agent]
        role, crew_name, api_base = agent.role, spec.name, spec.api_base_for(agent)
        domain = args.domain or agent.domain
    facts = build(
        {"name": args.agent, "role": role, "domain": domain_key(domain), "model": alias},
        {"provider": "routed", "name": alias, "host": "", "local": False},
        {"cost_usd": 0.0, "tokens": 0, "turns": 0}, {"name": crew_name},
        request={"prompt_tokens": args.prompt_tokens, "purpose": args.purpose,
                 "tools": args.tools},
    )
    levels: list[dict[str, Any]] = []
    name, seen = alias, set()
    while profiles.routed(name) and name not in seen:
        seen.add(name)
        rows = explain(profiles.get(name).routes, facts)
        levels.append({"alias": name, "where": profiles.get(name).where, "routes": rows})
        chosen = next((r for r in rows if r["chosen"]), None)
        if chosen is None:
            name = ""
            break
        name = chosen["use"]
    result: dict[str, Any] = {
        "alias": alias, "agent": args.agent, "domain": domain_key(domain),
        "request": facts["request"], "levels": levels, "chosen": name or None,
        "chain": [], "gate": None,
    }
    if name:
        chain = profiles.resolve(name, api_base).targets
        result["chain"] = [{"label": t.label, "model": t.model, "api_base": t.api_base}
                           for t in chain]
        if spec is not None or args.policies:
            result["gate"] = _judge(config, chain, facts)
    if args.json:
        print(json.dumps(result, default=str))
        return EXIT_OK
    _print_route(result)
    return EXIT_OK


def _judge(config: Any, chain: Any, facts: Any) -> list[dict[str, Any]]:
    """The policy set's `model_call` decision on each target, as the run's gate makes it."""
    from workbench.gateway.types import split_model
    from workbench.governance.model_host import model_view
    from workbench.governance.policy import load_policies
    from workbench.governance.policy_gate import PolicyGate

    gate = PolicyGate(load_policies(config.policy_dir()))
    out = []
    for target in chain:
        provider, model_name = split_model(target.model)
        decision = gate.decide("model_call", dict(
            facts, model=model_view(provider, model_name, target.api_base)))
        out.append({"target": target.label, "model": target.model, "effect": decision.effect,
                    "rule_ids": list(decision.rule_ids), "reasons": list(decision.reasons)})
    return out


def _value(value: Any) -> str:
    return {True: "true", False: "false"}.get(value, str(value)) if isinstance(value, bool) \
        else str(value)


def _print_route(result: dict[str, Any]) -> None:
    req = result["request"]
    print(f"{result['alias']} for agent {result['agent']} (domain {result['domain']}), "
          f"{req['prompt_tokens']} prompt tokens, purpose {req['purpose']}, "
          f"{req['tools']} tools:")
    for level in result["levels"]:
        if level["alias"] != result["alias"]:
            print(f"\n{level['alias']} routes in turn ({level['where']}):")
        print_table([[str(r["index"]), r["when"] or "(default)",
                      "-" if r["when"] == "" else _value(r["value"]), r["use"],
                      "<- chosen" if r["chosen"] else ""] for r in level["routes"]],
                    ["ROUTE", "WHEN", "VALUE", "USE", ""])
    if not result["chosen"]:
        print("\nno route holds: the call would fail (end the routes with one without `when`)")
        return
    chain = " -> ".join(t["model"] if t["label"] == t["model"] else f"{t['label']} "
                        f"({t['model']})" for t in result["chain"])
    print(f"\nchain: {chain}")
    if result["gate"] is None:
        print("gate: not judged (give --crew, or --policies DIR, to judge the chosen models)")
        return
    for d in result["gate"]:
        rules = f" [{', '.join(d['rule_ids'])}]" if d["rule_ids"] else ""
        why = f": {'; '.join(d['reasons'])}" if d["reasons"] else ""
        print(f"gate: {d['model']}: {d['effect']}{rules}{why}")
    if all(d["effect"] in ("deny", "require_approval") for d in result["gate"]):
        print("every model of the chain is refused: the call would be blocked, and no other "
              "route's model is used instead")
