"""The engine registry: every engine found by entry point, known by a light `EngineInfo`.

Built-in and third-party engines register the same way, under the `workbench.engines`
entry-point group (see pyproject.toml), each pointing at its `EngineInfo`. Names,
topologies and descriptions come from here alone (the crew schema, the command line and
Compose ask); a framework is imported only when `load_engine` starts a run on it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from workbench.engines.base import Engine, EngineInfo
from workbench.errors import UserInputError

__all__ = ["GROUP", "Engine", "EngineInfo", "broken_engines", "engine_choices", "engine_info",
           "engine_names", "engine_problem", "engines", "load_engine", "offering", "refresh",
           "topology_problem"]

GROUP = "workbench.engines"
log = logging.getLogger(__name__)

_found: dict[str, EngineInfo] | None = None
#: Engines whose entry point is there but unusable: name -> why (said when one is asked for).
_broken: dict[str, str] = {}


def engines() -> dict[str, EngineInfo]:
    """Every usable engine by name, sorted (the packages are read once; `refresh` rereads)."""
    global _found
    if _found is None:
        _found = _discover()
    return _found


def refresh() -> None:
    """Forget what was found, so that the next question reads the installed packages again."""
    global _found
    _found = None
    _broken.clear()


def _discover() -> dict[str, EngineInfo]:
    # importlib.metadata costs more to import than the rest of `--help`: only here
    from importlib.metadata import entry_points

    from workbench.spec.shape import TOPOLOGY_KINDS

    found: dict[str, EngineInfo] = {}
    for ep in entry_points(group=GROUP):
        try:
            info = ep.load()
        except Exception as exc:  # a broken engine is left out and named, never fatal
            why = f"its entry point {ep.value} failed to load ({type(exc).__name__}: {exc})"
        else:
            why = _unfit(ep.name, info, TOPOLOGY_KINDS)
        if why is None and ep.name in found:
            why = f"a second package registers it ({ep.value}); the first one is used"
            log.warning("engine %r: %s", ep.name, why)
            continue
        if why is not None:
            log.warning("engine %r is left out: %s", ep.name, why)
            _broken[ep.name] = why
            continue
        found[ep.name] = info
    return dict(sorted(found.items()))


def _unfit(name: str, info: object, kinds: tuple[str, ...]) -> str | None:
    if not isinstance(info, EngineInfo):
        return f"its entry point gives {type(info).__name__}, not an EngineInfo"
    if info.name != name:
        return f"its entry point is named {name!r} but its EngineInfo {info.name!r}"
    unknown = sorted(set(info.topologies) - set(kinds))
    if unknown or not info.topologies:
        return (f"it offers unknown topologies {', '.join(unknown)}" if unknown
                else "it offers no topology")
    return None


def engine_names() -> list[str]:
    return list(engines())


def broken_engines() -> dict[str, str]:
    """Engines registered but left out: name -> why (a warning in the log says it too)."""
    engines()
    return dict(_broken)


def engine_problem(name: str) -> str | None:
    """None when `name` is a usable engine; else what to tell the user, naming the engines."""
    found = engines()
    if name in found:
        return None
    if name in _broken:
        return f"engine {name!r} is installed but unusable: {_broken[name]}"
    if not found:
        return (f"unknown engine {name!r}; no engine is registered (the "
                f"{GROUP!r} entry points are missing: reinstall the workbench)")
    return f"unknown engine {name!r}; engines are {', '.join(found)}"


def engine_info(name: str) -> EngineInfo:
    problem = engine_problem(name)
    if problem:
        raise UserInputError(problem)
    return engines()[name]


def offering(topology: str) -> list[str]:
    """The engines that offer `topology`, by name."""
    return [name for name, info in engines().items() if topology in info.topologies]


def topology_problem(engine: str, topology: str) -> str | None:
    """None when `engine` offers `topology`; else the problem, naming who does offer it."""
    problem = engine_problem(engine)
    if problem or topology in engines()[engine].topologies:
        return problem
    who = offering(topology)
    hint = f"use --engine {' or '.join(who)}" if who else "no registered engine offers it"
    return f"engine {engine!r} does not offer topology {topology!r}; {hint}"


def load_engine(name: str) -> Engine:
    """Make the engine `name` (its framework import happens here, not at start-up)."""
    return engine_info(name).load()


class _Choices:
    """The engine names as argparse `choices`: read from the registry only when a value is
    checked or a command's help is shown, so that `workbench --help` reads no packages."""

    def __contains__(self, name: object) -> bool:
        return name in engines()

    def __iter__(self) -> Iterator[str]:
        return iter(engines())

    def __len__(self) -> int:
        return len(engines())


def engine_choices() -> _Choices:
    """For `add_argument("--engine", choices=engine_choices(), metavar="ENGINE")`: a metavar
    keeps argparse from listing the names while it builds the parser."""
    return _Choices()
