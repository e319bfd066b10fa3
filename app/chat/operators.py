"""Operators in the chat, for admins: the new-operator wizard and the `/operators` list.

A thin adapter: the wizard itself (questions, validation, back and cancel) is
app/operators/wizard.py; this file asks its questions with Chainlit's `AskUserMessage`
(typed answers) and `AskActionMessage` (buttons), runs "Try it" through the channel-neutral
turn with the chat's renderer, and saves through the audited `OperatorStore`. Every door
(the command, the starter's message, each action) checks the admin role against the
database, never against what the session or the button claims.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing
from typing import Any

import chainlit as cl
from chainlit.types import CommandDict

from agents import OPERATORS
from agents.errors import CadreError
from agents.spec import AgentSpec
from app import services
from app.auth.roles import Forbidden, has_role, restrict_action
from app.auth.users import UserDirectory
from app.chat.render import TurnRenderer
from app.chat.roles import require_role, session_identifier
from app.db.errors import PersistenceError
from app.db.operators import Actor, OperatorStore
from app.operators.draft import DraftInvalid, DraftRules, ModelOption, OperatorDraft
from app.operators.rules import draft_rules as rules_for
from app.operators.wizard import BACK, CANCEL, SAVE, TRY, Choice, Question, Wizard
from app.turns import Caller, Turns

log = logging.getLogger(__name__)

NEW = "new-operator"
LIST = "operators"
ASK_TIMEOUT_S = 900
"""How long the wizard waits for an answer before it stops (nothing is saved)."""
EDIT_ACTION = "operator_edit"
ENABLE_ACTION = "operator_enable"
DISABLE_ACTION = "operator_disable"
DELETE_ACTION = "operator_delete"
NEW_ACTION = "operator_new"
MODEL_ACTION = "operator_model"
for _name in (EDIT_ACTION, ENABLE_ACTION, DISABLE_ACTION, DELETE_ACTION, NEW_ACTION, MODEL_ACTION):
    restrict_action(_name, "admin")  # refused with a 403 before Chainlit runs the callback
_INVALID = object()
_running: set[asyncio.Task[None]] = set()

ADMIN_COMMANDS: list[CommandDict] = [
    {
        "id": NEW,
        "icon": "user-plus",
        "description": "Create a new operator, step by step (admins)",
        "button": False,
        "persistent": False,
        "selected": False,
    },
    {
        "id": LIST,
        "icon": "users",
        "description": "List operators: model, edit, disable, enable, delete (admins)",
        "button": False,
        "persistent": False,
        "selected": False,
    },
]

STARTER = cl.Starter(label="New operator", message=f"/{NEW}")
"""The admins' starter button; its message is the command typed out."""


def command_of(message: cl.Message) -> str | None:
    """`new-operator` or `operators` when the message asks for one, else `None`."""
    if message.command in (NEW, LIST):
        return message.command
    typed = message.content.strip()
    for command in (NEW, LIST):
        if typed == f"/{command}":
            return command
    return None


async def is_admin(identifier: str | None = None) -> bool:
    """Whether the signed-in person is an admin, by their user row as it is now."""
    directory = UserDirectory(services.current().data_layer)
    return await has_role(directory, identifier or session_identifier(), "admin")


async def run_command(command: str, caller: Caller) -> None:
    """Run `/new-operator` or `/operators` for an admin; refuse anyone else, visibly."""
    if not await is_admin():
        log.warning("refused /%s to %r: not an admin", command, session_identifier())
        await _say("⚠️ Only admins can manage operators.")
        return
    if command == NEW:
        await run_wizard(caller, OperatorDraft())
    else:
        await show_operators()


# ---- the wizard --------------------------------------------------------------------------


async def draft_rules(caller: Caller, editing: str | None = None) -> DraftRules:
    """What a draft may name here: free names, available models, registry tools, documents."""
    return await rules_for(services.current(), caller.user_id, editing)


async def run_wizard(caller: Caller, draft: OperatorDraft) -> None:
    """Ask one question at a time until the operator is saved, or the admin cancels."""
    wizard = Wizard(await draft_rules(caller, draft.editing), draft)
    verb = f"Editing **{draft.editing}**" if draft.editing else "Let's make a new operator"
    await _say(f"{verb}. Nothing is saved before the review.")
    while True:
        question = wizard.question()
        reply = await _ask(question)
        if reply is None:
            await _say("The wizard waited too long and stopped; nothing was saved.")
            return
        if question.step == "review" and reply in (TRY, SAVE):
            if reply == TRY:
                await _try(wizard, caller)
            elif await _save(wizard, caller):
                return
            continue
        wizard.answer(_INVALID_TEXT if reply is _INVALID else reply)
        if wizard.cancelled:
            await _say("Cancelled; nothing was saved.")
            return


_INVALID_TEXT = "\x00invalid"
"""An answer no step accepts: a button payload that was not one of the buttons."""


async def _ask(question: Question) -> Any:
    text = question.text
    if question.error:
        text = f"⚠️ {question.error}\n\n{text}"
    if question.typed:
        typed = await cl.AskUserMessage(content=text, author="Cadre", timeout=ASK_TIMEOUT_S).send()
        return None if typed is None else str(typed.get("output", ""))
    actions = [
        cl.Action(name="operator_wizard", payload={"choice": i}, label=c.label, tooltip=c.note)
        for i, c in enumerate(question.choices)
    ]
    try:
        picked = await cl.AskActionMessage(
            content=text, actions=actions, author="Cadre", timeout=ASK_TIMEOUT_S
        ).send()
    except (KeyError, TypeError, AttributeError) as exc:
        # Chainlit reads the client's reply without checking it; a malformed one lands here.
        log.warning("wizard: refused a malformed button reply (%r)", exc)
        for action in actions:
            await action.remove()
        return _INVALID
    if picked is None:
        return None
    # The reply is whatever the client sent back: only an index of our own buttons counts.
    index = (picked.get("payload") or {}).get("choice")
    if type(index) is not int or not 0 <= index < len(question.choices):
        log.warning("wizard: refused a button that was not offered: %r", picked)
        return _INVALID
    return question.choices[index].value


async def _try(wizard: Wizard, caller: Caller) -> None:
    """Run a sample request on the draft, streaming, with its steps."""
    try:
        spec = wizard.spec()
    except DraftInvalid as exc:
        await _say(f"⚠️ The draft is not complete: {exc}")
        return
    samples = spec.examples[:3]
    question = Question(
        "review",
        "What should it try? Pick a sample request or type your own.",
        tuple(Choice(sample[:60], sample) for sample in samples),
    )
    choice = await _ask(question) if samples else None
    if choice is None or choice is _INVALID:
        typed = await cl.AskUserMessage(
            content="Type a request for it to try.", author="Cadre", timeout=ASK_TIMEOUT_S
        ).send()
        if typed is None:
            return
        choice = str(typed.get("output", ""))
    text = str(choice).strip()
    if not text or text.casefold() in (BACK, CANCEL):
        return
    renderer = TurnRenderer()
    try:
        async with aclosing(Turns(services.current()).try_draft(caller, spec, text)) as events:
            async for event in events:
                await renderer.handle(event)
    except CadreError as exc:
        log.warning("trying operator %r failed: %s", spec.name, exc)
        renderer.error = f"The try failed: {exc}"
    await renderer.close()


async def _save(wizard: Wizard, caller: Caller) -> bool:
    try:
        spec = wizard.spec()
        await OperatorStore(services.current().data_layer).save(
            spec, actor=_actor(caller), replaces=wizard.draft.editing
        )
    except DraftInvalid as exc:
        await _say(f"⚠️ Not saved: {exc}")
        return False
    except PersistenceError as exc:
        log.warning("saving operator failed: %s", exc)
        await _say(f"⚠️ Not saved: {exc}. Change the name and try again.")
        return False
    log.info("operator %r saved by %s", spec.name, session_identifier())
    await _say(
        f"✅ Saved **{spec.name}**. From your next message the Chief of Staff can hand it work."
    )
    return True


def _actor(caller: Caller) -> Actor:
    return Actor(user_id=caller.user_id, identifier=session_identifier() or caller.user_id)


async def _say(text: str) -> None:
    await cl.Message(content=text, author="Cadre").send()


# ---- the list ----------------------------------------------------------------------------


async def show_operators() -> None:
    """Every operator with its state, and buttons to change it."""
    store = OperatorStore(services.current().data_layer)
    states = await store.states()
    pinned = await store.models()
    builtin = {op.name for op in OPERATORS}
    rows = ["| Operator | Kind | Model | State |", "|---|---|---|---|"]
    actions: list[cl.Action] = [cl.Action(name=NEW_ACTION, payload={}, label="New operator")]
    names = [*(op.name for op in OPERATORS), *sorted(n for n in states if n not in builtin)]
    for name in names:
        on = states.get(name, True)
        kind = "built-in" if name in builtin else "made here"
        model = f"`{pinned[name]}`" if name in pinned else "the chat's"
        rows.append(f"| {name} | {kind} | {model} | {'enabled' if on else 'disabled'} |")
        actions.append(
            cl.Action(name=MODEL_ACTION, payload={"name": name}, label=f"Model of {name}")
        )
        if name not in builtin:
            actions.append(
                cl.Action(name=EDIT_ACTION, payload={"name": name}, label=f"Edit {name}")
            )
        flip = DISABLE_ACTION if on else ENABLE_ACTION
        label = f"{'Disable' if on else 'Enable'} {name}"
        actions.append(cl.Action(name=flip, payload={"name": name}, label=label))
        if name not in builtin:
            actions.append(
                cl.Action(name=DELETE_ACTION, payload={"name": name}, label=f"Delete {name}")
            )
    changes = await store.changes(limit=5)
    log_lines = [
        f"- {c.created_at:%Y-%m-%d %H:%M} UTC · {c.actor} {c.action} **{c.operator}**"
        + (f" ({_changed(c.changes)})" if c.action == "updated" else "")
        for c in changes
    ]
    recent = "\n\n**Recent changes**\n" + "\n".join(log_lines) if log_lines else ""
    await cl.Message(
        content="**Operators**\n\n" + "\n".join(rows) + recent, author="Cadre", actions=actions
    ).send()


def _changed(changes: dict[str, Any]) -> str:
    """`model: the chat's → ollama:llama3.2, instructions`: what an update changed."""
    parts = []
    for key in sorted(changes):
        if key == "model":
            old, new = (f"`{m}`" if m else "the chat's" for m in changes[key])
            parts.append(f"model: {old} → {new}")
        else:
            parts.append(key)
    return ", ".join(parts)


def _named(action: cl.Action) -> str:
    name = (action.payload or {}).get("name")
    if not isinstance(name, str) or not name.strip():
        raise Forbidden("that action names no operator")
    return name


def _spawn(work: Any) -> None:
    # An action's HTTP request should not stay open for the whole wizard.
    task = asyncio.create_task(work)
    _running.add(task)
    task.add_done_callback(_running.discard)


def _admin_caller() -> Caller:
    session = cl.context.session
    user_id = getattr(session.user, "id", None)
    if not user_id:
        raise Forbidden("this session has no stored user")
    return Caller(user_id=str(user_id), thread_id=session.thread_id, role="admin")


@cl.action_callback(NEW_ACTION)
@require_role("admin")
async def on_new(action: cl.Action) -> None:
    """The list's "New operator" button."""
    _spawn(run_wizard(_admin_caller(), OperatorDraft()))


@cl.action_callback(EDIT_ACTION)
@require_role("admin")
async def on_edit(action: cl.Action) -> None:
    """Edit an operator: the same wizard, prefilled."""
    name = _named(action)
    spec = await OperatorStore(services.current().data_layer).get(name)
    if spec is None or name in {op.name for op in OPERATORS}:
        await _say(f"⚠️ There is no operator called {name!r} to edit.")
        return
    _spawn(run_wizard(_admin_caller(), OperatorDraft.from_spec(spec)))


@cl.action_callback(ENABLE_ACTION)
@require_role("admin")
async def on_enable(action: cl.Action) -> None:
    """Enable an operator."""
    await _set_enabled(_named(action), True)


@cl.action_callback(DISABLE_ACTION)
@require_role("admin")
async def on_disable(action: cl.Action) -> None:
    """Disable an operator (the Chief of Staff stops using it at the next message)."""
    await _set_enabled(_named(action), False)


async def _set_enabled(name: str, enabled: bool) -> None:
    store = OperatorStore(services.current().data_layer)
    actor = _actor(_admin_caller())
    builtin = next((op for op in OPERATORS if op.name == name), None)
    if builtin is not None:
        await store.set_builtin_enabled(builtin, enabled, actor)
    elif not await store.set_enabled(name, enabled, actor=actor):
        await _say(f"⚠️ There is no operator called {name!r}.")
        return
    await _say(f"{'Enabled' if enabled else 'Disabled'} **{name}**.")
    await show_operators()


@cl.action_callback(DELETE_ACTION)
@require_role("admin")
async def on_delete(action: cl.Action) -> None:
    """Delete an operator an admin made (built-ins can only be disabled)."""
    name = _named(action)
    if name in {op.name for op in OPERATORS}:
        await _say(f"⚠️ {name} is built in: it can be disabled, not deleted.")
        return
    _spawn(_confirm_delete(name, _actor(_admin_caller())))


async def _confirm_delete(name: str, actor: Actor) -> None:
    """Ask before deleting: the operator goes from every chat's roster at once."""
    question = Question(
        "confirm",
        f"Delete **{name}**? The Chief of Staff stops delegating to it from the next message, "
        "and it cannot be undone (disabling it can).",
        (
            Choice("Yes, delete it", DELETE_ACTION, "remove it for good"),
            Choice("Keep it", CANCEL, "change nothing"),
        ),
    )
    picked = await _ask(question)
    if picked != DELETE_ACTION:
        await _say(f"Nothing changed: **{name}** stays.")
        return
    if not await is_admin(actor.identifier):  # the role may have been taken away meanwhile
        await _say("⚠️ Only admins can delete operators; nothing changed.")
        return
    if not await OperatorStore(services.current().data_layer).delete(name, actor=actor):
        await _say(f"⚠️ There is no operator called {name!r}.")
        return
    await _say(f"Deleted **{name}**.")
    await show_operators()


@cl.action_callback(MODEL_ACTION)
@require_role("admin")
async def on_model(action: cl.Action) -> None:
    """Pin an operator (built-ins too) to one of the models that can answer now, or clear it."""
    name = _named(action)
    store = OperatorStore(services.current().data_layer)
    builtin = next((op for op in OPERATORS if op.name == name), None)
    if builtin is None and await store.get(name) is None:
        await _say(f"⚠️ There is no operator called {name!r}.")
        return
    _spawn(_pick_model(name, builtin, _actor(_admin_caller())))


async def _pick_model(name: str, builtin: AgentSpec | None, actor: Actor) -> None:
    shared = services.current()
    store = OperatorStore(shared.data_layer)
    now = (await store.models()).get(name)
    offered = [
        ModelOption(c.id, c.plans_with_tools, c.on_this_machine)
        for c in await shared.catalog.choices()
    ]
    listing = "\n".join(f"- `{m.id}`: {m.note}" for m in offered)
    current = f"`{now}`" if now else "the chat's model"
    question = Question(
        "model",
        f"Which model should **{name}** run on? Now: {current}.\n\n"
        f"- The chat's model: the deployment's (`{shared.settings.chat_model}`), or the one a "
        f"person picks for their chat\n{listing}\n\nOnly models that can answer now are offered.",
        (
            Choice("The chat's model", "", "clears the pin: the deployment's or the chat's pick"),
            *(Choice(m.id, m.id, m.note) for m in offered),
            Choice("Cancel", CANCEL, "keep it as it is"),
        ),
    )
    picked = await _ask(question)
    if picked is None or picked is _INVALID or picked == CANCEL:
        await _say(f"Nothing changed: **{name}** keeps {current}.")
        return
    if not await is_admin(actor.identifier):  # the role may have been taken away meanwhile
        await _say("⚠️ Only admins can choose an operator's model; nothing changed.")
        return
    model = str(picked) or None
    if model is not None and not await shared.catalog.offers(model):
        await _say(f"⚠️ `{model}` cannot answer any more; nothing changed.")
        return
    try:
        found = await store.set_model(name, model, actor=actor, builtin=builtin)
    except PersistenceError as exc:
        log.warning("pinning %r to %s failed: %s", name, model, exc)
        await _say(f"⚠️ Not saved: {exc}")
        return
    if not found:
        await _say(f"⚠️ There is no operator called {name!r}.")
        return
    log.info("operator %r pinned to %s by %s", name, model, actor.identifier)
    where = f"`{model}`" if model else "the chat's model"
    await _say(f"✅ **{name}** runs on {where} from the next message.")
    await show_operators()
