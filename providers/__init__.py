"""One adapter per upstream wire format, and the registry that picks one by `kind`.

Adapters use core's types, errors and SSE; they know nothing of keys, plans, limits or storage.
"""

from __future__ import annotations

from collections.abc import Callable

from core.config import Config, ProviderConfig
from core.imports import load
from core.types import ChatAdapter

AdapterFactory = Callable[[str, ProviderConfig], ChatAdapter]

# The adapter class of each kind, imported only for the kinds a config uses (cold start).
ADAPTERS: dict[str, str] = {
    "openai": "providers.openai:OpenAIAdapter",
    "anthropic": "providers.anthropic:AnthropicAdapter",
    "azure": "providers.azure:AzureAdapter",
    "bedrock": "providers.bedrock:BedrockAdapter",
}


def build_adapters(config: Config) -> dict[str, ChatAdapter]:
    """An adapter for every enabled provider whose kind is implemented, keyed by provider name."""
    return {
        name: load(ADAPTERS[provider.kind])(name, provider)
        for name, provider in config.providers.items()
        if provider.enabled and provider.kind in ADAPTERS
    }
