"""The Analyst computes over every row of a spreadsheet the user has, not only retrieved rows."""

from __future__ import annotations

import csv
import random
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from agents import (
    ANALYST,
    CHIEF_OF_STAFF,
    OPERATORS,
    ChiefOfStaff,
    Runner,
    SemanticRouter,
    UserScope,
    builtin_tools,
)
from agents.errors import ToolError
from agents.events import RunFinished, ToolCallFinished
from agents.models.base import Capabilities, ModelOptions
from agents.models.local import LocalModel, LocalModelConfig
from agents.models.scripted import ScriptedModel
from agents.table_query import compute
from app.originals import original_path, original_tables
from knowledge.base import KnowledgeBase
from knowledge.embedder import HashEmbedder
from knowledge.ingest import IngestDone, Upload
from knowledge.tables import read_tables
from tests.agents.agent_helpers import call, collect, of, team

ALICE = UserScope("alice-id")
REGIONS = ("North", "South", "East", "West")


def shown(total: Decimal) -> str:
    """A decimal as the tool writes it: no exponent, no trailing zeros."""
    text = format(total, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _sales_rows(count: int) -> list[list[str]]:
    rng = random.Random(500)
    rows = []
    for n in range(count):
        amount = Decimal(rng.randint(100, 2_500_000)) / 100
        rows.append(
            [
                f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                rng.choice(REGIONS),
                f"SKU-{rng.randint(1, 40):03d}",
                str(rng.randint(1, 90)),
                f"{amount:.2f}",
                f"order {n}",
            ]
        )
    return rows


SALES = _sales_rows(500)
SALES_HEADER = ["Date", "Region", "Product", "Units", "Amount", "Note"]


def _costs() -> dict[str, list[list[object]]]:
    rng = random.Random(2)
    people = [["Region", "Rep", "Target"]] + [
        [rng.choice(REGIONS), f"Rep {n}", rng.randint(10, 99) * 1000] for n in range(40)
    ]
    costs: list[list[object]] = [["Region", "Category", "Cost"]]
    for _ in range(150):
        costs.append(
            [
                rng.choice(REGIONS),
                rng.choice(("Fuel", "Tolls", "Repairs")),
                rng.randint(1, 99_999) / 100,
            ]
        )
    return {"People": people, "Costs": costs}


WORKBOOK = _costs()


def write_csv(path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(SALES_HEADER)
        writer.writerows(SALES)
    return path


def write_xlsx(path: Path) -> Path:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for title, rows in WORKBOOK.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    workbook.save(path)
    return path


def sales_total(region: str) -> Decimal:
    return sum((Decimal(row[4]) for row in SALES if row[1] == region), Decimal(0))


def cost_total(region: str, category: str | None = None) -> Decimal:
    return sum(
        (
            Decimal(str(row[2]))
            for row in WORKBOOK["Costs"][1:]
            if row[0] == region and (category is None or row[1] == category)
        ),
        Decimal(0),
    )


@dataclass
class Files:
    kb: KnowledgeBase
    originals: Path
    sales: IngestDone
    workbook: IngestDone

    def tools(self) -> list:  # type: ignore[type-arg]
        return builtin_tools(self.kb, original_tables(self.originals))


@pytest.fixture
async def files(tmp_path: Path) -> Files:
    """Alice's CSV and workbook, ingested by the real pipeline, originals kept as the chat does."""
    kb = await KnowledgeBase.open(tmp_path / "knowledge", HashEmbedder(64))
    originals = tmp_path / "documents"
    paths = [write_csv(tmp_path / "sales.csv"), write_xlsx(tmp_path / "fleet costs.xlsx")]
    done = await kb.ingest_all([Upload(p.name, p.read_bytes()) for p in paths], ALICE.owner)
    assert all(isinstance(d, IngestDone) for d in done), done
    for path, outcome in zip(paths, done, strict=True):
        assert isinstance(outcome, IngestDone)
        target = original_path(originals, ALICE.owner, outcome.document_id, outcome.document)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    sales, workbook = done
    assert isinstance(sales, IngestDone)
    assert isinstance(workbook, IngestDone)
    return Files(kb, originals, sales, workbook)


def test_every_row_and_sheet_is_read_from_the_original(tmp_path: Path) -> None:
    [table] = read_tables(write_csv(tmp_path / "sales.csv"), name="sales.csv")
    assert table.columns == tuple(SALES_HEADER)
    assert len(table.rows) == 500
    assert list(table.rows[17]) == SALES[17]

    people, costs = read_tables(write_xlsx(tmp_path / "book.xlsx"), name="book.xlsx")
    assert (people.sheet, costs.sheet) == ("People", "Costs")
    assert costs.columns == ("Region", "Category", "Cost")
    assert len(costs.rows) == 150
    assert len(people.rows) == 40


def test_totals_filters_and_groups_are_exact(tmp_path: Path) -> None:
    [table] = read_tables(write_csv(tmp_path / "sales.csv"), name="sales.csv")
    from agents.table_query import Condition

    north = compute(table, "sum", "Amount", [Condition(column="region", value="north")])
    matched = sum(row[1] == "North" for row in SALES)
    assert f": {shown(sales_total('North'))} ({matched} of 500 rows matched)" in north

    big = [row for row in SALES if Decimal(row[4]) > 20_000]
    counted = compute(table, "count", where=[Condition(column="Amount", op=">", value=20000)])
    assert f'count of rows in sheet "sales.csv" where "Amount" > "20000": {len(big)} ' in (counted)

    grouped = compute(table, "sum", "Amount", group_by="Region")
    for region in REGIONS:
        rows = sum(row[1] == region for row in SALES)
        assert f"| {region} | {shown(sales_total(region))} | {rows} |" in grouped

    largest = max(Decimal(row[4]) for row in SALES)
    biggest = compute(table, "max", "Amount")
    assert f": {shown(largest)} (500 of 500 rows matched)" in biggest
    [row] = [row for row in SALES if Decimal(row[4]) == largest]
    cells = "; ".join(f"{c}: {v[:60]}" for c, v in zip(SALES_HEADER, row, strict=True) if v)
    assert f"The row with it: {cells}" in biggest


def test_the_latest_date_and_its_row_are_found_over_the_whole_column(tmp_path: Path) -> None:
    # Ragged like Debian's distro-info: the newest release has no end-of-life date yet.
    path = tmp_path / "releases.csv"
    path.write_text(
        "version,codename,release,eol\n10,Buster,2019-07-06,2022-09-10\n"
        "12,Bookworm,2023-06-10,2026-06-10\n11,Bullseye,2021-08-14,2024-08-14\n13,Trixie,\n"
    )
    [table] = read_tables(path, name="releases.csv")

    latest = compute(table, "max", "eol")
    # Stranger walk: the bundled model asked for "End Of Life", a header it could not read.
    spelled_out = compute(table, "max", "End Of Life")

    assert ": 2026-06-10 (4 of 4 rows matched; 1 empty or non-numeric cell(s) skipped)" in latest
    assert "The row with it: version: 12; codename: Bookworm; release: 2023-06-10" in latest
    assert spelled_out == latest
    with pytest.raises(ToolError, match='No column named "Extended Support"'):
        compute(table, "max", "Extended Support")


def test_a_count_over_a_column_leads_with_the_rows_listed(tmp_path: Path) -> None:
    # Stranger walk: "How many Debian releases are listed?" was answered with the count of
    # dated releases (18 of 22): the model named a column and read its filled cells.
    path = tmp_path / "releases.csv"
    path.write_text("version,codename,release\n10,Buster,2019-07-06\n13,Trixie,\n14,Forky,\n")
    [table] = read_tables(path, name="releases.csv")

    counted = compute(table, "count", "release")

    assert counted.startswith('count of rows in sheet "releases.csv": 3 (3 of 3 rows matched)')
    assert 'Of these, 1 have a value in "release" and 2 leave it empty.' in counted
    # "How many Ubuntu releases are in this file?": the model named no real column.
    assert compute(table, "count", "Ubuntu").startswith(
        'count of rows (no column or cell is named "Ubuntu": every row is counted) in sheet '
        '"releases.csv": 3 (3 of 3 rows matched)'
    )
    # "How many of them are LTS?": the model named a value as the column.
    assert compute(table, "count", "trixie").startswith(
        'count of rows mentioning "trixie" (no column is named so) in sheet "releases.csv": 1 '
    )


async def test_the_analyst_totals_a_column_for_a_region_over_the_whole_csv(files: Files) -> None:
    expected = shown(sales_total("North"))
    analyst = ScriptedModel(
        [
            [
                call(
                    "query_table",
                    "q1",
                    operation="sum",
                    column="Amount",
                    where=[{"column": "Region", "op": "=", "value": "North"}],
                    document="sales.csv",
                )
            ],
            "Done.",
        ]
    )
    runner = Runner(analyst, tools=files.tools())

    events = await collect(
        runner.stream(ANALYST, "What is the total Amount for region North?", deps=ALICE)
    )

    [step] = [e for e in of(events, ToolCallFinished) if e.tool == "query_table"]
    assert not step.is_error
    assert f": {expected} (" in step.output
    assert step.output.startswith('"sales.csv", sum of "Amount" in sheet "sales.csv"')
    # Search would show the model a handful of rows; the tool read all 500.
    assert "of 500 rows matched" in step.output
    assert isinstance(events[-1], RunFinished)


async def test_a_workbook_sheet_is_found_by_its_columns_and_the_file_by_attachment(
    files: Files,
) -> None:
    expected = shown(cost_total("West", "Fuel"))
    attached = UserScope(ALICE.owner, attached=(files.workbook.document_id,))
    where = [
        {"column": "Region", "value": "West"},
        {"column": "Category", "value": "Fuel"},
    ]
    analyst = ScriptedModel(
        [
            [call("query_table", "q0", operation="columns", column="")],
            [call("query_table", "q1", operation="sum", column="Region")],
            [call("query_table", "q2", operation="sum", column="Cost", where=where)],
            "Done.",
        ]
    )
    runner = Runner(analyst, tools=files.tools())

    events = await collect(
        runner.stream(ANALYST, "Total fuel cost for the West region?", deps=attached)
    )

    listing, ambiguous, total = [e for e in of(events, ToolCallFinished)]
    assert '"fleet costs.xlsx" has 2 sheet(s)' in listing.output
    assert 'Sheet "Costs": 150 data rows' in listing.output
    assert '- "Cost" (numbers)' in listing.output
    assert ambiguous.is_error
    assert 'sheets: "People", "Costs"' in ambiguous.output
    assert not total.is_error
    assert 'in sheet "Costs"' in total.output
    assert f": {expected} (" in total.output


async def test_another_users_spreadsheets_are_out_of_reach(files: Files) -> None:
    analyst = ScriptedModel([[call("query_table", "q", operation="sum", column="Amount")], "No."])
    runner = Runner(analyst, tools=files.tools())

    events = await collect(runner.stream(ANALYST, "Total amount?", deps=UserScope("bob-id")))

    [step] = of(events, ToolCallFinished)
    assert step.is_error
    assert "no spreadsheets" in step.output
    assert "SKU" not in step.output


async def test_a_spreadsheet_without_a_kept_original_says_so(files: Files, tmp_path: Path) -> None:
    analyst = ScriptedModel(
        [[call("query_table", "q", operation="sum", column="Amount", document="sales")], "No."]
    )
    runner = Runner(analyst, tools=builtin_tools(files.kb, original_tables(tmp_path / "none")))

    events = await collect(runner.stream(ANALYST, "Total amount in sales?", deps=ALICE))

    [step] = of(events, ToolCallFinished)
    assert step.is_error
    assert 'The original file of "sales.csv" is not kept' in step.output


async def test_a_turn_delegates_the_total_to_the_analyst_who_reads_the_whole_sheet(
    files: Files,
) -> None:
    expected = shown(sales_total("East"))
    chief = ScriptedModel(
        [
            [call("delegate_to_analyst", "d1", instructions="Total Amount for East in sales.csv")],
            f"The East region's sales total {expected}.",
        ],
        name="chief",
    )
    analyst = ScriptedModel(
        [
            [
                call(
                    "query_table",
                    "q1",
                    operation="sum",
                    column="Amount",
                    where=[{"column": "Region", "value": "East"}],
                )
            ],
            f"Total: {expected}.",
        ],
        name="analyst",
    )
    t = team(chief, [(ANALYST, analyst)], tools=files.tools())
    # Alice has a CSV and a workbook: the Analyst names neither, so it must say which.
    sales = (files.sales.document_id,)
    attached = UserScope(ALICE.owner, attached=sales, attached_tables=sales)

    events = await collect(
        t.chief.stream("What is the total of column Amount for region East?", deps=attached)
    )

    [step] = [e for e in of(events, ToolCallFinished) if e.tool == "query_table"]
    assert step.agent == "Analyst"
    assert f": {expected} (" in step.output
    told = [m.content for m in analyst.calls[1].messages if m.role == "tool"]
    assert any(f": {expected} (" in text for text in told)


@pytest.mark.slow
async def test_the_analyst_on_the_bundled_qwen_totals_a_region(
    files: Files, model_cache: str
) -> None:
    config = LocalModelConfig(cache_dir=Path(model_cache), runtime="llama_cpp", device="cpu")
    qwen = LocalModel("qwen2.5-1.5b", config)
    runner = Runner(qwen, tools=files.tools(), options=ModelOptions(max_tokens=120, seed=7))
    expected = shown(sales_total("North"))

    events = await collect(
        runner.stream(
            ANALYST,
            "What is the total of the Amount column for region North in my spreadsheet sales.csv?",
            deps=ALICE,
        )
    )

    steps = [e for e in of(events, ToolCallFinished) if e.tool == "query_table"]
    assert steps, [e for e in of(events, ToolCallFinished)]
    assert expected in steps[-1].output, [s.output for s in steps]
    assert "Region" in steps[-1].output
    final = events[-1]
    assert isinstance(final, RunFinished)
    assert expected in final.output.replace(",", ""), final.output


@pytest.mark.slow
async def test_a_routed_turn_on_the_bundled_qwen_totals_the_attached_sheet(
    files: Files, model_cache: str
) -> None:
    from knowledge.embedder import SentenceTransformerEmbedder

    config = LocalModelConfig(cache_dir=Path(model_cache), runtime="llama_cpp", device="cpu")
    qwen = LocalModel("qwen2.5-1.5b", config)
    runner = Runner(qwen, tools=files.tools(), options=ModelOptions(max_tokens=120, seed=7))
    router = SemanticRouter(SentenceTransformerEmbedder(), OPERATORS, CHIEF_OF_STAFF.examples)
    chief = ChiefOfStaff(runner, router=router)
    assert not chief.uses_tools
    sales = (files.sales.document_id,)
    attached = UserScope(ALICE.owner, attached=sales, attached_tables=sales)
    expected = shown(sales_total("West"))

    events = await collect(
        chief.stream("What is the total of column Amount for region West?", deps=attached)
    )

    route = next(e for e in of(events, ToolCallFinished) if e.tool == "route")
    assert "computes over the attached tables whole" in route.output
    steps = [e for e in of(events, ToolCallFinished) if e.tool == "query_table"]
    assert steps, [e for e in of(events, ToolCallFinished)]
    assert steps[-1].agent == "Analyst"
    assert expected in steps[-1].output
    final = events[-1]
    assert isinstance(final, RunFinished)
    assert expected in final.output.replace(",", "")


async def test_a_constrained_model_is_offered_query_table_only_for_a_file_it_must_read(
    files: Files,
) -> None:
    constrained = Capabilities(tools=False, constrained_tools=True)
    about_a_file = ScriptedModel(
        [
            [call("query_table", operation="sum", column="Amount", document="sales.csv")],
            "Done.",
        ],
        capabilities=constrained,
    )
    events = await collect(
        Runner(about_a_file, tools=files.tools()).stream(
            ANALYST, "What is the total of the Amount column in sales.csv?", deps=ALICE
        )
    )
    assert "query_table" in [t.name for t in about_a_file.calls[0].tools]
    listing, step = of(events, ToolCallFinished)
    # The model wrote its call knowing the sheet's columns and their values.
    assert listing.output.startswith('"sales.csv" has 1 sheet(s).')
    assert '- "Amount" (numbers): ' in about_a_file.calls[0].messages[-1].content
    assert f": {shown(sum((Decimal(r[4]) for r in SALES), Decimal(0)))} (500 of 500" in (
        step.output
    )

    inline = ScriptedModel(["The mean is 15.2."], capabilities=constrained)
    await collect(
        Runner(inline, tools=files.tools()).stream(
            ANALYST, "Mean of this column: 12, 15, 9, 22, 18", deps=ALICE
        )
    )
    assert all("query_table" not in [t.name for t in c.tools] for c in inline.calls)


async def test_an_operator_written_as_the_value_is_refused_and_written_again(
    files: Files,
) -> None:
    bad = {"column": "Amount", "op": ">=", "value": "<"}
    good = {"column": "Amount", "op": ">", "value": 20000}
    analyst = ScriptedModel(
        [
            [call("query_table", operation="count", column="", where=[bad])],
            [call("query_table", operation="count", column="", where=[good])],
            "Done.",
        ],
        capabilities=Capabilities(tools=False, constrained_tools=True),
    )

    events = await collect(
        Runner(analyst, tools=files.tools()).stream(
            ANALYST, "How many sales in sales.csv are over 20000?", deps=ALICE
        )
    )

    _, refused, counted = [e for e in of(events, ToolCallFinished) if e.tool == "query_table"]
    assert refused.is_error
    assert "'<' is not a value to compare with" in refused.output
    big = sum(Decimal(row[4]) > 20_000 for row in SALES)
    assert f'where "Amount" > "20000": {big} ' in counted.output


@pytest.mark.parametrize("second_column", ["Amount", "Revenue"])
async def test_a_refused_call_is_written_again_knowing_why_then_refusal_is_said(
    files: Files, second_column: str
) -> None:
    # Stranger walk: the bundled Analyst asked query_table for a column the sheet does not
    # have, then wrote an answer with figures it made up from the refusal.
    refused = call("query_table", operation="sum", column="Turnover", document="sales.csv")
    again = call("query_table", operation="sum", column=second_column, document="sales.csv")
    analyst = ScriptedModel(
        [[refused], [again], "The total Amount is 123."],
        capabilities=Capabilities(tools=False, constrained_tools=True),
    )

    events = await collect(
        Runner(analyst, tools=files.tools()).stream(
            ANALYST, "What is the total of the sales in sales.csv?", deps=ALICE
        )
    )

    listing, *steps = [e for e in of(events, ToolCallFinished) if e.tool == "query_table"]
    assert listing.output.startswith('"sales.csv" has 1 sheet(s).')
    assert [s.is_error for s in steps] == [True, second_column != "Amount"]
    retold = analyst.calls[1].messages[-1].content
    assert 'was refused: No column named "Turnover"; the columns are:' in retold
    final = events[-1]
    assert isinstance(final, RunFinished)
    if second_column == "Amount":
        assert final.output == "The total Amount is 123."
    else:
        assert final.output.startswith('I could not compute that. No column named "Revenue"')
        assert len(analyst.calls) == 2  # no answer is written from refusals alone
