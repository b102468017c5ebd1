"""What the reports show, as typed records read from the history's columns.

A call without speech (``no_speech``: every item ``na``, its score only the rubric's base) says
nothing about the agent: it is listed and counted as a call (and counted apart, ``no_speech``)
but left out of every mean, median, distribution, fatal, reward and penalty count and trend.

One query layer over ``store.History`` with the one filter record (``store.Filter``): the
calls list, each agent's page and the dashboard come from the ``calls`` and ``items`` columns
(``score``, ``bonus``, ``fatal``, ``items.status``, ``items.flagged`` ...), which hold the
effective values, never from re-reading every stored scorecard. Only a scorecard page reads a
call's stored JSON (``History.calls``). Failures, penalties and rewards are the definitions of
``models`` (``Judged``: failed, penalty, rewarded, flagged).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from statistics import mean, median
from typing import Iterable, Optional, Sequence

from qa_scorer.models import REWARD_KINDS, PENALTY_KINDS, ItemResult, Judged, is_flagged
from qa_scorer.report.files import href, safe_name
from qa_scorer.store import Filter, History, ItemRow

__all__ = [
    "AgentPage", "CallRecord", "Dash", "IndexPage", "ItemRef", "agent_pages", "call_href", "call_records",
    "dashboard_data", "describe", "index_page", "item_choices", "tables",
]


@lru_cache(maxsize=1 << 16)
def call_href(call_id: str, *, prefix: str = "calls") -> str:
    return href(prefix, safe_name(call_id) + ".html")


@lru_cache(maxsize=1 << 12)
def agent_href(agent: str) -> str:
    return href("agents", safe_name(agent), "index.html")


def describe(f: Filter) -> str:
    """The filter in words, for the pages' headings."""
    parts = []
    if f.since or f.until:
        parts.append(f"{f.since or '…'} – {f.until or '…'}")
    if f.agent:
        parts.append(f"agent {f.agent}")
    return ", ".join(parts)


# --------------------------------------------------------------------------------------------
# The calls list


@dataclass(frozen=True)
class ItemRef(Judged):
    """A flagged item of one call: a failure or a reward earned."""

    id: str
    label: str
    kind: str
    status: str
    position: int
    reason: str


@dataclass(frozen=True)
class CallRecord:
    """One call as a row of the calls tables (index, agent pages) and of the trends."""

    pk: int
    call_id: str
    agent: str
    call_date: date
    week: str
    score: float
    bonus: float
    fatal: bool
    no_speech: bool
    flagged: tuple[ItemRef, ...] = ()

    @property
    def day(self) -> str:
        return self.call_date.isoformat()

    @property
    def failures(self) -> list[ItemRef]:
        return [it for it in self.flagged if it.failed]

    @property
    def rewards_earned(self) -> list[ItemRef]:
        return [it for it in self.flagged if it.rewarded]

    def row(self, *, with_agent_link: bool) -> "TableRow":
        """The calls table's row (macros.html ``calls_table``)."""
        failed = self.failures
        return TableRow(
            call_id=self.call_id, agent=self.agent, date=self.day,
            score=self.score, bonus=self.bonus, fatal=self.fatal, no_speech=self.no_speech,
            failed=[it.label for it in failed], failed_ids=[it.id for it in failed],
            rewards=[it.label for it in self.rewards_earned],
            href=call_href(self.call_id), agent_href=agent_href(self.agent) if with_agent_link else None,
        )


@dataclass(frozen=True, slots=True)
class TableRow:
    """One row of a calls table, as the template reads it (attributes: no dict lookups)."""

    call_id: str
    agent: str
    date: str
    score: float
    bonus: float
    fatal: bool
    no_speech: bool
    failed: list[str]
    failed_ids: list[str]
    rewards: list[str]
    href: str
    agent_href: Optional[str]


def call_records(history: History, f: Filter = Filter(), *, exclude: Iterable[str] = ()) -> list[CallRecord]:
    """The calls ``f`` selects with their flagged items, by date then call id, read from the
    columns. ``exclude``: call ids to leave out (calls that could not be read back)."""
    skip = set(exclude)
    flagged: dict[int, list[ItemRef]] = defaultdict(list)
    for it in history.item_rows(f, flagged=True):
        flagged[it.call_pk].append(_ref(it))
    return [
        CallRecord(c.pk, c.call_id, c.agent_id, c.call_date, c.week, c.score, c.bonus, c.fatal, c.no_speech,
                   tuple(flagged.get(c.pk, ())))
        for c in history.call_summaries(f) if c.call_id not in skip
    ]


def _ref(it: ItemRow) -> ItemRef:
    return ItemRef(it.item_id, it.name or it.item_id, it.kind, it.status, it.position, it.reason)


def item_choices(records: Sequence[CallRecord]) -> list[tuple[str, str]]:
    """(item id, label) of every item failed in these calls, for the tables' item filter."""
    seen: dict[str, str] = {}
    for c in records:
        for it in c.failures:
            seen.setdefault(it.id, it.label)
    return sorted(seen.items())


@dataclass
class IndexPage:
    rows: list[TableRow]
    agents: list[str]
    item_names: list[tuple[str, str]]
    figures: dict
    agent_links: list[tuple[str, str]]


def scored(records: Iterable[CallRecord]) -> list[CallRecord]:
    """The calls with speech: those the means and counts are made of (see the module's doc)."""
    return [c for c in records if not c.no_speech]


def index_page(records: Sequence[CallRecord]) -> IndexPage:
    agents = sorted({c.agent for c in records})
    judged = scored(records)
    scores = [c.score for c in judged]
    return IndexPage(
        rows=[c.row(with_agent_link=True) for c in records],
        agents=agents,
        item_names=item_choices(records),
        figures={
            "calls": len(records), "agents": len(agents),
            "mean": mean(scores) if scores else None, "median": median(scores) if scores else None,
            "fatal": sum(c.fatal for c in judged),
            "flagged": sum(1 for c in judged if c.failures),
            "no_speech": len(records) - len(judged),
        },
        agent_links=[(a, agent_href(a)) for a in agents],
    )


# --------------------------------------------------------------------------------------------
# Agents' pages


@dataclass
class AgentPage:
    """Everything one agent's page shows (the charts are drawn from ``recent`` and ``week_rows``)."""

    agent: str
    rows: list[TableRow]
    figures: dict
    week_rows: list[dict]
    recent: list[CallRecord]  # the latest calls with speech, oldest first, for the trend
    most_failed: list[dict]
    rewards: list[dict]
    item_names: list[tuple[str, str]]


_RECENT = 60  # calls (with speech) in an agent's trend


def agent_pages(history: History, f: Filter, records: Sequence[CallRecord],
                agents: Optional[Iterable[str]] = None) -> dict[str, AgentPage]:
    """The pages of ``agents`` (default: every agent in ``records``), from ``records`` (the
    calls ``f`` selects, by date) and three small queries: how often each item applied, each
    item's latest name and doc, and the quotes of the examples shown."""
    by_agent: dict[str, list[CallRecord]] = defaultdict(list)
    wanted = None if agents is None else set(agents)
    for c in records:
        if wanted is None or c.agent in wanted:
            by_agent[c.agent].append(c)
    if not by_agent:
        return {}
    if wanted is not None:
        f = f.but(agents=frozenset(by_agent))
    applicable: dict[tuple[str, str], int] = Counter()
    for ic in history.item_counts(f=f):
        if ic.agent_id in by_agent and ic.judged:
            applicable[(ic.agent_id, ic.item_id)] += ic.count
    latest_json = history.latest_items(f)

    pages: dict[str, AgentPage] = {}
    wanted_quotes: list[tuple[int, int]] = []
    for agent, calls in by_agent.items():
        failed: Counter = Counter()
        rewards: Counter = Counter()
        examples: dict[str, list[tuple[CallRecord, ItemRef]]] = defaultdict(list)
        reward_examples: dict[str, list[tuple[CallRecord, ItemRef]]] = defaultdict(list)
        judged = scored(calls)
        for c in reversed(judged):  # newest first
            for it in c.flagged:
                if it.rewarded:
                    rewards[it.id] += 1
                    if len(reward_examples[it.id]) < 5:
                        reward_examples[it.id].append((c, it))
                elif it.failed:
                    failed[it.id] += 1
                    if len(examples[it.id]) < 3:
                        examples[it.id].append((c, it))
        most_failed = [{"item": iid, "failed": n, "applicable": applicable[(agent, iid)], "examples": examples[iid]}
                       for iid, n in failed.most_common(6)]
        reward_list = [{"item": iid, "count": n, "examples": reward_examples[iid]} for iid, n in rewards.most_common()]
        for m in most_failed + reward_list:
            wanted_quotes += [(c.pk, it.position) for c, it in m["examples"]]
        weeks: dict[str, list[CallRecord]] = defaultdict(list)
        for c in calls:
            weeks[c.week].append(c)
        week_rows = []
        for w, cs in sorted(weeks.items()):
            js = scored(cs)
            week_rows.append({
                "week": w, "calls": len(cs), "mean": mean(x.score for x in js) if js else None,
                "fatal": sum(x.fatal for x in js),
                "rewards": sum(1 for x in js for it in x.flagged if it.rewarded),
                "penalties": sum(1 for x in js for it in x.flagged if it.penalty),
                "no_speech": len(cs) - len(js),
            })
        scores = [c.score for c in judged]
        pages[agent] = AgentPage(
            agent=agent,
            rows=[c.row(with_agent_link=False) for c in calls],
            figures={"calls": len(calls), "mean": mean(scores) if scores else None,
                     "fatal": sum(c.fatal for c in judged), "rewards": sum(rewards.values()),
                     "failed": sum(failed.values()), "no_speech": len(calls) - len(judged)},
            week_rows=week_rows, recent=judged[-_RECENT:],
            most_failed=most_failed, rewards=reward_list, item_names=item_choices(calls),
        )

    quotes = history.first_evidence_text(wanted_quotes)
    for agent, page in pages.items():
        for m in page.most_failed + page.rewards:
            iid = m["item"]
            stored = latest_json.get((agent, iid))
            m["item"] = (ItemResult.model_validate_json(stored) if stored is not None
                         else ItemResult(id=iid, kind="required", status="na"))
            m["examples"] = [{
                "href": call_href(c.call_id) + f"#item-{it.position}", "date": c.day, "call_id": c.call_id,
                **_quoted(quotes.get((c.pk, it.position)), it.reason),
            } for c, it in m["examples"]]
    return pages


def _quoted(quote: Optional[tuple[str, Optional[str]]], reason: str) -> dict[str, str]:
    """An example's quote (``text``) and whose words they are (``who``: the customer's are marked:
    a missed apology's example is what the customer said that called for one, which an agent read
    as words put in their own mouth); the item's reason where nothing is quoted."""
    if quote is None:
        return {"text": _excerpt(reason), "who": ""}
    text, speaker = quote
    return {"text": _excerpt(text), "who": "客户 customer" if speaker == "customer" else ""}


_EXCERPT = 120  # characters of an example's quote on an agent's page (the call's page has it all)


def _excerpt(text: str) -> str:
    """An example's quote, cut to a line's length: evidence can be a whole segment, and one of a
    hundred thousand characters made a page of megabytes."""
    return text if len(text) <= _EXCERPT else text[:_EXCERPT].rstrip() + "…"


# --------------------------------------------------------------------------------------------
# The dashboard and the CSV export

@dataclass
class Agg:
    calls: int = 0  # every call, with speech or not
    score_sum: float = 0  # the rest: calls with speech only
    fatal: int = 0
    rewards: int = 0
    penalties: int = 0
    by_item: Counter = field(default_factory=Counter)
    no_speech: int = 0  # calls without speech, in ``calls`` but in nothing else

    @property
    def scored(self) -> int:
        """The calls with speech: those ``mean`` is made of."""
        return self.calls - self.no_speech

    @property
    def mean(self) -> Optional[float]:
        return self.score_sum / self.scored if self.scored else None


@dataclass
class Dash:
    agents: list[str]
    weeks: list[str]
    per_agent: dict[str, Agg]
    per_week: dict[str, Agg]
    per_agent_week: dict[tuple[str, str], Agg]
    penalty_items: list[tuple[str, str]]  # (id, name) in rubric order
    reward_items: list[tuple[str, str]]
    item_stats: list[dict]  # per item: id, name, kind, applicable, failed, flagged, rate
    scores: list[float]
    versions: list[dict]
    version_items: list[dict]
    fatal_calls: list[dict]
    # the calls every version scored, that version_items' rates are taken on (None: each version's own)
    version_items_calls: Optional[int] = None
    no_speech: bool = False  # some result (any rubric version) had no speech: the tables say so

    @property
    def total(self) -> Agg:
        agg = Agg()
        for a in self.per_agent.values():
            agg.calls += a.calls
            agg.no_speech += a.no_speech
            agg.score_sum += a.score_sum
            agg.fatal += a.fatal
            agg.rewards += a.rewards
            agg.penalties += a.penalties
        return agg


BINS = [(0, 50, "<50")] + [(lo, lo + 10, f"{lo}–{lo + 9}") for lo in range(50, 100, 10)] + [(100, 10**9, "100+")]


def bin_of(score: float) -> int:
    for i, (lo, hi, _) in enumerate(BINS):
        if score < hi:
            return i
    return len(BINS) - 1


def dashboard_data(history: History, f: Filter = Filter(), records: Optional[Sequence[CallRecord]] = None) -> Dash:
    """The dashboard's figures for the calls ``f`` selects, from SQL aggregates over the columns.
    ``records``: those calls' records when already read (the fatal calls are listed from them)."""
    all_rows = history.versions_rows(f)  # every version's result; the latest make the figures
    rows = [r for r, latest in all_rows if latest]
    all_counts = history.versions_item_counts(f)
    counts = [c for c, latest in all_counts if latest]
    per_agent: dict[str, Agg] = defaultdict(Agg)
    per_week: dict[str, Agg] = defaultdict(Agg)
    per_aw: dict[tuple[str, str], Agg] = defaultdict(Agg)
    for r in rows:
        for agg in (per_agent[r.agent_id], per_week[r.week], per_aw[(r.agent_id, r.week)]):
            agg.calls += 1
            if r.no_speech:
                agg.no_speech += 1
            else:
                agg.score_sum += r.score
                agg.fatal += int(r.fatal)
    penalty_items: dict[str, str] = {}
    reward_items: dict[str, str] = {}
    item_tot: dict[str, dict] = {}
    for c in counts:
        st = item_tot.setdefault(c.item_id, {"id": c.item_id, "name": c.name or c.item_id, "kind": c.kind,
                                             "applicable": 0, "failed": 0, "flagged": 0})
        if c.judged:  # a reward not earned was judged too: its rate is over the calls it was tried on
            st["applicable"] += c.count
        if c.failed:
            st["failed"] += c.count
        if c.flagged:
            st["flagged"] += c.count
        if c.kind in PENALTY_KINDS:
            penalty_items.setdefault(c.item_id, c.name or c.item_id)
        if c.kind in REWARD_KINDS:
            reward_items.setdefault(c.item_id, c.name or c.item_id)
        penalty = c.penalty
        if penalty or c.rewarded:
            for agg in (per_agent[c.agent_id], per_week[c.week], per_aw[(c.agent_id, c.week)]):
                if penalty:
                    agg.penalties += c.count
                else:
                    agg.rewards += c.count
                agg.by_item[c.item_id] += c.count
    stats = []
    for st in item_tot.values():
        st["rate"] = st["failed"] / st["applicable"] if st["applicable"] else 0.0
        stats.append(st)
    stats.sort(key=lambda s: (-s["failed"], -s["rate"], s["id"]))

    # Rubric versions: every version's result, not just each call's latest.
    by_version: dict[str, dict] = {}
    order = {v.version: i for i, v in enumerate(history.rubric_versions())}
    for r, _ in all_rows:
        v = by_version.setdefault(r.rubric_version, {
            "rubric_id": r.rubric_id, "version": r.rubric_version, "calls": 0, "score_sum": 0.0,
            "fatal": 0, "scores": {}, "first": r.recorded_at, "last": r.recorded_at, "no_speech": 0})
        v["calls"] += 1
        if r.no_speech:
            v["no_speech"] += 1
        else:
            v["score_sum"] += r.score
            v["fatal"] += int(r.fatal)
            v["scores"][r.call_id] = r.score
        v["first"] = min(v["first"], r.recorded_at)
        v["last"] = max(v["last"], r.recorded_at)
    versions = sorted(by_version.values(), key=lambda v: (order.get(v["version"], 1 << 30), v["first"]))
    prev = None
    for v in versions:
        n = v["calls"] - v["no_speech"]  # the calls with speech
        v["mean"] = v["score_sum"] / n if n else None
        v["fatal_rate"] = v["fatal"] / n if n else 0.0
        v["common"] = 0
        v["delta"] = None
        if prev is not None:
            common = set(v["scores"]) & set(prev["scores"])
            v["common"] = len(common)
            if common:
                v["delta"] = mean(v["scores"][c] - prev["scores"][c] for c in common)
        prev = v
    # Each item's rate under each version, on the calls every version scored (two versions' rates on
    # different calls would show changes nobody made); on each version's own calls when they share none.
    # Names are the latest version's (an item renamed keeps its id).
    version_items: dict[str, dict] = {}
    names: dict[str, tuple[int, str]] = {}
    for c, _ in all_counts:
        version_items.setdefault(c.item_id, {"id": c.item_id, "name": c.name or c.item_id, "kind": c.kind,
                                             "rates": {}})
        rank = order.get(c.rubric_version, -1)
        if c.name and rank >= names.get(c.item_id, (-2, ""))[0]:
            names[c.item_id] = (rank, c.name)
    for iid, (_, name) in names.items():
        version_items[iid]["name"] = name
    common_calls: Optional[set[str]] = None
    if len(by_version) > 1:
        statuses = history.versions_item_statuses(f)
        per_version: dict[str, set[str]] = defaultdict(set)
        for call_id, version, *_ in statuses:
            per_version[version].add(call_id)
        common_calls = set.intersection(*per_version.values()) if per_version else set()
    tallies: dict[str, dict[str, list[int]]] = defaultdict(dict)
    if common_calls:
        for call_id, version, iid, kind, status, judged in statuses:
            if call_id in common_calls and iid in version_items:
                app_fail = tallies[iid].setdefault(version, [0, 0])
                app_fail[0] += judged
                app_fail[1] += is_flagged(kind, status)
    else:
        for c, _ in all_counts:
            app_fail = tallies[c.item_id].setdefault(c.rubric_version, [0, 0])
            app_fail[0] += c.count if c.judged else 0
            app_fail[1] += c.count if c.flagged else 0
    for iid, row in version_items.items():
        row["rates"] = {k: (fl / a if a else None) for k, (a, fl) in tallies[iid].items()}
    same_calls = len(common_calls) if common_calls else None

    fatal_calls = []
    fatal_items: dict[int, list[ItemRow]] = defaultdict(list)
    for it in history.item_rows(f, kind="fatal", status="fail"):
        fatal_items[it.call_pk].append(it)
    if records is None:
        records = call_records(history, f)
    for c in records:
        if c.fatal and not c.no_speech:
            items = fatal_items.get(c.pk, [])
            fatal_calls.append({
                "call_id": c.call_id, "agent": c.agent, "date": c.day,
                "score": c.score,
                "fatal_items": [it.name or it.item_id for it in items],
                "reasons": [it.reason for it in items if it.reason],
                "href": call_href(c.call_id),
                "agent_href": agent_href(c.agent),
            })
    return Dash(
        agents=sorted(per_agent),
        weeks=sorted(per_week),
        per_agent=dict(per_agent),
        per_week=dict(per_week),
        per_agent_week=dict(per_aw),
        penalty_items=list(penalty_items.items()),
        reward_items=list(reward_items.items()),
        item_stats=stats,
        scores=[r.score for r in rows if not r.no_speech],
        versions=versions,
        version_items=list(version_items.values()), version_items_calls=same_calls,
        fatal_calls=fatal_calls,
        no_speech=any(r.no_speech for r, _ in all_rows),
    )


# The column the tables add after ``calls`` when some call had no speech: those calls are in
# ``calls`` (they are listed) and in nothing else (means, fatal calls, rewards, penalties).
NO_SPEECH_COLUMN = "no_speech_calls (not scored)"


def tables(d: Dash) -> dict[str, tuple[list[str], list[list]]]:
    """The dashboard's tables as (header, rows): what the CSV export writes. When some call had
    no speech, the tables with a ``calls`` column add ``NO_SPEECH_COLUMN`` after it and the score
    distribution a last row; otherwise they are as they always were."""
    def r1(x: Optional[float]) -> Optional[float]:
        return None if x is None else round(x, 1)

    ns = d.no_speech
    calls_h = ["calls", NO_SPEECH_COLUMN] if ns else ["calls"]

    def calls(g: Agg) -> list[int]:
        return [g.calls, g.no_speech] if ns else [g.calls]

    pen = [f"penalty:{iid} {name}" for iid, name in d.penalty_items]
    rew = [f"reward:{iid} {name}" for iid, name in d.reward_items]
    agents = (
        ["agent", *calls_h, "mean_score", "fatal_calls", "rewards", "penalties"] + rew + pen,
        [[a, *calls(g), r1(g.mean), g.fatal, g.rewards, g.penalties]
         + [g.by_item.get(i, 0) for i, _ in d.reward_items]
         + [g.by_item.get(i, 0) for i, _ in d.penalty_items]
         for a, g in sorted(d.per_agent.items())],
    )
    agent_weeks = (
        ["agent", "week", *calls_h, "mean_score", "fatal_calls", "rewards", "penalties"] + rew + pen,
        [[a, w, *calls(g), r1(g.mean), g.fatal, g.rewards, g.penalties]
         + [g.by_item.get(i, 0) for i, _ in d.reward_items]
         + [g.by_item.get(i, 0) for i, _ in d.penalty_items]
         for (a, w), g in sorted(d.per_agent_week.items())],
    )
    weeks = (
        ["week", *calls_h, "mean_score", "fatal_calls", "rewards", "penalties"],
        [[w, *calls(g), r1(g.mean), g.fatal, g.rewards, g.penalties] for w, g in sorted(d.per_week.items())],
    )
    items = (
        ["item_id", "name", "kind", "applicable_calls", "failed_calls", "fail_rate", "flagged_calls"],
        [[s["id"], s["name"], s["kind"], s["applicable"], s["failed"], round(s["rate"], 4), s["flagged"]]
         for s in d.item_stats],
    )
    dist = [0] * len(BINS)
    for s in d.scores:
        dist[bin_of(s)] += 1
    distribution = (["score_range", "calls"], [[lab, n] for (_, _, lab), n in zip(BINS, dist)]
                    + ([[NO_SPEECH_COLUMN, d.total.no_speech]] if ns else []))
    fatal = (
        ["call_id", "agent", "date", "score", "fatal_items", "reasons"],
        [[f["call_id"], f["agent"], f["date"], f["score"], "; ".join(f["fatal_items"]), "; ".join(f["reasons"])]
         for f in d.fatal_calls],
    )
    versions = (
        ["rubric_id", "rubric_version", "first_recorded", "last_recorded", *calls_h, "mean_score",
         "fatal_calls", "calls_also_in_previous_version", "mean_change_on_those_calls"],
        [[v["rubric_id"], v["version"], v["first"], v["last"], v["calls"], *([v["no_speech"]] if ns else []),
          r1(v["mean"]), v["fatal"], v["common"], r1(v["delta"])] for v in d.versions],
    )
    vers = [v["version"] for v in d.versions]
    version_items = (
        ["item_id", "name", "kind"] + [f"flagged_rate@{v}" for v in vers],
        [[r["id"], r["name"], r["kind"]] + [
            None if r["rates"].get(v) is None else round(r["rates"][v], 4) for v in vers]
         for r in d.version_items],
    )
    return {
        "agents": agents, "agent_weeks": agent_weeks, "weeks": weeks, "items": items,
        "score_distribution": distribution, "fatal_calls": fatal, "rubric_versions": versions,
        "rubric_version_items": version_items,
    }
