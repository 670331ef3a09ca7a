"""The report of interleaved rounds: tables, per-round ratios, the targets checked on medians."""

from __future__ import annotations

from pathlib import Path

import profiler
import report
from rounds import Measurement
from wrk import WrkResult


def run(
    target: str,
    round_no: int,
    cpu: float,
    *,
    case: str = "sse",
    connections: int = 16,
    p50_us: float = 1000.0,
) -> Measurement:
    result = WrkResult(
        requests=1000, duration_s=10.0, requests_per_s=100.0, p50_us=p50_us, p99_us=2 * p50_us
    )
    return Measurement(case, connections, target, result, cpu, round=round_no)


def rounds_of(case: str, connections: int, cpus: dict[str, list[float]]) -> list[Measurement]:
    return [
        run(target, number, cpu, case=case, connections=connections)
        for target, values in cpus.items()
        for number, cpu in enumerate(values, start=1)
    ]


def test_verdicts_use_the_median_of_the_round_ratios() -> None:
    measurements = [
        *rounds_of("sse", 16, {"aiohttp": [100, 100, 100], "router": [110, 150, 112]}),
        *rounds_of("json", 16, {"aiohttp": [100, 100, 100], "router": [140, 131, 129]}),
    ]
    sse, json, chat, latency = report.verdicts(measurements)
    assert sse.startswith("- sse, 16 connections: router CPU/request 1.12x the floor (aiohttp)")
    assert "median of 3 rounds (1.10x to 1.50x)" in sse
    assert sse.endswith("target ≤ 1.15x: met")
    assert json.startswith("- json, 16 connections: router CPU/request 1.31x")
    assert json.endswith("target ≤ 1.3x: **missed**")
    assert "chat, 16 connections: not checked" in chat
    assert "sse, 1 connection: not checked" in latency


def test_chat_is_checked_against_the_routers_own_sse_relay() -> None:
    measurements = [
        *rounds_of("sse", 16, {"router": [400, 420, 410]}),
        *rounds_of("chat", 16, {"router": [560, 580, 600]}),
    ]
    chat = report.verdicts(measurements)[2]
    assert chat.startswith("- chat, 16 connections: router CPU/request 1.41x its own sse relay")
    assert "(medians 580 ÷ 410 µs;" in chat
    assert chat.endswith("target ≤ 1.4x: **missed**")


def test_added_latency_is_checked_at_one_connection() -> None:
    measurements = [
        run("direct", 1, 50, connections=1, p50_us=200),
        run("router", 1, 400, connections=1, p50_us=450),
        run("router", 2, 400, connections=1, p50_us=600),
        run("direct", 2, 50, connections=1, p50_us=250),
    ]
    latency = report.verdicts(measurements)[3]
    assert latency.startswith("- sse, 1 connection: router adds +0.30 ms to p50 over direct")
    assert "(+0.25 ms to +0.35 ms)" in latency
    assert latency.endswith("target ≤ 0.30 ms: met")


def test_ratio_rows_put_the_compared_revision_first_and_keep_nginx() -> None:
    cpus = {"nginx": [50.0, 50.0], "aiohttp": [100.0, 100.0], "router": [150.0, 160.0]}
    measurements = rounds_of("sse", 16, {**cpus, "router@abc1234": [200.0, 160.0]})
    labels = [series.label for series in report.ratio_series(measurements)]
    assert labels == [
        "router ÷ router@abc1234",
        "router ÷ aiohttp",
        "router@abc1234 ÷ aiohttp",
        "router ÷ nginx",
        "router@abc1234 ÷ nginx",
    ]
    table = report.series_table(
        report.ratio_series(measurements)[:1], 2, report._times, "ratio", "-"
    )
    assert table.splitlines() == [
        "| case | conns | ratio | r1 | r2 | median | min-max | range |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
        "| sse | 16 | router ÷ router@abc1234 | 0.75x | 1.00x | 0.88x | 0.75x to 1.00x | 29% |",
    ]


def test_an_empty_table_says_what_it_needs() -> None:
    assert report.series_table([], 3, report._times, "ratio", "needs x") == "- none: needs x"


def test_results_table_shows_medians_and_the_cpu_range() -> None:
    measurements = rounds_of("sse", 16, {"direct": [180, 200, 190], "router": [400, 450, 420]})
    table = report.results_table(report.summarize(measurements)).splitlines()
    assert table[2] == (
        "| sse | 16 | direct | 3 | 100 | 1.00 ms | 2.00 ms | (190 upstream) | 180-200 | 0% | none |"
    )
    assert table[3] == (
        "| sse | 16 | router | 3 | 100 | 1.00 ms | 2.00 ms | 420 | 400-450 | 0% | none |"
    )


def test_render_has_every_section() -> None:
    measurements = rounds_of("sse", 16, {"aiohttp": [100, 100], "router": [150, 160]})
    text = report.render([("CPU", "2 x test")], measurements, ["a note"], ["a problem"], "")
    for heading in (
        "### Machine and command",
        "### Results (medians of 2 rounds)",
        "### CPU per request, ratios per round (floor: aiohttp)",
        "### p50 added over direct, per round",
        "### Targets",
        "### Problems",
    ):
        assert heading in text
    assert "- a note" in text
    assert "- ⚠ a problem" in text
    assert "- none: needs the direct target" in text


def test_write_docs_replaces_only_the_text_between_the_markers(tmp_path: Path) -> None:
    docs = tmp_path / "benchmarks.md"
    docs.write_text(f"prose\n{report.START}\nold\n{report.END}\nafter\n", encoding="utf-8")
    report.write_docs(docs, "new\n")
    assert docs.read_text(encoding="utf-8") == (
        f"prose\n{report.START}\nnew\n{report.END}\nafter\n"
    )


def test_write_docs_with_other_markers_leaves_the_bench_section_alone(tmp_path: Path) -> None:
    docs = tmp_path / "benchmarks.md"
    bench = f"{report.START}\nbench\n{report.END}\n"
    docs.write_text(f"prose\n{bench}", encoding="utf-8")
    report.write_docs(docs, "one\n", "<!-- x:start -->", "<!-- x:end -->", "## X")
    assert docs.read_text(encoding="utf-8") == (
        f"prose\n{bench}\n## X\n\n<!-- x:start -->\none\n<!-- x:end -->\n"
    )
    report.write_docs(docs, "two\n", "<!-- x:start -->", "<!-- x:end -->", "## X")
    assert docs.read_text(encoding="utf-8") == (
        f"prose\n{bench}\n## X\n\n<!-- x:start -->\ntwo\n<!-- x:end -->\n"
    )


def test_the_floor_ratio_is_the_median_of_the_rounds() -> None:
    measurements = rounds_of("json", 16, {"aiohttp": [100, 100, 100], "router": [200, 260, 220]})
    assert report.median_floor_ratio(measurements, "json", 16) == 2.2
    assert report.median_floor_ratio(measurements, "sse", 16) is None


def test_owner_lines_bound_the_ratio_by_what_the_stack_costs() -> None:
    collapsed = (
        "main (link_assistant_router/app.py) 30\n"
        "execute (sqlalchemy/engine/base.py) 10\n"
        "StreamWriter._write (aiohttp/http_writer.py) 50\n"
        "Runner.run (asyncio/runners.py) 10\n"
    )
    profile = profiler.parse_collapsed(collapsed)
    lines = report.owner_lines(profile, 2.0)
    assert lines[:3] == ["| owner | own |", "|---|---:|", "| aiohttp | 50.0% |"]
    assert "| router | 30.0% |" in lines
    assert "| store | 10.0% |" in lines
    # 40% is the router's and its store's: 2.0x scaled by the 60% left is 1.2x.
    assert "(their 40.0% gone)" in lines[-1]
    assert "still spend 1.20x the floor's CPU" in lines[-1]
    assert report.owner_lines(profile, None)[-1] == "| event loop | 10.0% |"
