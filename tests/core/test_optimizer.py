import asyncio
import random

import pytest

from bench.optimize import ROOT, corpus, kept, replayed_condenser
from core.embedder import StaticEmbedder
from core.optimizer import Optimizer
from core.optimizer.facts import facts, keeps_facts
from core.optimizer.rules import compress
from core.routes.optimize import local_scorer

CORPUS = [row["prompt"] for which in ("verbose", "everyday") for row in corpus(which)]
PIECES = ["please", "I was wondering if you could", "in order to", "explain", "the", "database", "index",
          "thank you so much in advance!", "really", "very", "quickly", "due to the fact that", "the query is slow",
          "**important**", "!!!", "  ", "\n\n", "Hello there!", "make sure that", "it is important to note that",
          "customers", "a large number of", "rows", "Postgres", "why", "?", ".", "tables", "is able to"]


SCORER, _ = local_scorer()
EMBEDDER = StaticEmbedder()     # a second copy of the model, to check the optimizer's claims independently


def optimize(prompt: str, threshold: float):
    return asyncio.run(Optimizer(SCORER, "test").optimize(prompt, threshold))[0]


@pytest.mark.parametrize("seed", range(300))
def test_property_similarity_holds_or_the_prompt_comes_back_unchanged(seed: int) -> None:
    rng = random.Random(seed)
    prompt = " ".join(rng.choice(PIECES) for _ in range(rng.randint(1, 40))).strip() or "x"
    threshold = rng.choice([0.5, 0.8, 0.9, 0.95, 0.99, 1.0])
    result = optimize(prompt, threshold)
    if result.level == 0:
        assert result.prompt == prompt and result.similarity == 1.0
    else:
        assert result.similarity >= threshold
        assert EMBEDDER.similarities(prompt, [result.prompt])[0] >= threshold
        assert result.optimized_tokens < result.original_tokens


def test_what_goes_and_what_stays() -> None:
    prompt = ("Hello there! I hope this message finds you well. I was wondering if you could please explain, "
              "in order to help me, why **Postgres** ignores my index!!! My table has a million rows. "
              "My table has a  million rows.  Thank you so much in advance!")
    assert compress(prompt, 1) == ("Hello there! I hope this message finds you well. I was wondering if you could "
                                   "please explain, in order to help me, why Postgres ignores my index! "
                                   "My table has a million rows. Thank you so much in advance!")
    short = compress(prompt, 3)
    assert "Postgres ignores my index" in short and "index" in short and "explain" in short.lower()
    assert "Thank you" not in short and "wondering" not in short and "in order to" not in short


def test_code_quotes_and_line_breaks_are_kept_as_they_are() -> None:
    code = "```python\ndef f(x):\n    return   x  **2  # really very simple!!!\n```"
    quoted = '"Thank you very much in advance, in order to be polite, we really do write like this."'
    prompt = (f"Hello there!\n\n\n\nCould you please explain why this is slow:\n{code}\n"
              f"    indented   line   stays\nThe call is just `really  very(x)` here. Please translate:\n{quoted}\n"
              "SELECT user_id, COUNT(*) FROM t WHERE a = 1;\nThanks so much!")
    short = compress(prompt, 4)
    assert code in short and quoted in short and "    indented   line   stays" in short
    assert "`really  very(x)`" in short and " `really" in short                  # the space before it stays
    assert "SELECT user_id, COUNT(*) FROM t WHERE a = 1;" in short
    assert short.startswith("Explain why this is slow:\n```") and "Thanks" not in short and "\n\n\n" not in short


def test_words_between_code_are_never_taken_for_sentences_said_twice() -> None:
    prompt = "I need a_b and c_d plus e_f and g_h for this report to work by the end of today."
    assert compress(prompt, 4) == prompt


def test_small_talk_goes_clause_by_clause_but_a_request_dressed_as_it_stays() -> None:
    prompt = ("Hi again! Hope you're having a great week. I'm so sorry to bother you with this. I'm sorry to bother "
              "you, but I need a cover letter for Trevino Freight. Sorry, could you check it for typos? Thanks for "
              "the code, it fails with TypeError on line 3. Good evening, and apologies for the late message. "
              "Thank you thank you thank you!")
    assert compress(prompt, 4) == ("I need a cover letter for Trevino Freight. Check it for typos? "
                                   "It fails with TypeError on line 3.")
    assert "Hope you're having" in compress(prompt, 3)                     # sentences go at level 4 only


def test_the_strongest_level_drops_articles_only_where_nothing_hangs_on_them() -> None:
    prompt = ("The query is slow and the index is a mess. I go to the gym twice a week and eat a lot of eggs. "
              "Group A beat group B, so a and b differ. I love the Lord of the Rings and the Consumer Rights Act. "
              "Add a few drops. It costs $5 a month, about the same as a coffee.")
    assert compress(prompt, 5) == ("Query is slow and index is mess. I go to gym twice a week and eat a lot of eggs. "
                                   "Group A beat group B, so a and b differ. I love the Lord of the Rings and the "
                                   "Consumer Rights Act. Add a few drops. It costs $5 a month, about same as coffee.")
    assert compress(prompt, 4) == prompt


def test_hedges_go_but_a_kind_of_thing_stays() -> None:
    prompt = "Tried this:\n\nSELECT 1;\n\nSo I'm kind of lost, what kind of index do I need? Like, how do I fix it?"
    assert compress(prompt, 5) == "Tried this:\n\nSELECT 1;\n\nWhat kind of index do I need? How do I fix it?"


def test_a_threshold_of_one_keeps_meaning_words_exactly() -> None:
    result = optimize("Please summarize the main causes of the French Revolution. Thanks!", 1.0)
    assert result.similarity == 1.0
    assert "French Revolution" in result.prompt


@pytest.mark.parametrize(("which", "floor"), [("verbose", 0.15), ("everyday", 0.09), ("heldout", 0.06)])
def test_the_corpus_saves_what_the_docs_say_and_keeps_every_fact(which: str, floor: float) -> None:
    """docs/optimizer.md's figures (15.3%, 9.2%, 6.2% at 0.90), held from falling, and not bought with facts:
    every fact each prompt lists (numbers, names, constraints, negations) is still in its optimized form."""
    rows = corpus(which)
    results = [optimize(row["prompt"], 0.9) for row in rows]
    saved = sum(r.tokens_saved / r.original_tokens for r in results) / len(results)
    assert len(rows) >= 40 and saved >= floor
    assert min(r.similarity for r in results) >= 0.9
    lost = [(fact, r.prompt) for row, r in zip(rows, results, strict=True) for fact in row["keep"]
            if not kept(fact, r.prompt)]
    assert lost == []


def test_a_long_prompt_is_scored_off_the_event_loop_alike() -> None:
    prompt = " ".join(CORPUS)                     # long: compressed and scored in a thread
    assert len(prompt) > 4_000
    result = optimize(prompt, 0.9)
    assert result.level > 0 and result.similarity >= 0.9
    assert result.similarity == pytest.approx(EMBEDDER.similarities(prompt, [result.prompt])[0], abs=1e-4)


KEPT = ["```python\nfor i in range(3):\n    print(i)  # really, very\n```", "`user_id`", "order_total_cents",
        "v1.2.3", "$4,000", "42", '"Please keep this quoted passage exactly as it is, thank you."', "/etc/hosts",
        "HZ-448192", "2H2 + O2 -> 2H2O", ".env", "'Dear Mr. Ortega, please send a technician. It's cold.'"]
PADDING = ["Hi there!", "I hope you're doing well.", "Thank you so much in advance!!!", "I'm so sorry to bother you.",
           "in order to", "due to the fact that", "really", "very", "please", "basically", "**important**", "\n\n\n",
           "Could you please", "explain why", "the query is slow", "and", "with", "In other words, the query is slow."]


@pytest.mark.parametrize("seed", range(200))
def test_property_code_numbers_and_quotes_survive_every_level(seed: int) -> None:
    rng = random.Random(seed)
    kept = rng.sample(KEPT, 3)
    parts = [rng.choice(PADDING) for _ in range(rng.randint(2, 12))]
    for piece in kept:
        parts.insert(rng.randint(0, len(parts)), f"\n{piece}\n" if piece.startswith("```") else piece)
    prompt = " ".join(parts)
    for level in (1, 2, 3, 4, 5):
        short = compress(prompt, level)
        for piece in kept:
            assert piece in short, (level, piece, short)


def test_the_condensers_rewrite_is_scored_like_the_rest_and_must_keep_every_fact() -> None:
    prompt = ("Hello! I hope you are well. I was wondering if you could please explain, in order to help me "
              "understand, why my Postgres 14 query on the orders table takes 9 seconds when it has no index. Thanks!")

    def condensing_to(text: str) -> Optimizer:
        async def condense(original: str, tokens: int) -> tuple[str, object]:
            assert original == prompt and tokens > 40
            return text, "receipt"
        return Optimizer(SCORER, "local", condenser=condense, condenser_name="small")

    good = "Why does my Postgres 14 query on the orders table take 9 seconds when it has no index?"
    result = asyncio.run(condensing_to(good).optimize(prompt, 0.7))[0]
    assert (result.prompt, result.level, result.model, result.receipt) == (good, 6, "small + local", "receipt")
    assert result.similarity >= 0.7
    for lossy in (good.replace("9 seconds", "long"), good.replace(" no index", " an index"),
                  good.replace("Postgres", "a database")):
        result = asyncio.run(condensing_to(lossy).optimize(prompt, 0.7))[0]
        assert result.level == 5 and result.model == "apex-rules-v2 + local" and result.receipt == "receipt"
    # Every fact kept, and no longer the same request: the similarity threshold refuses it.
    unrelated = "Write a poem about the sea and the moon with Postgres 14, 9 ships and no stars."
    result = asyncio.run(condensing_to(unrelated).optimize(prompt, 0.7))[0]
    assert result.level == 5 and result.prompt != unrelated
    # The threshold binds the condenser as it binds the rules: the local model scores this faithful
    # rewrite 0.74 (the small talk it dropped weighed in the original's vector), so at 0.9 it loses.
    assert asyncio.run(condensing_to(good).optimize(prompt, 0.9))[0].level == 3


@pytest.mark.parametrize(("which", "floor"), [("verbose", 0.30), ("everyday", 0.22), ("heldout", 0.19)])
def test_with_a_condenser_the_corpus_saves_what_the_docs_say(which: str, floor: float) -> None:
    """docs/optimizer.md's condenser figures (31.2%, 23.1%, 20.3% at 0.90), from rewrites an LLM wrote for
    every prompt (bench/condenser_rewrites.jsonl), replayed: the guards and the threshold decide."""
    condense = replayed_condenser(ROOT / "bench" / "condenser_rewrites.jsonl")
    optimizer = Optimizer(SCORER, "local", cache_size=0, condenser=condense, condenser_name="replay")
    results = [asyncio.run(optimizer.optimize(row["prompt"], 0.9))[0] for row in corpus(which)]
    assert sum(r.tokens_saved / r.original_tokens for r in results) / len(results) >= floor
    assert all(r.similarity >= 0.9 for r in results) and sum(r.level == 6 for r in results) >= 18


def test_what_a_free_rewrite_must_keep() -> None:
    original = ("Dear Assistant,\nSQL is not my area of expertise and this is driving me NUTS. Our orders table on "
                "AWS (PostgreSQL 14, about 2,000,000 rows, 140/90) needs a query by Friday; sort by `total_amount`, "
                "not by date, and without subqueries. Here it is:\n\n    SELECT * FROM orders;\n\n"
                "Kind regards,\nMargaret")
    exact, loose = facts(original)
    assert exact == {"`total_amount`", "140/90", "SELECT * FROM orders;"}
    assert loose == {"AWS", "PostgreSQL", "14", "2,000,000", "Friday"}          # not NUTS: that is shouting
    kept = "Query for orders on AWS (PostgreSQL 14, 2,000,000 rows, 140/90) by Friday: sort by `total_amount`, " \
           "not date; no subqueries.\n\nSELECT * FROM orders;"
    assert keeps_facts(original, kept)              # the sign-off, the greeting and the backstory negation may go
    assert not keeps_facts(original, kept.replace("not date", "date"))           # "not by date" turned around
    assert not keeps_facts(original, kept.replace("no subqueries", "with subqueries"))
    assert not keeps_facts(original, kept.replace("2,000,000", "2M"))
    assert not keeps_facts(original, kept.replace("`total_amount`", "total amount"))
    assert not keeps_facts(original, kept.replace("SELECT * FROM orders;", "SELECT * FROM orders"))
    # A limit may be said another way; the writer's state of mind may go; a word negated and
    # repeated elsewhere must still be negated somewhere.
    limits = "I'm not sure why, but it must be no more than 350 words and I do NOT want to drop the orders table."
    assert keeps_facts(limits, "Max 350 words. The plan drops the orders table; I must not drop it.")
    assert not keeps_facts(limits, "Max 350 words. Drop the orders table.")
    assert keeps_facts(limits, "Max 350 words.")          # a clause dropped whole is the condenser's call


def test_the_docs_example_is_true_at_the_default_threshold() -> None:
    prompt = ("Sorry to bother you, and thanks so much in advance! I need a complaint letter to my landlord about "
              "the broken heating in my flat, which has not worked since 3 January.")
    result = optimize(prompt, 0.9)
    assert result.prompt == ("I need complaint letter to my landlord about broken heating in my flat, which has "
                             "not worked since 3 January.")
    assert (result.original_tokens, result.original_tokens - result.tokens_saved) == (37, 23)
    docs = " ".join((ROOT / "docs" / "optimizer.md").read_text().split())
    assert prompt in docs and result.prompt in docs
