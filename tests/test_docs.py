"""The README stays true to the code: its settings table is the generated one."""

from __future__ import annotations

import re
from pathlib import Path

from scripts.settings_table import END, START, table

from link_assistant_router.config import setting_specs

ROOT = Path(__file__).resolve().parent.parent


def test_readme_settings_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    current = readme.split(START, 1)[1].split(END, 1)[0].strip()
    assert current == table(), "run: python scripts/settings_table.py --write"


def test_every_env_var_the_readme_names_exists() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    known = {spec.env for spec in setting_specs()} | {
        "CLAUDE_CONFIG_DIR",
        "RUST_LOG",
        "TEST_DATABASE_URL",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_API_BASE",  # aider (LiteLLM)
        "AWS_BEARER_TOKEN_BEDROCK",
        "HEALTHCHECK",
        "PROMETHEUS_MULTIPROC_DIR",
        "SO_REUSEPORT",
    }
    named = set(re.findall(r"`([A-Z][A-Z0-9_]{3,})(?:=[^`]*)?`", readme))
    assert named <= known, named - known
