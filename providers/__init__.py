"""One adapter per upstream wire format, and the registry that picks one by `kind`.

Adapters use core's types, errors and SSE; they know nothing of keys, plans, limits or storage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from core.config import Config, ProviderConfig
from core.imports import load
from core.types import ChatAdapter

AdapterFactory = Callable[[str, ProviderConfig, str | None], ChatAdapter]

# The adapter class of each kind, imported only for the kinds a config uses (cold start).
ADAPTERS: dict[str, str] = {
    "openai": "providers.openai:OpenAIAdapter",
    "anthropic": "providers.anthropic:AnthropicAdapter",
    "azure": "providers.azure:AzureAdapter",
    "bedrock": "providers.bedrock:BedrockAdapter",
    "demo": "providers.demo:DemoAdapter",
}


def usable(config: Config, keys: Mapping[str, str]) -> list[str]:
    """The providers an adapter can be built for: their kind is implemented and, when they name a key
    variable, `keys` (by provider name) has their key."""
    return [name for name, provider in config.providers.items()
            if (provider.api_key_env is None or name in keys) and provider.kind in ADAPTERS]


def build_adapters(config: Config, keys: Mapping[str, str]) -> dict[str, ChatAdapter]:
    """An adapter for every usable provider, keyed by provider name."""
    return {name: load(ADAPTERS[config.providers[name].kind])(name, config.providers[name], keys.get(name))
            for name in usable(config, keys)}
