"""Python clients against the gateway: `python scenarios.py <scenario>` with APEX_URL, APEX_KEY and
APEX_MODEL in the environment, run by the clients' own interpreter (.clients/python, `make clients`).
Prints one JSON line of what the client got. Before any client is imported, every socket is held to
127.0.0.1: a connection anywhere else is refused and reported in that line."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import socket
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

OFF_HOST: list[str] = []
_connect, _getaddrinfo = socket.socket.connect, socket.getaddrinfo


def _loopback(host: Any) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(host, bytes):
        host = host.decode()
    if not _loopback(host):
        OFF_HOST.append(str(host))
        raise socket.gaierror(socket.EAI_NONAME, f"{host}: off-host lookup refused by the test guard")
    return _getaddrinfo(host, *args, **kwargs)


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if isinstance(address, tuple) and not _loopback(address[0]):
        OFF_HOST.append(str(address))
        raise ConnectionRefusedError(f"off-host connection to {address} refused by the test guard")
    return _connect(self, address)


socket.getaddrinfo = _guarded_lookup
socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
# What a user on a closed network sets: litellm's price map and beta-header table from its package,
# not from GitHub.
os.environ["LITELLM_OFFLINE_MODE"] = "true"

from pydantic import BaseModel  # noqa: E402  (after the guard, as every client import below)

URL, KEY, MODEL = os.environ["APEX_URL"], os.environ["APEX_KEY"], os.environ["APEX_MODEL"]
PROMPT = "What is the weather in Paris?"


class Weather(BaseModel):
    city: str
    unit: str


def get_weather(city: str, unit: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}, 21 degrees {unit}"


SCENARIOS: dict[str, Callable[[], dict[str, Any]]] = {}


def scenario(function: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    SCENARIOS[function.__name__.replace("_", "-")] = function
    return function


# -- openai (chat completions) -------------------------------------------------------------------------
def openai_client() -> Any:
    from openai import OpenAI
    return OpenAI(base_url=f"{URL}/v1", api_key=KEY, max_retries=0)


@scenario
def openai_parse() -> dict[str, Any]:
    completion = openai_client().chat.completions.parse(
        model=MODEL, messages=[{"role": "user", "content": PROMPT}], response_format=Weather)
    parsed = completion.choices[0].message.parsed
    return {"object": parsed.model_dump(), "usage": completion.usage.model_dump()}


@scenario
def openai_stream() -> dict[str, Any]:
    stream = openai_client().chat.completions.create(
        model=MODEL, stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "hi"}])
    text, usage = "", None
    for chunk in stream:
        text += (chunk.choices[0].delta.content or "") if chunk.choices else ""
        usage = chunk.usage.model_dump() if chunk.usage else usage
    return {"text": text, "usage": usage}


# -- anthropic (messages) ------------------------------------------------------------------------------
def anthropic_client() -> Any:
    from anthropic import Anthropic
    return Anthropic(base_url=URL, api_key=KEY, max_retries=0)


@scenario
def anthropic_output_config() -> dict[str, Any]:
    message = anthropic_client().messages.create(
        model=MODEL, max_tokens=256, messages=[{"role": "user", "content": PROMPT}],
        output_config={"format": {"type": "json_schema", "schema": {
            "type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city", "unit"], "additionalProperties": False}}})
    return {"object": json.loads(message.content[0].text), "usage": message.usage.model_dump()}


@scenario
def anthropic_stream_tools() -> dict[str, Any]:
    """A tool round trip, streamed: the tool call comes back, its result goes up, the answer quotes it."""
    client = anthropic_client()
    tools = [{"name": "get_weather", "description": "The weather in a city.",
              "input_schema": Weather.model_json_schema()}]
    messages: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
    with client.messages.stream(model=MODEL, max_tokens=256, tools=tools, messages=messages) as stream:
        first = stream.get_final_message()
    call = next(b for b in first.content if b.type == "tool_use")
    messages += [{"role": "assistant", "content": [b.model_dump() for b in first.content]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                               "content": get_weather(**call.input)}]}]
    with client.messages.stream(model=MODEL, max_tokens=256, tools=tools, messages=messages) as stream:
        final = stream.get_final_message()
    return {"text": "".join(b.text for b in final.content if b.type == "text"), "usage": final.usage.model_dump()}


# -- pydantic-ai ---------------------------------------------------------------------------------------
def pydantic_ai_model(speaks: str) -> Any:
    if speaks == "openai":
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider
        return OpenAIChatModel(MODEL, provider=OpenAIProvider(base_url=f"{URL}/v1", api_key=KEY))
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.providers.anthropic import AnthropicProvider
    return AnthropicModel(MODEL, provider=AnthropicProvider(base_url=URL, api_key=KEY))


def pydantic_ai_tool(speaks: str) -> dict[str, Any]:
    from pydantic_ai import Agent
    agent = Agent(pydantic_ai_model(speaks), tools=[get_weather])
    result = agent.run_sync(PROMPT)
    return {"text": result.output, "usage": {"output_tokens": result.usage.output_tokens}}


def pydantic_ai_native(speaks: str) -> dict[str, Any]:
    from pydantic_ai import Agent, NativeOutput
    result = Agent(pydantic_ai_model(speaks), output_type=NativeOutput(Weather)).run_sync(PROMPT)
    return {"object": result.output.model_dump()}


@scenario
def pydantic_ai_openai_tool() -> dict[str, Any]:
    return pydantic_ai_tool("openai")


@scenario
def pydantic_ai_openai_native() -> dict[str, Any]:
    return pydantic_ai_native("openai")


@scenario
def pydantic_ai_anthropic_tool() -> dict[str, Any]:
    return pydantic_ai_tool("anthropic")


@scenario
def pydantic_ai_anthropic_native() -> dict[str, Any]:
    return pydantic_ai_native("anthropic")


# -- langchain -----------------------------------------------------------------------------------------
def langchain_model(speaks: str) -> Any:
    if speaks == "openai":
        from langchain_openai import ChatOpenAI
        return ChatOpenAI(model=MODEL, base_url=f"{URL}/v1", api_key=KEY, max_retries=0, stream_usage=True)
    from langchain_anthropic import ChatAnthropic
    return ChatAnthropic(model=MODEL, base_url=URL, api_key=KEY, max_retries=0)


def langchain_structured(speaks: str) -> dict[str, Any]:
    structured = langchain_model(speaks).with_structured_output(Weather, method="json_schema")
    return {"object": structured.invoke(PROMPT).model_dump()}


def langchain_stream(speaks: str) -> dict[str, Any]:
    text, usage = "", None
    for chunk in langchain_model(speaks).stream("hi"):
        text += chunk.text if isinstance(chunk.text, str) else chunk.text()
        usage = chunk.usage_metadata or usage
    return {"text": text, "usage": usage}


@scenario
def langchain_openai_structured() -> dict[str, Any]:
    return langchain_structured("openai")


@scenario
def langchain_openai_stream() -> dict[str, Any]:
    return langchain_stream("openai")


@scenario
def langchain_anthropic_structured() -> dict[str, Any]:
    return langchain_structured("anthropic")


@scenario
def langchain_anthropic_stream() -> dict[str, Any]:
    return langchain_stream("anthropic")


# -- instructor ----------------------------------------------------------------------------------------
@scenario
def instructor_json_schema() -> dict[str, Any]:
    import instructor
    client = instructor.from_openai(openai_client(), mode=instructor.Mode.JSON_SCHEMA)
    weather = client.chat.completions.create(model=MODEL, response_model=Weather, max_retries=0,
                                             messages=[{"role": "user", "content": PROMPT}])
    return {"object": weather.model_dump()}


@scenario
def instructor_anthropic_tools() -> dict[str, Any]:
    import instructor
    client = instructor.from_anthropic(anthropic_client(), mode=instructor.Mode.ANTHROPIC_TOOLS)
    weather = client.messages.create(model=MODEL, response_model=Weather, max_retries=0, max_tokens=256,
                                     messages=[{"role": "user", "content": PROMPT}])
    return {"object": weather.model_dump()}


# -- llm (the CLI, its OpenAI-compatible model configuration) ----------------------------------------------
@scenario
def llm_schema() -> dict[str, Any]:
    home = Path(os.environ["HOME"]) / "llm"
    home.mkdir(parents=True, exist_ok=True)
    (home / "extra-openai-models.yaml").write_text(
        f"- model_id: apex\n  model_name: {MODEL}\n  api_base: {URL}/v1\n  api_key_name: apex\n"
        "  supports_schema: true\n")
    (home / "keys.json").write_text(json.dumps({"apex": KEY}))
    done = subprocess.run([str(Path(sys.executable).parent / "llm"), "-m", "apex", "--schema", "city, unit",
                           "--no-log", PROMPT], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "LLM_USER_PATH": str(home)})
    if done.returncode:
        raise RuntimeError(done.stderr[-1000:])
    return {"object": json.loads(done.stdout)}


# -- litellm, used as a client -------------------------------------------------------------------------
def litellm_completion(speaks: str, **extra: Any) -> Any:
    import litellm
    base = f"{URL}/v1" if speaks == "openai" else URL
    return litellm.completion(model=f"{speaks}/{MODEL}", api_base=base, api_key=KEY, num_retries=0,
                              max_tokens=256, **extra)


def litellm_structured(speaks: str) -> dict[str, Any]:
    response = litellm_completion(speaks, messages=[{"role": "user", "content": PROMPT}], response_format=Weather)
    return {"object": json.loads(response.choices[0].message.content), "usage": dict(response.usage)}


def litellm_stream(speaks: str) -> dict[str, Any]:
    text = "".join(chunk.choices[0].delta.content or "" for chunk in
                   litellm_completion(speaks, messages=[{"role": "user", "content": "hi"}], stream=True))
    return {"text": text}


@scenario
def litellm_openai_structured() -> dict[str, Any]:
    return litellm_structured("openai")


@scenario
def litellm_openai_stream() -> dict[str, Any]:
    return litellm_stream("openai")


@scenario
def litellm_anthropic_structured() -> dict[str, Any]:
    return litellm_structured("anthropic")


@scenario
def litellm_anthropic_stream() -> dict[str, Any]:
    return litellm_stream("anthropic")


# -- openai-agents (the Responses API) ---------------------------------------------------------------------
def agents() -> Any:
    import agents
    from openai import AsyncOpenAI
    agents.set_tracing_disabled(True)      # its traces go to api.openai.com otherwise
    agents.set_default_openai_client(AsyncOpenAI(base_url=f"{URL}/v1", api_key=KEY, max_retries=0))
    return agents


@scenario
def agents_output_type() -> dict[str, Any]:
    sdk = agents()
    result = asyncio.run(sdk.Runner.run(sdk.Agent(name="weather", model=MODEL, output_type=Weather), PROMPT))
    return {"object": result.final_output.model_dump()}


@scenario
def agents_tools() -> dict[str, Any]:
    sdk = agents()
    agent = sdk.Agent(name="weather", model=MODEL, tools=[sdk.function_tool(get_weather)])
    return {"text": asyncio.run(sdk.Runner.run(agent, PROMPT)).final_output}


@scenario
def agents_streamed() -> dict[str, Any]:
    sdk = agents()
    from openai.types.responses import ResponseTextDeltaEvent

    async def run() -> str:
        result = sdk.Runner.run_streamed(sdk.Agent(name="greeter", model=MODEL), "hi")
        return "".join([event.data.delta async for event in result.stream_events()
                        if event.type == "raw_response_event" and isinstance(event.data, ResponseTextDeltaEvent)])

    return {"text": asyncio.run(run())}


@scenario
def agents_previous_response() -> dict[str, Any]:
    """The second turn continues the first by `previous_response_id` (stored by the gateway)."""
    sdk = agents()
    agent = sdk.Agent(name="greeter", model=MODEL)

    async def run() -> str:
        first = await sdk.Runner.run(agent, "My name is Ada.")
        return str((await sdk.Runner.run(agent, "hi", previous_response_id=first.last_response_id)).final_output)

    return {"text": asyncio.run(run()), "continued": "My name is Ada."}


@scenario
def agents_session() -> dict[str, Any]:
    """A session (SQLite, kept by the SDK) replays the first turn in the second."""
    sdk = agents()
    agent, session = sdk.Agent(name="greeter", model=MODEL), sdk.SQLiteSession("weather")

    async def run() -> str:
        await sdk.Runner.run(agent, "My name is Ada.", session=session)
        return str((await sdk.Runner.run(agent, "hi", session=session)).final_output)

    return {"text": asyncio.run(run()), "continued": "My name is Ada."}


# -- the Responses API through other SDKs --------------------------------------------------------------------
@scenario
def pydantic_ai_responses_tool() -> dict[str, Any]:
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIResponsesModel
    from pydantic_ai.providers.openai import OpenAIProvider
    model = OpenAIResponsesModel(MODEL, provider=OpenAIProvider(base_url=f"{URL}/v1", api_key=KEY))
    return {"text": Agent(model, tools=[get_weather]).run_sync(PROMPT).output}


@scenario
def langchain_responses_tool() -> dict[str, Any]:
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_openai import ChatOpenAI
    model = ChatOpenAI(model=MODEL, base_url=f"{URL}/v1", api_key=KEY, max_retries=0, use_responses_api=True)
    bound = model.bind_tools([get_weather])
    messages: list[Any] = [HumanMessage(PROMPT)]
    first = bound.invoke(messages)
    call = first.tool_calls[0]
    messages += [first, ToolMessage(get_weather(**call["args"]), tool_call_id=call["id"])]
    return {"text": bound.invoke(messages).text}


def main() -> None:
    name = sys.argv[1]
    try:
        result = {"ok": True, **SCENARIOS[name]()}
    except Exception as error:        # the line says what failed; the test prints it
        result = {"ok": False, "error": f"{type(error).__name__}: {error}", "trace": traceback.format_exc()[-6000:]}
    print(json.dumps({**result, "off_host": OFF_HOST}, default=str))


if __name__ == "__main__":
    main()
