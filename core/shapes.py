"""Request shapes, checked before anything reads them.

Each inbound format declares, as tables, the fields the gateway reads and their JSON types, with
content parts discriminated on `type`. A value of another shape is a 400 that names its path
(`messages[2].content[0].text`), before any upstream call; the translators then run on checked
data, so an exception inside one is a bug of ours (a logged 500), never blamed on the client.
Fields the tables do not name, and part types they do not know, pass through untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.errors import RequestError

# A field's allowed JSON types (as Python types) and whether it must be there.
Field = tuple[type | tuple[type, ...], bool]
Shape = Mapping[str, Field]

STR: type = str
INT: type = int
NUMBER: tuple[type, ...] = (int, float)
BOOL: type = bool
OBJECT: type = dict
ARRAY: type = list
NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean", dict: "an object",
         list: "an array"}


def invalid(path: str, message: str) -> RequestError:
    code = "invalid_messages" if path.startswith(("messages", "input", "system")) else "invalid_type"
    return RequestError(f"{path}: {message}", code=code, param=path)


def _described(kinds: type | tuple[type, ...]) -> str:
    names = dict.fromkeys(NAMES[k] for k in (kinds if isinstance(kinds, tuple) else (kinds,)))
    return " or ".join(names)


def is_a(value: Any, kinds: type | tuple[type, ...]) -> bool:
    """JSON's types: a boolean is no number, whatever Python says."""
    if value is True or value is False:
        return kinds is bool or (isinstance(kinds, tuple) and bool in kinds)
    return isinstance(value, kinds)


def check(obj: Mapping[str, Any], path: str, shape: Shape) -> None:
    """Each field the shape names, when present (or required), of its type. (On every request's path:
    the common case is one dict lookup and one isinstance a field.)"""
    for name, (kinds, required) in shape.items():
        value = obj.get(name)
        if value is None:
            if required:
                raise invalid(f"{path}.{name}" if path else name, "is required")
        elif not is_a(value, kinds):
            raise invalid(f"{path}.{name}" if path else name, f"must be {_described(kinds)}")


def each(value: Any, path: str, kinds: type | tuple[type, ...]) -> list[Any]:
    """An array whose every element is of `kinds`."""
    if not isinstance(value, list):
        raise invalid(path, "must be an array")
    for i, element in enumerate(value):
        if not is_a(element, kinds):
            raise invalid(f"{path}[{i}]", f"must be {_described(kinds)}")
    return value


def parts(value: Any, path: str, by_type: Mapping[str, Shape]) -> None:
    """An array of objects with a string `type`, each of a type the table knows checked by its shape."""
    if not isinstance(value, list):
        raise invalid(path, "must be an array")
    for i, part in enumerate(value):
        if not isinstance(part, dict):
            raise invalid(f"{path}[{i}]", "must be an object")
        kind = part.get("type")
        if not isinstance(kind, str):
            raise invalid(f"{path}[{i}].type", "must be a string")
        if (shape := by_type.get(kind)) is not None:
            check(part, f"{path}[{i}]", shape)
