"""Objects named `module:name`, imported when first asked for: a Lambda function pays at cold start
only for the routes and adapters it uses."""

from __future__ import annotations

import importlib
from typing import Any


def load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)
