"""Azure OpenAI (`kind = "azure"`): OpenAI's wire format, with the deployment in the URL and
`api-version` in the query (`/openai/deployments/{deployment}/chat/completions?api-version=…`) and
the key in `api-key`; or the newer version-less `/openai/v1` form, with the model in the body."""

from __future__ import annotations

from core.config import ProviderConfig
from providers.http import HttpClient
from providers.openai import OpenAIAdapter

DEFAULT_API_VERSION = "2024-10-21"


class AzureAdapter(OpenAIAdapter):
    def __init__(self, name: str, config: ProviderConfig, client: HttpClient | None = None) -> None:
        super().__init__(name, config, client)
        self._version = config.api_version or DEFAULT_API_VERSION
        self._root = self._base.removesuffix("/openai/v1").removesuffix("/openai")
        self._v1 = self._version == "v1" or self._base.endswith("/openai/v1")

    def _credentials(self, key: str) -> dict[str, str]:
        return {"api-key": key}

    def _url(self, path: str, model: str) -> str:
        if self._v1:
            return f"{self._root}/openai/v1/{path}"
        return f"{self._root}/openai/deployments/{model}/{path}?api-version={self._version}"
