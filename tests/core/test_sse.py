import asyncio
from collections.abc import AsyncIterator

import pytest

from core.sse import DONE, Event, encode, read_events

STREAM = (
    b": keep-alive comment\n\n"
    b"event: message_start\ndata: {\"a\": 1}\n\n"
    b"data: line one\ndata: line two\r\n\r\n"
    b"id: 7\ndata: caf\xc3\xa9\r\rdata: [DONE]\n\n"
)
EXPECTED = [
    Event('{"a": 1}', "message_start"),
    Event("line one\nline two"),
    Event("café", "", "7"),
    Event("[DONE]", "", "7"),
]


async def feed(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def events(pieces: list[bytes]) -> list[Event]:
    async def collect() -> list[Event]:
        return [e async for e in read_events(feed(pieces))]

    return asyncio.run(collect())


def test_whole_stream_in_one_chunk() -> None:
    assert events([STREAM]) == EXPECTED


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 13])
def test_stream_cut_anywhere_gives_the_same_events(size: int) -> None:
    """Cuts fall mid-line, mid-UTF-8 character and between CR and LF."""
    pieces = [STREAM[i:i + size] for i in range(0, len(STREAM), size)]
    assert events(pieces) == EXPECTED


def test_event_cut_off_before_its_blank_line_is_discarded() -> None:
    assert events([b"data: whole\n\ndata: tail\n"]) == [Event("whole")]


def test_encode_round_trips_multiline_data_and_event_names() -> None:
    raw = encode(b"first\nsecond", "delta") + encode(b'{"x":1}') + DONE
    assert raw.startswith(b"event: delta\ndata: first\ndata: second\n\n")
    assert events([raw]) == [Event("first\nsecond", "delta"), Event('{"x":1}'), Event("[DONE]")]
