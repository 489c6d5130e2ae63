"""Where a model call is sent: `model.host` and `model.local`, as policy conditions see them."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from workbench.governance.activation import ModelView

#: Providers that send nothing anywhere: their calls are answered in this process.
IN_PROCESS = frozenset({"scripted"})

#: Providers whose endpoint, when no api_base is given, LiteLLM takes from an environment
#: variable, and (for ollama) otherwise from a default on this machine.
_ENV_BASE = {"ollama": "OLLAMA_API_BASE", "hosted_vllm": "HOSTED_VLLM_API_BASE"}
#: LiteLLM's ollama default is http://localhost:11434.
_LOCAL_BY_DEFAULT = frozenset({"ollama"})

#: Private networks (RFC 1918, unique local fc00::/7) and link-local addresses; loopback is
#: checked on its own. Listed rather than `is_private`, which also counts documentation
#: and reserved ranges that say nothing about where a packet goes.
_PRIVATE = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
    "fc00::/7", "fe80::/10",
))


def host_of(api_base: str | None) -> str:
    """The host of `api_base`, lower-cased, without brackets or port; "" for none.

    A base that cannot be parsed gives itself (lower-cased), which is never local.
    """
    if not api_base or not api_base.strip():
        return ""
    base = api_base.strip()
    if "://" not in base:
        base = "http://" + base  # `localhost:8000`: LiteLLM's clients read it as http
    try:
        host = urlsplit(base).hostname
    except ValueError:
        host = None
    return host.rstrip(".") if host else api_base.strip().lower()


def host_is_local(host: str) -> bool:
    """`host` is this machine or its private network: `localhost`, or a loopback, private
    or link-local IP literal. Any other name is not local: it is never resolved here, so a
    name that would resolve to a private address still counts as remote (fail closed)."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return True
    return any(address in network for network in _PRIVATE
               if network.version == address.version)


def model_view(provider: str, name: str, api_base: str | None = None,
               env: Mapping[str, str] | None = None) -> ModelView:
    """What a policy sees of one model target: provider, name, and where the call goes.

    `api_base` is the target's own; without one, ollama and hosted_vllm go where LiteLLM
    sends them (their environment variable, else ollama's default on this machine).
    Computing this parses a URL: callers keep the result per target, not per call.
    """
    if provider in IN_PROCESS:
        return {"provider": provider, "name": name, "host": "", "local": True}
    base = (api_base or "").strip() or None
    if not base and provider in _ENV_BASE:
        base = (os.environ if env is None else env).get(_ENV_BASE[provider]) or None
    if not base:
        return {"provider": provider, "name": name, "host": "",
                "local": provider in _LOCAL_BY_DEFAULT}
    host = host_of(base)
    return {"provider": provider, "name": name, "host": host, "local": host_is_local(host)}
