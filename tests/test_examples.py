"""The examples work together: apex.example.toml prices every model it serves and has a model for
every sample event in events/."""

from __future__ import annotations

import json
from pathlib import Path

from core.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def test_the_example_config_prices_every_model_it_serves() -> None:
    config = load_config(str(ROOT / "apex.example.toml"))
    assert [name for name, model in config.models.items() if not model.deprecated and not model.priced] == []


def model_of(event: Path) -> str | None:
    body = json.loads(event.read_text()).get("body")
    return json.loads(body).get("model") if body else None


def test_every_sample_event_names_a_model_of_the_example_config() -> None:
    config = load_config(str(ROOT / "apex.example.toml"))
    named = {model_of(path) for path in (ROOT / "events").glob("*.json")} - {None}
    assert named and named <= set(config.models), named - set(config.models)
