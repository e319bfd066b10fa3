"""Planning for models that should not choose tools themselves (the bundled local models).

Code decides whether a request needs several operators, from two signals:

- cues of the work each built-in kind of operator does, anywhere in the request: a document
  named after a reading verb or a preposition ("check the vendor agreement", "in my notes",
  "I uploaded"), numbers to work with ("work out", "12% of", "what would 3 hires cost"), a
  text to produce ("draft", "put together a heads-up", "email the team");
- its clauses ("find X, then compute Y and draft Z"), each sent through the semantic router;
  a clause the router is sure of adds its operator's kind of work when the cues missed it.

Two or more operators make a plan; the steps follow the flow of work (read, then compute,
then write), each with the clauses meant for it, or the whole request when its part cannot
be cut out. Anything else is single-purpose and keeps the router's fast path. On a 1.5B
model, plans written by the model itself (a constrained `plan` call) lost steps and
wrote operator descriptions as tasks (tried on the fleet example; see docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from agents.router import Route, SemanticRouter
from agents.spec import AgentSpec

log = logging.getLogger(__name__)

MAX_STEPS = 4
CLAUSE_MARGIN = 0.1
"""How far a clause's route must lead its runner-up to count as a kind of work of its own."""

_VERBS = (
    r"research|find|look\s+up|look|search|check|read|review|pull|get|see|tell|what|which|who"
    r"|compute|calculate|work\s+out|figure\s+out|add|sum|total|estimate|multiply|divide"
    r"|subtract|convert|average|analy[sz]e|compare|draft|write|compose|prepare|summari[sz]e"
    r"|email|send|create|make|turn|rewrite|translate|list|extract|put|give|use|then|how"
)

_DOC_NOUN = (
    r"contracts?|agreements?|lease|polic(?:y|ies)|reports?|deck|minutes|plans?|catalog(?:ue)?"
    r"|quotes?|quotations?|letters?|receipts?|handbook|manual|notes|files?|documents?|docs?|pdfs?"
    r"|invoices?|statements?|proposals?|brief|spreadsheets?|memo|terms|price\s+list|guide"
    r"|presentation|slides|transcripts?|records|confirmation|itinerary|budget|roadmap|survey"
    r"|nda|sow|msa|sla|faq|wiki|readme|charter|postmortem|post-mortem|rfp|rfq|tender"
    r"|schedule|bills?|offer|export|timesheets?|ledger|workbook|sheet|summary|list|register"
    r"|minutes|agenda|specs?|specification|requirements|playbook|runbook|policy\s+doc"
    r"|audit|review|analysis|study|findings|dashboard|forecast|checklist|certificate|brochure"
    r"|rate\s+card|card|description|log|tracker|inventory|directory|calendar"
)
_DET = r"(?:the|my|our|your|this|that|these|those|each|both|all|last\s+year's|this\s+year's)"
_MODS = r"(?:[\w'&/-]+\s+){0,3}"
# Verbs of reading and looking things up; their object, when it is a document, is a cue.
_READ = (
    r"check|look\s+up|look\s+(?:in|at|through|over|into)|find|search|read|review|consult"
    r"|go\s+(?:through|over)|skim|scan|dig\s+(?:up|out|into|through)|summari[sz]e|extract|pull"
    r"|get|see|use|using|open|study|examine|go\s+by|refer\s+to|compare"
)
# What a writer produces; "a short note", "the announcement", "talking points".
_ARTIFACT = (
    r"e-?mails?|memo|notes?|post|letter|message|update|paragraph|announcement|reply|response"
    r"|reminder|tweet|caption|summary|proposal|brief|poster|talking\s+points|cover\s+letter|apology|heads-up"
    r"|bio|blurb|pitch|press\s+release|newsletter|invitation|description|slack\s+message|text"
    r"|report\s+paragraph|request|claim|recommendation|write-up|script|speech|toast|thank-you"
)
_PRODUCE = (
    r"draft|write|compose|prepare|put\s+together|send|create|make|produce|craft"
    r"|turn\s+(?:it|them|this|that|the\s+\w+(?:\s+\w+)?)\s+into|shoot\s+off|whip\s+up|do"
)
# Cues of each kind of work, by the operator that does it: words that name the work (reading
# a named document, computing with numbers, producing a text), not topics, so a
# single-purpose request rarely shows two kinds.
_CUES = {
    "documents": re.compile(
        rf"\b(?:in|from|out\s+of|under|using|based\s+on|per|according\s+to|within|on)\s+{_DET}"
        rf"\s+{_MODS}(?:{_DOC_NOUN})\b"
        rf"|\b(?:{_DOC_NOUN})\s+(?:says?|said|states?|sets?|lists?|mentions?|gives?|shows?"
        r"|allows?|requires?|covers?|specif(?:y|ies))\b"
        rf"|\b(?:does|do|did)\s+{_DET}\s+{_MODS}(?:{_DOC_NOUN})\s+(?:say|state|list|mention"
        r"|allow|require|cover|specify)\b"
        rf"|\b(?:{_READ})\s+(?:[\w'-]+\s+){{0,2}}{_DET}\s+{_MODS}(?:{_DOC_NOUN})\b"
        r"|\b(?:i|we)\s+(?:uploaded|attached|shared|received|got|were\s+sent|have\s+on\s+file)\b"
        r"|\buploaded\s+(?:files?|documents?|docs?|pdfs?|sheets?)\b|\baccording\s+to\b"
        r"|^\W*research\s+(?:what|how|whether|when|who|which|our|my|the)\b"
        r"|\b(?:my|our)\s+(?:notes|files|documents|docs|uploads|records)\b"
        # "in the table" (a file), not "in this table: a,b 1,2" (written in the message), "on
        # the table" (an offer) nor "book a table".
        rf"|\b(?:in|from)\s+(?:the|my|our|your|that)\s+{_MODS}(?:tables?|csv)\b",
        re.IGNORECASE,
    ),
    "arithmetic": re.compile(
        r"\b(?:compute|calculate|calc|work\s+out|figure\s+out|(?:total|add|sum)\s+(?:\w+\s+)?up"
        r"|sum\s+of|multiply|divide|average|growth\s+rate|percentage|break[- ]even|price\s+out"
        r"|roi|compound\s+interest|total\s+(?:it|them|those|these)\s+up|total\s+(?:it|them|those|these))\b"
        r"|\d\s*%\s+of\b",
        re.IGNORECASE,
    ),
    "writing": re.compile(
        r"\b(?:draft|write|compose|rewrite|announce|reply\s+to|respond\s+to"
        rf"|(?:{_PRODUCE})\s+(?:me\s+|us\s+|them\s+|him\s+|her\s+)?(?:an?|some|the|my|our)?\s*"
        rf"{_MODS}(?:{_ARTIFACT})"
        r"|e-?mail\s+(?:the|all|my|our|it|them|to)\b|e-?mail\s+\w+\s+(?:an?|the)\s|let\s+(?:[\w'-]+\s+){1,4}know"
        r"|put\s+(?:it|them|this|that)\s+in(?:to)?\s+an?|turn\s+(?:it|them|this|that)\s+into"
        r"|explain\s+(?:it|this|that|them)\b)",
        re.IGNORECASE,
    ),
}
# "A short note to the team", "a quick reply": a text to produce when that is the request,
# not when a question only mentions one ("Which function turns an error code into a readable
# message?" is a look-up).
_NAMED_TEXT = re.compile(
    r"\b(?:an?|short|quick|friendly|formal|polite)\s+(?:[\w'-]+\s+){0,2}(?:e-?mail|memo|note"
    r"|post|letter|message|update|paragraph|announcement|reply|reminder|tweet)\b",
    re.IGNORECASE,
)
_QUESTION = re.compile(
    r"^\W*(?:which|what|who|whom|whose|when|where|why|how|is|are|was|were|does|do|did|can"
    r"|could|should|will|would)\b(?!\s+(?:you|we)\s+(?:write|draft|send|compose|prepare)\b)",
    re.IGNORECASE,
)
# Asking "how much" or "which is cheaper" is arithmetic only when there are numbers to work
# with; otherwise it is usually a look-up ("how many vacation days do we get?").
_WEAK_ARITHMETIC = re.compile(
    r"\b(?:how\s+much|how\s+many|how\s+long|how\s+far\s+(?:over|under)|cheaper|difference"
    r"|total|convert|estimate|split|times|save|saving|savings|raise|increase|discount|margin"
    r"|(?:will|would|'d)\s+(?:be|cost|pay|come\s+to|owe|earn)|cost\s+(?:us|me|per)|per\s+(?:person"
    r"|head|unit|attendee|seat|day|week|month|year|hour)|(?:monthly|weekly|annual|yearly)"
    r"\s+(?:payment|cost|amount|income)|what\s+\w+\s+(?:owes?|earns?)|growth|project\w*\s+(?:\w+\s+)?forward"
    r"|what\s+(?:would|will|does|do)\s+(?:[\w,.%-]+\s+){1,8}cost"
    r"|over\s+(?:the\s+)?(?:cap|budget|limit))\b",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")
_SPLIT = re.compile(
    r"(?<=[.;!?])\s+"  # sentences
    r"|\s*[,;]?\s*\b(?:and\s+then|then|after\s+that|afterwards|next|finally|once\s+done)\b[,:]?\s*"
    rf"|\s*[,;]\s*(?:and\s+)?(?=(?:please\s+)?(?:{_VERBS})\b)"
    rf"|\s+and\s+(?=(?:please\s+)?(?:{_VERBS})\b)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class PlanStep:
    """One delegation of a plan."""

    operator: str
    """The operator's name, e.g. `Researcher`."""
    task: str
    """What the operator is asked to do, self-contained."""


@dataclass(frozen=True, slots=True)
class Plan:
    """Who handles a request: no step (the Chief of Staff answers), one operator, or several."""

    steps: tuple[PlanStep, ...]
    reason: str
    """One sentence for the step the user sees."""
    route: Route | None = None
    """The router's decision for the whole request."""

    @property
    def operators(self) -> list[str]:
        """The operators' names, in order."""
        return [step.operator for step in self.steps]


def clauses(request: str) -> list[str]:
    """The request cut into the parts that could each be one operator's job."""
    parts = [p.strip(" ,.;:\n\t") for p in _SPLIT.split(request) if p]
    return [p for p in parts if len(p.split()) >= 2]


FLOW = ("documents", "arithmetic", "writing")
"""Kinds of work in the order one feeds the next: read, then compute, then write."""

DEFAULT_KINDS = {"documents": "Researcher", "arithmetic": "Analyst", "writing": "Writer"}
"""Which built-in operator does each kind of work."""


def kinds_of_work(request: str) -> list[str]:
    """The kinds of work `request` asks for, in `FLOW` order."""
    found = {kind for kind, cue in _CUES.items() if cue.search(request)}
    if _NAMED_TEXT.search(request) and not _QUESTION.search(request):
        found.add("writing")
    if _WEAK_ARITHMETIC.search(request) and _DIGIT.search(request):
        found.add("arithmetic")
    return [kind for kind in FLOW if kind in found]


def _cue_phrase(request: str) -> str:
    for kind in FLOW:
        if found := _CUES[kind].search(request):
            return f'"{found.group(0)}"'
        if kind == "writing" and (found := _NAMED_TEXT.search(request)):
            return f'"{found.group(0)}"'
    found = _WEAK_ARITHMETIC.search(request)
    return f'"{found.group(0)}" with numbers' if found else "its wording"


class Planner:
    """Decides who handles a request: the router for single-purpose ones, a plan otherwise."""

    def __init__(
        self,
        router: SemanticRouter,
        operators: Sequence[AgentSpec],
        kinds: dict[str, str] | None = None,
    ) -> None:
        self.router = router
        self.operators = tuple(operators)
        names = {op.name for op in self.operators}
        self.kinds = {k: v for k, v in (kinds or DEFAULT_KINDS).items() if v in names}

    async def plan(self, request: str) -> Plan:
        """The plan for `request` (routing runs in a thread: it embeds)."""
        route = await asyncio.to_thread(self.router.route, request)
        parts = clauses(request)
        routed: list[tuple[str, str]] = []
        kinds = set(kinds_of_work(request))
        if len(parts) >= 2:
            for part in parts:
                part_route = await asyncio.to_thread(self.router.route, part)
                if part_route.operator is None:
                    continue
                routed.append((part_route.operator, part))
                # A clause the router is sure about names a kind of work the cues may have
                # missed (a document called something they do not know, "the rate card").
                if part_route.margin >= CLAUSE_MARGIN:
                    kinds.update(k for k, op in self.kinds.items() if op == part_route.operator)
        by_clause = _merge(routed)
        by_cue = [self.kinds[k] for k in FLOW if k in kinds and k in self.kinds]
        if len(by_cue) >= 2:
            order = by_cue
        elif len(by_cue) == 1:
            # One unmistakable kind of work ("in my notes", "draft a memo") outweighs a router
            # that hesitates between look-alike operators.
            reason = f"This asks for {by_cue[0]} work ({_cue_phrase(request)})."
            return Plan((PlanStep(by_cue[0], request),), reason, route)
        elif len({op for op, _ in by_clause}) >= 2:
            order = list(dict.fromkeys(op for op, _ in by_clause))
        else:
            single = (PlanStep(route.operator, request),) if route.operator else ()
            return Plan(single, route.reason, route)
        tasks: dict[str, list[str]] = {}
        for operator, task in by_clause:
            tasks.setdefault(operator, []).append(task)
        steps = tuple(
            PlanStep(op, "; ".join(tasks[op]) if op in tasks else request)
            for op in order[:MAX_STEPS]
        )
        how = "by the kinds of work it asks for" if order is by_cue else "by its parts"
        return Plan(steps, _reason(steps, how), route)


def _merge(steps: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Consecutive steps of the same operator become one step."""
    merged: list[tuple[str, str]] = []
    for operator, task in steps:
        if merged and merged[-1][0] == operator:
            merged[-1] = (operator, f"{merged[-1][1]}; {task}")
        else:
            merged.append((operator, task))
    return merged


def _reason(steps: Sequence[PlanStep], how: str) -> str:
    names = " → ".join(step.operator for step in steps)
    return f"This request has {len(steps)} parts, planned {how}: {names}."


def with_results(task: str, results: Sequence[tuple[str, str]]) -> str:
    """A step's instructions, after what the earlier steps produced.

    The task comes last and the facts without who found them: a small model given "task,
    then results from the Researcher and the Analyst" wrote "[Name] - Results from the team
    so far: Researcher: ..." instead of the note it was asked for.
    """
    if not results:
        return task
    facts = "\n".join(f"- {text.strip()}" for _, text in results)
    return f"Facts found so far (use them):\n{facts}\n\nYour task: {task}"
