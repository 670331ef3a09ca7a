"""The console's queries at scale: fill a store's ledger with generated rows (1,000,000 by
default, over the last 30 days, 50 keys, 3 models, 2 accounts) and time every page's and chart's
query, as the console makes them (the report functions the admin API uses too).

    .venv/bin/python scripts/usage_scale.py --database-url sqlite+aiosqlite:////tmp/scale.db
    .venv/bin/python scripts/usage_scale.py --database-url postgresql+asyncpg://postgres@127.0.0.1/scale

Rows go in through ``record_usage`` (as the ledger writes them), 10,000 per batch. Each query
runs five times; the median is reported, in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from link_assistant_router.admin.usage import requests_report
from link_assistant_router.console.charts import chosen_range
from link_assistant_router.console.reports import by_model, report
from link_assistant_router.storage.records import UsageRow
from link_assistant_router.storage.sql import open_store

BATCH = 10_000
MODELS = ("claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5")


def rows(count: int, days: int, keys: list[str], now: float) -> list[list[UsageRow]]:
    generator = random.Random(16)  # noqa: S311 (made-up data)
    start = now - days * 86400
    batches, batch = [], []
    for number in range(count):
        at = start + (number + generator.random()) * days * 86400 / count
        failed = generator.random() < 0.02
        batch.append(
            UsageRow(
                f"req_scale_{number:010d}",
                at,
                int(at // 86400),
                generator.choice(keys),
                generator.choice(("primary", "api-key")),
                generator.choice(MODELS),
                None,
                "claude-cli",
                "/v1/messages",
                529 if failed else 200,
                generator.randint(5, 3000),
                generator.randint(50, 4000),
                generator.randint(0, 20000),
                generator.randint(0, 90000),
                generator.uniform(300, 2500),
                generator.uniform(2000, 60000),
                "overloaded_error" if failed else None,
                1,
            )
        )
        if len(batch) == BATCH:
            batches.append(batch)
            batch = []
    if batch:
        batches.append(batch)
    return batches


async def timed(work: Callable[[], Awaitable[object]], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--skip-fill", action="store_true", help="the rows are there already")
    args = parser.parse_args()
    store = open_store(args.database_url)
    await store.open()
    now = time.time()
    keys = [f"{number:08d}-5ca1-4e00-8000-000000000000" for number in range(50)]
    if not args.skip_fill:
        started = time.perf_counter()
        for batch in rows(args.rows, args.days, keys, now):
            await store.record_usage(batch, [])
        print(f"inserted {args.rows} rows in {time.perf_counter() - started:.1f} s")
    ranges = {name: chosen_range({"range": name}, now) for name in ("1h", "24h", "7d", "30d")}
    queries: dict[str, Callable[[], Awaitable[object]]] = {
        f"overview {name} ({span.bucket} buckets)": (lambda s=span: report(store, s.params()))
        for name, span in ranges.items()
    }
    month = ranges["30d"]
    queries |= {
        "overview: time to first byte p50/p95, last hour": lambda: store.ttfb_percentiles(
            now - 3600, now
        ),
        "usage 30d by key": lambda: report(store, {**month.params(), "group_by": "key"}),
        "usage 30d by model": lambda: report(store, {**month.params(), "group_by": "model"}),
        "usage 30d by day, one key": lambda: report(store, {**month.params(), "key": keys[7]}),
        "key page / me: 7d by model": lambda: by_model(store, keys[7], ranges["7d"]),
        "key page / me: 30d by model": lambda: by_model(store, keys[7], month),
        "requests: newest 50": lambda: requests_report(store, {}),
        "requests: newest 50 of one key": lambda: requests_report(store, {"key": keys[7]}),
        "requests: newest 50 errors": lambda: requests_report(store, {"errors": "1"}),
        "keys table": store.list_keys,
        "audit: newest 100": store.list_audit,
    }
    print(
        f"{platform.node()}: {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, {args.database_url.split(':')[0]}"
    )
    print("| query | median ms |\n|---|---:|")
    for name, work in queries.items():
        print(f"| {name} | {await timed(work):.1f} |")
    await store.close()


if __name__ == "__main__":
    asyncio.run(main())
