"""The channel-neutral turn: who asks, what they ask, and the events of the answer.

Every channel (the Chainlit chat today; the REST and OpenAI-compatible APIs and the widget
next) is a thin adapter over `Turns.stream`: it says who is asking (`Caller`) and what
(`TurnRequest`), and shows the `RunEvent`s that come back. The turn itself resolves the
roster (built-in operators plus the admin-made ones in the database), runs the Chief of
Staff, and files what happened — each task and each model call's tokens — under the
caller's user and thread. Nothing here reads a UI context.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Collection, Sequence
from contextlib import aclosing
from dataclasses import dataclass, replace

from sqlalchemy.exc import SQLAlchemyError

from agents import OPERATORS, AgentSpec
from agents import events as ev
from agents.context import RunContext
from agents.delegation import delegate
from agents.errors import DelegationError, ModelNotFound
from agents.models.base import ChatMessage
from agents.roster import CHIEF_OF_STAFF
from agents.runner import observe_run
from agents.scope import UserScope
from agents.table_query import is_spreadsheet
from agents.tasks import new_id
from app.auth.sites import SiteStore, VisitorLimits
from app.auth.user_limits import UserLimits
from app.db.errors import PersistenceError
from app.db.operators import OperatorStore
from app.db.stores import SqlTaskStore
from app.db.usage import UsageLedger
from app.services import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a turn works for, as the channel authenticated them."""

    user_id: str
    """The user's database id: owner of the documents searched and of the records written."""
    thread_id: str | None = None
    """The conversation the turn belongs to; `None` for one-off requests."""
    role: str = "member"
    """The user's role (`member` or `admin`) as the channel authenticated it."""
    operators: Collection[str] | None = None
    """Names of the operators this channel may use (a widget site's list); `None` for all."""

    def __post_init__(self) -> None:
        if not self.user_id.strip():
            raise ValueError("Caller.user_id must be a user's database id")


@dataclass(frozen=True, slots=True)
class TurnRequest:
    """What the caller asks, with the conversation so far."""

    text: str
    history: Sequence[ChatMessage] = ()
    """Earlier user and assistant messages of the conversation, oldest first."""
    attached: tuple[str, ...] = ()
    """Ids of documents attached to this message (already ingested): always consulted."""
    earlier: tuple[str, ...] = ()
    """Ids of documents attached to earlier messages of this conversation: a follow-up is
    checked against them first."""
    model: str | None = None
    """A model picked for this conversation (`openai:gpt-4o-mini`); `None` for the
    deployment's chat model. Checked against the models that can answer now."""
    operator: str | None = None
    """Hand the request straight to this operator of the roster instead of letting the Chief
    of Staff decide (the API's `operator:<name>` models); `None` for the Chief's choice."""


_VISITOR_LIMITS = VisitorLimits()
"""Messages per minute of each widget visitor, counted in the database (every process)."""
_USER_LIMITS = UserLimits()
"""Messages per minute and tokens per day of each signed-in person, on every channel."""


class Turns:
    """Runs user turns for any channel."""

    def __init__(self, services: Services) -> None:
        self._services = services
        layer = services.data_layer
        self.operators = OperatorStore(layer)
        self.usage = UsageLedger(layer)
        self.sites = SiteStore(layer)

    async def roster(self, caller: Caller) -> tuple[AgentSpec, ...]:
        """The operators the Chief of Staff may delegate to for `caller`.

        A widget visitor gets only the operators their site allows, whatever the channel.
        A built-in an admin pinned to a model runs on it (`AgentSpec.model`), like an
        operator made here with a model of its own.
        """
        reserved = [CHIEF_OF_STAFF.name, *(op.name for op in OPERATORS)]
        made = await self.operators.enabled(reserved=reserved)
        states = await self.operators.states()
        pinned = await self.operators.models()
        builtins = tuple(
            replace(op, model=pinned.get(op.name, op.model))
            for op in OPERATORS
            if states.get(op.name, True)
        )
        roster = (*builtins, *made)
        site = await self.sites.site_of(caller.user_id)
        if site is not None:
            roster = tuple(op for op in roster if op.name in site.operators)
        if caller.operators is None:
            return roster
        allowed = set(caller.operators)
        return tuple(op for op in roster if op.name in allowed)

    async def stream(
        self, caller: Caller, request: TurnRequest
    ) -> AsyncGenerator[ev.RunEvent, None]:
        """Run one turn for `caller`, yielding every event of the Chief of Staff's tree.

        Closing the generator early (a stop button, a dropped connection) cancels every
        operator, tool and generation of the turn. A caller over a limit gets the error of
        `start` before anything runs.
        """
        async with aclosing(await self.start(caller, request)) as events:
            async for event in events:
                yield event

    async def start(
        self, caller: Caller, request: TurnRequest
    ) -> AsyncGenerator[ev.RunEvent, None]:
        """Admit the turn, then return its events (what `stream` yields), none run yet.

        This is the one place the limits are enforced, before any model is asked: a widget
        visitor over their site's rate or daily budget gets `VisitorLimitError`; anyone else
        over `user_messages_per_minute` or `user_tokens_per_day` gets `UserLimitError`.
        A refused message is not counted. Channels that must answer a refusal before they
        start a response (the `/v1` API's 429) call this directly.
        """
        settings = self._services.settings
        site = await self.sites.site_of(caller.user_id)
        if site is not None:
            await _VISITOR_LIMITS.admit(self.sites, caller.user_id, site)
            if request.model is not None:
                # The site owner pays for the visitors' turns: they get the deployment's model.
                raise ModelNotFound("Visitors of a site cannot choose the model.")
        if request.model is not None and not await self._services.catalog.offers(request.model):
            raise ModelNotFound(
                f"{request.model} is not available right now; pick another model in the "
                "chat settings."
            )
        if site is None:
            await _USER_LIMITS.admit(
                self.sites.store,
                caller.user_id,
                per_minute=settings.user_messages_per_minute,
                tokens_per_day=settings.user_tokens_per_day,
            )
        return self._run(caller, request)

    async def _run(self, caller: Caller, request: TurnRequest) -> AsyncGenerator[ev.RunEvent, None]:
        roster = await self.roster(caller)
        records = _TurnRecords(
            SqlTaskStore(
                self._services.data_layer, thread_id=caller.thread_id, user_id=caller.user_id
            ),
            self.usage,
            caller,
        )
        scope = await self._scope(caller, request)
        if request.operator is None:
            chief = await self._services.chief(roster, model=request.model)
            turn = chief.stream(request.text, history=list(request.history), deps=scope)
        else:
            turn = self._direct(roster, request, scope)
        async with aclosing(turn) as events:
            async for event in events:
                await records.keep(event)
                yield event

    async def _scope(self, caller: Caller, request: TurnRequest) -> UserScope:
        """Whose documents the turn reads, with the conversation's files and which are tables."""
        earlier = tuple(d for d in request.earlier if d not in request.attached)
        tables: set[str] = set()
        if request.attached or earlier:
            kb = await self._services.knowledge()
            for document_id in (*request.attached, *earlier):
                record = await kb.catalog.get(caller.user_id, document_id)
                if record is not None and is_spreadsheet(record.name):
                    tables.add(document_id)
        return UserScope(
            caller.user_id,
            attached=request.attached,
            attached_tables=tuple(d for d in request.attached if d in tables),
            earlier=earlier,
            earlier_tables=tuple(d for d in earlier if d in tables),
        )

    async def try_draft(
        self, caller: Caller, draft: AgentSpec, text: str
    ) -> AsyncGenerator[ev.RunEvent, None]:
        """Run `text` on an operator that is not saved yet (the wizard's "Try it").

        The Chief of Staff hands the request straight to `draft`, exactly as it would once
        the operator is saved; its tasks and token usage are filed like any turn's.
        """
        records = _TurnRecords(
            SqlTaskStore(
                self._services.data_layer, thread_id=caller.thread_id, user_id=caller.user_id
            ),
            self.usage,
            caller,
        )
        request = TurnRequest(text, operator=draft.name)
        turn = self._direct((draft,), request, UserScope(caller.user_id))
        async with aclosing(turn) as events:
            async for event in events:
                await records.keep(event)
                yield event

    def _direct(
        self, roster: Sequence[AgentSpec], request: TurnRequest, scope: UserScope
    ) -> AsyncGenerator[ev.RunEvent, None]:
        """The Chief of Staff hands `request` to the named operator and relays its answer."""
        operator = next((op for op in roster if op.name == request.operator), None)
        if operator is None:
            raise DelegationError(f"{request.operator!r} is not one of your operators")

        async def work(ctx: RunContext) -> str:
            outcome = await delegate(replace(ctx, call_id=new_id()), operator, request.text)
            if not outcome.ok:
                raise DelegationError(outcome.text)
            ctx.emit(ev.TextDelta(**ctx.tags, text=outcome.text))
            return outcome.text

        async def body(ctx: RunContext) -> str:
            return await observe_run(ctx, self._services.chat_model.id, request.text, work)

        return self._services.runner.stream_turn(
            CHIEF_OF_STAFF.name, request.text, body, history=list(request.history), deps=scope
        )


class _TurnRecords:
    """Files a turn's tasks and token usage under the caller, as its events arrive.

    A record that cannot be written is logged and the turn goes on: the person's answer
    matters more than its bookkeeping.
    """

    def __init__(self, tasks: SqlTaskStore, usage: UsageLedger, caller: Caller) -> None:
        self._tasks = tasks
        self._usage = usage
        self._caller = caller

    async def keep(self, event: ev.RunEvent) -> None:
        try:
            match event:
                case ev.TaskUpdated():
                    await self._tasks.save(event.task)
                case ev.UsageReported():
                    await self._usage.record(
                        user_id=self._caller.user_id,
                        thread_id=self._caller.thread_id,
                        run_id=event.run_id,
                        agent=event.agent,
                        model=event.model,
                        input_tokens=event.input_tokens,
                        output_tokens=event.output_tokens,
                        cost=event.cost,
                        duration_s=event.duration_s,
                        outcome=event.outcome,
                    )
        except (PersistenceError, SQLAlchemyError):
            log.exception("could not record %s for user %s", event.kind, self._caller.user_id)
