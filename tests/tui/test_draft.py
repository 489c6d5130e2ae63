"""The crew draft Compose edits, without the form: what counts as an edit, when the file's own
text is kept, and what an agent's rename or removal takes with it."""

from __future__ import annotations

import yaml

from workbench.tui.draft import CrewDraft

TEXT = """\
# a comment the file keeps while the form changes nothing
name: team
topology:
  kind: star
  hub: lead
agents:
  - {name: lead, role: Lead, goal: Decide}
  - {name: analyst, role: Analyst, goal: Look}
script:
  - {agent: lead, say: hello}
"""


def opened() -> CrewDraft:
    return CrewDraft.opened(yaml.safe_load(TEXT), TEXT)


def test_an_opened_crew_keeps_its_text_until_an_edit() -> None:
    draft = opened()
    assert draft.text() == TEXT and not draft.dirty()
    assert not draft.set_engine("autogen")  # the default a file leaves out is no edit
    assert not draft.set_kind("star")
    assert not draft.set_crew("name", "  team ")  # the same once trimmed
    assert draft.text() == TEXT and not draft.dirty()
    assert draft.set_engine("crewai")
    assert draft.dirty() and draft.source is None
    assert "# a comment" not in draft.text() and "engine: crewai" in draft.text()


def test_emptied_optional_fields_leave_the_file_and_required_ones_stay() -> None:
    draft = opened()
    assert draft.set_agent(1, "tools", "calculator, , http_get ")
    assert draft.agent(1)["tools"] == ["calculator", "http_get"]
    assert draft.set_agent(1, "tools", " ")
    assert "tools" not in draft.agent(1)
    assert draft.set_agent(1, "goal", "")
    assert draft.agent(1)["goal"] == ""
    assert draft.set_agent(1, "backstory", "  spaced  ")
    assert draft.agent(1)["backstory"] == "  spaced  "


def test_a_rename_is_followed_unless_the_name_is_blank_or_taken() -> None:
    draft = opened()
    assert not draft.follow_rename(0, "lead", "")
    assert not draft.follow_rename(0, "lead", "analyst")
    assert draft.data["topology"]["hub"] == "lead"
    assert draft.follow_rename(0, "lead", "chief")
    assert draft.data["topology"]["hub"] == "chief"
    assert draft.data["script"][0]["agent"] == "chief"


def test_choosing_a_planner_takes_it_out_of_the_executors() -> None:
    draft = opened()
    draft.set_kind("layered")
    draft.set_role("executors", ["lead", "analyst"])
    draft.set_role("planner", "lead")
    assert draft.data["topology"]["executors"] == ["analyst"]
    draft.set_role("reviewer", None)
    assert "reviewer" not in draft.data["topology"]


def test_edges_chain_on_and_the_last_one_removed_leaves_no_edges_key() -> None:
    draft = opened()
    assert draft.add_edge() and draft.add_edge()
    assert draft.data["topology"]["edges"] == [{"from": "lead", "to": "analyst"},
                                               {"from": "analyst", "to": "lead"}]
    assert draft.edit_edge(1, "when", 'message.text.contains("DONE")')
    assert not draft.edit_edge(5, "to", "lead")
    assert draft.remove_edge(0) and draft.remove_edge(0)
    assert "edges" not in draft.data["topology"]
    lonely = CrewDraft.opened({"name": "x", "agents": [{"name": "a"}]}, None)
    assert not lonely.add_edge()


def test_a_removed_agent_takes_its_script_lines_and_leaves_a_required_role_blank() -> None:
    draft = opened()
    index = draft.add_agent()
    assert draft.agent(index)["name"] == "agent3"
    name, also = draft.remove_agent(0)
    assert name == "lead" and also == ["1 script line"]
    assert draft.data["topology"]["hub"] == "lead"  # nobody is promoted silently
    assert [a["name"] for a in draft.agents()] == ["analyst", "agent3"]


def test_the_yaml_view_tells_edits_by_content_not_by_spelling() -> None:
    draft = opened()
    assert not draft.text_dirty(TEXT)
    assert not draft.text_dirty(TEXT.replace("# a comment", "# another comment"))
    assert draft.text_dirty(TEXT.replace("goal: Look", "goal: Watch"))
    assert draft.text_dirty("name: [broken")
    unreadable = CrewDraft.opened(None, "name: [broken")
    assert not unreadable.text_dirty("name: [broken")
    assert unreadable.text_dirty("name: fixed")


def test_a_save_from_the_form_makes_its_text_the_crews() -> None:
    draft = opened()
    draft.set_crew("description", "A team")
    text = draft.text()
    draft.saved(text, draft.data, form=True)
    assert not draft.dirty() and draft.source == text
