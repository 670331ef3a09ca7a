"""The benchmark's command line: its options, checked, and what they say about the run."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import bodies
import revision
import rounds

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
TARGETS = ("direct", "nginx", "aiohttp", "router")
PROFILE_CASE = "sse"
DESCRIPTION = (
    "Benchmark the router against a bare aiohttp proxy, nginx and a direct connection, "
    "on loopback, in interleaved rounds."
)


def _names(allowed: tuple[str, ...]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        names = [name.strip() for name in text.split(",") if name.strip()]
        if not names or any(name not in allowed for name in names):
            raise argparse.ArgumentTypeError(f"expected some of {','.join(allowed)}")
        return names

    return parse


def _counts(text: str) -> list[int]:
    try:
        counts = [int(item) for item in text.split(",") if item.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError("expected comma-separated integers") from exc
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("expected comma-separated positive integers")
    return counts


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("expected an integer, 1 or more")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("expected an integer, 0 or more")
    return value


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument(
        "--rounds",
        type=_positive,
        default=5,
        help="rounds per case and connection count; each runs every target once (default 5)",
    )
    parser.add_argument(
        "--compare",
        metavar="REV",
        default="",
        help="also run the router built from git revision REV (a sha, tag, HEAD~3...) "
        "as the target router@<sha>",
    )
    parser.add_argument("--duration", type=_non_negative, default=10, help="seconds per wrk run")
    parser.add_argument(
        "--warmup", type=_non_negative, default=1, help="seconds of warm-up per run (0: none)"
    )
    parser.add_argument(
        "--cases",
        type=_names(tuple(bodies.BODIES)),
        default=list(bodies.BODIES),
        help="comma-separated, default json,sse,big,chat,responses",
    )
    parser.add_argument(
        "--connections", type=_counts, default=[1, 16], help="comma-separated, default 1,16"
    )
    parser.add_argument(
        "--targets",
        type=_names(TARGETS),
        default=list(TARGETS),
        help="comma-separated, default direct,nginx,aiohttp,router",
    )
    parser.add_argument("--profile", action="store_true", help="also profile the router (py-spy)")
    parser.add_argument(
        "--profile-case",
        choices=tuple(bodies.BODIES),
        default=PROFILE_CASE,
        help=f"the case the profile loads the router with (default {PROFILE_CASE})",
    )
    parser.add_argument("--write", action="store_true", help=f"update {DOCS.relative_to(ROOT)}")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--events-per-write", type=_non_negative, default=10, help="upstream SSE batching"
    )
    parser.add_argument(
        "--router-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the routers (repeatable)",
    )
    parser.add_argument(
        "--key-option",
        action="append",
        default=[],
        metavar="FLAG",
        help="extra flag for `tokens issue` when making each router's key "
        "(e.g. --key-option=--rpm=100000; repeatable)",
    )
    args = parser.parse_args(argv)
    if args.profile and rounds.ROUTER not in args.targets:
        parser.error("--profile needs the router target")
    if args.compare.startswith("-"):
        parser.error("--compare takes a git revision")
    if args.duration < 1 or args.events_per_write < 1:
        parser.error("--duration and --events-per-write must be at least 1")
    if any("=" not in item for item in args.router_env):
        parser.error("--router-env takes NAME=VALUE")
    return args


def span(text: str) -> tuple[int, int]:
    """An option's ``"A-B"`` (or ``"N"``, for N-N): two positive integers, A at most B."""
    low, _, high = text.partition("-")
    try:
        found = int(low), int(high or low)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("expected N or A-B") from exc
    if found[0] < 1 or found[0] > found[1]:
        raise argparse.ArgumentTypeError("expected positive A-B with A <= B")
    return found


def span_text(pair: tuple[int, int]) -> str:
    """A ``span`` as the report shows it."""
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}-{pair[1]}"


def command_line(argv: list[str], script: str = "bench/run.py") -> str:
    python = Path(sys.executable)
    shown = str(python.relative_to(ROOT)) if python.is_relative_to(ROOT) else str(python)
    return shlex.join([shown, script, *argv])


def router_notes(router_env: list[str], key_options: list[str]) -> list[str]:
    """What the report says of ``--router-env`` and ``--key-option``."""
    found = []
    if router_env:
        found.append("router environment: " + ", ".join(f"`{item}`" for item in router_env))
    if key_options:
        found.append("key issued with: " + " ".join(f"`{item}`" for item in key_options))
    return found


def _shortened(text: str, limit: int = 72) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def notes(args: argparse.Namespace, compared: revision.Revision | None) -> list[str]:
    found = [
        f"{args.rounds} round(s) per case and connection count, each running every target once, "
        "in turn (the order reversed every other round)",
        f"each run: `wrk -t1 -c<conns> -d{args.duration}s --latency -s bench/post.lua`, "
        f"after a {args.warmup} s warm-up; upstream writes {args.events_per_write} SSE events "
        "per write",
    ]
    if rounds.ROUTER in args.targets:
        found.append(f"`{rounds.ROUTER}`: this working tree, at {revision.describe_worktree(ROOT)}")
    if compared is not None:
        found.append(
            f"`{compared.target}`: the router at `{compared.spec}` = `{compared.sha}` "
            f"({_shortened(compared.subject)}), `git archive` + `pip install` into a venv of "
            "its own"
        )
    return found + router_notes(args.router_env, args.key_option)
