"""The Responses API's tools on a chat route.

A chat model knows one kind of tool, the function. Function tools pass as they are; a `custom` tool
(free-form input, e.g. Codex's `apply_patch` with its grammar) becomes a function taking one string,
`input`, and its calls come back as `custom_tool_call` items; the tools of a `namespace` are
flattened under `<namespace>__<name>` and their calls come back with the namespace. Hosted tools
(web search, file search, tool search, …) run on OpenAI's side, which a chat upstream cannot: they
are left out of the request and named in the `x-apex-dropped-tools` header — unless `tool_choice`
requires one, which is then a 400 naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from core.errors import RequestError, shown
from core.types import JSON

SEPARATOR = "__"
INPUT_DESCRIPTION = "The tool's whole input, as free-form text."


@dataclass(frozen=True)
class Tool:
    """What a chat function stands for: a function or a custom tool, by its own name and namespace."""

    kind: str
    name: str
    namespace: str | None = None


def chat_name(name: str, namespace: str | None) -> str:
    return f"{namespace}{SEPARATOR}{name}" if namespace else name


def _unsupported(message: str, param: str) -> RequestError:
    return RequestError(message, code="unsupported_tool", param=param)


class Tools:
    """The request's tools (its `tools` and any `additional_tools` items), as chat functions and back."""

    def __init__(self, groups: list[tuple[Any, str]]) -> None:
        self.chat: list[JSON] = []
        self.dropped: list[str] = []
        self._by_chat_name: dict[str, Tool] = {}
        for tools, path in groups:
            if not isinstance(tools, list):
                raise RequestError(f"{path} must be an array of tools", code="invalid_type", param=path)
            for i, tool in enumerate(tools):
                self._add(tool, f"{path}[{i}]", None)

    def _add(self, tool: Any, path: str, namespace: str | None) -> None:
        kind = tool.get("type") if isinstance(tool, dict) else None
        if not isinstance(kind, str):
            raise _unsupported(f"{path} must be a tool object with a type", path)
        if kind in ("function", "custom", "namespace") and not isinstance(tool.get("name"), str):
            raise _unsupported(f"{path}: a {kind} tool needs a name", path)
        if kind == "namespace" and namespace is None:
            for i, inner in enumerate(tool.get("tools") or ()):
                self._add(inner, f"{path}.tools[{i}]", tool["name"])
        elif kind == "function":
            function = {k: tool[k] for k in ("description", "parameters", "strict") if tool.get(k) is not None}
            self._function(Tool("function", tool["name"], namespace), function)
        elif kind == "custom":
            self._function(Tool("custom", tool["name"], namespace), {
                "description": _custom_description(tool),
                "parameters": {"type": "object", "properties": {"input": {"type": "string",
                                                                          "description": INPUT_DESCRIPTION}},
                               "required": ["input"], "additionalProperties": False}})
        else:
            self.dropped.append(kind)

    def _function(self, tool: Tool, function: JSON) -> None:
        name = chat_name(tool.name, tool.namespace)
        self._by_chat_name[name] = tool
        self.chat.append({"type": "function", "function": {"name": name, **function}})

    def choice(self, tool_choice: Any) -> Any:
        """The chat `tool_choice` for the request's, or None for the upstream's default."""
        if tool_choice is None or tool_choice in ("auto", "none"):
            return tool_choice
        if tool_choice == "required":
            if not self.chat:
                raise _unsupported("tool_choice requires a tool, and a chat model can run none of those offered "
                                   f"({', '.join(self.dropped) or 'none'})", "tool_choice")
            return tool_choice
        kind = tool_choice.get("type") if isinstance(tool_choice, dict) else None
        if kind in ("function", "custom"):
            name = chat_name(str(tool_choice.get("name")), tool_choice.get("namespace"))
            if name not in self._by_chat_name:
                raise RequestError(f"tool_choice names {shown(name)}, which is not among the tools",
                                   code="invalid_value", param="tool_choice")
            return {"type": "function", "function": {"name": name}}
        if kind == "allowed_tools":
            return "required" if tool_choice.get("mode") == "required" else "auto"
        raise _unsupported(f"tool_choice requires the hosted tool {shown(kind)}, which a chat model cannot run",
                           "tool_choice")

    def tool_of(self, chat_function: str) -> Tool:
        return self._by_chat_name.get(chat_function) or Tool("function", chat_function)

    def call_item(self, call: JSON, item_id: str, status: str = "completed") -> JSON:
        """A chat tool call as the Responses output item it stands for."""
        function = call.get("function") or {}
        tool = self.tool_of(function.get("name", ""))
        item: JSON = {"id": item_id, "type": "function_call", "status": status, "call_id": call.get("id") or item_id,
                      "name": tool.name, "arguments": function.get("arguments") or ""}
        if tool.kind == "custom":
            item = {"id": item_id, "type": "custom_tool_call", "status": status, "call_id": item["call_id"],
                    "name": tool.name, "input": custom_input(item["arguments"])}
        if tool.namespace:
            item["namespace"] = tool.namespace
        return item


def custom_input(arguments: str) -> str:
    """The free-form input a model gave a custom tool, out of the one-string function's arguments."""
    try:
        decoded = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return arguments
    return decoded.get("input", "") if isinstance(decoded, dict) and isinstance(decoded.get("input"), str) \
        else arguments


def _custom_description(tool: JSON) -> str:
    description = str(tool.get("description") or "")
    grammar = tool.get("format")
    if isinstance(grammar, dict) and grammar.get("type") == "grammar" and grammar.get("definition"):
        description += (f"\n\nThe input must follow this {grammar.get('syntax', '')} grammar:\n"
                        f"{grammar['definition']}")
    return description
