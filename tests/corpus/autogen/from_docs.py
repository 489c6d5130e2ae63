"""Serialise the Swarm and GraphFlow teams of AutoGen's user guide to component JSON.

The teams, system messages and tool functions below are those of microsoft/autogen's
python/docs/src/user-guide/agentchat-user-guide/swarm.ipynb and graph-flow.ipynb (see
SOURCE.md); upstream commits no JSON dump of them, so this script makes one with AutoGen's
own `dump_component()`, as an AutoGen user saving these teams would. Not a test; run it
with `uv run --frozen python tests/corpus/autogen/from_docs.py` to regenerate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import (
    HandoffTermination,
    MaxMessageTermination,
    TextMentionTermination,
)
from autogen_agentchat.teams import DiGraphBuilder, GraphFlow, Swarm
from autogen_ext.models.openai import OpenAIChatCompletionClient

HERE = Path(__file__).parent


def refund_flight(flight_id: str) -> str:
    """Refund a flight"""
    return f"Flight {flight_id} refunded"


async def get_stock_data(symbol: str) -> dict[str, Any]:
    """Get stock market data for a given symbol"""
    return {"price": 180.25, "volume": 1000000, "pe_ratio": 65.4, "market_cap": "700B"}


async def get_news(query: str) -> list[dict[str, str]]:
    """Get recent news articles about a company"""
    return [
        {
            "title": "Tesla Expands Cybertruck Production",
            "date": "2024-03-20",
            "summary": "Tesla ramps up Cybertruck manufacturing capacity at Gigafactory Texas, "
                       "aiming to meet strong demand.",
        },
    ]


def travel_swarm() -> Swarm:
    model_client = OpenAIChatCompletionClient(model="gpt-4o")
    travel_agent = AssistantAgent(
        "travel_agent",
        model_client=model_client,
        handoffs=["flights_refunder", "user"],
        system_message="""You are a travel agent.
    The flights_refunder is in charge of refunding flights.
    If you need information from the user, you must first send your message, then you can handoff to the user.
    Use TERMINATE when the travel planning is complete.""",
    )
    flights_refunder = AssistantAgent(
        "flights_refunder",
        model_client=model_client,
        handoffs=["travel_agent", "user"],
        tools=[refund_flight],
        system_message="""You are an agent specialized in refunding flights.
    You only need flight reference numbers to refund a flight.
    You have the ability to refund a flight using the refund_flight tool.
    If you need information from the user, you must first send your message, then you can handoff to the user.
    When the transaction is complete, handoff to the travel agent to finalize.""",
    )
    termination = HandoffTermination(target="user") | TextMentionTermination("TERMINATE")
    return Swarm([travel_agent, flights_refunder], termination_condition=termination)


def research_swarm() -> Swarm:
    model_client = OpenAIChatCompletionClient(model="gpt-4o")
    planner = AssistantAgent(
        "planner",
        model_client=model_client,
        handoffs=["financial_analyst", "news_analyst", "writer"],
        system_message="""You are a research planning coordinator.
    Coordinate market research by delegating to specialized agents:
    - Financial Analyst: For stock data analysis
    - News Analyst: For news gathering and analysis
    - Writer: For compiling final report
    Always send your plan first, then handoff to appropriate agent.
    Always handoff to a single agent at a time.
    Use TERMINATE when research is complete.""",
    )
    financial_analyst = AssistantAgent(
        "financial_analyst",
        model_client=model_client,
        handoffs=["planner"],
        tools=[get_stock_data],
        system_message="""You are a financial analyst.
    Analyze stock market data using the get_stock_data tool.
    Provide insights on financial metrics.
    Always handoff back to planner when analysis is complete.""",
    )
    news_analyst = AssistantAgent(
        "news_analyst",
        model_client=model_client,
        handoffs=["planner"],
        tools=[get_news],
        system_message="""You are a news analyst.
    Gather and analyze relevant news using the get_news tool.
    Summarize key market insights from news.
    Always handoff back to planner when analysis is complete.""",
    )
    writer = AssistantAgent(
        "writer",
        model_client=model_client,
        handoffs=["planner"],
        system_message="""You are a financial report writer.
    Compile research findings into clear, concise reports.
    Always handoff back to planner when writing is complete.""",
    )
    return Swarm(participants=[planner, financial_analyst, news_analyst, writer],
                 termination_condition=TextMentionTermination("TERMINATE"))


def edit_flow() -> GraphFlow:
    client = OpenAIChatCompletionClient(model="gpt-4.1-nano")
    writer = AssistantAgent("writer", model_client=client,
                            system_message="Draft a short paragraph on climate change.")
    editor1 = AssistantAgent("editor1", model_client=client,
                             system_message="Edit the paragraph for grammar.")
    editor2 = AssistantAgent("editor2", model_client=client,
                             system_message="Edit the paragraph for style.")
    final_reviewer = AssistantAgent(
        "final_reviewer", model_client=client,
        system_message="Consolidate the grammar and style edits into a final version.")
    builder = DiGraphBuilder()
    builder.add_node(writer).add_node(editor1).add_node(editor2).add_node(final_reviewer)
    builder.add_edge(writer, editor1)
    builder.add_edge(writer, editor2)
    builder.add_edge(editor1, final_reviewer)
    builder.add_edge(editor2, final_reviewer)
    return GraphFlow(participants=builder.get_participants(), graph=builder.build())


def loop_flow() -> GraphFlow:
    client = OpenAIChatCompletionClient(model="gpt-4o-mini")
    agent_a = AssistantAgent("A", model_client=client,
                             system_message="Start the process and provide initial input.")
    agent_b = AssistantAgent(
        "B",
        model_client=client,
        system_message="Process input from A or feedback from C. Say 'CONTINUE' if it's from A "
                       "or 'STOP' if it's from C.",
    )
    agent_c = AssistantAgent("C", model_client=client,
                             system_message="Review B's output and provide feedback.")
    agent_e = AssistantAgent("E", model_client=client, system_message="Finalize the process.")
    builder = DiGraphBuilder()
    builder.add_node(agent_a).add_node(agent_b).add_node(agent_c).add_node(agent_e)
    builder.add_edge(agent_a, agent_b, activation_group="initial")
    builder.add_edge(agent_b, agent_c, condition="CONTINUE")
    builder.add_edge(agent_c, agent_b, activation_group="feedback")
    builder.add_edge(agent_b, agent_e, condition="STOP")
    return GraphFlow(participants=[agent_a, agent_b, agent_c, agent_e], graph=builder.build(),
                     termination_condition=MaxMessageTermination(10))


def main() -> None:
    for name, team in (("docs-swarm-travel.json", travel_swarm()),
                       ("docs-swarm-stock-research.json", research_swarm()),
                       ("docs-graphflow-edit.json", edit_flow()),
                       ("docs-graphflow-loop.json", loop_flow())):
        data = team.dump_component().model_dump(mode="json")
        (HERE / name).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
