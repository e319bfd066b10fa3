"""A safe, exact calculator: arithmetic parsed with `ast`, never `eval`.

Only numbers, arithmetic operators, parentheses and a few named functions are allowed.
Numbers are exact fractions, so `0.1 + 0.2` is exactly `0.3`; roots, logarithms and
irrational powers fall back to 50-digit decimals and are marked approximate. Sizes are
capped so a request like `9**9**9` is refused instead of freezing the process.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

from agents.errors import CalculatorError
from agents.tools import tool

MAX_EXPRESSION_CHARS = 2_000
MAX_NODES = 400
MAX_RESULT_BITS = 14_000
"""About 4,200 decimal digits: the largest number any step may produce (Python itself
refuses to print integers longer than 4,300 digits, to stay fast)."""
_MAX_DIGITS = int(MAX_RESULT_BITS * 0.30103)
_PRECISION = 50


@dataclass(frozen=True, slots=True)
class Number:
    """A calculator value: an exact fraction, or an approximation when `exact` is false."""

    value: Fraction
    exact: bool = True


def _check_size(value: Fraction) -> Fraction:
    if max(value.numerator.bit_length(), value.denominator.bit_length()) > MAX_RESULT_BITS:
        raise CalculatorError(
            f"The result would have more than {_MAX_DIGITS:,} digits; "
            "split the calculation or use smaller numbers."
        )
    return value


def _decimal(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


def _approx(compute: Callable[[], Decimal]) -> Number:
    with localcontext() as context:
        context.prec = _PRECISION
        result = compute()
    if not result.is_finite():
        raise CalculatorError("The result is not a finite number.")
    return Number(_check_size(Fraction(result)), exact=False)


def _iroot(n: int, k: int) -> int | None:
    """The exact integer `k`-th root of `n` ≥ 0, or `None` when there is none."""
    if n < 2:
        return n
    x = 1 << ((n.bit_length() + k - 1) // k)
    while True:
        y = ((k - 1) * x + n // x ** (k - 1)) // k
        if y >= x:
            break
        x = y
    return x if x**k == n else None


def _power(base: Number, exponent: Number) -> Number:
    b, e = base.value, exponent.value
    exact = base.exact and exponent.exact
    if e.denominator == 1:
        if b == 0 and e < 0:
            raise CalculatorError("Division by zero: 0 cannot be raised to a negative power.")
        size = max(abs(b.numerator), b.denominator)
        bits = math.log2(size) * abs(e.numerator) if size > 1 else 0.0
        if bits > MAX_RESULT_BITS:
            raise CalculatorError(
                f"The power is too large (about {int(bits * 0.30103):,} digits; the limit is "
                f"{_MAX_DIGITS:,}). Use smaller numbers."
            )
        return Number(_check_size(b ** int(e)), exact)
    if b < 0:
        raise CalculatorError("A negative number has no real fractional power.")
    if e.denominator <= 64 and abs(e.numerator) <= 64:
        # Exact roots such as 4 ** 0.5 or 27 ** (1/3) stay exact.
        num, den = _iroot(b.numerator, e.denominator), _iroot(b.denominator, e.denominator)
        if num is not None and den is not None:
            return _power(Number(Fraction(num, den), exact), Number(Fraction(e.numerator), exact))
    return _approx(lambda: _decimal(b) ** _decimal(e))


def _rounded(x: Fraction, digits: int = 0) -> Fraction:
    """Round half away from zero, as people expect (2.5 → 3)."""
    scale = Fraction(10) ** digits
    magnitude = math.floor(abs(x) * scale + Fraction(1, 2))
    return Fraction(magnitude if x >= 0 else -magnitude) / scale


def _sqrt(x: Number) -> Number:
    return _power(x, Number(Fraction(1, 2)))


def _log(x: Number, base: Number | None = None) -> Number:
    if x.value <= 0 or (base is not None and (base.value <= 0 or base.value == 1)):
        raise CalculatorError("Logarithms need positive numbers (and a base other than 1).")
    if base is None:
        return _approx(lambda: _decimal(x.value).ln())
    return _approx(lambda: _decimal(x.value).ln() / _decimal(base.value).ln())


def _round(x: Number, digits: Number | None = None) -> Number:
    places = Fraction(0) if digits is None else digits.value
    if places.denominator != 1 or abs(places) > 1000:
        raise CalculatorError("round() takes a whole number of decimal places.")
    return Number(_rounded(x.value, int(places)), x.exact)


_FUNCTIONS: dict[str, Callable[..., Number]] = {
    "abs": lambda x: Number(abs(x.value), x.exact),
    "round": _round,
    "floor": lambda x: Number(Fraction(math.floor(x.value)), x.exact),
    "ceil": lambda x: Number(Fraction(math.ceil(x.value)), x.exact),
    "sqrt": _sqrt,
    "ln": _log,
    "log": _log,
    "log10": lambda x: _log(x, Number(Fraction(10))),
    "exp": lambda x: _approx(lambda: _decimal(x.value).exp()),
    "min": lambda *xs: min(xs, key=lambda n: n.value),
    "max": lambda *xs: max(xs, key=lambda n: n.value),
}
_ARITY = {"min": (1, 100), "max": (1, 100), "round": (1, 2), "log": (1, 2)}


def _constants() -> dict[str, Number]:
    with localcontext() as context:
        context.prec = _PRECISION
        e = Decimal(1).exp()
    pi = Decimal("3.14159265358979323846264338327950288419716939937510")
    return {"pi": Number(Fraction(pi), False), "e": Number(Fraction(e), False)}


_CONSTANTS = _constants()


class _Evaluator:
    def __init__(self, source: str) -> None:
        self.source = source

    def eval(self, node: ast.AST) -> Number:
        match node:
            case ast.Expression(body=body):
                return self.eval(body)
            case ast.Constant(value=bool()):
                raise CalculatorError("True and False are not numbers here.")
            case ast.Constant(value=int() as value):
                return Number(_check_size(Fraction(value)))
            case ast.Constant(value=float()):
                # Read the literal as written: the float 0.1 is already inexact.
                literal = ast.get_source_segment(self.source, node) or ""
                return Number(_check_size(Fraction(literal.replace("_", ""))))
            case ast.UnaryOp(op=ast.USub(), operand=operand):
                inner = self.eval(operand)
                return Number(-inner.value, inner.exact)
            case ast.UnaryOp(op=ast.UAdd(), operand=operand):
                return self.eval(operand)
            case ast.BinOp(left=left, op=op, right=right):
                return self._binary(op, self.eval(left), self.eval(right))
            case ast.Name(id=name) if name in _CONSTANTS:
                return _CONSTANTS[name]
            case ast.Call(func=ast.Name(id=name), args=args, keywords=[]) if name in _FUNCTIONS:
                low, high = _ARITY.get(name, (1, 1))
                if not low <= len(args) <= high:
                    raise CalculatorError(f"{name}() takes {low}-{high} argument(s).")
                return _FUNCTIONS[name](*(self.eval(arg) for arg in args))
            case ast.Call(func=ast.Name(id=name)):
                raise CalculatorError(
                    f"Unknown function {name!r}; available: {', '.join(sorted(_FUNCTIONS))}."
                )
            case ast.Name(id=name):
                raise CalculatorError(f"Unknown name {name!r}; only pi and e are defined.")
        raise CalculatorError(
            f"{type(node).__name__} is not allowed: use numbers, + - * / // % **, "
            "parentheses and functions like sqrt() or round()."
        )

    def _binary(self, op: ast.operator, left: Number, right: Number) -> Number:
        a, b, exact = left.value, right.value, left.exact and right.exact
        if isinstance(op, ast.Pow):
            return _power(left, right)
        if isinstance(op, ast.Div | ast.FloorDiv | ast.Mod) and b == 0:
            raise CalculatorError("Division by zero.")
        result: Fraction
        match op:
            case ast.Add():
                result = a + b
            case ast.Sub():
                result = a - b
            case ast.Mult():
                result = a * b
            case ast.Div():
                result = a / b
            case ast.FloorDiv():
                result = Fraction(a // b)
            case ast.Mod():
                result = a % b
            case _:
                raise CalculatorError(f"The operator {type(op).__name__} is not allowed.")
        return Number(_check_size(result), exact)


_PERCENT_OF = re.compile(r"(\d+(?:\.\d+)?)\s*%\s*of\b", re.IGNORECASE)
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%(?!\s*[\d(])")


def normalize(expression: str) -> str:
    """Accept everyday notation: `^`, `×`, `÷`, `−`, `15% of 80`, a trailing `=`."""
    text = expression.strip().rstrip("=").strip()
    for old, new in (("^", "**"), ("×", "*"), ("÷", "/"), ("−", "-"), ("–", "-")):
        text = text.replace(old, new)
    text = _PERCENT_OF.sub(r"(\1/100)*", text)
    return _PERCENT.sub(r"(\1/100)", text)


def evaluate(expression: str) -> Number:
    """Evaluate an arithmetic expression exactly; raise `CalculatorError` for anything else."""
    text = normalize(expression)
    if not text:
        raise CalculatorError("The expression is empty.")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise CalculatorError(f"The expression is longer than {MAX_EXPRESSION_CHARS} characters.")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise CalculatorError(f"Could not read {expression!r} as arithmetic: {exc.msg}.") from exc
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise CalculatorError(f"The expression has more than {MAX_NODES} parts; split it up.")
    return _Evaluator(text).eval(tree)


def _terminating_digits(denominator: int) -> int | None:
    """Decimal places needed to write 1/denominator exactly, or None if it never ends."""
    twos = fives = 0
    while denominator % 2 == 0:
        denominator //= 2
        twos += 1
    while denominator % 5 == 0:
        denominator //= 5
        fives += 1
    return max(twos, fives) if denominator == 1 else None


def _plain(value: Fraction, places: int) -> str:
    """`value` (exactly representable with `places` decimals) as a decimal string."""
    scaled = abs(value.numerator * 10**places // value.denominator)
    sign = "-" if value < 0 else ""
    if places == 0:
        return f"{sign}{scaled}"
    digits = str(scaled).rjust(places + 1, "0")
    whole, frac = digits[:-places], digits[-places:].rstrip("0")
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"


def approximate(value: Fraction, significant: int = 20) -> str:
    """`value` rounded to `significant` digits, without exponent notation for usual sizes."""
    with localcontext() as context:
        context.prec = significant
        number = +_decimal(value)
    text = format(number, "f") if -30 < number.adjusted() < 40 else format(number, "e")
    if "." in text and "e" not in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_number(number: Number) -> str:
    """`0.3`, `1/3 ≈ 0.33333333333333333333`, or `≈ 1.4142135623730950488` for approximations."""
    value = number.value
    if not number.exact:
        return f"≈ {approximate(value)}"
    places = _terminating_digits(value.denominator)
    if places is not None and places <= 60:
        return _plain(value, places)
    return f"{value.numerator}/{value.denominator} ≈ {approximate(value)}"


def calculate_text(expression: str) -> str:
    """`expression = result` (or `≈ result` for an approximation): the tool's answer."""
    number = evaluate(expression)
    if number.exact:
        return f"{expression.strip()} = {format_number(number)}"
    return f"{expression.strip()} {format_number(number)}"


_FUNCTION_NAMES = r"(?:sqrt|abs|round|floor|ceil|log10|ln|log|exp|min|max|pi)"
_CANDIDATE = re.compile(
    rf"(?:{_FUNCTION_NAMES}|[\d(])(?:{_FUNCTION_NAMES}|[\d\s.,+\-*/^()%])*[\d)%]"
)
_OPERATOR = re.compile(rf"[+\-*/^%]|{_FUNCTION_NAMES}")
_DATE = re.compile(r"\b\d{4}-\d{1,2}-\d{1,2}\b")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
# "48 electric vans plus 12 diesel trucks": what is counted sits between the numbers, and
# the operator may be a word. Up to three words are dropped; the next number must follow.
_WORD_OPERATORS = {"plus": "+", "minus": "-", "times": "*", "multiplied by": "*", "divided by": "/"}
_WORDED = re.compile(
    r"(?<![\w.])(\d[\d.,]*%?)(?:\s+[^\W\d_][\w'-]*){0,3}?\s*"
    r"(\+|\*|×|÷|\bplus\b|\bminus\b|\btimes\b|\bmultiplied\s+by\b|\bdivided\s+by\b)"
    r"\s*(?=\(?\d)",
    re.IGNORECASE,
)


# "the average of 120, 75 and 210": the bundled model wrote the sum and called it the mean.
_LISTED = re.compile(
    r"\b(average|mean|sum|total)\s+of\s+((?:\d+(?:\.\d+)?\s*(?:,\s*(?:and\s+)?|and\s+|&\s*))+"
    r"\d+(?:\.\d+)?)",
    re.IGNORECASE,
)


def _listed(match: re.Match[str]) -> str:
    numbers = re.findall(r"\d+(?:\.\d+)?", match.group(2))
    total = " + ".join(numbers)
    if match.group(1).lower() in ("average", "mean"):
        return f" ({total}) / {len(numbers)} "
    return f" {total} "


def _symbolic(match: re.Match[str]) -> str:
    operator = " ".join(match.group(2).lower().split())
    return f"{match.group(1)} {_WORD_OPERATORS.get(operator, operator)} "


def find_expressions(text: str, limit: int = 5) -> list[str]:
    """Arithmetic the user wrote inside a sentence (for models that cannot call tools)."""
    found: list[str] = []
    cleaned = _THOUSANDS.sub("", _DATE.sub(" ", text))
    cleaned = _WORDED.sub(_symbolic, _LISTED.sub(_listed, cleaned))
    for old, new in (("×", "*"), ("÷", "/"), ("−", "-"), ("–", "-")):
        cleaned = cleaned.replace(old, new)
    cleaned = _PERCENT_OF.sub(r"\1% *", cleaned)
    for match in _CANDIDATE.finditer(cleaned):
        candidate = " ".join(match.group(0).strip(" ,.").split())
        if not _OPERATOR.search(candidate) or candidate in found:
            continue
        try:
            evaluate(candidate)
        except CalculatorError:
            continue
        found.append(candidate)
        if len(found) == limit:
            break
    return found


def _auto_calculate(request: str) -> list[dict[str, Any]]:
    return [{"expression": e} for e in find_expressions(request)]


_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?%?")


def _needs_calculation(request: str) -> bool:
    # Two or more numbers in words ("48 vans plus 12 trucks") call for arithmetic that the
    # expression finder cannot lift out of the sentence; the model writes the expression.
    return len(_NUMBER.findall(_DATE.sub(" ", request))) >= 2


@tool(auto_calls=_auto_calculate, needs_call=_needs_calculation)
def calculate(expression: str) -> str:
    """Evaluate arithmetic exactly (no rounding errors: 0.1 + 0.2 is exactly 0.3).

    Supports + - * / // % ** (or ^), parentheses, percentages (`15% of 80`), and
    sqrt, abs, round(x, places), floor, ceil, min, max, ln, log(x, base), log10, exp,
    pi and e. Use it for every calculation instead of doing arithmetic in your head.

    Args:
        expression: The arithmetic to evaluate, e.g. `(1250 * 1.08 - 300) / 12`.
    """
    return calculate_text(expression)
