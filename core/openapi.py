"""The gateway's OpenAPI document, served at `/openapi.json`: every endpoint, its request and its
errors, each in the endpoint's own format (OpenAI's, AptRouter's; an inbound format such as
Anthropic's adds its own schemas and paths).

Request schemas say what the gateway checks and what the upstream APIs define; like the gateway,
they leave other fields open (`additionalProperties`), since those pass through to the provider.
The configured models are listed under `model` as examples.
"""

from __future__ import annotations

from typing import Any

from core.checks import ROLES
from core.routes.admin import GROUPS, LOG_MAX
from core.routes.embeddings import ENCODINGS
from core.routes.images import FORMATS, QUALITIES, SIZES
from core.routes.models import TYPES

JSON = dict[str, Any]
STRING: JSON = {"type": "string"}
TEXT: JSON = {"type": "string", "minLength": 1}
BOOLEAN: JSON = {"type": "boolean"}
OBJECT: JSON = {"type": "object"}
COUNT: JSON = {"type": "integer", "minimum": 1}
NON_NEGATIVE: JSON = {"type": "number", "minimum": 0}


def ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: tuple[str, ...] = (), open_: bool = True, **properties: JSON) -> JSON:
    schema: JSON = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if not open_:
        schema["additionalProperties"] = False
    return schema


def array(items: JSON, **bounds: int) -> JSON:
    return {"type": "array", "items": items, **bounds}


def one_of(*schemas: JSON) -> JSON:
    return {"oneOf": list(schemas)}


def nullable(schema: JSON) -> JSON:
    return {"anyOf": [schema, {"type": "null"}]}


def enum(values: tuple[str, ...] | list[str]) -> JSON:
    return {"type": "string", "enum": list(values)}


TOKENS = array({"type": "integer", "minimum": 0}, minItems=1)
CHAT_PART = one_of(obj(("type", "text"), type=enum(["text"]), text=STRING),
                   obj(("type", "image_url"), type=enum(["image_url"]), image_url=obj(("url",), url=STRING)))
FUNCTION_TOOL = obj(("type", "function"), type=enum(["function"]),
                    function=obj(("name",), name=TEXT, description=STRING, parameters=OBJECT))
ROUTING = obj(prefer=enum(["cost", "quality", "speed"]), fallback=BOOLEAN)

SCHEMAS: JSON = {
    "OpenAIError": obj(("error",), error=obj(("message", "type"), message=STRING, type=STRING,
                                             param=nullable(STRING), code=nullable(STRING))),
    "AptRouterError": obj(("success", "error"), success={"const": False},
                          error=obj(("code", "message"), code=STRING, message=STRING, details=OBJECT)),
    "ChatMessage": obj(("role",), role=enum(sorted(ROLES)), content=nullable(one_of(STRING, array(CHAT_PART))),
                       name=STRING, tool_call_id=STRING,
                       tool_calls=array(obj(("id", "type", "function"), id=STRING, type=enum(["function"]),
                                            function=obj(("name", "arguments"), name=STRING, arguments=STRING)))),
    "ChatRequest": obj(
        ("model", "messages"),
        model=TEXT, messages=array(ref("ChatMessage"), minItems=1, maxItems=1000), stream=BOOLEAN,
        stream_options=obj(include_usage=BOOLEAN), temperature={"type": "number", "minimum": 0, "maximum": 2},
        top_p={"type": "number", "minimum": 0, "maximum": 1}, max_tokens=COUNT, max_completion_tokens=COUNT,
        n={"type": "integer", "minimum": 1, "maximum": 128}, stop=one_of(STRING, array(STRING, maxItems=4)),
        tools=array(FUNCTION_TOOL), tool_choice=one_of(enum(["none", "auto", "required"]), OBJECT),
        response_format=obj(("type",), type=enum(["text", "json_object", "json_schema"])),
        seed={"type": "integer"}, user=STRING, routing=ROUTING, optimize=BOOLEAN),
    "ChatCompletion": obj(("id", "object", "choices"), id=STRING, object=enum(["chat.completion"]),
                          created={"type": "integer"}, model=STRING, choices=array(OBJECT), usage=nullable(OBJECT),
                          _routing=OBJECT),
    "CompletionRequest": obj(
        ("model", "prompt"), model=TEXT,
        prompt=one_of(STRING, array(STRING, minItems=1), TOKENS, array(TOKENS, minItems=1)),
        max_tokens=COUNT, stream=BOOLEAN, echo=BOOLEAN, suffix=STRING, n={"type": "integer", "minimum": 1,
                                                                            "maximum": 128},
        temperature={"type": "number", "minimum": 0, "maximum": 2}, provider=STRING),
    "Completion": obj(("id", "object", "choices"), id=STRING, object=enum(["text_completion"]), model=STRING,
                      choices=array(OBJECT), usage=nullable(OBJECT), provider=STRING),
    "EmbeddingRequest": obj(("model", "input"), model=TEXT,
                            input=one_of(TEXT, array(TEXT, minItems=1), TOKENS, array(TOKENS, minItems=1)),
                            dimensions=COUNT, encoding_format=enum(ENCODINGS), user=STRING),
    "EmbeddingList": obj(("object", "data"), object=enum(["list"]), data=array(OBJECT), model=STRING,
                         usage=OBJECT),
    "ImageRequest": obj(("model", "prompt"), model=TEXT, prompt={"type": "string", "pattern": r"\S"},
                        n={"type": "integer", "minimum": 1, "maximum": 10}, size=enum(SIZES),
                        quality=enum(QUALITIES), response_format=enum(FORMATS), user=STRING),
    "Images": obj(("data",), created={"type": "integer"}, data=array(OBJECT)),
    "Model": obj(("id", "object"), id=STRING, object=enum(["model"]), owned_by=STRING, type=enum(TYPES),
                 context_window=nullable({"type": "integer"}), pricing=nullable(OBJECT)),
    "ModelList": obj(("object", "data"), object=enum(["list"]), data=array(ref("Model"))),
    "ResponsesRequest": obj(
        ("model",), model=TEXT, input=one_of(STRING, array(OBJECT)), instructions=STRING,
        previous_response_id=STRING, store=BOOLEAN, stream=BOOLEAN, metadata=OBJECT,
        max_output_tokens=COUNT, temperature={"type": "number", "minimum": 0, "maximum": 2}, tools=array(OBJECT)),
    "Response": obj(("id", "object", "status", "output"), id=STRING, object=enum(["response"]), status=STRING,
                    output=array(OBJECT), usage=nullable(OBJECT), error=nullable(OBJECT)),
    "ItemList": obj(("object", "data", "has_more"), object=enum(["list"]), data=array(OBJECT),
                    first_id=nullable(STRING), last_id=nullable(STRING), has_more=BOOLEAN),
    "Deleted": obj(("id", "deleted"), id=STRING, object=STRING, deleted=BOOLEAN),
    "OptimizeRequest": obj(("prompt",), prompt={"type": "string", "minLength": 1, "maxLength": 50_000},
                           similarity_threshold={"type": "number", "minimum": 0.5, "maximum": 1.0},
                           metadata=OBJECT),
    "Optimized": obj(("optimized_prompt", "original_tokens", "compressed_tokens", "similarity_score"),
                     optimized_prompt=STRING, original_prompt=STRING, original_tokens={"type": "integer"},
                     compressed_tokens={"type": "integer"}, tokens_saved={"type": "integer"},
                     similarity_score={"type": "number"}, latency_ms={"type": "number"}, cache_hit=BOOLEAN,
                     optimizer_model=STRING),
    "KeyRequest": obj(("plan",), open_=False, plan=TEXT, name=STRING, rpm={"type": "integer", "minimum": 0},
                      monthly_tokens={"type": "integer", "minimum": 0}, credits=NON_NEGATIVE,
                      models=array(TEXT)),
    "Key": obj(("id", "prefix", "plan", "status"), id=STRING, prefix=STRING, plan=STRING, name=STRING,
               status=enum(["active", "revoked"]), static=BOOLEAN, key=STRING),
    "List": obj(("object", "data"), object=enum(["list"]), data=array(OBJECT)),
    "Usage": obj(("object", "totals"), object=enum(["usage"]), totals=OBJECT, groups=array(OBJECT)),
    "RequestLog": obj(("object", "data", "has_more"), object=enum(["list"]), data=array(obj(
        ("request_id", "ts", "key_id", "model", "provider", "status", "attempts"), request_id=STRING,
        ts={"type": "number"}, key_id=STRING, key_name=nullable(STRING), key_prefix=nullable(STRING), model=STRING,
        mapped_model=STRING, provider=STRING, status={"type": "integer"}, prompt_tokens={"type": "integer"},
        completion_tokens={"type": "integer"}, cost={"type": "number"}, latency_ms={"type": "number"},
        cached=BOOLEAN, attempts=array(obj(("provider", "outcome", "ms"), provider=STRING, outcome=STRING,
                                           ms={"type": "integer"})))),
        has_more=BOOLEAN, next_before=nullable({"type": "number"})),
}

# Who answers what, by wire format: (error schema, statuses a request can end with).
OPENAI_ERRORS = ("OpenAIError", (400, 401, 402, 403, 404, 413, 429, 502, 503))
APTROUTER_ERRORS = ("AptRouterError", (400, 401, 402, 413, 429, 502, 503))
READ_ERRORS = ("OpenAIError", (400, 401, 404, 429, 503))
ADMIN_ERRORS = ("OpenAIError", (400, 401, 404, 503))

SSE = {"text/event-stream": {"schema": obj(("data",), event=STRING, data=STRING, id=STRING)}}


def operation(summary: str, errors: tuple[str, tuple[int, ...]], answer: str | None, body: str | None = None,
              streams: bool = False, status: int = 200, parameters: list[JSON] | None = None,
              security: str = "gateway") -> JSON:
    schema, statuses = errors
    content: JSON = {"application/json": {"schema": ref(answer)}} if answer else {"application/json": {}}
    if streams:
        content = {**content, **SSE}
    error = {"description": "Error", "content": {"application/json": {"schema": ref(schema)}}}
    op: JSON = {"summary": summary,
                "security": [{"gateway": []}, {"gateway_header": []}] if security == "gateway" else [{security: []}],
                "responses": {str(status): {"description": "OK", "content": content},
                              **{str(s): error for s in statuses}}}
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(body)}}}
    if parameters:
        op["parameters"] = parameters
    return op


def path_param(name: str) -> JSON:
    return {"name": name, "in": "path", "required": True, "schema": TEXT}


def query(name: str, schema: JSON) -> JSON:
    return {"name": name, "in": "query", "required": False, "schema": schema}


DATE = {"type": "string", "format": "date"}
KEY_ID = {"type": "string", "maxLength": 64}


# What an inbound format adds to the document: its schemas and its paths.
Part = tuple[JSON, JSON]


def document(models: list[str] | None = None, parts: list[Part] | None = None) -> JSON:
    """The whole document, with each inbound format's `parts` (its schemas and paths, which core does
    not know); `models` (the configured ids) become the examples of every `model`."""
    schemas = {**SCHEMAS, **{name: schema for part in parts or () for name, schema in part[0].items()}}
    if models:
        schemas = {name: _with_examples(schema, models) for name, schema in schemas.items()}
    doc: JSON = {
        "openapi": "3.1.0",
        "info": {"title": "Apex Gateway", "version": "1",
                 "description": "One URL in front of every LLM provider, for the official OpenAI and Anthropic SDKs."},
        "paths": {
            "/v1/chat/completions": {"post": operation("Chat completion, buffered or streamed", OPENAI_ERRORS,
                                                       "ChatCompletion", "ChatRequest", streams=True)},
            "/v1/completions": {"post": operation("Text completion (legacy)", OPENAI_ERRORS, "Completion",
                                                  "CompletionRequest", streams=True)},
            "/v1/embeddings": {"post": operation("Embeddings", OPENAI_ERRORS, "EmbeddingList", "EmbeddingRequest")},
            "/v1/images/generations": {"post": operation("Image generation", OPENAI_ERRORS, "Images",
                                                         "ImageRequest")},
            "/v1/responses": {
                "post": operation("OpenAI Responses: create", OPENAI_ERRORS, "Response", "ResponsesRequest",
                                  streams=True),
                "get": {"summary": "The WebSocket transport, which is not served: 426, for clients to fall back "
                                   "to HTTPS", "security": [],
                        "responses": {"426": {"description": "Upgrade Required", "content": {"application/json": {
                            "schema": ref(OPENAI_ERRORS[0])}}}}}},
            "/v1/responses/compact": {"post": operation(
                "Compact a conversation: the upstream's own compaction, or a summary in a compaction item",
                OPENAI_ERRORS, None, "ResponsesRequest")},
            "/v1/responses/input_tokens": {"post": operation(
                "Count a Responses request's input tokens (the upstream's count, or cl100k's)", OPENAI_ERRORS, None,
                "ResponsesRequest")},
            "/v1/responses/{response_id}": {
                "get": operation("Retrieve a stored response", READ_ERRORS, "Response",
                                 parameters=[path_param("response_id")]),
                "delete": operation("Delete a stored response", READ_ERRORS, "Deleted",
                                    parameters=[path_param("response_id")])},
            "/v1/responses/{response_id}/input_items": {"get": operation(
                "A stored response's input items", READ_ERRORS, "ItemList", parameters=[
                    path_param("response_id"), query("order", enum(["asc", "desc"])), query("after", STRING),
                    query("limit", {"type": "integer", "minimum": 1, "maximum": 100})])},
            "/v1/models": {"get": operation("Models this key can reach", READ_ERRORS, "ModelList", parameters=[
                query("provider", STRING), query("type", enum(TYPES))])},
            "/v1/models/{model_id}": {"get": operation("One model", READ_ERRORS, "Model",
                                                       parameters=[path_param("model_id")])},
            "/v1/optimize": {"post": operation("Compress a prompt, keeping its meaning", APTROUTER_ERRORS,
                                               "Optimized", "OptimizeRequest")},
            "/v1/admin/keys": {
                "post": operation("Create a key (shown once)", ADMIN_ERRORS, "Key", "KeyRequest", status=201,
                                  security="admin"),
                "get": operation("Every key", ADMIN_ERRORS, "List", parameters=[query("usage", enum(["1"]))],
                                 security="admin")},
            "/v1/admin/keys/{key_id}": {"delete": operation("Revoke a key", ADMIN_ERRORS, "Key",
                                                            parameters=[path_param("key_id")], security="admin")},
            "/v1/admin/usage": {"get": operation("Usage totals and groups", ADMIN_ERRORS, "Usage", parameters=[
                query("from", DATE), query("to", DATE), query("key", KEY_ID),
                query("group_by", {"type": "string", "pattern": "^(" + "|".join(GROUPS) + ")(,("
                                   + "|".join(GROUPS) + "))*$"})], security="admin")},
            "/v1/admin/requests": {"get": operation("The request log: the latest requests, filtered", ADMIN_ERRORS,
                                                    "RequestLog", parameters=[
                query("from", DATE), query("to", DATE), query("key", KEY_ID), query("model", STRING),
                query("provider", STRING), query("status", {"type": "string", "pattern": "^[1-5]([0-9][0-9]|xx)$"}),
                query("limit", {"type": "integer", "minimum": 1, "maximum": LOG_MAX}),
                query("before", {"type": "number", "exclusiveMinimum": 0})], security="admin")},
            "/v1/admin/routes": {"get": operation("Routes with their circuits and speed", ADMIN_ERRORS, "List",
                                                  security="admin")},
            "/v1/admin/plans": {"get": operation("Plans", ADMIN_ERRORS, "List", security="admin")},
            "/v1/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": OBJECT}}}}}},
            "/health": {"get": {"summary": "Liveness", "security": [],
                                "responses": {"200": {"description": "OK", "content": {"application/json": {
                                    "schema": obj(("status",), status=enum(["ok"]))}}}}}},
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "gateway": {"type": "http", "scheme": "bearer", "description": "A gateway key"},
                "gateway_header": {"type": "apiKey", "in": "header", "name": "x-api-key",
                                   "description": "A gateway key, as the Anthropic SDK sends it"},
                "admin": {"type": "http", "scheme": "bearer", "description": "APEX_ADMIN_KEY"},
            },
        },
    }
    for _, paths in parts or ():
        doc["paths"].update(paths)
    return doc


def _with_examples(schema: JSON, models: list[str]) -> JSON:
    properties = schema.get("properties") or {}
    if "model" not in properties:
        return schema
    return {**schema, "properties": {**properties, "model": {**properties["model"], "examples": models}}}
