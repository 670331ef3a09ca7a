"""Reading py-spy's collapsed stacks: own and inclusive samples, whose code the leaves are."""

from __future__ import annotations

import profiler

ROOT = 'process 1:"router";Runner.run (asyncio/runners.py)'
RELAY = "relay (link_assistant_router/proxy/relay.py)"
COLLAPSED = "\n".join(
    [
        f"{ROOT};{RELAY};StreamWriter._write (aiohttp/http_writer.py) 5",
        f"{ROOT};{RELAY} 3",
        f"{ROOT};flush (link_assistant_router/governance/ledger.py);"
        "execute (sqlalchemy/engine/base.py) 2",
        f"{ROOT} 1",
        'process 1:"router";thread 7;abc (<frozen abc>) 1',
        "not a sample line",
    ]
)


def test_own_and_inclusive_samples_per_frame() -> None:
    profile = profiler.parse_collapsed(COLLAPSED)
    assert profile.samples == 12
    assert profile.own[RELAY] == 3
    assert profile.inclusive[RELAY] == 8
    assert profile.inclusive["Runner.run (asyncio/runners.py)"] == 11
    assert not any(name.startswith(("process ", "thread ")) for name in profile.inclusive)


def test_leaf_samples_are_counted_per_owner() -> None:
    owners = profiler.parse_collapsed(COLLAPSED).owners()
    assert owners == {"aiohttp": 5, "router": 3, "store": 2, "event loop": 1, "other": 1}


def test_owner_reads_the_first_folder_of_the_frames_file() -> None:
    assert profiler.owner("execute (asyncpg/connection.py)") == "store"
    assert profiler.owner("get (multidict/_multidict_py.py)") == "aiohttp"
    assert profiler.owner("run (uvloop/__init__.py)") == "event loop"
    assert profiler.owner("<module> (link-assistant-router)") == "other"
    assert profiler.owner("no file here") == "other"
