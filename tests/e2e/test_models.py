"""`/v1/models` through the official SDK and over plain HTTP for the filters."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai import OpenAI

from tests.support import TEST_KEY, Running

AUTH = {"authorization": f"Bearer {TEST_KEY}"}


def test_list_shows_reachable_models_with_provider_type_window_and_pricing(client: OpenAI) -> None:
    models = {m.id: m for m in client.models.list()}
    assert set(models) == {"fast", "reliable", "with-dead", "all-dead", "tiny", "embedder"}   # not "old"
    fast = models["fast"].model_dump()
    assert fast["owned_by"] == fast["provider"] == "alpha"
    assert (fast["type"], fast["context_window"], fast["pricing"]) == ("chat", 8192, {"input": 0.1, "output": 0.2})
    assert models["embedder"].model_dump()["type"] == "embedding"


def test_retrieve_by_id_including_provider_slash_model(client: OpenAI) -> None:
    assert client.models.retrieve("tiny").model_dump()["context_window"] == 64
    direct = client.models.retrieve("alpha/alpha-model").model_dump()
    assert (direct["id"], direct["provider"], direct["context_window"]) == ("alpha/alpha-model", "alpha", 8192)
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("nope")
    assert caught.value.code == "model_not_found"


@pytest.mark.parametrize(("query", "expected"), [
    ("?provider=beta", {"reliable", "with-dead", "embedder"}),
    ("?type=embedding", {"embedder"}),
    ("?provider=beta&type=chat", {"reliable", "with-dead"}),
    ("?provider=nobody", set()),
])
def test_filters(gateway: Running, query: str, expected: set[str]) -> None:
    response = httpx.get(f"{gateway.base_url}/models{query}", headers=AUTH)
    assert response.status_code == 200
    assert {m["id"] for m in response.json()["data"]} == expected


def test_bad_type_filter_and_missing_key(gateway: Running) -> None:
    bad = httpx.get(f"{gateway.base_url}/models?type=video", headers=AUTH)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "type"
    assert httpx.get(f"{gateway.base_url}/models").status_code == 401
