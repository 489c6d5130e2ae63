"""`workbench keys ...` and `workbench models list`: credentials and model profiles.

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


def cmd_models(args: argparse.Namespace) -> int:
    from pathlib import Path

    from workbench.gateway.model_config import USER_CONFIG, check_references, crew_profiles

    config = settings(args)
    user = _user_profiles(args)
    profiles = user
    spec = None
    if args.crew:
        from workbench.crews import find_crew
        from workbench.spec.loader import load_crew

        path = find_crew(args.crew, config)
        spec = load_crew(path)
        crew = crew_profiles(spec.models, str(path), Path(path).read_text(encoding="utf-8"))
        profiles = user.merged(crew)
    check_references(profiles)
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
        _row(alias, p.source, p.model, p.api_base, p.fallbacks, p.credential)
        for alias, p in sorted(profiles.profiles.items())
    ]


def _crew_rows(spec: Any, profiles: Any, seen: set[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for agent in spec.agents:
        name = profiles.model_for(spec, agent)
        chosen_by = ("agent" if agent.model else
                     "domain" if agent.domain in profiles.domains else "crew")
        route = profiles.resolve(name, spec.api_base_for(agent))
        primary = route.primary
        if name not in seen:  # a plain model string: show its price and key too
            seen.add(name)
            rows.append(_row(name, "crew", primary.model, primary.api_base))
            rows[-1]["alias"] = "-"
        rows.append({"source": "agent", "agent": agent.name, "domain": agent.domain,
                     "alias": name, "model": primary.model, "chosen_by": chosen_by})
    return rows
