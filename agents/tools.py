"""`Tool` and the `@tool` decorator: typed Python functions the model can call.

The decorator reads the signature and the Google-style docstring, builds a pydantic model
for the arguments, and uses it both for the JSON schema the model sees and to validate
the arguments the model sends. Bad arguments become a `ToolArgumentsError` whose message
tells the model what to fix, so it can try again instead of the run crashing.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic_core import to_jsonable_python

from agents.context import RunContext
from agents.errors import ConfigError, ToolArgumentsError
from agents.models.base import ToolSpec

ToolBody = Callable[[RunContext, dict[str, Any]], Awaitable[object]]
"""A tool's implementation: the run's context and validated arguments in, any result out."""

AutoCalls = Callable[[str], list[dict[str, Any]]]
"""Derives calls from a request, for models that cannot call tools (the fixed policy)."""

NeedsCall = Callable[[str], bool]
"""Whether a request needs this tool although `AutoCalls` could not derive the call: a model
that can be constrained to tool schemas is then asked to write the call."""

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SECTION = re.compile(r"^(Args|Arguments|Parameters|Returns|Yields|Raises|Examples?|Notes?):\s*$")
_ARG_LINE = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def _accept_all(arguments: dict[str, Any]) -> dict[str, Any]:
    return arguments


@dataclass(frozen=True, slots=True)
class Tool:
    """Something an agent can call: a name, a purpose, a JSON schema and an async function."""

    name: str
    description: str
    """Told to the model: when to use the tool and what it returns."""
    parameters: dict[str, Any]
    """JSON schema of the arguments object."""
    function: ToolBody
    validate: Callable[[dict[str, Any]], dict[str, Any]] = _accept_all
    """Checks and converts raw arguments; raises `ToolArgumentsError`."""
    timeout_s: float | None = None
    """Overrides the turn's per-tool timeout."""
    auto_calls: AutoCalls | None = None
    """How to call this tool from the request alone when the model cannot call tools."""
    delegate_to: str | None = None
    """The operator's name if this tool is a delegation (it reports its own events)."""
    needs_call: NeedsCall | None = None
    """See `NeedsCall`."""
    primer: Mapping[str, Any] | None = None
    """Arguments of a call whose result a model reads before it writes its own call, when
    code decided the call is needed (`query_table`'s sheet and column listing)."""

    def __post_init__(self) -> None:
        if not _TOOL_NAME.match(self.name):
            raise ConfigError(
                f"Tool name {self.name!r} must be 1-64 letters, digits, '_' or '-' "
                "(model APIs reject other names)."
            )

    @property
    def spec(self) -> ToolSpec:
        """What the model is told about this tool."""
        return ToolSpec(self.name, self.description, self.parameters)

    async def invoke(self, ctx: RunContext, arguments: dict[str, Any]) -> str:
        """Validate `arguments`, call the tool, and render its result as text for the model."""
        return render_output(await self.function(ctx, self.validate(arguments)))


def render_output(result: object) -> str:
    """A tool result as the text a model reads."""
    if isinstance(result, str):
        return result
    if result is None:
        return "Done."
    if isinstance(result, BaseModel):
        return result.model_dump_json()
    return json.dumps(to_jsonable_python(result), ensure_ascii=False)


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its description and per-argument descriptions."""
    description: list[str] = []
    args: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    arg_indent: int | None = None
    for raw in doc.splitlines():
        line = raw.strip()
        if match := _SECTION.match(line):
            section, current, arg_indent = match.group(1), None, None
            continue
        if section is None:
            description.append(line)
            continue
        if section not in {"Args", "Arguments", "Parameters"} or not line:
            continue
        indent = len(raw) - len(raw.lstrip())
        arg = _ARG_LINE.match(line)
        # Argument lines share one indent; deeper lines continue the previous argument.
        if arg and (arg_indent is None or indent <= arg_indent):
            arg_indent = indent
            current = arg.group(1).lstrip("*")
            args[current] = arg.group(2).strip()
        elif current is not None:
            args[current] = f"{args[current]} {line}".strip()
    return "\n".join(description).strip(), args


def _is_context(hint: object) -> bool:
    return hint is RunContext or typing.get_origin(hint) is RunContext


def _strip_titles(node: Any) -> Any:
    # pydantic titles every schema; they add tokens and say nothing the names don't.
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "title" and isinstance(value, str):
                continue
            if key in {"properties", "$defs"} and isinstance(value, dict):
                out[key] = {name: _strip_titles(schema) for name, schema in value.items()}
            else:
                out[key] = _strip_titles(value)
        return out
    if isinstance(node, list):
        return [_strip_titles(item) for item in node]
    return node


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    # Nested models become `$ref`s into `$defs`; grammar builders (llama.cpp) cannot follow
    # them once the schema is wrapped in a tool call, so each is written out in place.
    definitions = schema.get("$defs", {})

    def resolve(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref.removeprefix("#/$defs/")
                if name in seen:
                    raise ConfigError(f"Tool arguments cannot nest {name} inside itself.")
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return {**resolve(definitions[name], (*seen, name)), **rest}
            return {k: resolve(v, seen) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [resolve(item, seen) for item in node]
        return node

    return resolve(schema, ()) if definitions else schema


def _describe_errors(tool: str, error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "arguments"
        problems.append(f"{where}: {item['msg']}")
    return (
        f"Invalid arguments for {tool}: {'; '.join(problems)}. "
        "Call it again with arguments that match its schema."
    )


def _build(
    fn: Callable[..., Any],
    name: str | None,
    description: str | None,
    timeout_s: float | None,
    auto_calls: AutoCalls | None,
    delegate_to: str | None,
    needs_call: NeedsCall | None = None,
    primer: Mapping[str, Any] | None = None,
) -> Tool:
    tool_name = name or fn.__name__
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except NameError as exc:
        raise ConfigError(
            f"Tool {tool_name!r} has a type hint that cannot be resolved ({exc}); "
            "import the type at module level."
        ) from exc
    summary, arg_docs = parse_docstring(inspect.getdoc(fn) or "")
    params = list(inspect.signature(fn).parameters.values())
    takes_context = bool(params) and _is_context(hints.get(params[0].name))
    fields: dict[str, Any] = {}
    for param in params[1:] if takes_context else params:
        if param.kind in {param.VAR_POSITIONAL, param.VAR_KEYWORD}:
            raise ConfigError(f"Tool {tool_name!r} cannot take *args or **kwargs; name them.")
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (
            hints.get(param.name, Any),
            Field(default, description=arg_docs.get(param.name)),
        )
    arguments_model = create_model(
        f"{tool_name}_arguments", __config__=ConfigDict(extra="forbid"), **fields
    )
    schema = _inline_refs(_strip_titles(arguments_model.model_json_schema()))
    is_async = inspect.iscoroutinefunction(fn)

    def validate(arguments: dict[str, Any]) -> dict[str, Any]:
        try:
            parsed = arguments_model.model_validate(arguments)
        except ValidationError as exc:
            raise ToolArgumentsError(_describe_errors(tool_name, exc)) from exc
        return {key: getattr(parsed, key) for key in fields}

    async def function(ctx: RunContext, arguments: dict[str, Any]) -> object:
        args = (ctx,) if takes_context else ()
        if is_async:
            return await fn(*args, **arguments)
        # Blocking tools must not stall every other run of the turn.
        return await asyncio.to_thread(fn, *args, **arguments)

    text = description or summary
    if not text:
        raise ConfigError(f"Tool {tool_name!r} needs a docstring or a description.")
    return Tool(
        tool_name,
        text,
        schema,
        function,
        validate,
        timeout_s,
        auto_calls,
        delegate_to,
        needs_call,
        primer,
    )


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: float | None = None,
    auto_calls: AutoCalls | None = None,
    delegate_to: str | None = None,
    needs_call: NeedsCall | None = None,
    primer: Mapping[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: float | None = None,
    auto_calls: AutoCalls | None = None,
    delegate_to: str | None = None,
    needs_call: NeedsCall | None = None,
    primer: Mapping[str, Any] | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a `Tool` from a typed function (async or blocking), optionally taking a `RunContext`.

    The docstring's description tells the model what the tool does, its `Args:` section
    describes each parameter, and the type hints (any pydantic-compatible type) become the
    schema. Use bare (`@tool`) or with options (`@tool(name=..., timeout_s=...)`).
    """

    def wrap(function: Callable[..., Any]) -> Tool:
        return _build(
            function, name, description, timeout_s, auto_calls, delegate_to, needs_call, primer
        )

    return wrap if fn is None else wrap(fn)
