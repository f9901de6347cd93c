from core.tokens import count_prompt_tokens, count_tokens, exceeds_window


def chat(text: str) -> dict:
    return {"messages": [{"role": "user", "content": text}]}


def test_cl100k_counts_offline() -> None:
    assert count_tokens("hello world") == 2
    # 3 around the message + 1 for its role + 2 of content + 3 priming the reply, as OpenAI counts
    assert count_prompt_tokens(chat("hello world")) == 3 + 1 + 2 + 3


def test_small_prompt_is_under_the_window_without_tokenizing() -> None:
    assert exceeds_window(chat("word " * 10), 100) is None


def test_byte_bound_is_not_a_verdict_the_tokenizer_decides() -> None:
    # 1,000 repetitions of "hello " are 6,000 bytes but about 1,000 tokens.
    body = chat("hello " * 1000)
    assert exceeds_window(body, 2000) is None
    over = exceeds_window(body, 500)
    assert over is not None and 1000 <= over <= 1020


def test_tools_and_tool_call_arguments_count() -> None:
    body = {"messages": [{"role": "assistant", "content": None, "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "x " * 500}}]}],
        "tools": [{"type": "function", "function": {"name": "lookup", "description": "d " * 500}}]}
    assert count_prompt_tokens(body) > 1000
