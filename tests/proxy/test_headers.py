"""Which headers cross the proxy, and how the upstream credential is put on a request."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from link_assistant_router.accounts.credentials import Credential
from link_assistant_router.proxy.headers import (
    client_key,
    client_response_headers,
    merge_beta,
    upstream_request_headers,
)
from tests.conftest import OAUTH_TOKEN

OAUTH_BETA = "oauth-2025-04-20"  # REFERENCE.md §5: required with an OAuth token
API_KEY = "sk-ant-api03-test-api-key-DO-NOT-LEAK"
CLIENT_KEY = "la_sk_client-key"

Headers = list[tuple[str, str]]

# What Claude Code sends (REFERENCE.md §1), plus a header nobody has heard of, twice.
CLAUDE_CODE_HEADERS: Headers = [
    ("anthropic-version", "2023-06-01"),
    ("x-app", "cli"),
    ("User-Agent", "claude-cli/2.1.330 (external, sdk-cli)"),
    ("X-Claude-Code-Session-Id", "7b0c3a52-4a43-4d5f-9e51-1c2b3d4e5f60"),
    ("anthropic-dangerous-direct-browser-access", "true"),
    ("x-foo", "first"),
    ("Content-Type", "application/json"),
    ("x-foo", "second"),
]


def oauth() -> Credential:
    return Credential(kind="oauth", token=OAUTH_TOKEN, source="test")


def api_key() -> Credential:
    return Credential(kind="api_key", token=API_KEY, source="test")


def outgoing(incoming: Headers, credential: Credential) -> Headers:
    return list(upstream_request_headers(incoming, credential).items())


def without(headers: Headers, *names: str) -> Headers:
    lowered = {name.lower() for name in names}
    return [(name, value) for name, value in headers if name.lower() not in lowered]


def values(headers: Headers, name: str) -> list[str]:
    return [value for key, value in headers if key.lower() == name.lower()]


# --- request headers: what is dropped ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Host", "router.example:8080"),
        ("Content-Length", "1234"),
        ("Connection", "keep-alive"),
        ("Keep-Alive", "timeout=5"),
        ("Proxy-Connection", "keep-alive"),
        ("TE", "trailers"),
        ("Trailer", "x-checksum"),
        ("Transfer-Encoding", "chunked"),
        ("Upgrade", "h2c"),
        ("Expect", "100-continue"),
    ],
)
@pytest.mark.parametrize("credential", [oauth(), api_key()], ids=["oauth", "api_key"])
def test_hop_by_hop_and_framing_headers_are_dropped(
    name: str, value: str, credential: Credential
) -> None:
    sent = outgoing([*CLAUDE_CODE_HEADERS, (name, value)], credential)
    assert values(sent, name) == []
    assert without(sent, "authorization", "x-api-key", "anthropic-beta") == CLAUDE_CODE_HEADERS


@pytest.mark.parametrize(
    "client_auth",
    [[("x-api-key", CLIENT_KEY)], [("Authorization", f"Bearer {CLIENT_KEY}")]],
    ids=["x-api-key", "bearer"],
)
@pytest.mark.parametrize("credential", [oauth(), api_key()], ids=["oauth", "api_key"])
def test_client_key_never_reaches_the_upstream(
    client_auth: Headers, credential: Credential
) -> None:
    sent = outgoing([*client_auth, *CLAUDE_CODE_HEADERS], credential)
    assert CLIENT_KEY not in repr(sent)


def test_headers_named_in_connection_are_dropped() -> None:
    incoming: Headers = [
        ("Connection", "close, X-Custom-Hop"),
        ("X-Custom-Hop", "1"),
        ("x-custom-hop", "2"),
        *CLAUDE_CODE_HEADERS,
    ]
    sent = outgoing(incoming, api_key())
    assert values(sent, "X-Custom-Hop") == []
    assert values(sent, "Connection") == []
    assert without(sent, "x-api-key") == CLAUDE_CODE_HEADERS


def test_connection_tokens_are_matched_case_insensitively_across_headers() -> None:
    incoming: Headers = [
        ("connection", "X-One"),
        ("Connection", " x-two ,"),
        ("x-one", "1"),
        ("X-TWO", "2"),
        ("x-three", "3"),
    ]
    assert without(outgoing(incoming, api_key()), "x-api-key") == [("x-three", "3")]


# --- request headers: what is kept -------------------------------------------------------------


def test_other_headers_are_forwarded_verbatim_in_order() -> None:
    sent = outgoing(CLAUDE_CODE_HEADERS, api_key())
    assert without(sent, "x-api-key") == CLAUDE_CODE_HEADERS


def test_anthropic_version_passes_unchanged() -> None:
    sent = outgoing([("anthropic-version", "2099-01-01")], oauth())
    assert values(sent, "anthropic-version") == ["2099-01-01"]


# --- request headers: the credential -----------------------------------------------------------


def test_oauth_credential_is_sent_as_bearer_only() -> None:
    sent = outgoing([("x-api-key", CLIENT_KEY), *CLAUDE_CODE_HEADERS], oauth())
    assert values(sent, "Authorization") == [f"Bearer {OAUTH_TOKEN}"]
    assert values(sent, "x-api-key") == []


def test_api_key_credential_is_sent_as_x_api_key_only() -> None:
    sent = outgoing([("Authorization", f"Bearer {CLIENT_KEY}"), *CLAUDE_CODE_HEADERS], api_key())
    assert values(sent, "x-api-key") == [API_KEY]
    assert values(sent, "Authorization") == []


BETA_CASES = [
    pytest.param([], [OAUTH_BETA], id="none-sent"),
    pytest.param(["a,b"], [f"a,b,{OAUTH_BETA}"], id="one-header"),
    pytest.param(["a ,  b"], [f"a ,  b,{OAUTH_BETA}"], id="odd-spacing-kept"),
    pytest.param([f"a,{OAUTH_BETA},b"], [f"a,{OAUTH_BETA},b"], id="already-present"),
    pytest.param([f"a, {OAUTH_BETA}"], [f"a, {OAUTH_BETA}"], id="already-present-spaced"),
    pytest.param(["a", "b,c"], ["a", f"b,c,{OAUTH_BETA}"], id="two-headers"),
    pytest.param([OAUTH_BETA, "b"], [OAUTH_BETA, "b"], id="present-in-first-of-two"),
    pytest.param(
        ["claude-code-20250219,interleaved-thinking-2025-05-14"],
        [f"claude-code-20250219,interleaved-thinking-2025-05-14,{OAUTH_BETA}"],
        id="claude-code",
    ),
]


@pytest.mark.parametrize(("sent_betas", "expected"), BETA_CASES)
def test_oauth_beta_is_merged_into_the_client_betas(
    sent_betas: list[str], expected: list[str]
) -> None:
    incoming = [*CLAUDE_CODE_HEADERS, *(("anthropic-beta", beta) for beta in sent_betas)]
    sent = outgoing(incoming, oauth())
    assert values(sent, "anthropic-beta") == expected
    assert without(sent, "authorization", "anthropic-beta") == CLAUDE_CODE_HEADERS


@pytest.mark.parametrize("sent_betas", [[], ["a,b"], ["a", "b"]], ids=["none", "one", "two"])
def test_api_key_credential_leaves_the_betas_alone(sent_betas: list[str]) -> None:
    incoming = [*CLAUDE_CODE_HEADERS, *(("anthropic-beta", beta) for beta in sent_betas)]
    sent = outgoing(incoming, api_key())
    assert values(sent, "anthropic-beta") == sent_betas


# --- merge_beta --------------------------------------------------------------------------------


@pytest.mark.parametrize(("sent_betas", "expected"), BETA_CASES)
def test_merge_beta(sent_betas: list[str], expected: list[str]) -> None:
    assert merge_beta(sent_betas, OAUTH_BETA) == expected


def test_merge_beta_does_not_mutate_its_input() -> None:
    sent = ["a", "b"]
    merge_beta(sent, OAUTH_BETA)
    assert sent == ["a", "b"]


def test_merge_beta_does_not_match_a_prefix_of_another_flag() -> None:
    assert merge_beta([f"{OAUTH_BETA}-x"], OAUTH_BETA) == [f"{OAUTH_BETA}-x,{OAUTH_BETA}"]


def test_merge_beta_fills_a_blank_header() -> None:
    assert merge_beta([""], OAUTH_BETA) == [OAUTH_BETA]


# --- client_key --------------------------------------------------------------------------------


def key_of(*headers: tuple[str, str]) -> str | None:
    return client_key(CIMultiDict[str](headers))


def test_client_key_prefers_x_api_key() -> None:
    assert key_of(("Authorization", "Bearer la_sk_b"), ("X-Api-Key", "la_sk_a")) == "la_sk_a"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_client_key_reads_a_bearer_token_whatever_the_case(scheme: str) -> None:
    assert key_of(("Authorization", f"{scheme} {CLIENT_KEY}")) == CLIENT_KEY


def test_client_key_trims_whitespace() -> None:
    assert key_of(("x-api-key", f"  {CLIENT_KEY} ")) == CLIENT_KEY


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwYXNz", f"Token {CLIENT_KEY}", "Bearer", "Bearer   ", CLIENT_KEY],
)
def test_client_key_ignores_other_authorization_schemes(authorization: str) -> None:
    assert key_of(("Authorization", authorization)) is None


def test_client_key_without_headers_is_none() -> None:
    assert key_of(("anthropic-version", "2023-06-01")) is None


# --- response headers --------------------------------------------------------------------------

UPSTREAM_KEPT: Headers = [
    ("Content-Type", "text/event-stream; charset=utf-8"),
    ("request-id", "req_011CTest"),
    ("anthropic-ratelimit-unified-5h-utilization", "0.42"),
    ("anthropic-ratelimit-unified-status", "allowed"),
    ("retry-after", "17"),
    ("x-foo", "1"),
    ("x-foo", "2"),
]


def test_client_response_headers_drop_hop_by_hop_and_length() -> None:
    upstream: Headers = [
        ("Connection", "keep-alive, X-Upstream-Hop"),
        ("Keep-Alive", "timeout=5"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Length", "99"),
        ("Trailer", "x-checksum"),
        ("Upgrade", "h2c"),
        ("Proxy-Connection", "close"),
        ("TE", "trailers"),
        ("X-Upstream-Hop", "1"),
        *UPSTREAM_KEPT,
    ]
    assert list(client_response_headers(upstream).items()) == UPSTREAM_KEPT


def test_client_response_headers_keep_everything_else_verbatim() -> None:
    assert list(client_response_headers(UPSTREAM_KEPT).items()) == UPSTREAM_KEPT
