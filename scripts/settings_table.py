"""Print the README's configuration table from the settings declarations (or --write it)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from link_assistant_router.config import setting_specs

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- settings:start -->", "<!-- settings:end -->"


def table() -> str:
    rows = ["| env var | flag | default | meaning |", "|---|---|---|---|"]
    for spec in setting_specs():
        meaning = spec.help.replace("|", "/")
        rows.append(f"| `{spec.env}` | `{spec.flag}` | {spec.default_text} | {meaning} |")
    return "\n".join(rows)


def write() -> None:
    text = README.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    README.write_text(pattern.sub(f"{START}\n{table()}\n{END}", text), encoding="utf-8")


if __name__ == "__main__":
    if "--write" in sys.argv:
        write()
    else:
        print(table())
