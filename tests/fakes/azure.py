"""A fake Azure OpenAI endpoint: OpenAI's format under Azure's URL shapes — deployments with a
required `api-version`, or the version-less `/openai/v1` — and the key in `api-key`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.openai import FakeOpenAI


class FakeAzure(FakeOpenAI):
    def routes(self, app: web.Application) -> None:
        app.router.add_post("/openai/deployments/{deployment}/{path:.+}", self.deployment)
        app.router.add_post("/openai/v1/{path:.+}", self.v1)

    def _endpoint(self, path: str) -> Any:
        return {"chat/completions": self.chat, "completions": self.completions, "embeddings": self.embeddings,
                "images/generations": self.images}.get(path)

    def _refuse(self, request: web.Request) -> web.Response | None:
        if not request.headers.get("api-key"):
            return web.json_response({"error": {"code": "401", "message": "Access denied due to invalid "
                                                "subscription key or wrong API endpoint."}}, status=401)
        return None

    async def deployment(self, request: web.Request) -> web.StreamResponse:
        if not request.query.get("api-version"):
            return web.json_response({"error": {"code": "404", "message": "Resource not found"}}, status=404)
        handler = self._endpoint(request.match_info["path"])
        return self._refuse(request) or (await handler(request) if handler else web.Response(status=404))

    async def v1(self, request: web.Request) -> web.StreamResponse:
        handler = self._endpoint(request.match_info["path"])
        return self._refuse(request) or (await handler(request) if handler else web.Response(status=404))
