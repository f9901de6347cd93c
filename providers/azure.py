"""Azure OpenAI (`kind = "azure"`): OpenAI's wire format, with the deployment in the URL and
`api-version` in the query (`/openai/deployments/{deployment}/chat/completions?api-version=…`) and
the key in `api-key`; or the newer version-less `/openai/v1` form, with the model in the body."""

from __future__ import annotations

import re

from core.config import ProviderConfig
from core.errors import RequestError, shown
from core.types import RESPONSES
from providers.http import HttpClient
from providers.openai import OpenAIAdapter

DEFAULT_API_VERSION = "2024-10-21"


class AzureAdapter(OpenAIAdapter):
    def __init__(self, name: str, config: ProviderConfig, key: str | None = None,
                 client: HttpClient | None = None) -> None:
        super().__init__(name, config, key, client)
        self._version = config.api_version or DEFAULT_API_VERSION
        self._root = self._base.removesuffix("/openai/v1").removesuffix("/openai")
        self._v1 = self._version == "v1" or self._base.endswith("/openai/v1")
        if not (config.responses and self._v1):     # Azure serves the Responses API in its v1 form only
            self.serves = self.serves - {RESPONSES}

    def _credentials(self, key: str) -> dict[str, str]:
        return {"api-key": key}

    def _url(self, path: str, model: str) -> str:
        if self._v1:
            return f"{self._root}/openai/v1/{path}"
        return f"{self._root}/openai/deployments/{segment(model)}/{path}?api-version={self._version}"


# Azure's own rule for deployment names.
DEPLOYMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def segment(name: str) -> str:
    """A deployment name as its path segment. It may come from the client (`azure/<deployment>`), so
    it must be one Azure allows: then it cannot leave its segment ("..", "/", "?", "#", encoded or not)
    to reach another of the resource's URLs with the gateway's key."""
    if not DEPLOYMENT.fullmatch(name):
        raise RequestError(f"'{shown(name)}' is not an Azure deployment name (letters, digits, '.', '_', '-')",
                           code="invalid_model", param="model")
    return name
