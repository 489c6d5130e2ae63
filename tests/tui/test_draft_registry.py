"""The draft's edits for agents from the registry: `use:` by reference with a free name, a
copy of the fields, and a `use:` agent's taken fields left blank on the form."""

from __future__ import annotations

from workbench.tui.draft import CrewDraft


def _draft() -> CrewDraft:
    return CrewDraft.opened({"name": "c", "agents": [
        {"name": "analyst", "role": "Mine", "goal": "Mine"}]}, "name: c\n")


def test_use_appends_a_reference_with_a_free_name() -> None:
    draft = _draft()
    assert draft.add_use("market-entry/analyst") == 1
    assert draft.agents()[1] == {"use": "market-entry/analyst", "name": "analyst2"}
    assert draft.uses(1) == "market-entry/analyst" and draft.uses(0) is None
    assert draft.source is None and draft.dirty()  # the form's data is the crew now
    draft.add_use("market-entry/analyst")
    assert draft.agents()[2]["name"] == "analyst3"


def test_a_copy_is_the_fields_renamed_if_taken_and_independent() -> None:
    draft = _draft()
    fields = {"name": "analyst", "role": "Market analyst", "goal": "Size it",
              "tools": ["calculator"]}
    index = draft.add_copy(fields)
    assert draft.agents()[index] == {**fields, "name": "analyst2"}
    draft.set_agent(index, "tools", "calculator, write_file")
    assert fields["tools"] == ["calculator"]  # the registry's agent is not changed


def test_a_used_agents_role_and_goal_may_be_left_to_the_used_agent() -> None:
    draft = _draft()
    index = draft.add_use("market-entry/analyst")
    assert draft.set_agent(index, "role", "Pricing analyst")
    assert draft.agents()[index]["role"] == "Pricing analyst"
    assert draft.set_agent(index, "role", "")  # blank: the used agent's role again
    assert "role" not in draft.agents()[index]
    # a name stays required, and an agent of the crew's own keeps its required fields
    draft.set_agent(index, "name", "")
    assert draft.agents()[index]["name"] == ""
    draft.set_agent(0, "goal", "")
    assert draft.agents()[0]["goal"] == ""
