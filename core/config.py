"""Configuration: `apex.toml` validated into frozen pydantic models, read once per process.

Where it comes from: `--config`, else `APEX_CONFIG`, else `./apex.toml`, else the built-in defaults
(well-known providers, each enabled when its key variable is set). Provider secrets never sit in
the file: `api_key_env` names the environment variable that holds them.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Prefer = Literal["speed", "quality", "cost"]
ModelType = Literal["chat", "completion", "embedding", "image"]
ProviderKind = Literal["openai", "azure", "anthropic", "bedrock", "demo"]
Capability = Literal["tools", "vision", "json"]
NonNegInt = Annotated[int, Field(ge=0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GatewaySettings(_Frozen):
    default_prefer: Prefer = "cost"
    cache_ttl_s: NonNegInt = 3600
    max_request_bytes: Annotated[int, Field(gt=0)] = 10 * 1024 * 1024
    max_messages: Annotated[int, Field(gt=0)] = 1000
    max_message_bytes: Annotated[int, Field(gt=0)] = 1024 * 1024
    ip_rpm: NonNegInt = 0
    key_cache_ttl_s: Annotated[float, Field(ge=0)] = 10.0
    responses_ttl_s: Annotated[int, Field(gt=0)] = 30 * 24 * 3600   # how long stored responses are kept
    usage_retention_s: Annotated[int, Field(gt=0)] = 90 * 24 * 3600  # how long usage records are kept
    quota_refresh_s: Annotated[float, Field(ge=0)] = 5.0   # how stale another instance's usage may be
    cache_nondeterministic: bool = False         # also cache requests with temperature > 0
    breaker_failures: Annotated[int, Field(gt=0)] = 5
    breaker_window_s: Annotated[float, Field(gt=0)] = 30.0
    breaker_cooldown_s: Annotated[float, Field(gt=0)] = 30.0
    retry_after_max_s: Annotated[float, Field(ge=0)] = 2.0   # a 429 asking to wait this little is waited on
    optimizer_embedding_model: str | None = None   # the optimizer's similarity model; None: the local one
    optimizer_condenser_model: str | None = None   # a chat model asked to condense prompts; None: rules only
    optimizer_condenser_timeout_s: Annotated[float, Field(gt=0)] = 10.0   # past this, the rules' result stands
    cors_origins: tuple[str, ...] = ()             # browser origins allowed to call the API; empty: CORS off
    expose_cost: bool = True                       # answers tell the client their cost (X-Apex-Cost, a stream's _cost)


# Anthropic's prices for prompt caching, as ratios of the input price: what a model's cache reads and
# (five-minute) cache writes cost when its config does not say.
CACHE_READ_RATIO, CACHE_WRITE_RATIO = 0.1, 1.25


class Price(_Frozen):
    input: Annotated[float, Field(ge=0)] = 0.0   # USD per 1M tokens
    output: Annotated[float, Field(ge=0)] = 0.0
    cache_read: Annotated[float, Field(ge=0)] | None = None     # default: input * CACHE_READ_RATIO
    cache_write: Annotated[float, Field(ge=0)] | None = None    # default: input * CACHE_WRITE_RATIO
    image: Annotated[float, Field(ge=0)] = 0.0    # USD per image generated (an image model's answers carry no tokens)

    @property
    def per_token(self) -> tuple[float, float, float, float]:
        """(input, output, cache read, cache write), USD per 1M tokens, the defaults filled in."""
        read = self.input * CACHE_READ_RATIO if self.cache_read is None else self.cache_read
        write = self.input * CACHE_WRITE_RATIO if self.cache_write is None else self.cache_write
        return self.input, self.output, read, write


class ProviderConfig(_Frozen):
    kind: ProviderKind = "openai"
    base_url: str | None = None
    api_key_env: str | None = None
    timeout_s: Annotated[float, Field(gt=0)] = 60.0
    api_version: str | None = None
    region: str | None = None
    headers: dict[str, str] = {}
    # What a model of this provider that the config does not name costs (`PROVIDER/MODEL`): without
    # it, a key with credits may not name one.
    default_price: Price | None = None
    # The upstream serves OpenAI's Responses API (`/responses`): Responses requests pass to it as sent.
    # None: yes for OpenAI's own URL, no elsewhere. Kinds "openai" and "azure" (its /openai/v1 form).
    responses: bool | None = None


class RouteConfig(_Frozen):
    provider: str
    model: str


class ModelConfig(_Frozen):
    type: ModelType = "chat"
    context_window: Annotated[int, Field(gt=0)] | None = None
    price: Price = Price()
    quality: Annotated[int, Field(ge=1, le=5)] = 3
    latency_ms: Annotated[float, Field(gt=0)] | None = None   # seeds speed routing until observed
    supports: list[Capability] = ["tools", "json"]             # what `auto` may route here
    reasoning: bool = False        # an OpenAI reasoning model: max_completion_tokens, reasoning_effort
    deprecated: bool = False
    replacement: str | None = None
    routes: list[RouteConfig] = []

    @property
    def priced(self) -> bool:
        """Whether the config gives this model a price: an unpriced one is not free, its cost unknown."""
        return "price" in self.model_fields_set

    @model_validator(mode="after")
    def _routes_unless_deprecated(self) -> ModelConfig:
        if not self.routes and not self.deprecated:
            raise ValueError("a model needs at least one route")
        return self


class PlanConfig(_Frozen):
    rpm: NonNegInt = 0
    monthly_tokens: NonNegInt = 0
    credits: Annotated[float, Field(ge=0)] | None = None
    models: list[str] = []            # empty: every model
    optimize: bool = False            # chat prompts optimized unless a request says "optimize": false


class StaticKey(_Frozen):
    key: Annotated[str, Field(min_length=8)]
    plan: str = "pro"
    name: str = ""
    rpm: NonNegInt | None = None
    monthly_tokens: NonNegInt | None = None
    credits: Annotated[float, Field(ge=0)] | None = None
    models: list[str] | None = None


class Config(_Frozen):
    gateway: GatewaySettings = GatewaySettings()
    providers: dict[str, ProviderConfig] = {}
    models: dict[str, ModelConfig] = {}
    plans: dict[str, PlanConfig] = {}
    keys: list[StaticKey] = []

    @model_validator(mode="after")
    def _references_resolve(self) -> Config:
        for name, model in self.models.items():
            for i, route in enumerate(model.routes):
                if route.provider not in self.providers:
                    raise ValueError(f"models.{name}.routes.{i}.provider: unknown provider {route.provider!r}")
        for i, key in enumerate(self.keys):
            if key.plan not in self.plans:
                raise ValueError(f"keys.{i}.plan: unknown plan {key.plan!r}")
        for name in self.providers:
            if "/" in name:
                raise ValueError(f"providers.{name}: a provider name cannot contain '/'")
        for setting, kind in (("optimizer_embedding_model", "embedding"), ("optimizer_condenser_model", "chat")):
            if problem := self._model_problem(getattr(self.gateway, setting), kind):
                raise ValueError(f"gateway.{setting}: {problem}")
        return self

    def _model_problem(self, name: str | None, kind: str) -> str | None:
        """What is wrong with naming `name` where a model of type `kind` is wanted (a model id, or
        PROVIDER/MODEL)."""
        if name is None:
            return None
        if name in self.models:
            found = self.models[name].type
            return None if found == kind else f"{name!r} is a {found} model; a {kind} model is needed"
        provider, slash, _ = name.partition("/")
        return None if slash and provider in self.providers else f"unknown model {name!r}"


class ConfigError(Exception):
    """Stops start-up: names the file, the key and the reason."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        super().__init__(f"{source}: {key}: {reason}" if key else f"{source}: {reason}")
        self.source, self.key, self.reason = source, key, reason


# The built-in plans; a config's [plans.*] override them by name.
DEFAULT_PLANS: dict[str, dict[str, Any]] = {
    "free": {"rpm": 5, "monthly_tokens": 20000, "models": ["auto"]},
    "starter": {"rpm": 30},
    "pro": {"rpm": 60},
    "scaling": {"rpm": 300},
    "unlimited": {},
}

# (name, base_url, key variable) of the OpenAI-compatible providers known without a config file.
_WELL_KNOWN_OPENAI = [
    ("openai", "https://api.openai.com/v1", "OPENAI_API_KEY"),
    ("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    ("together", "https://api.together.xyz/v1", "TOGETHER_API_KEY"),
    ("fireworks", "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"),
    ("deepseek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
    ("mistral", "https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
    ("gemini", "https://generativelanguage.googleapis.com/v1beta/openai", "GEMINI_API_KEY"),
    ("dashscope", "https://dashscope-intl.aliyuncs.com/compatible-mode/v1", "DASHSCOPE_API_KEY"),
    ("openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
]

# (id, provider, context window, input price, output price, quality) of well-known chat models.
_WELL_KNOWN_MODELS = [
    ("gpt-4o", "openai", 128000, 2.5, 10.0, 5),
    ("gpt-4o-mini", "openai", 128000, 0.15, 0.6, 3),
    ("gpt-4.1", "openai", 1047576, 2.0, 8.0, 5),
    ("gpt-4.1-mini", "openai", 1047576, 0.4, 1.6, 4),
    ("claude-sonnet-4-5", "anthropic", 200000, 3.0, 15.0, 5),
    ("claude-haiku-4-5", "anthropic", 200000, 1.0, 5.0, 4),
    ("llama-3.3-70b-versatile", "groq", 131072, 0.59, 0.79, 4),
    ("llama-3.1-8b-instant", "groq", 131072, 0.05, 0.08, 2),
    ("meta-llama/Llama-3.3-70B-Instruct-Turbo", "together", 131072, 0.88, 0.88, 4),
    ("deepseek-chat", "deepseek", 65536, 0.27, 1.1, 4),
    ("mistral-small-latest", "mistral", 32768, 0.1, 0.3, 3),
    ("gemini-2.0-flash", "gemini", 1048576, 0.1, 0.4, 4),
]

# (id, type, price) of well-known OpenAI embedding and image models.
_WELL_KNOWN_OTHER_MODELS = [
    ("text-embedding-3-small", "embedding", {"input": 0.02}),
    ("text-embedding-3-large", "embedding", {"input": 0.13}),
    ("gpt-image-1", "image", {"image": 0.042}),
    ("dall-e-3", "image", {"image": 0.04}),
]


def default_config_data() -> dict[str, Any]:
    providers: dict[str, Any] = {
        name: {"kind": "openai", "base_url": url, "api_key_env": env} for name, url, env in _WELL_KNOWN_OPENAI
    }
    providers["anthropic"] = {"kind": "anthropic", "base_url": "https://api.anthropic.com",
                              "api_key_env": "ANTHROPIC_API_KEY"}
    models = {
        mid: {"context_window": ctx, "price": {"input": pin, "output": pout}, "quality": q,
              "routes": [{"provider": provider, "model": mid}]}
        for mid, provider, ctx, pin, pout, q in _WELL_KNOWN_MODELS
    }
    for mid, kind, price in _WELL_KNOWN_OTHER_MODELS:
        models[mid] = {"type": kind, "price": price, "routes": [{"provider": "openai", "model": mid}]}
    return {"providers": providers, "models": models}


DEMO = "demo"


def with_demo(config: Config) -> Config:
    """The config with the demo provider as every model's last route: it answers what no enabled
    provider can, and falls behind every real one."""
    providers = {**config.providers, DEMO: config.providers.get(DEMO) or ProviderConfig(kind="demo")}
    if providers[DEMO].kind != "demo":
        raise ConfigError("<config>", f"providers.{DEMO}", "the name 'demo' is kept for the demo provider")
    models = {
        mid: model if model.deprecated or model.type == "completion" or any(r.provider == DEMO for r in model.routes)
        else model.model_copy(update={"routes": [*model.routes, RouteConfig(provider=DEMO, model=mid)]})
        for mid, model in config.models.items()
    }
    return config.model_copy(update={"providers": providers, "models": models})


def parse_config(data: dict[str, Any], source: str = "<config>") -> Config:
    data = dict(data)
    data["plans"] = {**DEFAULT_PLANS, **data.get("plans", {})}
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        reason = first["msg"].removeprefix("Value error, ")
        if not key and ": " in reason:   # cross-field checks name their own key
            key, reason = reason.split(": ", 1)
        if "input" in first and first["type"] not in ("missing", "value_error"):
            reason += f" (got {first['input']!r})"
        raise ConfigError(source, key, reason) from None


def config_path(explicit: str | None = None) -> Path | None:
    """The file to read, by precedence; None means the built-in defaults."""
    if explicit:
        return Path(explicit)
    if env := os.environ.get("APEX_CONFIG"):
        return Path(env)
    local = Path("apex.toml")
    return local if local.is_file() else None


def load_config(explicit: str | None = None) -> Config:
    path = config_path(explicit)
    if path is None:
        return parse_config(default_config_data(), "<built-in defaults>")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), "", exc.strerror or str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "", f"not valid TOML: {exc}") from None
    return parse_config(data, str(path))
