import pytest

from core.catalog import Catalog, Route
from core.config import parse_config
from core.errors import ProviderUnavailable, RequestError

CONFIG = parse_config({
    "providers": {
        "openai": {"api_key_env": "UNSET_FOR_TEST_OPENAI"},
        "groq": {"base_url": "http://groq"},
        "azure": {"base_url": "http://azure"},
    },
    "models": {
        "gpt-4o": {"context_window": 128000, "price": {"input": 2.5, "output": 10}, "quality": 5,
                   "routes": [{"provider": "azure", "model": "gpt-4o-deploy"},
                              {"provider": "openai", "model": "gpt-4o"}]},
        "llama": {"routes": [{"provider": "groq", "model": "llama-3.1-8b-instant"}]},
        "meta-llama/Llama-3": {"routes": [{"provider": "groq", "model": "llama3"}]},
        "embed": {"type": "embedding", "routes": [{"provider": "groq", "model": "e5"}]},
        "only-openai": {"routes": [{"provider": "openai", "model": "o1"}]},
        "old": {"deprecated": True, "replacement": "llama"},
    },
})
CATALOG = Catalog(CONFIG, available={"groq", "azure"})


def test_configured_id() -> None:
    r = CATALOG.resolve("llama")
    assert r.routes == (Route("groq", "llama-3.1-8b-instant"),)
    assert r.info is not None and r.reason == "configured model"


def test_alias_keeps_order_and_drops_providers_without_a_key() -> None:
    r = CATALOG.resolve("gpt-4o")
    assert r.routes == (Route("azure", "gpt-4o-deploy"),)   # openai has no key in the environment
    assert r.info is not None and r.info.context_window == 128000


def test_configured_id_with_a_slash_wins_over_provider_prefix() -> None:
    assert CATALOG.resolve("meta-llama/Llama-3").routes == (Route("groq", "llama3"),)


def test_provider_slash_model_goes_straight_there_and_borrows_known_limits() -> None:
    r = CATALOG.resolve("azure/gpt-4o-deploy")
    assert r.routes == (Route("azure", "gpt-4o-deploy"),)
    assert r.info is not None and r.info.id == "gpt-4o"
    unknown = CATALOG.resolve("groq/mixtral")
    assert unknown.routes == (Route("groq", "mixtral"),) and unknown.info is None


@pytest.mark.parametrize("name", ["nope", "nobody/model", "groq/", "/x"])
def test_unknown_names_are_model_not_found(name: str) -> None:
    with pytest.raises(RequestError) as caught:
        CATALOG.resolve(name)
    assert (caught.value.status, caught.value.code, caught.value.param) == (404, "model_not_found", "model")


def test_deprecated_model_names_its_replacement() -> None:
    with pytest.raises(RequestError) as caught:
        CATALOG.resolve("old")
    assert (caught.value.status, caught.value.code) == (400, "deprecated_model")
    assert "'llama'" in caught.value.message


def test_model_whose_providers_all_lack_keys_is_unavailable_and_says_which_variable() -> None:
    with pytest.raises(ProviderUnavailable, match="UNSET_FOR_TEST_OPENAI") as caught:
        CATALOG.resolve("only-openai")
    assert caught.value.status == 503
    with pytest.raises(ProviderUnavailable):
        CATALOG.resolve("openai/gpt-4o")


def test_listing_filters_by_provider_and_type_and_hides_unreachable() -> None:
    assert {m.id for m in CATALOG.listed()} == {"gpt-4o", "llama", "meta-llama/Llama-3", "embed"}
    assert {m.id for m in CATALOG.listed(provider="azure")} == {"gpt-4o"}
    assert {m.id for m in CATALOG.listed(type="embedding")} == {"embed"}
