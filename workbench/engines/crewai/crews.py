"""CrewAI crews per topology, conducted turn by turn so a crew tells the same story on both engines.

AutoGen decides who speaks next inside its teams (a selector, a round robin, a graph). CrewAI's
own processes do not: a hierarchical manager ends the run with its first plain answer, and
independent tasks run in whatever order threads finish. So the workbench conducts star and
network crews itself, one turn at a time, with AutoGen's rules, and each turn is a real CrewAI
task run by a real crew (its agent, its governed tools, its executor loop):

- star: the hub speaks first; a hub's transfer tool (the same `transfer_to_<agent>` AutoGen's
  handoffs offer) ends its turn and gives the floor to that agent; a specialist's turn gives it
  back to the hub; after the hub's plain message the hub's model picks who speaks next.
- network: the peers speak in turn, in the crew's order.
- both end on a message mentioning TERMINATE or after `max_turns` turns.
- layered: one sequential crew: the plan, the executors' tasks in parallel (context: the plan),
  then the reviewer's (context: their findings), at most `max_turns` tasks.

A network or layered crew that lists its own `tasks:` (a CrewAI project) runs them as written.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from crewai import Agent, Crew, Process, Task
from crewai.tools import BaseTool
from pydantic import BaseModel, ConfigDict, PrivateAttr

from workbench.engines import topology_problem
from workbench.engines.crewai.llm import TRANSFERRED, GatewayLLM
from workbench.engines.crewai.tools import GovernedTool
from workbench.errors import UserInputError
from workbench.gateway.scripted import TERMINATE
from workbench.gateway.types import ModelRequest
from workbench.mesh import events as ev
from workbench.mesh.context import RunContext

#: Cap on an agent's reasoning steps within one task (tool calls plus the answer).
MAX_ITER = 12
#: AutoGen's selector prompt (SelectorGroupChat's default), so a real hub model is asked the
#: same question on both engines.
SELECTOR_PROMPT = (
    "You are in a role play game. The following roles are available:\n{roles}.\n"
    "Read the following conversation. Then select the next role from {participants} to "
    "play. Only return the role.\n\n{history}\n\nRead the above conversation. Then select "
    "the next role from {participants} to play. Only return the role.\n"
)

SELECTOR_ATTEMPTS = 3


def _mentions(text: str, name: str) -> bool:
    """AutoGen's test for a name in a selector's reply (underscores may be spaces)."""
    alternatives = "|".join(re.escape(v) for v in (name, name.replace("_", " "),
                                                  name.replace("_", r"\_")))
    return re.search(rf"(?<=\W)({alternatives})(?=\W)", f" {text} ") is not None


class Floor:
    """Who said what so far, and the handoff the current turn asked for. Shared by the
    conductor, the agents' LLMs and the hub's transfer tools; CrewAI runs them in threads."""

    def __init__(self, task: str) -> None:
        self._lock = threading.Lock()
        self.transcript: list[tuple[str, str]] = [("user", task)]
        self.handoff: str | None = None
        #: What the hub said with its transfer call, until the transfer runs.
        self.with_transfer: dict[str, str] = {}
        #: The CrewAI tasks (by id) whose answers a person reviews (`human_input: true`).
        self.reviewed: set[int] = set()

    def said(self, agent: str, text: str) -> None:
        with self._lock:
            self.transcript.append((agent, text))

    def hand_to(self, target: str) -> None:
        with self._lock:
            if self.handoff is None:  # the first transfer wins, as on AutoGen
                self.handoff = target

    def take_handoff(self) -> str | None:
        with self._lock:
            target, self.handoff = self.handoff, None
            return target


class _NoArgs(BaseModel):
    model_config = ConfigDict(extra="allow")


class TransferTool(BaseTool):
    """The hub's handoff: recorded when it runs (after the turn's other tools, as AutoGen
    reports a handoff), and its result is the turn's answer, so the turn ends there."""

    args_schema: type[BaseModel] = _NoArgs
    result_as_answer: bool = True
    target: str = ""
    _ctx: RunContext = PrivateAttr()
    _floor: Floor = PrivateAttr()
    _hub: str = PrivateAttr()

    @classmethod
    def to(cls, ctx: RunContext, floor: Floor, hub: str, target: str) -> TransferTool:
        tool = cls(name=f"transfer_to_{target}", target=target,
                   description=f"Hand the work to {target} ({ctx.spec.agent(target).role}).")
        tool._ctx, tool._floor, tool._hub = ctx, floor, hub
        return tool

    def _run(self, **kwargs: Any) -> str:
        done = TRANSFERRED.format(target=self.target)
        said = self._floor.with_transfer.pop(self._hub, "") or done
        self._ctx.emit(ev.HANDOFF, self._hub, self.target, said)
        self._ctx.message(self._hub, said, to=[self.target])
        self._floor.said(self._hub, said)
        self._floor.hand_to(self.target)
        return done


def build_agents(ctx: RunContext, floor: Floor) -> dict[str, Agent]:
    topo = ctx.topology
    agents: dict[str, Agent] = {}
    registry = "; ".join(f"{n} ({ctx.spec.agent(n).role}): {', '.join(c) or 'general'}"
                         for n, c in ctx.spec.capability_registry().items())
    for spec in ctx.spec.agents:
        backstory = spec.backstory or spec.role
        if spec.name in (topo.hub, topo.planner):
            backstory += f"\nYour team and their capabilities: {registry}."
        tools: list[BaseTool] = [GovernedTool.wrap(ctx, spec.name, t)
                                 for t in ctx.agent_tools(spec.name)]
        if topo.kind == "star" and spec.name == topo.hub and ctx.market is None:
            # (a marketplace hub allocates by posting tasks, not by handing over by name)
            tools += [TransferTool.to(ctx, floor, spec.name, s) for s in topo.spokes]
        agents[spec.name] = Agent(
            role=spec.role,
            goal=spec.goal,
            backstory=backstory,
            llm=GatewayLLM.for_agent(ctx, spec.name, floor),
            tools=tools,
            allow_delegation=False,
            max_iter=MAX_ITER,
            verbose=False,
        )
    return agents


class Conductor:
    """Runs one crew on CrewAI (in a worker thread) and returns its final answer."""

    def __init__(self, ctx: RunContext) -> None:
        topo = ctx.topology
        problem = topology_problem("crewai", topo.kind)
        if problem:
            raise UserInputError(problem)
        self.ctx = ctx
        self.topo = topo
        self.floor = Floor(ctx.task)
        self.agents = build_agents(ctx, self.floor)
        self._turns_of: dict[str, int] = {}

    def run(self) -> str:
        if self.topo.kind != "star" and self.ctx.spec.tasks:
            return self._written_tasks()
        if self.topo.kind == "layered":
            return self._layered()
        return self._conversation()

    def _written_tasks(self) -> str:
        """A crew that lists its own tasks (as a CrewAI project does) runs them as written:
        in order, each with the outputs of the tasks its `context` names."""
        ctx = self.ctx
        tasks: list[Task] = []
        for t in ctx.spec.tasks:
            tasks.append(self._reviewed(Task(
                description=t.description.replace("{task}", ctx.task),
                expected_output=t.expected_output,
                agent=self.agents[t.agent or self.topo.entry()],
                context=[tasks[i] for i in t.context if i < len(tasks)] or None,
            ), t.human_input))
        output = Crew(agents=list(self.agents.values()), tasks=tasks,
                      process=Process.sequential, verbose=False).kickoff()
        return str(getattr(output, "raw", output) or "")

    def _reviewed(self, task: Task, human_input: bool) -> Task:
        """`task`, its answer reviewed by a person when `human_input` (the workbench asks,
        not CrewAI's own prompt on stdin)."""
        if human_input:
            self.floor.reviewed.add(id(task))
        return task

    # -- star and network: one task per turn ----------------------------------------------

    def _conversation(self) -> str:
        topo = self.topo
        speaker = topo.entry()
        final = ""
        for turn in range(1, topo.max_turns + 1):
            self.ctx.check_running()
            text = self._turn(speaker)
            target = self.floor.take_handoff()
            if target is None:
                final = text
                if TERMINATE in text:
                    break
            if turn == topo.max_turns:
                break  # no one speaks next: the hub's model is not asked who would
            self.ctx.check_running()
            speaker = self._next(speaker, target)
        return final

    def _next(self, speaker: str, handoff: str | None) -> str:
        topo = self.topo
        if topo.kind == "network":
            order = topo.agents
            return order[(order.index(speaker) + 1) % len(order)]
        hub = topo.hub or topo.agents[0]
        # marketplace: the winners of open tasks work them in the order they were awarded
        worker = self.ctx.market.next_worker() if self.ctx.market is not None else None
        if worker in self.agents:
            return worker  # type: ignore[return-value]
        if handoff is not None and handoff in self.agents:
            return handoff
        if speaker != hub:
            return hub
        return self._select(hub)

    def _select(self, hub: str) -> str:
        """The hub's model picks the next speaker: AutoGen's SelectorGroupChat question, its
        feedback and its three attempts, then the hub keeps the floor."""
        ctx = self.ctx
        order = [hub, *self.topo.spokes]
        roles = "\n".join(f"{n}: {ctx.spec.agent(n).role}: {ctx.spec.agent(n).goal}"
                          for n in order)
        history = "\n\n".join(f"{who}: {text}" for who, text in self.floor.transcript)
        spec = ctx.spec.agent(hub)
        messages: list[dict[str, Any]] = [{"role": "user", "content": SELECTOR_PROMPT.format(
            roles=roles, participants=str(order), history=history)}]
        for _ in range(SELECTOR_ATTEMPTS):
            request = ModelRequest(
                agent=hub, model=ctx.spec.model_for(spec), api_base=ctx.spec.api_base_for(spec),
                messages=list(messages), purpose="selector", candidates=order,
            )
            reply = ctx.run_sync(ctx.complete(request)).content or ""
            named = [n for n in order if _mentions(reply, n)]
            if len(named) == 1:
                return named[0]
            messages.append({"role": "assistant", "content": reply})
            messages.append({"role": "user", "content": (
                f"No valid name was mentioned. Please select from: {order}." if not named else
                f"Expected exactly one name to be mentioned. Please select only one from: "
                f"{order}.")})
        return hub

    def _turn(self, name: str) -> str:
        ctx = self.ctx
        count = self._turns_of[name] = self._turns_of.get(name, 0) + 1
        description, expected, human_input = self._assignment(name, count)
        hub_rules = (f"Hand work to a specialist with the matching transfer tool; when the "
                     f"work is done, give the final answer and end it with {TERMINATE}.")
        if ctx.market is not None:
            hub_rules = ("Post each piece of work with the post_task tool (the task and the "
                         "capability it needs): the team bids, the best bid wins and reports "
                         "back to you. When the work is done, give the final answer and end "
                         f"it with {TERMINATE}.")
        rules = (hub_rules if self.topo.kind == "star" and name == self.topo.hub else
                 f"When the team's work is complete, end your final message with {TERMINATE}.")
        history = "\n".join(f"[{who}] {text}" for who, text in self.floor.transcript)
        task = self._reviewed(Task(
            description=f"{description}\n\nThe conversation so far:\n{history}\n\n"
                        f"It is your turn. {rules}",
            expected_output=expected,
            agent=self.agents[name],
        ), human_input)
        before = len(self.floor.transcript)
        output = Crew(agents=[self.agents[name]], tasks=[task], process=Process.sequential,
                      verbose=False).kickoff()
        ctx.check_running()
        said = self.floor.transcript[before:]
        return said[-1][1] if said else str(getattr(output, "raw", output) or "")

    def _assignment(self, name: str, turn: int) -> tuple[str, str, bool]:
        """The agent's task for its `turn`-th turn: its own tasks from the crew file in order
        (the last one again once they run out), else its goal applied to the run's task."""
        ctx = self.ctx
        task = ctx.market.assignment(name) if ctx.market is not None else None
        if task is not None:  # the winner of a marketplace task does that task
            return ctx.market.brief(task), f"Your report to {task.hub}", False
        own = [t for t in ctx.spec.tasks
               if t.agent == name or (t.agent is None and name == self.topo.entry())]
        if own:
            spec = own[min(turn, len(own)) - 1]
            return (spec.description.replace("{task}", ctx.task), spec.expected_output,
                    spec.human_input)
        return (f"{ctx.spec.agent(name).goal}. The work: {ctx.task}",
                "Your reply to the team", False)

    # -- layered: one sequential crew -----------------------------------------------------

    def _layered(self) -> str:
        ctx, topo = self.ctx, self.topo
        planner = topo.planner or topo.agents[0]
        order = [(planner, "plan"), *((e, "work") for e in topo.executors),
                 *([(topo.reviewer, "review")] if topo.reviewer else [])][:topo.max_turns]

        def assignment(name: str, default: str, expected: str) -> tuple[str, str]:
            own = [t for t in ctx.spec.tasks if t.agent == name]
            if own:
                return own[0].description.replace("{task}", ctx.task), own[0].expected_output
            return default, expected

        def review(task: Task, name: str) -> Task:
            own = [t for t in ctx.spec.tasks if t.agent == name]
            return self._reviewed(task, bool(own) and own[0].human_input)

        tasks: list[Task] = []
        plan: Task | None = None
        work: list[Task] = []
        for i, (name, part) in enumerate(order):
            last = i == len(order) - 1
            if part == "plan":
                text, expected = assignment(
                    name, f"Plan how the team should handle this: {ctx.task}",
                    "A plan naming what each executor does")
                plan = review(Task(description=text, expected_output=expected,
                                   agent=self.agents[name]), name)
                tasks.append(plan)
            elif part == "work":
                text, expected = assignment(
                    name, f"{ctx.spec.agent(name).goal}. The work: {ctx.task}",
                    "Your findings")
                # executors work in parallel; a crew ends with at most one of them async
                task = review(Task(description=text, expected_output=expected,
                                   agent=self.agents[name], context=[plan] if plan else None,
                                   async_execution=not last), name)
                work.append(task)
                tasks.append(task)
            else:
                text, expected = assignment(
                    name, f"Review the findings and give the verdict on: {ctx.task}",
                    "The verdict")
                tasks.append(review(Task(description=text, expected_output=expected,
                                         agent=self.agents[name], context=work or None), name))
        output = Crew(agents=list(self.agents.values()), tasks=tasks,
                      process=Process.sequential, verbose=False).kickoff()
        return str(getattr(output, "raw", output) or "")
