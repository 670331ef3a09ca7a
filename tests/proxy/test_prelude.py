"""The start of a stream held until its first content: read from what came with the headers
without a deadline, then read by read under one."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest import mock

import aiohttp
import pytest

from link_assistant_router.proxy.pipeline import Proxy

START = b'event: message_start\ndata: {"type":"message_start"}\n\nevent: ping\ndata: {}\n\n'
CONTENT = b'event: content_block_start\ndata: {"type":"content_block_start"}\n\n'
ERROR = b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error"}}\n\n'


class _Response:
    """What ``_hold_prelude`` reads: a response's ``content``, a real aiohttp stream."""

    def __init__(self) -> None:
        protocol = mock.Mock(_reading_paused=False)
        self.content = aiohttp.StreamReader(protocol, 2**16, loop=asyncio.get_running_loop())


def _proxy() -> Any:
    proxy = Proxy.__new__(Proxy)  # only the stream-start logic is exercised
    proxy._idle_timeout_s = 240.0
    return proxy


@pytest.mark.parametrize("first", [START + CONTENT, START + ERROR, (START + CONTENT)[:30]])
async def test_what_came_with_the_headers_is_looked_at_first(first: bytes) -> None:
    response = _Response()
    response.content.feed_data(first)  # buffered before the answer is looked at
    if first.endswith(b"\n\n"):
        answer = await _proxy()._hold_prelude(response)
    else:  # not a whole event yet: the rest arrives while the proxy waits
        waiting = asyncio.ensure_future(_proxy()._hold_prelude(response))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        response.content.feed_data((START + CONTENT)[30:])
        answer = await asyncio.wait_for(waiting, 5)
    whole = first if first.endswith(b"\n\n") else START + CONTENT
    assert answer.prefix == whole
    assert answer.stream_error == (ERROR.split(b"data: ")[1].strip() if ERROR in first else None)
    assert not answer.complete


async def test_a_start_that_arrives_in_pieces_is_held_until_its_content() -> None:
    response = _Response()
    holding = asyncio.ensure_future(_proxy()._hold_prelude(response))
    for piece in (START[:10], START[10:], CONTENT[:5]):
        response.content.feed_data(piece)
        await asyncio.sleep(0.01)
        assert not holding.done()  # prelude events only, or half of the first content
    response.content.feed_data(CONTENT[5:])
    answer = await asyncio.wait_for(holding, 5)
    assert answer.prefix == START + CONTENT and answer.stream_error is None


async def test_a_stream_that_ends_in_its_prelude_is_complete() -> None:
    response = _Response()
    response.content.feed_data(START)
    response.content.feed_eof()
    answer = await _proxy()._hold_prelude(response)
    assert answer.prefix == START and answer.complete
