"""The engine registry is the one source of engines: a third engine installed as a package is
validated, offered by the command line and run, without any workbench module naming it; and
the topology's shape is one type from the spec to the run's first event."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.core.test_crew_validation import GOOD
from tests.third_engine import relay_engine  # noqa: F401  (the fixture)
from workbench import engines
from workbench.cli import main
from workbench.errors import SpecError
from workbench.spec.loader import load_crew, parse_crew
from workbench.spec.shape import TopologyShape
from workbench.spec.topology import resolve

ROOT = Path(__file__).resolve().parents[2]

#: The validation tests' crew, on the third engine.
CREW = GOOD.replace("engine: autogen", "engine: relay")


def test_the_shipped_engines_come_from_their_entry_points() -> None:
    engines.refresh()
    found = engines.engines()
    assert list(found) == ["autogen", "crewai"]
    assert found["autogen"].topologies == {"star", "layered", "network", "graph"}
    assert found["crewai"].topologies == {"star", "layered", "network"}
    assert all(info.description for info in found.values())


def test_reading_the_registry_imports_no_framework() -> None:
    code = ("import sys\nfrom workbench.engines import engines\nengines()\n"
            "print(','.join(m for m in ('autogen_agentchat', 'autogen_core', 'crewai', "
            "'litellm', 'pydantic', 'workbench.engines.autogen.engine', "
            "'workbench.engines.crewai.engine') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""


def test_help_reads_no_installed_package() -> None:
    """The engine names wait until a command's help or an --engine value needs them."""
    code = ("import contextlib, io\nfrom workbench import engines\nfrom workbench.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try: main(['--help'])\n"
            "    except SystemExit: pass\n"
            "print(engines._found is None)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "True"


def test_a_third_engine_is_registered_without_importing_it(relay_engine: Path) -> None:  # noqa: F811
    info = engines.engine_info("relay")
    assert info.topologies == {"network", "star"}
    assert engines.engine_names() == ["autogen", "crewai", "relay"]
    assert engines.offering("star") == ["autogen", "crewai", "relay"]
    assert "relayengine.meta" in sys.modules
    assert "relayengine.engine" not in sys.modules  # only a run imports it


def test_validation_knows_the_third_engine(relay_engine: Path, tmp_path: Path) -> None:  # noqa: F811
    spec = parse_crew(CREW, "relay.yaml")
    assert spec.engine == "relay"
    graph = CREW.replace("kind: star\n  hub: lead",
                         "kind: graph\n  edges: [{from: lead, to: helper}]")
    with pytest.raises(SpecError) as err:
        parse_crew(graph, "relay.yaml")
    assert str(err.value) == ("relay.yaml:4: engine 'relay' does not offer topology 'graph'; "
                              "use --engine autogen")
    layered = CREW.replace("kind: star\n  hub: lead", "kind: layered")
    with pytest.raises(SpecError, match="use --engine autogen or crewai$"):
        parse_crew(layered, "relay.yaml")
    assert parse_crew(layered, "relay.yaml", engine="crewai").engine == "relay"


def test_an_unknown_engine_is_a_located_error_listing_the_engines(relay_engine: Path) -> None:  # noqa: F811
    with pytest.raises(SpecError) as err:
        parse_crew(CREW.replace("engine: relay", "engine: rocket"), "crew.yaml")
    assert str(err.value) == ("crew.yaml:2: unknown engine 'rocket'; engines are autogen, "
                              "crewai, relay")


def test_a_broken_engine_is_left_out_and_said_why(relay_engine: Path) -> None:  # noqa: F811
    assert "warp" not in engines.engine_names()
    problem = engines.engine_problem("warp")
    assert problem is not None
    assert "installed but unusable" in problem and "relayengine.missing:ENGINE" in problem
    with pytest.raises(SpecError, match="crew.yaml:2: engine 'warp' is installed but unusable"):
        parse_crew(CREW.replace("engine: relay", "engine: warp"), "crew.yaml")


def test_the_command_line_offers_the_third_engine(
    relay_engine: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],  # noqa: F811
) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "one of autogen, crewai, relay" in " ".join(capsys.readouterr().out.split())
    crew = tmp_path / "relay.yaml"
    crew.write_text(CREW.replace("engine: relay", "engine: autogen"))
    assert main(["crews", "validate", str(crew), "--engine", "relay"]) == 0
    assert "relay, star" in capsys.readouterr().out
    assert main(["crews", "validate", str(crew), "--engine", "rocket"]) == 2
    assert "invalid choice: 'rocket' (choose from 'autogen', 'crewai', 'relay')" in \
        capsys.readouterr().err


def test_engines_lists_the_third_engine_and_the_broken_one(
    relay_engine: Path, capsys: pytest.CaptureFixture[str],  # noqa: F811
) -> None:
    assert main(["engines"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].split() == ["ENGINE", "TOPOLOGIES", "DESCRIPTION"]
    assert [r.split()[0] for r in rows[1:]] == ["autogen", "crewai", "relay", "warp"]
    assert rows[3].split(None, 1)[1].split() == "star, network Passes the task from agent to agent".split()
    assert "unusable: its entry point relayengine.missing:ENGINE failed to load" in rows[4]


def test_a_run_on_the_third_engine_loads_it_then(
    relay_engine: Path, tmp_path: Path, home: Path,  # noqa: F811
) -> None:
    crew = tmp_path / "relay.yaml"
    crew.write_text(CREW)
    out = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "--home", str(home), "run", str(crew),
         "--approvals", "deny", "--json", "--task", "count the boxes"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "run.started" and kinds[-1] == "run.completed"
    started = events[0]
    assert started["data"]["engine"] == "relay"
    # the shape in the first event is the resolved topology's, in its one stored form
    expected = resolve(load_crew(crew)).to_dict()
    assert started["data"]["shape"] == expected
    messages = [(e["agent"], e["content"]) for e in events if e["kind"] == "message"]
    assert messages == [("lead", "lead relays: count the boxes"),
                        ("helper", "helper relays: count the boxes")]


# -- the topology's shape: one type, one stored form ---------------------------------------

@pytest.mark.parametrize("crew", sorted((ROOT / "crews").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_crew_shape_reads_back_from_its_event_form(crew: Path) -> None:
    topology = resolve(load_crew(crew))
    stored = json.loads(json.dumps(topology.to_dict()))
    assert TopologyShape.from_dict(stored) == TopologyShape.of(topology)


def test_a_shape_without_its_kind_takes_the_sessions_topology() -> None:
    shape = TopologyShape.from_dict({"agents": ["a", "b"], "hub": "a"}, "star")
    assert shape == TopologyShape("star", ["a", "b"], hub="a", spokes=["b"])
