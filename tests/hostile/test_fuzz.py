"""Hypothesis over the parsing the router owns: request targets, client and proxy headers, keys,
and the JSON bodies of every format, in process and through a running router. Whatever comes
in: an answer the router chose (never a 500, never an unhandled exception), and no secret in it.
"""

from __future__ import annotations

import asyncio
import http.client
import string
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from link_assistant_router.app import ROUTER, create_app
from link_assistant_router.config import Settings
from link_assistant_router.errors import RouterError
from link_assistant_router.formats.openai_chat import chat_to_messages
from link_assistant_router.formats.openai_responses import responses_to_messages
from link_assistant_router.governance.governor import model_of
from link_assistant_router.logs import redact
from link_assistant_router.proxy.headers import client_key
from link_assistant_router.proxy.sessions import session_key
from link_assistant_router.requestlog import clean_text
from link_assistant_router.routes import normal_target
from link_assistant_router.server import make_runner
from tests.conftest import OAUTH_TOKEN, TEST_SECRET
from tests.fakes.upstream import running_fake_upstream

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
# JSON values of any shape, and objects that look like each format's requests.
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=25,
)
ROLES = st.sampled_from(["system", "developer", "user", "assistant", "tool", "function", "x"])
PART = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["text", "input_text", "image_url", "input_image", "output_text", "x"]
        )
    },
    optional={"text": JSON, "image_url": JSON},
)
CONTENT = st.one_of(st.text(max_size=40), st.lists(PART | JSON, max_size=3), JSON)
MESSAGE = st.fixed_dictionaries(
    {"role": ROLES | JSON},
    optional={"content": CONTENT, "tool_calls": JSON, "tool_call_id": JSON, "name": JSON},
)
CHAT = st.fixed_dictionaries(
    {"model": st.sampled_from(["gpt-4o", "claude-sonnet-5", ""]) | JSON},
    optional={
        "messages": st.lists(MESSAGE, max_size=4) | JSON,
        "tools": JSON,
        "tool_choice": JSON,
        "max_tokens": JSON,
        "max_completion_tokens": JSON,
        "stream": JSON,
        "reasoning_effort": JSON,
        "temperature": JSON,
        "stop": JSON,
    },
)
RESPONSES = st.fixed_dictionaries(
    {"model": st.sampled_from(["gpt-4o", "claude-sonnet-5"]) | JSON},
    optional={
        "input": st.text(max_size=40) | st.lists(MESSAGE | JSON, max_size=4) | JSON,
        "instructions": JSON,
        "tools": JSON,
        "tool_choice": JSON,
        "reasoning": JSON,
        "max_output_tokens": JSON,
        "stream": JSON,
        "store": JSON,
        "text": JSON,
    },
)
TARGET = st.text(alphabet=string.printable + "%/.", max_size=80)


@FUZZ
@given(CHAT)
def test_chat_bodies_translate_or_are_refused(document: dict[str, Any]) -> None:
    try:
        translated = chat_to_messages(document, model="claude-sonnet-5")
    except RouterError as exc:
        assert exc.status == 400
    else:
        assert isinstance(translated["messages"], list)
        orjson.dumps(translated)


@FUZZ
@given(RESPONSES)
def test_responses_bodies_translate_or_are_refused(document: dict[str, Any]) -> None:
    try:
        translated = responses_to_messages(document, model="claude-sonnet-5")
    except RouterError as exc:
        assert exc.status == 400
    else:
        assert isinstance(translated["messages"], list)
        orjson.dumps(translated)


@FUZZ
@given(TARGET)
def test_a_normal_target_is_a_fixed_point_without_dot_segments(raw: str) -> None:
    target = normal_target(raw)
    path = target.partition("?")[0]
    assert path.startswith("/")
    assert normal_target(target) == target
    assert "//" not in path
    assert not any(segment in (".", "..") for segment in path.split("/"))


@FUZZ
@given(st.binary(max_size=300))
def test_bodies_of_any_bytes_name_a_model_or_none(body: bytes) -> None:
    model = model_of(body)
    assert model is None or isinstance(model, str)


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(["x-api-key", "authorization", "x-claude-code-session-id"]),
        st.text(max_size=60),
    ),
    st.binary(max_size=200),
)
def test_headers_name_a_key_and_a_session_or_nothing(headers: dict[str, str], body: bytes) -> None:
    key = client_key(headers)
    assert key is None or isinstance(key, str)
    session = session_key(headers, body)
    assert session is None or isinstance(session, str)


@FUZZ
@given(st.text(max_size=80))
def test_text_is_clean_and_secrets_are_masked(text: str) -> None:
    cleaned = clean_text(text)
    cleaned.encode("utf-8")  # never a lone surrogate
    assert "\x00" not in cleaned
    secret = "la_sk_" + "Zq9" * 10
    assert secret[6:] not in redact(text + secret + text)


# --- through a running router ------------------------------------------------------------------


class Served:
    """A router and a fake upstream on their own event loop in a thread, for synchronous
    Hypothesis tests to send requests to."""

    def __init__(self, data_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self.key = ""
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._data_dir = data_dir
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Served:
        self._thread.start()
        assert self._ready.wait(30), "the router did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _run(self) -> None:
        self.loop.run_until_complete(self._serve())
        self.loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with running_fake_upstream() as fake:
            settings_ = Settings(  # type: ignore[call-arg]
                _env_file=None,
                data_dir=self._data_dir,
                claude_code_home=self._data_dir / "claude",
                upstream_base_url=fake.url,
                upstream_oauth_token=OAUTH_TOKEN,
                token_secret=TEST_SECRET,
                admin_port=0,
                batches=True,
            )
            app = create_app(settings_)
            runner = make_runner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self.port = runner.addresses[0][1]
            self.key = (await app[ROUTER].keys.issue(1, "fuzz")).token
            self._ready.set()
            await self._stop.wait()
            await runner.cleanup()

    def send(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with Served(tmp_path_factory.mktemp("fuzz")) as router:
        yield router


ROUTES = st.sampled_from(
    [
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/responses"),
        ("POST", "/v1/messages"),
        ("POST", "/v1/messages/count_tokens"),
        ("POST", "/v1/messages/batches"),
        ("POST", "/model/anthropic.claude-sonnet-5/invoke"),
        ("POST", "/model/x/count-tokens"),
        ("POST", "/v1/projects/p/locations/l/publishers/anthropic/models/claude-x:rawPredict"),
    ]
)
BODIES = st.one_of(
    CHAT.map(orjson.dumps),
    RESPONSES.map(orjson.dumps),
    JSON.map(orjson.dumps),
    st.binary(max_size=200),
)


@FUZZ
@given(route=ROUTES, body=BODIES, key=st.sampled_from(["good", "none", "junk"]))
def test_any_body_on_any_route_gets_an_answer_the_router_chose(
    served: Served, route: tuple[str, str], body: bytes, key: str
) -> None:
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01"}
    if key == "good":
        headers["x-api-key"] = served.key
    elif key == "junk":
        headers["authorization"] = "Bearer la_sk_" + body.hex()[:40]
    status, answer = served.send(route[0], route[1], body, headers)
    assert status < 500 or status in (502, 529), (route, body, answer)
    assert served.key.encode() not in answer
    assert OAUTH_TOKEN.encode() not in answer


@FUZZ
@given(target=TARGET, method=st.sampled_from(["GET", "POST", "DELETE", "PATCH", "OPTIONS"]))
def test_any_target_gets_an_answer_the_router_chose(
    served: Served, target: str, method: str
) -> None:
    path = "/" + target.lstrip("/").replace(" ", "%20").replace("#", "%23")
    try:
        status, answer = served.send(method, path, b"", {"x-api-key": served.key})
    except http.client.InvalidURL:
        return  # the client library refuses to send it: nothing to test
    assert status < 500 or status in (502, 529), (method, path, answer)
    assert served.key.encode() not in answer
