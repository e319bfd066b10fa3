"""Turn agent events into what the person sees: a streamed answer, nested steps, a task list.

One `TurnRenderer` per user message. Steps are keyed by run id (the Chief of Staff and each
operator run) and by tool-call id, so every step lands under the agent that made it:
Chief of Staff → operator → the operator's tool calls.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence

import chainlit as cl
from chainlit.element import Element

from agents import events as ev
from agents.models.base import Usage
from agents.prompt_guard import WITHHELD
from agents.roster import CHIEF_OF_STAFF
from agents.tasks import Task, TaskStatus
from app.chat.citations import cited_numbers, unique_passages, without_unknown_markers
from app.chat.history import ANSWER
from app.chat.markdown import shown_markdown
from knowledge.documents import Passage

log = logging.getLogger(__name__)

_TASK_STATUS: dict[TaskStatus, cl.TaskStatus] = {
    "pending": cl.TaskStatus.READY,
    "running": cl.TaskStatus.RUNNING,
    "done": cl.TaskStatus.DONE,
    "failed": cl.TaskStatus.FAILED,
    "cancelled": cl.TaskStatus.FAILED,
}


CitationMaker = Callable[[Sequence[Passage], set[int]], tuple[list[Element], str]]
"""Turns the turn's passages and the numbers the answer cites into source elements and a
"Sources:" line."""


def queue_notice(position: int) -> str:
    """The sentence a waiting person reads."""
    ahead = "1 request" if position == 1 else f"{position} requests"
    return f"⏳ The model is busy: {ahead} ahead of yours. Your answer starts when it is free."


def _notice_line(text: str) -> str:
    """A retry or a model switch, as code: model ids and URLs are not markdown (the chat would
    read `:qwen2:` as an emoji code and turn the URLs into links)."""
    return "⚠️ `" + text.replace("`", "'") + "`"


def usage_line(usage: Usage, seconds: float, cost: float | None = None) -> str:
    """`123 → 45 tokens · 1.2 s · $0.0001`: the footer of an agent's or tool's step."""
    parts = [f"{usage.input_tokens} → {usage.output_tokens} tokens"] if usage.total_tokens else []
    parts.append(f"{seconds:.1f} s")
    if cost:
        parts.append(f"${cost:.4f}")
    return " · ".join(parts)


def _models_line(models: list[str]) -> str:
    """`` `openai:gpt-4o-mini` · ``: the models that answered for a run (the one it started
    on when none reported usage), as code: ids are not markdown."""
    answered = list(dict.fromkeys(models[1:] or models[:1]))
    return "".join(f"`{m.replace('`', '')}` · " for m in answered)


class TurnRenderer:
    """Shows one Chief of Staff turn as it happens."""

    def __init__(self, cite: CitationMaker | None = None) -> None:
        self._message: cl.Message | None = None
        self._cite = cite
        self.citations: list[Passage] = []
        self.error: str | None = None
        self._root: str | None = None
        self._steps: dict[str, cl.Step] = {}
        self._usage: dict[str, Usage] = {}
        self._cost: dict[str, float] = {}
        self._streamed: set[str] = set()
        self._tasks: dict[str, cl.Task] = {}
        self._task_list: cl.TaskList | None = None
        self._notice: cl.Message | None = None
        self._models: dict[str, list[str]] = {}
        """Per run: the model it started on, then every model that answered a call of it."""
        self._notes: dict[str, list[str]] = {}
        """Per run: retries and model switches, shown in the run's step footer."""
        self._thoughts: dict[str, cl.Step] = {}
        """Per run: the step its model's reasoning streams into (collapsed, apart from the
        answer)."""

    @property
    def message(self) -> cl.Message:
        """The answer; made on first use so it is listed after the steps that led to it."""
        if self._message is None:
            self._message = cl.Message(content="", author=CHIEF_OF_STAFF.name)
        return self._message

    async def handle(self, event: ev.RunEvent) -> None:
        """Show one event."""
        match event:
            case ev.RunStarted():
                await self._run_started(event)
            case ev.TextDelta():
                await self._text(event)
            case ev.ReasoningDelta():
                await self._reasoning(event)
            case ev.ToolCallStarted():
                await self._tool_started(event)
            case ev.ToolCallFinished():
                await self._tool_finished(event)
            case ev.DelegationStarted():
                await self._delegation_started(event)
            case ev.DelegationFinished():
                await self._delegation_finished(event)
            case ev.RunFinished():
                await self._run_finished(event.run_id, event.output, event.duration_s)
            case ev.RunFailed():
                await self._run_failed(event)
            case ev.TaskUpdated():
                await self._task(event.task)
            case ev.RetrievalDone():
                self.citations.extend(event.citations)
            case ev.UsageReported():
                usage = Usage(event.input_tokens, event.output_tokens)
                self._usage[event.run_id] = self._usage.get(event.run_id, Usage()) + usage
                self._cost[event.run_id] = self._cost.get(event.run_id, 0.0) + (event.cost or 0.0)
                if event.outcome == "ok":
                    self._models.setdefault(event.run_id, []).append(event.model)
            case ev.Queued():
                await self._show_notice(queue_notice(event.position))
            case ev.Notice():
                self._notes.setdefault(event.run_id, []).append(event.text)

    async def close(self, *, stopped: bool = False) -> str:
        """Finish the answer (also after a stop or an error) and return its text."""
        await self._clear_notice()
        for thought in self._thoughts.values():
            await self._end(thought)
        for step in self._steps.values():
            if step.end is None:  # cut short by a stop
                step.is_error = stopped
                step.output = (step.output or "") + ("\n\n*(stopped)*" if stopped else "")
                await step.update()
        shown = len(unique_passages(self.citations))
        answer = without_unknown_markers(shown_markdown(self.message.content), shown)
        self.message.content = answer
        if self.error and not stopped:
            self.message.content = f"{answer}\n\n⚠️ {self.error}" if answer else f"⚠️ {self.error}"
        elif not answer and not stopped:
            self.message.content = "*(No answer came back. Try rephrasing.)*"
        cited = cited_numbers(answer)
        if self.citations and self._cite is not None and cited:
            elements, sources = self._cite(self.citations, cited)
            self.message.elements = list(elements)  # type: ignore[arg-type]  # Chainlit's narrower alias
            if sources:
                self.message.content += f"\n\n{sources}"
        if self.message.content:
            self.message.metadata = {
                "cadre": ANSWER,
                "stopped": stopped,
                # the turn (Chief of Staff run) behind the answer: feedback on it is credited
                # to the operators of its tasks (app/db/stats.py)
                "run_id": self._root,
                **self._usage_metadata(),
            }
            await self.message.send()
        return answer

    # --- runs -------------------------------------------------------------------------

    async def _run_started(self, event: ev.RunStarted) -> None:
        self._models[event.run_id] = [event.model]
        if event.parent_run_id is None:
            self._root = event.run_id
            root = cl.Step(name=event.agent, type="run", show_input=False)
            root.input = event.input
            root.output = f"Working on it with `{event.model}`…"
            self._steps[event.run_id] = root
            await root.send()
        elif event.run_id not in self._steps:
            # An operator started without a delegation event: still nest it under its parent.
            parent = self._steps.get(event.parent_run_id)
            step = cl.Step(name=event.agent, type="llm", parent_id=parent.id if parent else None)
            step.input = event.input
            self._steps[event.run_id] = step
            await step.send()

    async def _text(self, event: ev.TextDelta) -> None:
        if event.run_id == self._root:
            await self._clear_notice()
            await self.message.stream_token(event.text)
            return
        step = self._steps.get(event.run_id)
        if step is not None:
            if event.run_id not in self._streamed:
                self._streamed.add(event.run_id)
                step.output = ""
            await step.stream_token(event.text)

    async def _reasoning(self, event: ev.ReasoningDelta) -> None:
        thought = self._thoughts.get(event.run_id)
        if thought is None:
            parent = self._steps.get(event.run_id)
            thought = cl.Step(
                name="Reasoning",
                type="undefined",
                parent_id=parent.id if parent else None,
                show_input=False,
            )
            self._thoughts[event.run_id] = thought
            await thought.send()
        await thought.stream_token(event.text)

    async def _run_finished(self, run_id: str, output: str, seconds: float) -> None:
        if (thought := self._thoughts.pop(run_id, None)) is not None:
            await self._end(thought)
        step = self._steps.get(run_id)
        if step is None:
            return
        footer = (
            f"{_models_line(self._models.get(run_id, []))}"
            f"*{usage_line(self._usage.get(run_id, Usage()), seconds, self._cost.get(run_id))}*"
        )
        if notes := self._notes.get(run_id):
            footer = "\n\n".join([*map(_notice_line, notes), footer])
        if run_id == self._root:
            if output == WITHHELD:
                # The reply was withheld: the answer is the refusal alone, not the words of
                # the copy that streamed before it was recognised.
                self.message.content = WITHHELD
            delegated = [
                s.name for s in self._steps.values() if s.parent_id == step.id and s.type == "llm"
            ]
            summary = f"Delegated to {', '.join(delegated)}." if delegated else "Answered directly."
            step.output = f"{summary}\n\n{footer}"
        else:
            step.output = f"{shown_markdown(output)}\n\n{footer}"
        step.metadata = {**(step.metadata or {}), "duration_s": round(seconds, 3)}
        await self._end(step)

    async def _run_failed(self, event: ev.RunFailed) -> None:
        step = self._steps.get(event.run_id)
        if event.run_id == self._root:
            self.error = None if event.cancelled else event.error
        if step is not None and step.end is None:
            step.is_error = True
            step.output = f"{'Stopped' if event.cancelled else 'Failed'}: {event.error}"
            await self._end(step)

    # --- tools and delegations --------------------------------------------------------

    async def _tool_started(self, event: ev.ToolCallStarted) -> None:
        parent = self._steps.get(event.run_id)
        step = cl.Step(
            name=event.tool,
            type="tool",
            parent_id=parent.id if parent else None,
            language="json",
        )
        step.input = json.dumps(event.arguments, ensure_ascii=False, indent=2)
        self._steps[event.call_id] = step
        await step.send()

    async def _tool_finished(self, event: ev.ToolCallFinished) -> None:
        step = self._steps.get(event.call_id)
        if step is None:
            return
        step.language = None
        step.is_error = event.is_error
        step.output = f"{shown_markdown(event.output)}\n\n*{usage_line(Usage(), event.duration_s)}*"
        await self._end(step)

    async def _delegation_started(self, event: ev.DelegationStarted) -> None:
        parent = self._steps.get(event.run_id)
        step = cl.Step(name=event.operator, type="llm", parent_id=parent.id if parent else None)
        step.input = event.instructions
        self._steps[event.child_run_id] = step
        await step.send()

    async def _delegation_finished(self, event: ev.DelegationFinished) -> None:
        step = self._steps.get(event.child_run_id)
        if step is None:
            return
        if event.is_error:
            step.is_error = True
            step.output = event.output
            await self._end(step)
        elif step.end is None:
            self._usage.setdefault(event.child_run_id, event.usage)
            await self._run_finished(event.child_run_id, event.output, event.duration_s)

    # --- task list ----------------------------------------------------------------------

    async def _task(self, task: Task) -> None:
        if self._task_list is None:
            self._task_list = cl.TaskList(status="Working…")
        item = self._tasks.get(task.id)
        if item is None:
            item = cl.Task(title=f"{task.operator}: {task.title}")
            self._tasks[task.id] = item
            await self._task_list.add_task(item)
        item.status = _TASK_STATUS[task.status]
        statuses = {t.status for t in self._tasks.values()}
        busy = {cl.TaskStatus.READY, cl.TaskStatus.RUNNING} & statuses
        failed = cl.TaskStatus.FAILED in statuses
        done = "Finished with problems" if failed else "Done"
        self._task_list.status = "Working…" if busy else done
        await self._task_list.send()

    # --- helpers ------------------------------------------------------------------------

    async def _end(self, step: cl.Step) -> None:
        from chainlit.utils import utc_now

        step.end = utc_now()
        await step.update()

    def _usage_metadata(self) -> dict[str, int]:
        total = sum(self._usage.values(), Usage())
        return {"input_tokens": total.input_tokens, "output_tokens": total.output_tokens}

    async def _show_notice(self, text: str) -> None:
        if self._notice is None:
            self._notice = cl.Message(content=text, author=CHIEF_OF_STAFF.name)
            await self._notice.send()
        else:
            self._notice.content = text
            await self._notice.update()

    async def _clear_notice(self) -> None:
        if self._notice is not None:
            await self._notice.remove()
            self._notice = None
