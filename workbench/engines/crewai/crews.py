"""One CrewAI crew per topology, built from the crew spec."""

from __future__ import annotations

from crewai import Agent, Crew, Process, Task

from workbench.engines.crewai.llm import GatewayLLM
from workbench.engines.crewai.tools import GovernedTool
from workbench.errors import UserInputError
from workbench.mesh.context import RunContext
from workbench.spec.topology import ENGINE_TOPOLOGIES

#: Cap on an agent's reasoning steps within one task (tool calls plus the answer).
MAX_ITER = 12


def build_agents(ctx: RunContext, manager: str | None = None) -> dict[str, Agent]:
    agents: dict[str, Agent] = {}
    registry = "; ".join(f"{n} ({ctx.spec.agent(n).role}): {', '.join(c) or 'general'}"
                         for n, c in ctx.spec.capability_registry().items())
    for spec in ctx.spec.agents:
        backstory = spec.backstory or spec.role
        if spec.name in (ctx.topology.hub, ctx.topology.planner):
            backstory += f"\nYour team and their capabilities: {registry}."
        is_manager = spec.name == manager
        agents[spec.name] = Agent(
            role=spec.role,
            goal=spec.goal,
            backstory=backstory,
            llm=GatewayLLM.for_agent(ctx, spec.name),
            # CrewAI gives the manager its delegation tools and refuses others on it.
            tools=[] if is_manager else [GovernedTool.wrap(ctx, spec.name, t)
                                         for t in ctx.agent_tools(spec.name)],
            allow_delegation=is_manager,
            max_iter=MAX_ITER,
            verbose=False,
        )
    return agents


def _spec_tasks(ctx: RunContext, agents: dict[str, Agent], default: str) -> list[Task]:
    tasks: list[Task] = []
    for t in ctx.spec.tasks:
        tasks.append(Task(
            description=t.description.replace("{task}", ctx.task),
            expected_output=t.expected_output,
            agent=agents[t.agent or default],
            context=[tasks[i] for i in t.context if i < len(tasks)] or None,
        ))
    return tasks


def build_crew(ctx: RunContext) -> Crew:
    topo = ctx.topology
    if topo.kind not in ENGINE_TOPOLOGIES["crewai"]:
        offered = [e for e, kinds in sorted(ENGINE_TOPOLOGIES.items()) if topo.kind in kinds]
        raise UserInputError(f"crewai does not offer topology {topo.kind!r}; use --engine "
                             f"{' or '.join(offered)}")
    task_text = ctx.task
    if topo.kind == "star":
        hub = topo.hub or topo.agents[0]
        agents = build_agents(ctx, manager=hub)
        description = next((t.description.replace("{task}", task_text)
                            for t in ctx.spec.tasks if t.agent in (None, hub)), task_text)
        expected = next((t.expected_output for t in ctx.spec.tasks if t.agent in (None, hub)),
                        "The team's final answer")
        task = Task(description=description, expected_output=expected)
        return Crew(agents=[agents[n] for n in topo.spokes], tasks=[task],
                    process=Process.hierarchical, manager_agent=agents[hub], verbose=False)
    agents = build_agents(ctx)
    if ctx.spec.tasks:
        tasks = _spec_tasks(ctx, agents, topo.entry())
        return Crew(agents=list(agents.values()), tasks=tasks, process=Process.sequential,
                    verbose=False)
    if topo.kind == "layered":
        planner = topo.planner or topo.agents[0]
        plan = Task(description=f"Plan how the team should handle this: {task_text}",
                    expected_output="A plan naming what each executor does",
                    agent=agents[planner])
        parallel = len(topo.executors) > 1 or bool(topo.reviewer)
        work = [Task(description=f"{ctx.spec.agent(n).goal}. The work: {task_text}",
                     expected_output="Your findings", agent=agents[n], context=[plan],
                     async_execution=parallel and (i < len(topo.executors) - 1
                                                   or bool(topo.reviewer)))
                for i, n in enumerate(topo.executors)]
        tasks = [plan, *work]
        if topo.reviewer:
            tasks.append(Task(description=f"Review the findings and give the verdict on: "
                                          f"{task_text}",
                              expected_output="The verdict", agent=agents[topo.reviewer],
                              context=work))
        return Crew(agents=list(agents.values()), tasks=tasks, process=Process.sequential,
                    verbose=False)
    # network: every peer contributes (in parallel), then the first peer synthesizes.
    lead = topo.entry()
    peers = [Task(description=f"{ctx.spec.agent(n).goal}. The work: {task_text}",
                  expected_output="Your contribution", agent=agents[n], async_execution=True)
             for n in topo.agents]
    synthesis = Task(description=f"Bring the team's contributions together on: {task_text}",
                     expected_output="The team's final answer", agent=agents[lead],
                     context=peers)
    return Crew(agents=list(agents.values()), tasks=[*peers, synthesis],
                process=Process.sequential, verbose=False)
