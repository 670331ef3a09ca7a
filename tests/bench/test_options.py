"""The benchmark's command line, and which key each target is sent."""

from __future__ import annotations

import argparse
from pathlib import Path
from unittest.mock import sentinel

import pytest

import run
from options import parse_args, span, span_text
from revision import Revision, constraints


def test_rounds_default_to_five_and_compare_to_none() -> None:
    args = parse_args([])
    assert args.rounds == 5
    assert args.compare == ""
    assert args.targets == ["direct", "nginx", "aiohttp", "router"]


def test_compare_and_rounds_are_read() -> None:
    args = parse_args(["--rounds", "2", "--compare", "HEAD~3", "--targets", "aiohttp,router"])
    assert (args.rounds, args.compare, args.targets) == (2, "HEAD~3", ["aiohttp", "router"])


@pytest.mark.parametrize("argv", [["--rounds", "0"], ["--compare=--help"]])
def test_bad_values_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)


def test_the_compared_target_is_named_by_its_short_sha() -> None:
    revision = Revision("HEAD~1", "de72f3a" + "0" * 33, "de72f3a", "subject")
    assert revision.target == "router@de72f3a"


def test_each_router_gets_its_own_key_and_the_others_the_routers() -> None:
    bench = run.Bench(Path("/nowhere"), {}, sentinel.upstream, {})
    assert bench.key("nginx") == ""
    bench.keys = {"router@abc1234": "la_sk_old"}
    assert bench.key("aiohttp") == "la_sk_old"
    bench.keys["router"] = "la_sk_new"
    assert bench.key("router") == "la_sk_new"
    assert bench.key("router@abc1234") == "la_sk_old"
    assert bench.key("direct") == "la_sk_new"


def test_translated_cases_go_to_every_router_only() -> None:
    assert run.runs_case("chat", "router@abc1234")
    assert run.runs_case("chat", "router")
    assert not run.runs_case("chat", "aiohttp")
    assert run.runs_case("responses", "router") and not run.runs_case("responses", "nginx")
    assert run.runs_case("sse", "nginx")


def test_constraints_keep_named_pins_only() -> None:
    frozen = "\n".join(
        [
            "aiohttp==3.14.5",
            "-e git+https://example.invalid/repo@abc#egg=thing",
            "link_assistant_router==0.1.0",
            "link-assistant-router @ file:///work/tree",
            "somepkg @ https://example.invalid/somepkg.whl",
            "# a comment",
            "uvloop==0.23.0",
        ]
    )
    assert constraints(frozen) == "aiohttp==3.14.5\nuvloop==0.23.0\n"


def test_spans_are_read_and_shown() -> None:
    assert span("20-40") == (20, 40)
    assert span("7") == (7, 7)
    assert (span_text((20, 40)), span_text((7, 7))) == ("20-40", "7")
    for bad in ("0-3", "5-2", "a-b", "-3"):
        with pytest.raises(argparse.ArgumentTypeError):
            span(bad)
