"""The price table and the cost of one answer's usage: exact to the micro-dollar, for each kind
of token, both cache-write tiers, the long-context tier and web searches; model names as each
platform spells them; dollars in and out as text; a price file that overrides and adds."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from link_assistant_router.errors import ConfigError
from link_assistant_router.prices import (
    BUILT_IN,
    PRICES_READ,
    parse_price_file,
    parse_usd,
    read_prices,
    usd,
)
from link_assistant_router.requestlog import Usage


def cost(model: str, **counts: int) -> int | None:
    return BUILT_IN.cost(model, Usage(**counts))


# Claude Sonnet 5, per million tokens: input $2, 5m write $2.50, 1h write $4, read $0.20, output
# $10; so micro-dollars per token: 2, 2.5, 4, 0.2 and 10.
@pytest.mark.parametrize(
    ("counts", "micros"),
    [
        ({"input_tokens": 1000}, 2000),
        ({"output_tokens": 1000}, 10_000),
        ({"cache_creation_input_tokens": 1000}, 2500),  # no split: 5-minute writes
        ({"cache_creation_input_tokens": 1000, "cache_creation_1h_input_tokens": 1000}, 4000),
        ({"cache_creation_input_tokens": 3000, "cache_creation_1h_input_tokens": 1000}, 9000),
        ({"cache_read_input_tokens": 10_000}, 2000),
        ({"web_search_requests": 3}, 30_000),  # $10 per 1,000 searches
        ({"web_fetch_requests": 5}, 0),  # costs nothing beyond its tokens
    ],
)
def test_each_kind_of_token_has_its_own_price(counts: dict[str, int], micros: int) -> None:
    assert cost("claude-sonnet-5", **counts) == micros


def test_a_whole_answer_costs_the_sum_of_its_parts() -> None:
    usage = {
        "input_tokens": 1000,
        "output_tokens": 500,
        "cache_creation_input_tokens": 3000,
        "cache_creation_1h_input_tokens": 1000,
        "cache_read_input_tokens": 10_000,
        "web_search_requests": 2,
    }
    # 1000*2 + 2000*2.5 + 1000*4 + 10000*0.2 + 500*10 + 2*10000
    assert cost("claude-sonnet-5", **usage) == 38_000
    assert usd(38_000) == "0.038"


def test_fractions_of_a_micro_dollar_are_rounded_half_up_once_per_answer() -> None:
    # Claude Haiku 5.5 input is $0.10 per million tokens: 0.1 micro-dollar a token.
    assert cost("claude-haiku-5-5", input_tokens=4) == 0
    assert cost("claude-haiku-5-5", input_tokens=5) == 1
    assert cost("claude-haiku-5-5", input_tokens=12_345, cache_read_input_tokens=5) == 1235


def test_batch_results_pay_half_of_every_token_rate() -> None:
    usage = Usage(input_tokens=1000, output_tokens=501, cache_read_input_tokens=10_000)
    assert BUILT_IN.cost("claude-sonnet-5", usage) == 2000 + 5010 + 2000
    assert BUILT_IN.cost("claude-sonnet-5", usage, batch=True) == 4505
    searched = Usage(output_tokens=1, web_search_requests=1)  # a search is not discounted
    assert BUILT_IN.cost("claude-sonnet-5", searched, batch=True) == 10_000 + 5


def test_the_long_context_tier_prices_the_whole_request_above_its_threshold() -> None:
    # Haiku 5.5: up to 100,000 prompt tokens (input, cache writes and reads) $0.10 / $0.50,
    # read $0.01; above, five times each.
    at_threshold = {"input_tokens": 60_000, "cache_read_input_tokens": 40_000}
    assert cost("claude-haiku-5-5", **at_threshold, output_tokens=1000) == 6000 + 400 + 500
    above = {**at_threshold, "input_tokens": 60_001}
    # 60,001 * 0.5 + 40,000 * 0.05 + 1,000 * 2.5 = 34,500.5
    assert cost("claude-haiku-5-5", **above, output_tokens=1000) == 34_501
    # Sonnet 4.5's 1M-context tier, above 200,000: $6 input, $7.50 and $12 writes, $22.50 out.
    long_prompt = {"input_tokens": 100_000, "cache_creation_input_tokens": 100_001}
    assert cost("claude-sonnet-4-5", **long_prompt, cache_creation_1h_input_tokens=1) == (
        600_000 + 750_000 + 12
    )
    assert cost("claude-sonnet-4-5", input_tokens=200_000) == 600_000  # at $3: not above


@pytest.mark.parametrize(
    "name",
    [
        "claude-sonnet-4-5",
        "claude-sonnet-4-5-20250929",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "claude-sonnet-4-5@20250929",
        "Claude-Sonnet-4-5",
        "claude-sonnet-4-5[1m]",
    ],
)
def test_a_model_is_priced_however_its_platform_spells_it(name: str) -> None:
    price = BUILT_IN.price_of(name)
    assert price is not None and price.name == "Claude Sonnet 4.5"


@pytest.mark.parametrize(
    "name", ["claude-opus-4-20250514", "claude-3-5-haiku-latest", "gpt-4o", "claude-sonnet-9"]
)
def test_a_model_without_a_price_is_never_guessed(name: str) -> None:
    assert BUILT_IN.cost(name, Usage(input_tokens=1000)) is None


def test_the_table_is_dated_and_names_current_families() -> None:
    assert PRICES_READ == "2026-12-01"
    names = {price.name for price in BUILT_IN.models.values()}
    assert {"Claude Opus 5.5", "Claude Sonnet 5.5", "Claude Haiku 5.5"} <= names
    assert {"Claude Fable 5.1", "Claude Haiku 4.5"} <= names


@pytest.mark.parametrize(
    ("given", "micros"),
    [
        ("$50", 50_000_000),
        ("12.50", 12_500_000),
        (" $0.000001 ", 1),
        ("50$", 50_000_000),
        (7, 7_000_000),
        (12.5, 12_500_000),
        (Decimal("0.1"), 100_000),
    ],
)
def test_dollars_are_read_exactly(given: object, micros: int) -> None:
    assert parse_usd(given) == micros


@pytest.mark.parametrize(
    "given", ["0.0000001", "-1", "abc", "NaN", "Infinity", "$", True, None, "2000000000"]
)
def test_amounts_that_are_not_dollars_are_refused(given: object) -> None:
    with pytest.raises(ValueError):
        parse_usd(given)


def test_dollars_are_written_exactly() -> None:
    assert [usd(m) for m in (0, 1, 1220, 50_000_000, 12_345_678)] == [
        "0.00",
        "0.000001",
        "0.00122",
        "50.00",
        "12.345678",
    ]


TOML = b"""
[models.claude-sonnet-5]            # replaces the built-in entry
input = 3
cache_write_5m = "3.75"
cache_write_1h = 6
cache_read = 0.30
output = "$15"

[models.acme-claude-fine-tune]     # adds a model
input = 1
cache_write_5m = 1
cache_write_1h = 1
cache_read = 1
output = 1

[models.acme-claude-fine-tune.long_context]
above = 10
input = 2
cache_write_5m = 2
cache_write_1h = 2
cache_read = 2
output = 2

[server_tools]
web_search_per_1000 = 20
"""


def test_a_price_file_replaces_and_adds_entries(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_bytes(TOML)
    table = read_prices(path)
    assert table.cost("claude-sonnet-5-20260630", Usage(input_tokens=1000)) == 3000
    assert table.cost("claude-sonnet-5", Usage(cache_read_input_tokens=1000)) == 300
    assert table.cost("acme-claude-fine-tune", Usage(input_tokens=10)) == 10
    assert table.cost("acme-claude-fine-tune", Usage(input_tokens=11)) == 22  # long context
    assert table.cost("claude-haiku-4-5", Usage(web_search_requests=1)) == 20_000
    assert table.cost("claude-haiku-4-5", Usage(input_tokens=1000)) == 1000  # built-in kept
    assert BUILT_IN.cost("claude-sonnet-5", Usage(input_tokens=1000)) == 2000  # untouched


def test_a_json_price_file_reads_the_same() -> None:
    document = (
        b'{"models": {"claude-sonnet-5": {"input": 3, "cache_write_5m": 3.75, '
        b'"cache_write_1h": 6, "cache_read": 0.3, "output": 15}}}'
    )
    table = parse_price_file(document, "prices.json")
    assert table.cost("claude-sonnet-5", Usage(cache_creation_input_tokens=1000)) == 3750


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (b"[models.x]\ninput = 1\n", "needs exactly input, cache_write_5m"),
        (
            b"[models.x]\ninput=1\ncache_write_5m=1\ncache_write_1h=1\ncache_read=1\noutput=1\n"
            b"speed = 2\n",
            "unknown speed",
        ),
        (b"[model.x]\n", "unknown section(s): model"),
        (b"[server_tools]\nweb_search_per_1000 = 0.0001\n", "multiple of $0.001"),
        (
            b"[models.x]\ninput=1\ncache_write_5m=1\ncache_write_1h=1\ncache_read=1\n"
            b"output=0.0000001\n",
            "more than 6 decimal places",
        ),
        (
            b"[models.x]\ninput='cheap'\ncache_write_5m=1\ncache_write_1h=1\ncache_read=1\n"
            b"output=1\n",
            "models.x.input",
        ),
        (
            b"[models.x]\ninput=1\ncache_write_5m=1\ncache_write_1h=1\ncache_read=1\noutput=1\n"
            b"long_context = {input = 1}\n",
            "long_context.above",
        ),
        (b"models = [", "cannot be read"),
    ],
)
def test_a_bad_price_file_is_refused_saying_where(text: bytes, says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_price_file(text, "prices.toml")
    assert says in refused.value.message
    assert "PRICES_FILE prices.toml" in refused.value.message


def test_a_missing_price_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        read_prices(tmp_path / "nowhere.toml")
    assert read_prices(None) is BUILT_IN
