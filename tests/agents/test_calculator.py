"""The Analyst's tools: an exact, safe calculator and column statistics."""

from __future__ import annotations

from fractions import Fraction

import pytest

from agents.calculator import (
    MAX_RESULT_BITS,
    Number,
    calculate,
    evaluate,
    find_expressions,
    format_number,
)
from agents.errors import CalculatorError, ToolError
from agents.tabular import column_statistics, column_stats, find_table


@pytest.mark.parametrize(
    ("expression", "shown"),
    [
        ("0.1 + 0.2", "0.3"),
        ("1/3", "1/3 ≈ 0.33333333333333333333"),
        ("(1250 * 1.08 - 300) / 12", "87.5"),
        ("2 ** 100", "1267650600228229401496703205376"),
        ("2^10", "1024"),
        ("15% of 240", "36"),
        ("100 - 15%", "99.85"),
        ("1e-3 * 3", "0.003"),
        ("7 // 2", "3"),
        ("-7 % 3", "2"),
        ("2 ** -2", "0.25"),
        ("sqrt(16)", "4"),
        ("27 ** (1/3)", "3"),
        ("round(2.5)", "3"),
        ("round(-1.2345, 2)", "-1.23"),
        ("min(4, 2.5, 9)", "2.5"),
        ("abs(-3.5) + floor(2.7) + ceil(2.1)", "8.5"),
        ("3 × 4 ÷ 2 − 1", "5"),
    ],
)
def test_exact_results(expression: str, shown: str) -> None:
    assert format_number(evaluate(expression)) == shown


def test_decimals_are_exact_not_floats() -> None:
    assert evaluate("0.1 + 0.2") == Number(Fraction(3, 10))
    assert evaluate("0.1 + 0.2").value == evaluate("0.3").value
    assert evaluate("0.1 * 3 - 0.3").value == 0


def test_big_integers_are_exact() -> None:
    assert evaluate("2 ** 200 + 1").value == 2**200 + 1
    assert evaluate("123456789123456789 * 987654321987654321").value == (
        123456789123456789 * 987654321987654321
    )


def test_irrational_results_are_marked_approximate() -> None:
    root = evaluate("sqrt(2)")
    assert not root.exact
    assert format_number(root) == "≈ 1.4142135623730950488"
    assert calculate.validate({"expression": "sqrt(2)"}) == {"expression": "sqrt(2)"}


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ('__import__("os").system("ls")', "Call is not allowed"),
        ('__import__("os")', "Unknown function '__import__'"),
        ("().__class__.__bases__", "Attribute is not allowed"),
        ("open('/etc/passwd')", "Unknown function 'open'"),
        ("x + 1", "Unknown name 'x'"),
        ("[1, 2, 3]", "List is not allowed"),
        ("lambda: 1", "Lambda is not allowed"),
        ("'a' * 3", "Constant is not allowed"),
        ("True + 1", "True and False are not numbers"),
        ("1 / 0", "Division by zero"),
        ("0 ** -1", "Division by zero"),
        ("(-8) ** 0.5", "no real fractional power"),
        ("9 ** 9 ** 9", "The power is too large"),
        ("10 ** 100000", "The power is too large"),
        ("(2 ** 10000) * (2 ** 10000)", "more than 4,214 digits"),
        ("(2 ** 9999) ** 2", "The power is too large"),
        ("1 +", "Could not read"),
        ("", "empty"),
    ],
)
def test_refusals_say_why(expression: str, message: str) -> None:
    with pytest.raises(CalculatorError, match=message.replace("(", r"\(").replace("*", r"\*")):
        evaluate(expression)


def test_huge_results_are_refused_before_they_are_computed() -> None:
    # Computing 9**9**9 would take minutes; the size is checked before the power.
    assert len(format_number(evaluate(f"2 ** {MAX_RESULT_BITS - 1}"))) > 4000
    with pytest.raises(CalculatorError, match="The power is too large"):
        evaluate(f"2 ** {MAX_RESULT_BITS + 1}")
    with pytest.raises(CalculatorError, match="more than 400 parts"):
        evaluate("+".join(["1"] * 300))


def test_expressions_are_found_in_sentences() -> None:
    text = "What is 17% of 2,340? Also (1250 * 1.08 - 300) / 12 and sqrt(2), not 2024-05-01."
    assert find_expressions(text) == ["17% * 2340", "(1250 * 1.08 - 300) / 12", "sqrt(2)"]
    assert find_expressions("I have 3 apples and 2 pears") == []


def test_arithmetic_written_in_words_is_found_between_the_things_counted() -> None:
    assert find_expressions("compute 48 electric vans plus 12 diesel trucks") == ["48 + 12"]
    assert find_expressions("What is 1,200 apples minus 350 apples?") == ["1200 - 350"]
    assert find_expressions("48 vans + 12 trucks + 3 cars, and 100 km divided by 4 hours") == [
        "48 + 12 + 3",
        "100 / 4",
    ]
    assert find_expressions("Windows 10 plus Office, twice a week, 2 times a day") == []


def test_an_average_or_total_of_listed_numbers_is_written_out() -> None:
    # Stranger walk: asked the average of 120, 75 and 210, the model computed the sum.
    assert find_expressions("What is the average of 120, 75 and 210?") == ["(120 + 75 + 210) / 3"]
    assert find_expressions("the mean of 2.5 and 3.5, and the total of 1,200, 300, and 4") == [
        "(2.5 + 3.5) / 2",
        "1200 + 300 + 4",
    ]
    assert find_expressions("the average of this column: 12, 15, 9") == []


TABLE = """region,sales,units
North,"1,200.50",10
South,800,
East,950.25,7
West,n/a,3
"""


def test_column_statistics_are_exact() -> None:
    sales, units = column_stats(TABLE)
    assert sales.name == "sales"
    assert sales.count == 3
    assert sales.missing == 1
    assert sales.total == Fraction("2950.75")
    assert sales.mean == Fraction("2950.75") / 3
    assert sales.median == Fraction("950.25")
    assert (sales.minimum, sales.maximum) == (Fraction(800), Fraction("1200.5"))
    assert units.total == 20
    assert units.median == 7
    assert units.stdev is not None
    assert float(units.stdev) == pytest.approx(3.5118845842842)


async def test_column_statistics_tool_renders_a_table() -> None:
    output = column_statistics.validate({"data": TABLE, "columns": ["units"]})
    assert output == {"data": TABLE, "columns": ["units"]}
    rendered = str(await column_statistics.function(None, output))  # type: ignore[arg-type]
    assert rendered.splitlines()[2] == "| units | 3 | 20 | 6.666667 | 7 | 3.511885 | 3 | 10 |"


def test_markdown_and_semicolon_tables() -> None:
    message = "Scores:\n| name | score |\n|---|---|\n| a | 1 |\n| b | 2 |\n| c | 4 |\nThanks"
    table = find_table(message)
    assert table is not None
    [score] = column_stats(table)
    assert score.total == 7
    assert score.median == 2
    [x, y] = column_stats("x;y\n1;2\n3;4\n")
    assert (x.mean, y.mean) == (Fraction(2), Fraction(3))


def test_tables_without_numbers_are_refused_clearly() -> None:
    with pytest.raises(ToolError, match="No numeric columns among: name, city"):
        column_stats("name,city\nAda,London\nAlan,Wilmslow\n")
    with pytest.raises(ToolError, match="No column named price; the columns are: a, b"):
        column_stats("a,b\n1,2\n", ["price"])
