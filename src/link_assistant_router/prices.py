"""What an answer costs at Anthropic's API prices: the price table, dollars as text, and the cost
of one answer's usage. Pure, but for ``read_prices``, which reads ``PRICES_FILE`` at start-up.

Money is integer micro-dollars (1 µ$ = $0.000001) everywhere: in rows, windows, budgets and sums.
Prices are kept as micro-dollars per million tokens, which holds every published price exactly
(the finest is $0.01 per million tokens, 10,000 µ$). One answer's cost is computed exactly from
those integers and rounded once, half up, to the micro-dollar; sums of costs are integer sums.
Dollars enter as text (``"$50"``, ``"12.5"``) and leave as text (``usd``), never as floats.

The built-in table (``BUILT_IN``) is Anthropic's published list, read on ``PRICES_READ`` from
the copies of Anthropic's documentation in the search tool's docs corpus:

- https://platform.claude.com/docs/en/about-claude/pricing, "Model pricing" (Fable, Mythos and
  Opus rows), and an earlier revision of the same page (the Sonnet 4.x and Haiku 4.5 rows;
  "Long context pricing" for Sonnet 4 and 4.5: over 200K prompt tokens, $6 input and $22.50
  output, the caching multipliers on top; "Web search tool": $10 per 1,000 searches; web fetch
  costs nothing beyond tokens; "Batch processing": half price for every token);
- the model pages platform.claude.com/docs/en/models/{opus-5-5,sonnet-5-5,sonnet-5,haiku-5-5}/
  overview (Haiku 5.5: prompts over 100,000 tokens pay five times every rate). Sonnet 5.5's
  cache read is $0.10 since its cut of 2026-10-07 (the stored model page predates the cut and
  still says $0.20).

Models retired from the Claude API (Opus 4 and 4.1, Sonnet 3.7, Haiku 3 and 3.5, Opus 3) are
left out: their requests are flagged as unpriced, never guessed. Sonnet 4 (retired 2026-06-15)
and Sonnet 4.5 (retired 2026-11-30) keep their rows until the next reading of the page: a
request to them now fails upstream and so is never priced. ``PRICES_FILE`` adds models or
replaces entries (see ``parse_price_file``).
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from link_assistant_router.errors import ConfigError
from link_assistant_router.requestlog import Usage

__all__ = [
    "BUILT_IN",
    "MICROS_PER_USD",
    "PRICES_READ",
    "PRICES_SOURCE",
    "ModelPrice",
    "PriceTable",
    "Rates",
    "parse_price_file",
    "parse_usd",
    "read_prices",
    "usd",
]

MICROS_PER_USD = 1_000_000
PRICES_READ = "2026-12-01"
PRICES_SOURCE = "https://platform.claude.com/docs/en/about-claude/pricing"
MAX_USD = Decimal(10**9)
RATE_NAMES = ("input", "cache_write_5m", "cache_write_1h", "cache_read", "output")
# Anthropic's price for one web search: $10 per 1,000.
WEB_SEARCH_MICROS = 10_000

# Dollars per million tokens, in the pricing page's column order:
# input, 5-minute cache write, 1-hour cache write, cache read (hits and refreshes), output.
_TABLE: tuple[tuple[str, tuple[str, ...], tuple[str, str, str, str, str]], ...] = (
    ("Claude Fable 5.1", ("claude-fable-5-1",), ("10", "12.50", "20", "0.25", "50")),
    ("Claude Mythos 5.1", ("claude-mythos-5-1",), ("10", "12.50", "20", "0.25", "50")),
    ("Claude Fable 5", ("claude-fable-5",), ("10", "12.50", "20", "1", "50")),
    ("Claude Mythos 5", ("claude-mythos-5",), ("10", "12.50", "20", "1", "50")),
    ("Claude Opus 5.5", ("claude-opus-5-5",), ("4", "5", "8", "0.20", "20")),
    ("Claude Opus 5", ("claude-opus-5",), ("5", "6.25", "10", "0.50", "25")),
    ("Claude Opus 4.8", ("claude-opus-4-8",), ("5", "6.25", "10", "0.50", "25")),
    ("Claude Opus 4.7", ("claude-opus-4-7",), ("5", "6.25", "10", "0.50", "25")),
    ("Claude Opus 4.6", ("claude-opus-4-6",), ("5", "6.25", "10", "0.50", "25")),
    ("Claude Opus 4.5", ("claude-opus-4-5",), ("5", "6.25", "10", "0.50", "25")),
    ("Claude Sonnet 5.5", ("claude-sonnet-5-5",), ("2", "2.50", "4", "0.10", "10")),
    ("Claude Sonnet 5", ("claude-sonnet-5",), ("2", "2.50", "4", "0.20", "10")),
    ("Claude Sonnet 4.6", ("claude-sonnet-4-6",), ("3", "3.75", "6", "0.30", "15")),
    ("Claude Sonnet 4.5", ("claude-sonnet-4-5",), ("3", "3.75", "6", "0.30", "15")),
    ("Claude Sonnet 4", ("claude-sonnet-4", "claude-sonnet-4-0"), ("3", "3.75", "6", "0.30", "15")),
    ("Claude Haiku 5.5", ("claude-haiku-5-5",), ("0.10", "0.125", "0.20", "0.01", "0.50")),
    ("Claude Haiku 4.5", ("claude-haiku-4-5",), ("1", "1.25", "2", "0.10", "5")),
)
# The long-context tier: above this many prompt tokens, every token of the request pays these.
_LONG_CONTEXT: dict[str, tuple[int, tuple[str, str, str, str, str]]] = {
    "Claude Haiku 5.5": (100_000, ("0.50", "0.625", "1.00", "0.05", "2.50")),
    "Claude Sonnet 4.5": (200_000, ("6", "7.50", "12", "0.60", "22.50")),
    "Claude Sonnet 4": (200_000, ("6", "7.50", "12", "0.60", "22.50")),
}


@dataclass(frozen=True, slots=True)
class Rates:
    """Micro-dollars per million tokens of each kind."""

    input: int
    cache_write_5m: int
    cache_write_1h: int
    cache_read: int
    output: int


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One model family's prices; above ``long_context_above`` prompt tokens (input, cache
    writes and cache reads together) the whole request pays ``long_context``."""

    name: str
    rates: Rates
    long_context: Rates | None = None
    long_context_above: int = 0

    def cost(self, usage: Usage, web_search_micros: int, *, batch: bool = False) -> int:
        """What ``usage`` costs in micro-dollars, rounded half up once. Cache writes the
        answer did not split by tier count as 5-minute writes (the default lifetime); ``batch``:
        the Message Batches API's results, every token at half price."""
        rates = self.rates
        cache_write = usage.cache_creation_input_tokens
        prompt = usage.input_tokens + cache_write + usage.cache_read_input_tokens
        if self.long_context is not None and prompt > self.long_context_above:
            rates = self.long_context
        five = usage.cache_creation_5m_input_tokens()
        per_million = (
            usage.input_tokens * rates.input
            + five * rates.cache_write_5m
            + (cache_write - five) * rates.cache_write_1h
            + usage.cache_read_input_tokens * rates.cache_read
            + usage.output_tokens * rates.output
        )
        per_micro = 2_000_000 if batch else 1_000_000
        tokens = (per_million + per_micro // 2) // per_micro  # exact, then half up to the µ$
        return tokens + usage.web_search_requests * web_search_micros


class PriceTable:
    """Prices by model. A model's name is matched as the API, Bedrock and Vertex spell it:
    ``claude-sonnet-4-5-20250929``, ``us.anthropic.claude-sonnet-4-5-20250929-v1:0`` and
    ``claude-sonnet-4-5@20250929`` are all ``claude-sonnet-4-5``."""

    def __init__(self, models: Mapping[str, ModelPrice], web_search_micros: int) -> None:
        self.models = dict(models)
        self.web_search_micros = web_search_micros
        self._found: dict[str, ModelPrice | None] = {}

    def price_of(self, model: str) -> ModelPrice | None:
        found = self._found.get(model, False)
        if found is False:
            found = self.models.get(model) or self.models.get(model_id(model))
            if len(self._found) >= 1024:  # clients choose model names: keep this bounded
                self._found.clear()
            self._found[model] = found
        return found  # type: ignore[return-value]

    def cost(self, model: str | None, usage: Usage, *, batch: bool = False) -> int | None:
        """The cost of ``usage`` in micro-dollars (``batch``: at the Batches API's half price);
        None when the model has no price."""
        price = self.price_of(model) if model else None
        return None if price is None else price.cost(usage, self.web_search_micros, batch=batch)

    def with_overrides(self, document: Mapping[str, Any], where: str) -> PriceTable:
        """This table with a price file's entries added or replacing its own."""
        unknown = set(document) - {"models", "server_tools"}
        if unknown:
            raise ConfigError(f"{where}: unknown section(s): {', '.join(sorted(unknown))}")
        models = dict(self.models)
        given = document.get("models", {})
        if not isinstance(given, dict):
            raise ConfigError(f"{where}: models must be a table of model name -> prices")
        for name, entry in given.items():
            models[model_id(name)] = _model_price(name, entry, f"{where}: models.{name}")
        web_search = self.web_search_micros
        tools = document.get("server_tools", {})
        if not isinstance(tools, dict) or set(tools) - {"web_search_per_1000"}:
            raise ConfigError(f"{where}: server_tools takes only web_search_per_1000")
        if "web_search_per_1000" in tools:
            per_thousand = _dollars(tools["web_search_per_1000"], f"{where}: web_search_per_1000")
            web_search, left = divmod(per_thousand, 1000)
            if left:
                raise ConfigError(f"{where}: web_search_per_1000 must be a multiple of $0.001")
        return PriceTable(models, web_search)


def model_id(model: str) -> str:
    """The model family a name belongs to: lower case, without a provider prefix, a Bedrock
    version, a Vertex ``@date``, a ``-YYYYMMDD`` date, ``-latest`` or Claude Code's ``[1m]``."""
    name = model.strip().lower()
    start = name.find("claude")
    if start > 0:
        name = name[start:]
    name = name.split("@", 1)[0].removesuffix("[1m]")
    name = _BEDROCK_VERSION.sub("", name)
    return _DATE_OR_LATEST.sub("", name)


_BEDROCK_VERSION = re.compile(r"-v\d+(:\d+)?$")
_DATE_OR_LATEST = re.compile(r"-(\d{8}|latest)$")


def _micros(amount: Decimal) -> int:
    micros = amount * MICROS_PER_USD
    if micros != micros.to_integral_value():
        raise ValueError("has more than 6 decimal places")
    return int(micros)


def _rates(values: tuple[str, ...]) -> Rates:
    return Rates(*(_micros(Decimal(value)) for value in values))


def _built_in() -> PriceTable:
    models: dict[str, ModelPrice] = {}
    for name, ids, values in _TABLE:
        long = _LONG_CONTEXT.get(name)
        price = ModelPrice(
            name,
            _rates(values),
            _rates(long[1]) if long else None,
            long[0] if long else 0,
        )
        for model in ids:
            models[model] = price
    return PriceTable(models, WEB_SEARCH_MICROS)


BUILT_IN = _built_in()


def read_prices(path: Path | None) -> PriceTable:
    """The built-in table, with the entries of ``PRICES_FILE`` when one is set."""
    if path is None:
        return BUILT_IN
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"PRICES_FILE {path} cannot be read: {exc.strerror}") from exc
    return parse_price_file(data, str(path))


def parse_price_file(data: bytes, name: str) -> PriceTable:
    """The built-in table with a ``PRICES_FILE``'s entries (``name``: the file's name; TOML
    unless it ends in ``.json``). Prices are dollars per million tokens, as numbers or text;
    an entry replaces the built-in one for its model, so it gives all five rates::

        [models.claude-sonnet-5-5]
        input = 2
        cache_write_5m = 2.50
        cache_write_1h = 4
        cache_read = 0.10
        output = 10

        [models.claude-sonnet-5-5.long_context]   # optional
        above = 200000                            # prompt tokens
        input = 4                                 # ... and the four others

        [server_tools]
        web_search_per_1000 = 10
    """
    try:
        if name.endswith(".json"):
            document = json.loads(data, parse_float=Decimal)
        else:
            document = tomllib.loads(data.decode("utf-8"), parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, TOMLDecodeError
        raise ConfigError(f"PRICES_FILE {name} cannot be read: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"PRICES_FILE {name} must hold a table (a JSON object)")
    return BUILT_IN.with_overrides(document, f"PRICES_FILE {name}")


def _model_price(name: str, entry: Any, where: str) -> ModelPrice:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a table of prices")
    long = entry.get("long_context")
    rates = _rates_of({k: v for k, v in entry.items() if k != "long_context"}, where)
    if long is None:
        return ModelPrice(name, rates)
    if not isinstance(long, dict):
        raise ConfigError(f"{where}.long_context must be a table")
    above = long.get("above")
    if isinstance(above, bool) or not isinstance(above, int) or above <= 0:
        raise ConfigError(f"{where}.long_context.above must be a number of prompt tokens")
    long_rates = _rates_of({k: v for k, v in long.items() if k != "above"}, where + ".long_context")
    return ModelPrice(name, rates, long_rates, above)


def _rates_of(entry: dict[str, Any], where: str) -> Rates:
    if set(entry) != set(RATE_NAMES):
        missing, unknown = set(RATE_NAMES) - set(entry), set(entry) - set(RATE_NAMES)
        raise ConfigError(
            f"{where} needs exactly {', '.join(RATE_NAMES)}"
            + (f"; missing {', '.join(sorted(missing))}" if missing else "")
            + (f"; unknown {', '.join(sorted(unknown))}" if unknown else "")
        )
    return Rates(*(_dollars(entry[rate], f"{where}.{rate}") for rate in RATE_NAMES))


def _dollars(value: Any, where: str) -> int:
    try:
        return parse_usd(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def parse_usd(value: object) -> int:
    """An amount of dollars as micro-dollars: a whole number, a decimal or text such as ``"$50"``
    or ``"12.50"``. ``ValueError`` for anything else, a negative amount, one over a billion or
    finer than a micro-dollar."""
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal | float):
        raise ValueError('must be an amount of dollars, like 50 or "$12.50"')
    text = str(value).strip()
    text = text.removeprefix("$").removesuffix("$").strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{str(value)!r} is not an amount of dollars") from None
    if not amount.is_finite() or amount < 0 or amount > MAX_USD:
        raise ValueError(f"{str(value)!r} must be between $0 and ${MAX_USD:,}")
    return _micros(amount)


def usd(micros: int) -> str:
    """Micro-dollars as exact dollars text: ``1220`` -> ``"0.00122"``, ``50_000_000`` ->
    ``"50.00"`` (at least two decimals, no trailing zeros beyond them)."""
    sign = "-" if micros < 0 else ""
    whole, fraction = divmod(abs(micros), MICROS_PER_USD)
    digits = f"{fraction:06d}".rstrip("0").ljust(2, "0")
    return f"{sign}{whole}.{digits}"
