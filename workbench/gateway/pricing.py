"""Prices from LiteLLM's local price map (never fetched): per million tokens, or unknown."""

from __future__ import annotations

import contextlib
import io
from typing import Any

from workbench.gateway.types import split_model

PER_MILLION = 1_000_000


def price_per_million(model: str) -> tuple[float | None, float | None]:
    """(input, output) USD per million tokens for a LiteLLM model string; None where unknown.

    The scripted model is free by construction. A model missing from the map is unknown,
    never zero: a local server's `openai/<name>` has no price until the user knows one.
    """
    provider, _ = split_model(model)
    if provider == "scripted":
        return 0.0, 0.0
    from workbench.gateway.litellm_provider import load_litellm

    litellm = load_litellm()
    try:
        # get_model_info prints a banner for unmapped providers; keep the terminal clean
        with contextlib.redirect_stdout(io.StringIO()):
            info = litellm.get_model_info(model)
    except Exception:
        return None, None
    return per_million(info.get("input_cost_per_token")), per_million(
        info.get("output_cost_per_token"))


def per_million(value: object) -> float | None:
    """A price per token (as LiteLLM's map has it) per million tokens; None if not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value) * PER_MILLION  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def format_price(value: float | None, unknown: str = "unknown") -> str:
    """`$0.15`, `$0.0375`, `$2.50`, `$0`, or `unknown` (or what a table shows instead)."""
    if value is None:
        return unknown
    if value == 0:
        return "$0"
    text = f"{value:,.4f}".rstrip("0")
    if len(text.partition(".")[2]) < 2:
        text = f"{value:,.2f}"
    return f"${text}"


def unpriced(models: list[str]) -> list[str]:
    """The models among `models` (LiteLLM strings) that have no known price, each once."""
    out = []
    for model in dict.fromkeys(models):
        price_in, price_out = price_per_million(model)
        if price_in is None or price_out is None:
            out.append(model)
    return out


def budget_warnings(spec: Any, profiles: Any, budgets: dict[str, float]) -> list[str]:
    """What a run should be told at its start about budgets it cannot keep: a `cost_usd`
    budget does not count calls to a model without a price (they add no cost), so for those
    only the `tokens` (and `turns`) budget binds. Every agent's model and fallbacks count."""
    if "cost_usd" not in budgets:
        return []
    models = [target.model for agent in spec.agents
              for target in profiles.resolve(profiles.model_for(spec, agent),
                                             spec.api_base_for(agent)).targets]
    if all(split_model(m)[0] == "scripted" for m in models):
        return []  # free, and no need to load the price map
    missing = unpriced(models)
    if not missing:
        return []
    head = (f"the session budget of ${budgets['cost_usd']:.2f} cannot count calls to "
            f"{', '.join(missing)}: no price is known for "
            f"{'it' if len(missing) == 1 else 'them'}")
    if "tokens" in budgets:
        return [f"{head}; the tokens budget ({budgets['tokens']:,.0f}) still stops the run"]
    return [f"{head}, and no tokens budget is set: nothing limits what they use"]
