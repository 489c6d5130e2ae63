"""The star's task marketplace: the hub posts a task, matching agents bid, a rule awards it.

A bid is computed here, never by a model: the task's estimated cost on the bidder's model
(its price from the price map, the prompt estimated from the agent's role, goal and
backstory plus the task, and EXPECTED_COMPLETION_TOKENS of answer), the bidder's load (its
tasks awarded and not done) and its record (the share of its tasks of earlier sessions of
this crew that it completed, from the stored `task.awarded` / `task.done` events).

Award rules (the crew's `topology.award`):
- `cheapest`: lowest cost; ties go to the lower load, then the better record.
- `best`: highest record; ties go to the cheaper, then the lower load.
- `balanced`: lowest score = 0.5 * cost / the highest cost bid + 0.25 * load / the highest
  load + 0.25 * (1 - record); an unknown cost counts as the highest.
- a CEL condition over `task`, `bid` and `bidder` (and every policy name): the bids it holds
  for are eligible and the cheapest of them wins (ranked as `cheapest`). A condition that
  cannot be evaluated on a bid leaves that bid out (fail closed).
An unknown cost (a model with no price) ranks after every known one. The crew's order
breaks what is still tied.

Governance: each bid is judged as a `task_bid` action of the bidder (a deny or a
require_approval bars it: nobody approves bids), and the winner as a `task_award` action of
the hub (a deny passes the task to the next in rank). Both see `task`, `bid` and `bidder`.

No UI or framework imports: engines ask `next_worker()` whom to give the floor and
`assignment()` what to tell the winner; the run context reports each message (`reported`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from workbench.gateway.scripted import POST_TOOL  # the tool the hub posts tasks with
from workbench.mesh import events as ev

#: Completion tokens a task's answer is expected to take (for the cost estimate).
EXPECTED_COMPLETION_TOKENS = 400
#: The record of an agent with no past tasks: neither proven nor failed.
NO_RECORD = 0.5
#: `balanced`: the weights of cost, load and (missing) record in the score.
BALANCED_WEIGHTS = (0.5, 0.25, 0.25)
AWARD_RULES = ("cheapest", "best", "balanced")

Prices = Callable[[str], tuple[float | None, float | None]]
#: (action, acting agent, activation) -> a governance Decision (effect, reason).
Judge = Callable[[str, str, dict[str, Any]], Any]
#: (agent, **extra names) -> the full policy activation for that agent.
Activate = Callable[..., dict[str, Any]]
Emit = Callable[..., Any]
#: The message gate: (from, to, text) -> the text as it may reach `to` (redacted, or
#: withheld with the reason).
Tell = Callable[[str, str, str], str]


def estimate_tokens(chars: int) -> int:
    """Tokens of a text of `chars` characters (4 a token, as the scripted model counts)."""
    return max(1, chars // 4)


@dataclass(slots=True)
class Bidder:
    """What the mesh knows of an agent that may bid."""

    name: str
    domain: str
    #: The model string its calls go to (an alias resolved to its primary model).
    model: str
    capabilities: frozenset[str]
    #: Characters of its system prompt: role, goal and backstory.
    prompt_chars: int
    #: Its place in the crew (the last tie-break).
    order: int = 0

    def can(self, capability: str) -> bool:
        return not capability or capability.strip().lower() in self.capabilities


@dataclass(slots=True)
class Record:
    """An agent's past tasks (awarded) and how many of them it completed."""

    tasks: int = 0
    done: int = 0

    @property
    def share(self) -> float:
        return min(1.0, self.done / self.tasks) if self.tasks else NO_RECORD


@dataclass(slots=True)
class Task:
    id: str
    title: str
    capability: str
    hub: str
    winner: str | None = None
    #: Its winner was given the floor for it (its report is the next thing it says).
    started: bool = False
    done: bool = False
    #: What the winner is told, once the message gate has judged it (see Market.brief).
    briefing: str | None = None


@dataclass(slots=True)
class Bid:
    agent: str
    model: str
    cost_usd: float | None
    prompt_tokens: int
    completion_tokens: int
    load: int
    record: float
    past_tasks: int
    past_done: int
    order: int
    domain: str = ""
    eligible: bool = True
    barred: str = ""
    rank: int | None = None
    note: str = ""
    score: float | None = None

    def view(self) -> dict[str, Any]:
        """`bid` as policies and award conditions see it."""
        return {"cost_usd": self.cost_usd, "load": self.load, "record": self.record,
                "prompt_tokens": self.prompt_tokens}

    def row(self) -> dict[str, Any]:
        """The bid as the award's table shows it (events.BidRow)."""
        out: dict[str, Any] = {"agent": self.agent, "cost_usd": self.cost_usd,
                               "load": self.load, "record": round(self.record, 4),
                               "eligible": self.eligible, "rank": self.rank}
        if self.note:
            out["note"] = self.note
        if self.score is not None:
            out["score"] = round(self.score, 4)
        return out


def make_bid(bidder: Bidder, task_text: str, load: int, record: Record, price: Prices) -> Bid:
    """The bid of `bidder` on a task: its cost estimated on its model, its load and record."""
    prompt = estimate_tokens(bidder.prompt_chars + len(task_text))
    completion = EXPECTED_COMPLETION_TOKENS
    price_in, price_out = price(bidder.model)
    cost = None
    if price_in is not None and price_out is not None:
        cost = round((prompt * price_in + completion * price_out) / 1_000_000, 8)
    return Bid(bidder.name, bidder.model, cost, prompt, completion, load, record.share,
               record.tasks, record.done, bidder.order, bidder.domain)


def _cost_key(bid: Bid) -> float:
    return math.inf if bid.cost_usd is None else bid.cost_usd


def _cheapest(bid: Bid) -> tuple[Any, ...]:
    return (_cost_key(bid), bid.load, -bid.record, bid.order)


def _best(bid: Bid) -> tuple[Any, ...]:
    return (-bid.record, _cost_key(bid), bid.load, bid.order)


class AwardRule:
    """`cheapest`, `best`, `balanced`, or a CEL condition (checked when compiled)."""

    def __init__(self, award: str) -> None:
        self.source = award
        self.condition: Any = None
        if award not in AWARD_RULES:
            from workbench.governance.condition import compile_condition

            self.condition = compile_condition(award)  # ValueError says what is wrong

    def rank(self, bids: list[Bid], activation: Callable[[Bid], dict[str, Any]]) -> list[Bid]:
        """The bids in the running, best first; sets each bid's rank, note and score."""
        running = [b for b in bids if b.eligible]
        if self.condition is not None:
            running = [b for b in running if self._holds(b, activation)]
            key = _cheapest
        elif self.source == "best":
            key = _best
        elif self.source == "balanced":
            self._score(running)
            key = lambda b: (b.score, _cost_key(b), b.order)  # noqa: E731
        else:
            key = _cheapest
        running.sort(key=key)
        for i, b in enumerate(running, 1):
            b.rank = i
        return running

    def _holds(self, bid: Bid, activation: Callable[[Bid], dict[str, Any]]) -> bool:
        import cel

        from workbench.governance.condition import FUNCTIONS

        c = self.condition
        try:
            data = activation(bid)
            result = c.program.execute(cel.Context(
                {n: data[n] for n in c.variables if n in data},
                FUNCTIONS if c.uses_functions else None))
        except Exception:
            bid.note = "the award condition could not be evaluated on this bid"
            return False  # fail closed
        if result is True:
            return True
        bid.note = ("the award condition does not hold" if result is False else
                    "the award condition gave no true or false")
        return False

    @staticmethod
    def _score(bids: list[Bid]) -> None:
        w_cost, w_load, w_record = BALANCED_WEIGHTS
        known = [b.cost_usd for b in bids if b.cost_usd is not None]
        top_cost = max(known, default=0.0)
        top_load = max((b.load for b in bids), default=0)
        for b in bids:
            if b.cost_usd is None:
                cost = 1.0
            else:
                cost = b.cost_usd / top_cost if top_cost > 0 else 0.0
            load = b.load / top_load if top_load else 0.0
            b.score = w_cost * cost + w_load * load + w_record * (1.0 - b.record)


def check_award(award: str) -> None:
    """Raise ValueError if `award` is neither a named rule nor a valid CEL condition."""
    AwardRule(award)


class Market:
    """One run's marketplace: its tasks, the open ones in award order, and each agent's load.

    Thread-safe: CrewAI runs agents in worker threads, AutoGen on the run's loop.
    """

    def __init__(self, hub: str, bidders: Iterable[Bidder], award: str, price: Prices,
                 records: dict[str, Record] | None = None, emit: Emit | None = None,
                 judge: Judge | None = None, activate: Activate | None = None,
                 tell: Tell | None = None) -> None:
        self.hub = hub
        self.bidders = [b for b in bidders if b.name != hub]
        self.rule = AwardRule(award)
        self.records = dict(records or {})
        self._price_of: dict[str, tuple[float | None, float | None]] = {}
        self._price = price
        self._emit = emit or (lambda *a, **k: None)
        self._judge = judge
        self._activate = activate or _bare_activation
        self._tell = tell
        self.tasks: list[Task] = []
        #: Awarded and not done, oldest first: the winners take the floor in this order.
        self.open: list[Task] = []
        self._bases: dict[str, dict[str, Any]] = {}
        self._lock = threading.RLock()

    def price(self, model: str) -> tuple[float | None, float | None]:
        found = self._price_of.get(model)
        if found is None:
            found = self._price_of[model] = self._price(model)
        return found

    def load(self, agent: str) -> int:
        return sum(1 for t in self.open if t.winner == agent)

    # -- posting and awarding -------------------------------------------------------------

    def post(self, title: str, capability: str = "", hub: str | None = None) -> str:
        """Post a task, collect the bids, award it; what the hub is told (the tool's result)."""
        hub = hub or self.hub
        title = " ".join(str(title).split())
        capability = str(capability or "").strip()
        with self._lock:
            self._bases = {}
            task = Task(f"T{len(self.tasks) + 1}", title, capability, hub)
            self.tasks.append(task)
            matching = [b for b in self.bidders if b.can(capability)]
            self._emit(ev.TASK_POSTED, hub, None, title, task_id=task.id,
                       capability=capability, bidders=[b.name for b in matching])
            bids = self.bids(task, matching)
            winner = self.award(task, bids)
            if winner is not None:
                task.winner = winner.agent
                self.open.append(task)
        return self._told(task, bids, winner)

    def bids(self, task: Task, matching: list[Bidder]) -> list[Bid]:
        """Each matching agent's bid, judged (`task_bid`) and recorded as `task.bid`."""
        out: list[Bid] = []
        text = f"{task.title}\n{task.capability}"
        for bidder in matching:
            bid = make_bid(bidder, text, self.load(bidder.name),
                           self.records.get(bidder.name, Record()), self.price)
            if self._judge is not None:
                decision = self._judge("task_bid", bidder.name,
                                       self._activation(bidder.name, task, bid))
                if decision.effect in ("deny", "require_approval"):
                    bid.eligible = False
                    bid.barred = bid.note = f"barred by policy: {decision.reason}"
            extra = {"barred": bid.barred} if bid.barred else {}
            self._emit(ev.TASK_BID, bidder.name, task.hub, None, task_id=task.id,
                       model=bid.model, cost_usd=bid.cost_usd,
                       prompt_tokens=bid.prompt_tokens, completion_tokens=bid.completion_tokens,
                       load=bid.load, record=round(bid.record, 4), past_tasks=bid.past_tasks,
                       past_done=bid.past_done, eligible=bid.eligible, **extra)
            out.append(bid)
        return out

    def award(self, task: Task, bids: list[Bid]) -> Bid | None:
        """The winner by the award rule among the bids allowed, the first in rank whose award
        the policy allows (`task_award`); recorded as `task.awarded` (winner None: nobody)."""
        ranked = self.rule.rank(bids, lambda b: self._activation(b.agent, task, b))
        winner: Bid | None = None
        for bid in ranked:
            if self._judge is not None:
                decision = self._judge("task_award", task.hub,
                                       self._activation(task.hub, task, bid, bidder=bid))
                if decision.effect in ("deny", "require_approval"):
                    bid.note = f"award refused by policy: {decision.reason}"
                    continue
            winner = bid
            break
        why = self._why(task, bids, ranked, winner)
        extra = {"cost_usd": winner.cost_usd} if winner is not None else {}
        self._emit(ev.TASK_AWARDED, winner.agent if winner else None, task.hub, why,
                   task_id=task.id, title=task.title, capability=task.capability,
                   award=self.rule.source, winner=winner.agent if winner else None,
                   bids=[b.row() for b in sorted(bids, key=lambda b: (b.rank or 1e9, b.order))],
                   **extra)
        return winner

    def _why(self, task: Task, bids: list[Bid], ranked: list[Bid], winner: Bid | None) -> str:
        if winner is not None:
            rule = self.rule.source if self.rule.condition is None else "cheapest eligible"
            return (f"{rule} of {len(bids)} bid{'s' if len(bids) != 1 else ''}: "
                    f"{winner.agent} at {_cost(winner.cost_usd)}, load {winner.load}, "
                    f"record {winner.record:.0%}")
        if not bids:
            return f"no agent has the capability {task.capability!r}"
        if not ranked:
            notes = sorted({b.note for b in bids if b.note})
            return "no bid may win: " + ("; ".join(notes) or "none is eligible")
        return "no award is allowed: " + "; ".join(sorted({b.note for b in ranked if b.note}))

    def _told(self, task: Task, bids: list[Bid], winner: Bid | None) -> str:
        if winner is None:
            reason = self._why(task, bids, [b for b in bids if b.rank], None)
            return f"{task.id} ({task.title}) was not awarded: {reason}."
        return (f"{task.id} ({task.title}) is awarded to {winner.agent} "
                f"({self.rule.source if self.rule.condition is None else 'award condition'}; "
                f"{len(bids)} bid{'s' if len(bids) != 1 else ''}, "
                f"{_cost(winner.cost_usd)}); {winner.agent} reports back to you.")

    def _activation(self, agent: str, task: Task, bid: Bid,
                    bidder: Bid | None = None) -> dict[str, Any]:
        # An agent's other names (its own, the session's) do not change while one task is
        # bid on: they are built once per agent and post, and only the market's are set.
        base = self._bases.get(agent)
        if base is None:
            base = self._bases[agent] = self._activate(agent)
        who = bidder or bid
        data = dict(base)
        data["task"] = {"title": task.title, "capability": task.capability}
        data["bid"] = bid.view()
        data["bidder"] = {"name": who.agent, "domain": who.domain, "model": who.model}
        return data

    # -- the winners' turns ---------------------------------------------------------------

    def next_worker(self) -> str | None:
        """Who takes the floor next: the winner of the oldest open task not yet started, which
        is then started (None: no task waits, the topology's own rule goes on). A task is
        handed out once: an engine that picks the next speaker before the last one's report
        is recorded (AutoGen's group chat) does not give the floor for it twice."""
        with self._lock:
            task = next((t for t in self.open if not t.started), None)
            if task is None:
                return None
            task.started = True
            return task.winner

    def assignment(self, agent: str) -> Task | None:
        """The open task `agent` works on now (its oldest)."""
        with self._lock:
            return next((t for t in self.open if t.winner == agent), None)

    def brief(self, task: Task) -> str:
        """What the winner is told: its task, and that it reports back to the hub. The hub's
        words reach another agent, so they pass the message gate (once per task) like any
        message from the hub to it."""
        with self._lock:
            if task.briefing is None:
                need = f" (capability: {task.capability})" if task.capability else ""
                text = (f"Task {task.id} from {task.hub}, awarded to you{need}: {task.title}\n"
                        f"Do it and report the result back to {task.hub}.")
                if self._tell is not None:
                    text = self._tell(task.hub, task.winner or "", text)
                task.briefing = text
            return task.briefing

    def reported(self, agent: str, text: str, turn: int = 0) -> Task | None:
        """`agent` spoke: if it has an open task, that message is its report and the task is
        done (`task.done`)."""
        with self._lock:
            task = next((t for t in self.open if t.winner == agent), None)
            if task is None:
                return None
            self.open.remove(task)
            task.done = True
        first = " ".join((text or "").split())
        self._emit(ev.TASK_DONE, agent, task.hub, first[:200], task_id=task.id,
                   title=task.title, turn=turn)
        return task


def _cost(cost: float | None) -> str:
    if cost is None:
        return "cost unknown"
    return f"${cost:.6f}".rstrip("0").rstrip(".") if cost else "$0"


def _bare_activation(agent: str, **extra: Any) -> dict[str, Any]:
    from workbench.governance.activation import build

    data: dict[str, Any] = dict(build({"name": agent, "role": "", "domain": "default",
                                       "model": ""},
                                      {"provider": "", "name": "", "host": "", "local": False},
                                      {"cost_usd": 0.0, "tokens": 0, "turns": 0}, {"name": ""}))
    data.update(extra)
    return data


# -- wiring a run -------------------------------------------------------------------------


def past_records(store: Any, crew: str, before: str | None = None) -> dict[str, Record]:
    """Each agent's tasks awarded and done in the stored sessions of `crew` (but `before`,
    the session being run)."""
    from sqlalchemy import func, select

    from workbench.store.db import EVENTS, SESSIONS

    q = (select(EVENTS.c.agent, EVENTS.c.kind, func.count())
         .select_from(EVENTS.join(SESSIONS, SESSIONS.c.id == EVENTS.c.session_id))
         .where(SESSIONS.c.crew_name == crew,
                EVENTS.c.kind.in_([str(ev.TASK_AWARDED), str(ev.TASK_DONE)]),
                EVENTS.c.agent.is_not(None))
         .group_by(EVENTS.c.agent, EVENTS.c.kind))
    if before is not None:
        q = q.where(SESSIONS.c.id != before)
    out: dict[str, Record] = {}
    with store.engine.connect() as conn:
        for agent, kind, n in conn.execute(q):
            record = out.setdefault(agent, Record())
            if kind == ev.TASK_AWARDED:
                record.tasks += n
            else:
                record.done += n
    return out


def bidders_of(ctx: Any) -> list[Bidder]:
    """The crew's agents as bidders, each with the model its calls really go to."""
    spec = ctx.spec
    profiles = getattr(ctx.gateway, "profiles", None)
    out = []
    for i, agent in enumerate(spec.agents):
        model = spec.model_for(agent)
        if profiles is not None:
            try:
                model = profiles.resolve(profiles.model_for(spec, agent),
                                         spec.api_base_for(agent)).primary.model
            except Exception:  # an alias it cannot resolve is priced as written (unknown)
                pass
        out.append(Bidder(agent.name, agent.domain, model,
                          frozenset(c.strip().lower() for c in agent.capabilities),
                          len(agent.role) + len(agent.goal) + len(agent.backstory), i))
    return out


def _price(model: str) -> tuple[float | None, float | None]:
    from workbench.gateway.pricing import price_per_million

    return price_per_million(model)


def open_market(ctx: Any, records: dict[str, Record] | None = None) -> Market:
    """Give a star run its marketplace: the market on `ctx.market`, and the hub its
    `post_task` tool (a governed tool like any: judged as a tool_call, recorded)."""
    from workbench.tools.base import Tool

    hub = ctx.topology.hub
    market = Market(hub, bidders_of(ctx), ctx.spec.topology.award, _price, records,
                    emit=ctx.emit, judge=ctx._decide, activate=ctx.activation,
                    tell=lambda hub, winner, text: ctx._gate_message(hub, text, to=winner))

    async def post_task(task: str, capability: str = "") -> str:
        return market.post(task, capability, hub)

    ctx.tools.add(Tool(
        name=POST_TOOL,
        description=("Post a task to your team's marketplace: the agents with the capability "
                     "bid, the best bid wins, and the winner does it and reports back to you."),
        parameters={"type": "object",
                    "properties": {"task": {"type": "string",
                                            "description": "What is to be done"},
                                   "capability": {"type": "string",
                                                  "description": "The capability it needs"}},
                    "required": ["task"]},
        fn=post_task, tags=frozenset({"marketplace"})))
    hub_spec = ctx.spec.agent(hub)
    if POST_TOOL not in hub_spec.tools:
        hub_spec.tools.append(POST_TOOL)
    ctx.market = market
    return market


__all__ = ["AWARD_RULES", "AwardRule", "Bid", "Bidder", "Market", "Record", "Task",
           "bidders_of", "check_award", "make_bid", "open_market", "past_records"]
