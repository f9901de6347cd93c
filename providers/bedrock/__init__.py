"""AWS Bedrock (`kind = "bedrock"`) through aioboto3: Converse for chat, ConverseStream for streams
(tools included), InvokeModel for Titan and Cohere embeddings. Credentials come from the standard
AWS chain (the function's role on Lambda); the region from `region`; `base_url`, when set, is the
runtime endpoint (a VPC endpoint, or a test's fake)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import struct
import time
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import orjson

from core.concurrency import map_bounded
from core.config import ProviderConfig
from core.errors import (
    ProviderError,
    ProviderFailed,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    RequestError,
    UpstreamRejected,
)
from core.types import EMBEDDINGS, JSON
from providers.bedrock.translate import StreamChunks, request_to_converse, response_to_openai

# Bedrock's error codes, by what they mean for fallback.
RATE_LIMITED = frozenset({"ThrottlingException", "TooManyRequestsException", "ServiceQuotaExceededException"})
REJECTED = frozenset({"ValidationException"})
TIMED_OUT = frozenset({"ModelTimeoutException"})


class BedrockAdapter:
    serves = frozenset({EMBEDDINGS})

    def __init__(self, name: str, config: ProviderConfig, key: str | None = None) -> None:
        """`key` is unused: Bedrock signs with the function's AWS credentials."""
        self.name = name
        self._region = config.region or "us-east-1"
        self._endpoint = config.base_url
        self._timeout = config.timeout_s
        self._client: Any = None
        self._context: Any = None
        self._lock = asyncio.Lock()

    async def _runtime(self) -> Any:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    import aioboto3
                    from botocore.config import Config as BotoConfig

                    config = BotoConfig(read_timeout=self._timeout, connect_timeout=min(self._timeout, 10),
                                        retries={"total_max_attempts": 1})   # fallback is the gateway's retry
                    self._context = aioboto3.Session().client("bedrock-runtime", region_name=self._region,
                                                              endpoint_url=self._endpoint, config=config)
                    self._client = await self._context.__aenter__()
        return self._client

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """botocore's failures as core's, translated once, here."""
        import aiohttp
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
            ReadTimeoutError,
        )

        try:
            yield
        except (ProviderError, RequestError):
            raise
        except ClientError as exc:
            raise self._client_error(exc) from exc
        except (ReadTimeoutError, ConnectTimeoutError) as exc:
            raise ProviderTimeout(f"{self.name}: timed out", provider=self.name) from exc
        except EndpointConnectionError as exc:
            raise ProviderUnavailable(f"{self.name}: could not connect", provider=self.name) from exc
        except (BotoCoreError, OSError, aiohttp.ClientError) as exc:
            raise ProviderFailed(f"{self.name}: {type(exc).__name__}", provider=self.name) from exc

    def _client_error(self, exc: Any) -> ProviderError:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "")
        if code in RATE_LIMITED:
            return ProviderRateLimited(f"{self.name}: rate limited upstream ({code})", provider=self.name)
        if code in REJECTED:
            return UpstreamRejected(message or f"{self.name} rejected the request", status=400,
                                    code="invalid_request_error", provider=self.name)
        if code in TIMED_OUT:
            return ProviderTimeout(f"{self.name}: model timed out", provider=self.name)
        return ProviderFailed(f"{self.name}: upstream failed ({code or 'unknown error'})", provider=self.name)

    async def chat(self, model: str, body: JSON) -> JSON:
        request = request_to_converse(body, model)
        client = await self._runtime()
        with self._errors():
            answer = await client.converse(**request)
        request_id = answer.get("ResponseMetadata", {}).get("RequestId") or secrets.token_hex(12)
        return response_to_openai(answer, model, int(time.time()), request_id)

    async def chat_stream(self, model: str, body: JSON) -> AsyncGenerator[JSON, None]:
        request = request_to_converse(body, model)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        client = await self._runtime()
        with self._errors():
            answer = await client.converse_stream(**request)
            request_id = answer.get("ResponseMetadata", {}).get("RequestId") or secrets.token_hex(12)
            chunks = StreamChunks(model, int(time.time()), request_id, include_usage)
            stream = answer["stream"]
            stopped = False
            async for event in stream:
                stopped = stopped or "messageStop" in event
                for chunk in chunks.feed(event):
                    yield chunk
        if not stopped:
            raise ProviderFailed(f"{self.name}: stream ended before messageStop", provider=self.name)

    async def embeddings(self, model: str, body: JSON) -> JSON:
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if not all(isinstance(t, str) for t in texts):
            raise RequestError("Bedrock embeddings take text, not token arrays", code="invalid_input", param="input")
        client = await self._runtime()
        if model.startswith("cohere."):
            vectors, tokens = await self._cohere(client, model, texts)
        else:
            answers = await map_bounded(lambda t: self._titan(client, model, t, body.get("dimensions")), texts)
            vectors, tokens = [a[0] for a in answers], sum(a[1] for a in answers)
        as_base64 = body.get("encoding_format") == "base64"
        data = [{"object": "embedding", "index": i,
                 "embedding": base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode() if as_base64 else v}
                for i, v in enumerate(vectors)]
        return {"object": "list", "data": data, "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    async def _invoke(self, client: Any, model: str, payload: JSON) -> JSON:
        with self._errors():
            answer = await client.invoke_model(modelId=model, body=orjson.dumps(payload),
                                               contentType="application/json", accept="application/json")
            return dict(orjson.loads(await answer["body"].read()))

    async def _titan(self, client: Any, model: str, text: str, dimensions: int | None) -> tuple[list[float], int]:
        payload: JSON = {"inputText": text}
        if dimensions:
            payload["dimensions"] = dimensions
        answer = await self._invoke(client, model, payload)
        return answer["embedding"], int(answer.get("inputTextTokenCount") or 0)

    async def _cohere(self, client: Any, model: str, texts: list[str]) -> tuple[list[list[float]], int]:
        answer = await self._invoke(client, model, {"texts": texts, "input_type": "search_document"})
        vectors = answer["embeddings"]
        if isinstance(vectors, dict):      # asked with embedding_types, Cohere answers by type
            vectors = vectors["float"]
        return vectors, sum(len(t.split()) for t in texts)   # Cohere on Bedrock reports no token count

    async def aclose(self) -> None:
        if self._context is not None:
            await self._context.__aexit__(None, None, None)
            self._client = self._context = None
