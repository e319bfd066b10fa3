"""`/stats` in the chat: how the operators performed, as a table and a Plotly chart.

Everyone may ask; an admin sees every user's records, a member only their own (the role
is read from the database, never from the session or a button). The period comes from
the command's argument (`/stats 30d`) or a button (today, 7 days, 30 days, all time). The
figures are app/db/stats.py's; this file only shows them. Chainlit's frontend bundles
plotly.js, so the chart draws without reaching any other host.
"""

from __future__ import annotations

from datetime import UTC, datetime

import chainlit as cl
import plotly.graph_objects as go
from chainlit.types import CommandDict
from plotly.subplots import make_subplots

from app import services
from app.auth.roles import restrict_action
from app.chat.operators import is_admin
from app.chat.roles import require_role
from app.db.stats import PERIODS, OperatorStats, OperatorStatsStore, StatsReport, named_period

COMMAND = "stats"
PERIOD_ACTION = "stats_period"
DEFAULT_PERIOD = "7d"
restrict_action(PERIOD_ACTION, "member")

COMMANDS: list[CommandDict] = [
    {
        "id": COMMAND,
        "icon": "chart-column",
        "description": "How the operators perform: /stats [today|7d|30d|all]",
        "button": False,
        "persistent": False,
        "selected": False,
    }
]

_HEADER = (
    "| Operator | Tasks | Success | Median | p95 | Tokens in / out | Cost | Thumbs up / down |",
    "|---|--:|--:|--:|--:|--:|--:|--:|",
)


def period_asked(message: cl.Message) -> str | None:
    """The period text of a `/stats` message (`""` when none is given), else `None`."""
    if message.command == COMMAND:
        return message.content.strip()
    typed = message.content.strip()
    if typed == f"/{COMMAND}" or typed.startswith(f"/{COMMAND} "):
        return typed[len(COMMAND) + 1 :].strip()
    return None


async def show_stats(user_id: str, asked: str) -> None:
    """Answer `/stats <asked>` for the signed-in user (`user_id`, their users.id)."""
    period = asked.lower() or DEFAULT_PERIOD
    if period not in PERIODS:
        await cl.Message(
            content=f"⚠️ No period {asked!r}: use `/stats` with one of "
            + ", ".join(f"`{name}`" for name in PERIODS)
            + ".",
            author="Cadre",
            actions=_buttons(),
        ).send()
        return
    admin = await is_admin()
    store = OperatorStatsStore(services.current().data_layer)
    report = await store.report(named_period(period, datetime.now(UTC)), None if admin else user_id)
    whose = "all users" if admin else "your own usage"
    heading = f"**Operator performance — {PERIODS[period]}** ({whose})"
    elements: list[cl.Element] = []
    if report.operators:
        elements.append(cl.Plotly(name="operator-stats", figure=chart(report), display="inline"))
    await cl.Message(
        content=f"{heading}\n\n{table(report)}",
        author="Cadre",
        actions=_buttons(),
        elements=elements,
    ).send()


@cl.action_callback(PERIOD_ACTION)
@require_role("member")
async def on_period(action: cl.Action) -> None:
    """A period button under the table."""
    user_id = getattr(cl.context.session.user, "id", None)
    period = action.payload.get("period")
    if user_id and isinstance(period, str):
        await show_stats(str(user_id), period)


def table(report: StatsReport) -> str:
    """The report as a markdown table, with a totals row."""
    if not report.operators:
        return "No operator has recorded work in this period: nothing to show yet."
    rows = [*_HEADER, *(_row(stats) for stats in report.operators)]
    rows.append(_row(report.total, bold=True))
    notes = (
        "Success: done of done and failed tasks. Median and p95: seconds a done task took. "
        "Thumbs: feedback on the answers each operator contributed to."
    )
    return "\n".join(rows) + f"\n\n*{notes}*"


def chart(report: StatsReport) -> go.Figure:
    """Tasks by outcome and tokens by direction, per operator, side by side."""
    names = [stats.operator for stats in report.operators]
    figure = make_subplots(rows=1, cols=2, subplot_titles=("Tasks", "Tokens"))
    for label, values, color in (
        ("done", [s.done for s in report.operators], "#2e7d32"),
        ("failed", [s.failed for s in report.operators], "#c62828"),
        ("cancelled", [s.cancelled for s in report.operators], "#9e9e9e"),
    ):
        figure.add_trace(go.Bar(name=label, x=names, y=values, marker_color=color), row=1, col=1)
    for label, values, color in (
        ("tokens in", [s.input_tokens for s in report.operators], "#1565c0"),
        ("tokens out", [s.output_tokens for s in report.operators], "#90caf9"),
    ):
        figure.add_trace(go.Bar(name=label, x=names, y=values, marker_color=color), row=1, col=2)
    most = max(max(s.tasks for s in report.operators), 1)
    # Whole tasks: no 0.2 ticks under a handful of them.
    figure.update_yaxes(rangemode="tozero", tickformat=",d", dtick=1 if most <= 10 else None)
    figure.update_yaxes(dtick=None, row=1, col=2)
    figure.update_layout(
        barmode="stack",
        height=360,
        margin={"l": 40, "r": 20, "t": 40, "b": 40},
        legend={"orientation": "h", "y": -0.15},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return figure


def _buttons() -> list[cl.Action]:
    return [
        cl.Action(name=PERIOD_ACTION, payload={"period": name}, label=label.capitalize())
        for name, label in PERIODS.items()
    ]


def _row(stats: OperatorStats, *, bold: bool = False) -> str:
    name = stats.operator.replace("_", r"\_").replace("*", r"\*")
    cells = [
        f"**{name}**" if bold else name,
        f"{stats.tasks:,}",
        "—" if stats.success_rate is None else f"{stats.success_rate:.0%}",
        _seconds(stats.median_s),
        _seconds(stats.p95_s),
        f"{stats.input_tokens:,} / {stats.output_tokens:,}",
        "—" if stats.cost is None else f"${stats.cost:,.4f}",
        f"{stats.thumbs_up:,} / {stats.thumbs_down:,}",
    ]
    return "| " + " | ".join(cells) + " |"


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f} s" if value < 10 else f"{value:,.1f} s"
