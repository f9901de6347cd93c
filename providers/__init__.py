"""One adapter per upstream wire format, and the registry that picks one by `kind`.

Adapters use core's types, errors and SSE; they know nothing of keys, plans, limits or storage.
"""

from __future__ import annotations

from collections.abc import Callable

from core.config import Config, ProviderConfig
from core.types import ChatAdapter
from providers.anthropic import AnthropicAdapter
from providers.azure import AzureAdapter
from providers.bedrock import BedrockAdapter
from providers.openai import OpenAIAdapter

AdapterFactory = Callable[[str, ProviderConfig], ChatAdapter]

ADAPTERS: dict[str, AdapterFactory] = {
    "openai": OpenAIAdapter,
    "anthropic": AnthropicAdapter,
    "azure": AzureAdapter,
    "bedrock": BedrockAdapter,
}


def build_adapters(config: Config) -> dict[str, ChatAdapter]:
    """An adapter for every enabled provider whose kind is implemented, keyed by provider name."""
    return {
        name: ADAPTERS[provider.kind](name, provider)
        for name, provider in config.providers.items()
        if provider.enabled and provider.kind in ADAPTERS
    }
