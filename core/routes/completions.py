"""`POST /v1/completions` (legacy): `prompt` in, `choices[].text` out.

A `type = "completion"` model goes to its upstream's own `/completions`. Any other is answered
through chat: each prompt becomes one user message (prompts run concurrently; choice `index` is
prompt * n + choice, as OpenAI numbers them), and the answers come back as `text_completion`s.
Through chat, `suffix` and `logprobs` have no meaning and are dropped, `echo` prepends the prompt,
token-array prompts are refused (no tokenizer of every family here), and a stream takes one prompt.
The AIProxy seed's `provider` field keeps only the routes on that provider.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncGenerator
from typing import Any, cast

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.body import read_body
from core.catalog import Resolution, require_type
from core.catalog import Route as ModelRoute
from core.checks import load_object, parse_json, require_model
from core.concurrency import map_bounded
from core.errors import RequestError, shown
from core.fallback import routing_info
from core.gateway import Gateway
from core.http import endpoint, json_response
from core.streaming import ChatStream, stream_answer, with_usage
from core.types import COMPLETIONS, JSON, ChatAdapter, CompletionsAdapter
from core.usage import Meter

GATEWAY_FIELDS = ("provider", "routing")
MAX_CHAT_PROMPTS = 16       # prompts in one request a chat model answers, one call each
NOT_IN_CHAT = ("prompt", "suffix", "echo", "logprobs", "best_of", *GATEWAY_FIELDS)


def _prompts(body: JSON) -> list[str] | list[int] | list[list[int]]:
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt and (
            all(isinstance(p, str) for p in prompt) or all(isinstance(p, int) for p in prompt)
            or all(isinstance(p, list) and all(isinstance(t, int) for t in p) for p in prompt)):
        return prompt
    raise RequestError("prompt must be a string, an array of strings, or token arrays", code="invalid_prompt",
                       param="prompt")


def _only_provider(resolution: Resolution, provider: Any) -> Resolution:
    if provider is None:
        return resolution
    routes = tuple(r for r in resolution.routes if r.provider == provider)
    if not isinstance(provider, str) or not routes:
        raise RequestError(f"'{shown(resolution.requested)}' is not served by provider {shown(provider)}",
                           code="invalid_provider", param="provider")
    return Resolution(resolution.requested, resolution.info, routes, f"{resolution.reason}; provider {provider}")


def _native(adapter: ChatAdapter, resolution: Resolution) -> CompletionsAdapter | None:
    wanted = resolution.info is not None and resolution.info.type == "completion"
    return cast(CompletionsAdapter, adapter) if wanted and COMPLETIONS in adapter.serves else None


def _chat_request(body: JSON, prompt: str) -> JSON:
    chat = {k: v for k, v in body.items() if k not in NOT_IN_CHAT}
    chat["messages"] = [{"role": "user", "content": prompt}]
    return chat


def _text_choices(completion: JSON, prompt_index: int, n: int, prefix: str) -> list[JSON]:
    return [{"text": prefix + (choice.get("message", {}).get("content") or ""), "index": prompt_index * n + i,
             "logprobs": None, "finish_reason": choice.get("finish_reason")}
            for i, choice in enumerate(completion.get("choices") or ())]


def _within_chat_fan_out(prompts: list[Any]) -> None:
    if len(prompts) > MAX_CHAT_PROMPTS:
        raise RequestError(f"prompt: at most {MAX_CHAT_PROMPTS} prompts when a chat model answers (one call each)",
                           code="invalid_prompt", param="prompt")


async def _through_chat(adapter: ChatAdapter, model: str, body: JSON, prompts: list[str]) -> JSON:
    """One chat call per prompt, a few at a time (the request was charged one rpm per prompt)."""
    _within_chat_fan_out(prompts)
    answers = await map_bounded(lambda p: adapter.chat(model, _chat_request(body, p)), prompts)
    n = body.get("n") or 1
    echo = bool(body.get("echo"))
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    choices: list[JSON] = []
    for i, (prompt, answer) in enumerate(zip(prompts, answers, strict=True)):
        choices += _text_choices(answer, i, n, prompt if echo else "")
        for field in usage:
            usage[field] += (answer.get("usage") or {}).get(field) or 0
    return {"id": f"cmpl-{secrets.token_hex(12)}", "object": "text_completion", "created": int(time.time()),
            "model": answers[0].get("model", model), "choices": choices, "usage": usage}


def completions_routes(gw: Gateway) -> list[Route]:
    settings = gw.settings

    async def completions(request: Request) -> Response:
        admitted = await gw.admit(request)
        body = await parse_json(await read_body(request, settings.max_request_bytes), load_object)
        require_model(body)
        prompts = _prompts(body)
        if body.get("stream") is not None and not isinstance(body["stream"], bool):
            raise RequestError("stream must be a boolean", code="invalid_type", param="stream")
        resolution = gw.resolve(admitted, body["model"])
        require_type(resolution, "completion", "chat")
        resolution = _only_provider(resolution, body.get("provider"))
        upstream = {k: v for k, v in body.items() if k not in GATEWAY_FIELDS}
        upstream.setdefault("max_tokens", 16)
        texts = [p for p in prompts if isinstance(p, str)]
        per, n = upstream.get("max_tokens"), body.get("n") or 1
        if admitted.pays:
            await gw.hold(admitted, resolution, per * len(prompts) * n if type(per) is int and type(n) is int else None)
        if body.get("stream"):
            return await _stream(gw, admitted.meter, resolution, upstream,
                                 texts[0] if len(prompts) == len(texts) == 1 else None)

        if resolution.info is None or resolution.info.type != "completion":     # one chat call per prompt
            _within_chat_fan_out(prompts)
            await gw.admission.charge(admitted.key, admitted.limits, len(prompts) - 1)

        async def attempt(adapter: ChatAdapter, route: ModelRoute) -> JSON:
            if native := _native(adapter, resolution):
                return await native.completions(route.model, upstream)
            if len(texts) != len(prompts):
                raise RequestError("token-array prompts need a completion model", code="invalid_prompt",
                                   param="prompt")
            return await _through_chat(adapter, route.model, upstream, texts)

        outcome = await gw.first(resolution, attempt)
        answer = outcome.value
        gw.bill(admitted.meter, resolution, outcome.route, answer.get("usage"))
        answer["provider"] = outcome.route.provider
        answer["_routing"] = routing_info(resolution, outcome)
        return json_response(orjson.dumps(answer))

    return [Route("/v1/completions", endpoint(completions), methods=["POST"])]


async def _stream(gw: Gateway, meter: Meter, resolution: Resolution, upstream: JSON, text: str | None) -> Response:
    asked = with_usage(upstream)

    def open_stream(adapter: ChatAdapter, route: ModelRoute) -> AsyncGenerator[JSON, None]:
        if native := _native(adapter, resolution):
            return native.completions_stream(route.model, asked)
        if text is None:
            raise RequestError("a stream through a chat model takes exactly one text prompt", code="invalid_prompt",
                               param="prompt")
        return _chunks_as_text(adapter.chat_stream(route.model, _chat_request(asked, text)),
                               text if upstream.get("echo") else "")

    wants_usage = bool((upstream.get("stream_options") or {}).get("include_usage"))
    prompt = {"messages": [{"role": "user", "content": text or ""}]}
    return await stream_answer(gw, meter, resolution, open_stream, ChatStream(wants_usage), lambda: prompt)


async def _chunks_as_text(chunks: AsyncGenerator[JSON, None], prefix: str) -> AsyncGenerator[JSON, None]:
    try:
        async for chunk in chunks:
            if not chunk.get("choices"):
                if chunk.get("usage"):
                    yield {**_text_chunk(chunk, []), "usage": chunk["usage"]}
                continue
            choices = [{"text": prefix + ((c.get("delta") or {}).get("content") or ""), "index": c.get("index", 0),
                        "logprobs": None, "finish_reason": c.get("finish_reason")} for c in chunk["choices"]]
            prefix = ""
            if any(c["text"] or c["finish_reason"] for c in choices):
                yield _text_chunk(chunk, choices)
    finally:
        await chunks.aclose()


def _text_chunk(chunk: JSON, choices: list[JSON]) -> JSON:
    return {"id": chunk.get("id", ""), "object": "text_completion", "created": chunk.get("created", 0),
            "model": chunk.get("model", ""), "choices": choices}
