"""`POST /v1/optimize` (the AptRouter seed's API and error format), and `"optimize": true` on chat."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, cast

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.body import read_body
from core.catalog import Resolution
from core.catalog import Route as ModelRoute
from core.checks import load_object, parse_json
from core.errors import GatewayError, RequestError
from core.fallback import require
from core.gateway import Admitted, Gateway
from core.http import endpoint, json_response
from core.optimizer import Condenser, Optimized, Optimizer, Scorer, cosine, timed
from core.types import EMBEDDINGS, JSON, ChatAdapter, EmbeddingsAdapter
from core.usage import Attempt, Meter

MAX_PROMPT_CHARS = 50_000
# Chat with "optimize": true compresses each text message up to MAX_PROMPT_CHARS, and this many
# characters of them in all; longer messages, and those past the total, go as they are.
MAX_OPTIMIZED_CHARS = 200_000
# Scoring this much text locally takes well under a millisecond; more goes to a worker thread.
SCORE_INLINE_CHARS = 4_000
DEFAULT_THRESHOLD = 0.90
# AptRouter's error codes, by status.
CODES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 402: "INSUFFICIENT_CREDITS", 403: "FORBIDDEN", 404: "NOT_FOUND",
         413: "BAD_REQUEST", 429: "RATE_LIMIT_EXCEEDED"}


def aptrouter_error(err: GatewayError) -> bytes:
    code = CODES.get(err.status, "INTERNAL_ERROR")
    details: dict[str, Any] = {"code": err.code}
    if err.param:
        details["param"] = err.param
    return orjson.dumps({"success": False, "error": {"code": code, "message": err.message, "details": details}})


def embedding_scorer(gw: Gateway, model: str) -> Scorer:
    """Similarity as the cosine of `model`'s embeddings, fetched through the gateway's own routes."""
    async def score(original: str, candidates: list[str]) -> list[float]:
        resolution = gw.catalog.resolve(model)

        async def attempt(adapter: ChatAdapter, route: ModelRoute) -> JSON:
            require(adapter, EMBEDDINGS)
            return await cast(EmbeddingsAdapter, adapter).embeddings(route.model, {"input": [original, *candidates],
                                                                         "encoding_format": "float"})

        outcome = await gw.first(resolution, attempt, meter=Meter("", ""))   # unbilled: on no usage record
        vectors = [d["embedding"] for d in sorted(outcome.value["data"], key=lambda d: d["index"])]
        return [cosine(vectors[0], v) for v in vectors[1:]]

    return score


def local_scorer() -> tuple[Scorer, str]:
    """Similarity from the local model shipped in the package (loaded here, on first use)."""
    from core.embedder import MODEL_NAME, StaticEmbedder

    embedder = StaticEmbedder()

    async def score(original: str, candidates: list[str]) -> list[float]:
        if len(original) + sum(map(len, candidates)) <= SCORE_INLINE_CHARS:
            return embedder.similarities(original, candidates)
        return await asyncio.to_thread(embedder.similarities, original, candidates)

    return score, MODEL_NAME


CONDENSE = ("You shorten prompts written for an AI assistant. Rewrite the user's prompt so that it asks for exactly "
            "the same thing in as few words as possible. Keep every fact the answer depends on: numbers and units, "
            "names, dates, versions, error messages, constraints, negations, the format and tone asked for. Copy "
            "code, commands, identifiers, file names and quoted passages exactly, character for character. Remove "
            "greetings, thanks, apologies, small talk, hedging, filler, repetition and backstory that does not "
            "change the answer. Keep the user's voice and language. Reply with the rewritten prompt only.")


@dataclass(frozen=True, slots=True)
class Receipt:
    """A condenser call, for the key that caused it to be billed."""
    resolution: Resolution
    route: ModelRoute
    usage: JSON | None
    attempts: list[Attempt]


def chat_condenser(gw: Gateway, model: str) -> Condenser:
    """Prompts condensed by `model` through the gateway's own routes (with their fallback), bounded
    by `optimizer_condenser_timeout_s`."""
    async def condense(prompt: str, tokens: int) -> tuple[str, Receipt]:
        resolution = gw.catalog.resolve(model)
        body = {"messages": [{"role": "system", "content": CONDENSE}, {"role": "user", "content": prompt}],
                "temperature": 0, "max_tokens": tokens}

        async def attempt(adapter: ChatAdapter, route: ModelRoute) -> JSON:
            return await adapter.chat(route.model, body)

        own = Meter("", "")     # its attempts go on its own record (bill_condenser), not the request's
        outcome = await asyncio.wait_for(gw.first(resolution, attempt, meter=own),
                                         gw.settings.optimizer_condenser_timeout_s)
        choice = outcome.value["choices"][0]
        text = choice["message"].get("content") if choice.get("finish_reason") in ("stop", None) else None
        return text if isinstance(text, str) else "", Receipt(resolution, outcome.route, outcome.value.get("usage"),
                                                              own.attempts)

    return condense


def bill_condenser(gw: Gateway, admitted: Admitted, result: Optimized, cache_hit: bool) -> None:
    """A usage record of its own, for the key whose request made the condenser's call."""
    receipt = result.receipt
    if cache_hit or not isinstance(receipt, Receipt) or gw.usage is None:
        return
    meter = Meter(admitted.key.id, admitted.meter.request_id, model=receipt.resolution.requested,
                  attempts=receipt.attempts)
    gw.bill(meter, receipt.resolution, receipt.route, receipt.usage)
    gw.usage.record_meter(meter, 200)


def build_optimizer(gw: Gateway) -> Optimizer:
    settings = gw.settings
    model = settings.optimizer_embedding_model
    scorer, name = (embedding_scorer(gw, model), model) if model else local_scorer()
    condenser = settings.optimizer_condenser_model
    return Optimizer(scorer, name, condenser=chat_condenser(gw, condenser) if condenser else None,
                     condenser_name=condenser or "")


def optimizer_of(gw: Gateway) -> Optimizer:
    """The gateway's optimizer, made on first use: most processes never optimize, so none pays for it."""
    if gw.optimizer is None:
        gw.optimizer = build_optimizer(gw)
    return gw.optimizer


def threshold_of(value: Any) -> float:
    if value is None:
        return DEFAULT_THRESHOLD
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise RequestError("similarity_threshold must be a number from 0.0 to 1.0", code="invalid_value",
                           param="similarity_threshold")
    return float(value)


async def optimize_messages(gw: Gateway, admitted: Admitted, body: JSON, threshold: float) -> tuple[JSON, JSON]:
    """A chat body with its text messages compressed (all at once: with a condenser, each may wait
    on a model; the rules run a few at a time), and the `_optimization` that says by how much. Only
    messages within MAX_PROMPT_CHARS, and MAX_OPTIMIZED_CHARS of them in all, are compressed."""
    optimizer = optimizer_of(gw)
    messages = list(body.get("messages") or ())
    chosen, total = [], 0
    for i, m in enumerate(messages):
        text = m.get("content") if isinstance(m, dict) and m.get("role") in ("user", "system", "developer") else None
        if isinstance(text, str) and text.strip() and len(text) <= MAX_PROMPT_CHARS \
                and total + len(text) <= MAX_OPTIMIZED_CHARS:
            chosen.append(i)
            total += len(text)
    results = await asyncio.gather(*(optimizer.optimize(messages[i]["content"], threshold, admitted.key.id)
                                     for i in chosen))
    for i, (result, cache_hit) in zip(chosen, results, strict=True):
        bill_condenser(gw, admitted, result, cache_hit)
        messages[i] = {**messages[i], "content": result.prompt}
    original = sum(result.original_tokens for result, _ in results)
    optimized = sum(result.optimized_tokens for result, _ in results)
    return {**body, "messages": messages}, {"cached": False, "original_tokens": original,
                                            "optimized_tokens": optimized, "tokens_saved": original - optimized}


def optimize_routes(gw: Gateway) -> list[Route]:
    async def optimize(request: Request) -> Response:
        clock = timed()
        admitted = await gw.admit(request, billable=False)
        body = await parse_json(await read_body(request, gw.settings.max_request_bytes), load_object)
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not 1 <= len(prompt) <= MAX_PROMPT_CHARS:
            raise RequestError(f"prompt must be a string of 1 to {MAX_PROMPT_CHARS:,} characters",
                               code="invalid_prompt", param="prompt")
        if body.get("metadata") is not None and not isinstance(body["metadata"], dict):
            raise RequestError("metadata must be an object", code="invalid_value", param="metadata")
        threshold = threshold_of(body.get("similarity_threshold"))
        result, cache_hit = await optimizer_of(gw).optimize(prompt, threshold, admitted.key.id)
        bill_condenser(gw, admitted, result, cache_hit)
        return json_response(orjson.dumps({
            "optimized_prompt": result.prompt, "original_prompt": prompt,
            "original_tokens": result.original_tokens, "compressed_tokens": result.optimized_tokens,
            "tokens_saved": result.tokens_saved, "similarity_score": result.similarity,
            "latency_ms": clock(), "cache_hit": cache_hit, "optimizer_model": result.model,
        }))

    return [Route("/v1/optimize", endpoint(optimize, aptrouter_error), methods=["POST"])]
