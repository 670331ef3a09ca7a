"""The processes under test, on 127.0.0.1: the fake upstream, nginx, and the router.

Each is started with its output in a log file in the run's temporary directory and is ready once
it answers; ``Server.stop`` terminates it (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import grp
import http.client
import os
import pwd
import re
import resource
import shutil
import socket
import string
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

BENCH_DIR = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
# A placeholder: the fake upstream accepts any credential.
OAUTH_TOKEN = "sk-ant-oat01-bench-not-a-real-token"  # noqa: S105
_READY_TIMEOUT_S = 30.0
_ERROR_LINES = {
    "upstream": re.compile(r"^Traceback \(most recent call last\)"),
    "nginx": re.compile(r"\[(error|crit|alert|emerg)\]"),
    "router": re.compile(r"^\S+ (ERROR|CRITICAL) "),  # the router's text log format
    "aiohttp": re.compile(r"^Traceback \(most recent call last\)"),
}
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception)\b.*: ")
_STOP_GRACE_S = 10.0


class ServerError(RuntimeError):
    """A server did not start, or a command it needs failed."""


@dataclass(frozen=True)
class Server:
    """A started process listening on ``port``."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    error_line: re.Pattern[str]  # how an error starts in its log

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def logged_errors(self) -> str:
        """How many errors the log holds, with the first one and its exception; or ""."""
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        starts = [i for i, line in enumerate(lines) if self.error_line.search(line)]
        if not starts:
            return ""
        first = lines[starts[0]].strip()
        exception = next((line for line in lines[starts[0] :] if _EXCEPTION.match(line)), "")
        summary = f"{self.name} logged {len(starts)} error(s); first: `{first[:200]}`"
        return summary + (f", raising `{exception[:200]}`" if exception else "")

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(_STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(_STOP_GRACE_S)


def raise_open_files_limit() -> tuple[int, int]:
    """Raise this process's soft limit on open files to its hard limit; the limits now.

    Thousands of concurrent streams need a descriptor per socket (two in a proxy), more than
    the usual soft limit of 1,024. Called in every server it starts (before ``exec``) and by the
    benchmark's own clients."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            return soft, hard
        soft = wanted
    return soft, hard


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tool(name: str) -> str:
    """The path of an executable: the venv's own first, then ``PATH``."""
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise ServerError(f"{name} is not installed")
    return found


def _launch(
    name: str,
    command: list[str],
    port: int,
    temp_dir: Path,
    env: dict[str, str] | None,
    kind: str = "",
) -> Server:
    """Start ``command`` with its output in ``<name>.log``; ``kind`` (default: the name) says
    how its log marks an error."""
    log = temp_dir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=temp_dir,
            preexec_fn=raise_open_files_limit,
        )
    return Server(name, process, port, log, _ERROR_LINES[kind or name])


def _wait_ready(server: Server, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerError(
                f"{server.name} exited with code {server.process.returncode} at start-up; "
                f"last lines of {server.log}:\n{server.log_tail()}"
            )
        if ready():
            return
        time.sleep(0.05)
    server.stop()
    raise ServerError(
        f"{server.name} was not ready within {_READY_TIMEOUT_S:g} s; "
        f"last lines of {server.log}:\n{server.log_tail()}"
    )


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _health_ok(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def start_upstream(temp_dir: Path, events_per_write: int) -> Server:
    port = free_port()
    command = [
        sys.executable,
        str(BENCH_DIR / "upstream.py"),
        "--events-per-write",
        str(events_per_write),
        "--port",
        str(port),
    ]
    server = _launch("upstream", command, port, temp_dir, None)
    _wait_ready(server, lambda: _accepts(port))
    return server


def nginx_config(temp_dir: Path, port: int, upstream_port: int) -> str:
    """The nginx configuration, from ``nginx.conf.template``."""
    template = string.Template((BENCH_DIR / "nginx.conf.template").read_text())
    # As root, nginx's workers would switch to "nobody", who cannot read the private temp dir.
    user = ""
    if os.geteuid() == 0:
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"
    return template.substitute(
        user_directive=user, temp_dir=temp_dir, port=port, upstream_port=upstream_port
    )


def start_bare_proxy(temp_dir: Path, upstream_port: int) -> Server:
    """The bare aiohttp pass-through (bench/bare_proxy.py): the floor for a Python proxy."""
    port = free_port()
    command = [sys.executable, str(BENCH_DIR / "bare_proxy.py"), "--port", str(port)]
    command += ["--upstream", f"http://127.0.0.1:{upstream_port}"]
    server = _launch("aiohttp", command, port, temp_dir, None)
    _wait_ready(server, lambda: _accepts(port))
    return server


def start_nginx(temp_dir: Path, upstream_port: int) -> Server:
    port = free_port()
    config = temp_dir / "nginx.conf"
    config.write_text(nginx_config(temp_dir, port, upstream_port))
    command = [tool("nginx"), "-p", str(temp_dir), "-e", "stderr", "-c", str(config)]
    server = _launch("nginx", command, port, temp_dir, None)
    _wait_ready(server, lambda: _accepts(port))
    return server


def router_env(home: Path, port: int, upstream_port: int, extra: dict[str, str]) -> dict[str, str]:
    """A clean environment for a router: HOME (and the data directory under it) is a directory
    of the run's own, one per router, so no real login is found and no two routers share a
    store."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "ROUTER_HOST": "127.0.0.1",
        "ROUTER_PORT": str(port),
        "ADMIN_PORT": str(free_port()),  # two routers in one run must not share the default
        "UPSTREAM_BASE_URL": f"http://127.0.0.1:{upstream_port}",
        "UPSTREAM_OAUTH_TOKEN": OAUTH_TOKEN,
        "DATA_DIR": str(home / "router-data"),
        "LOG_LEVEL": "info",
        **extra,
    }


def start_router(
    temp_dir: Path, env: dict[str, str], name: str = "router", executable: str = ""
) -> Server:
    """``link-assistant-router serve``: this venv's, or ``executable`` (another revision's)."""
    command = [executable or tool("link-assistant-router"), "serve"]
    server = _launch(name, command, int(env["ROUTER_PORT"]), temp_dir, env, kind="router")
    _wait_ready(server, lambda: _health_ok(server.port))
    return server


def start_router_with_key(
    temp_dir: Path,
    name: str,
    upstream_port: int,
    extra_env: dict[str, str],
    key_options: list[str] | None = None,
    executable: str = "",
) -> tuple[Server, str]:
    """A router named ``name`` with a home and data directory of its own under ``temp_dir``, on
    a free port, and a fresh key from its own CLI. The router is stopped if no key comes."""
    home = temp_dir / name
    home.mkdir()
    env = router_env(home, free_port(), upstream_port, extra_env)
    router = start_router(temp_dir, env, name, executable)
    try:
        key = issue_key(temp_dir, env, key_options, executable)
    except BaseException:
        router.stop()
        raise
    return router, key


def wait_for_log(server: Server, text: str, count: int, timeout_s: float) -> int:
    """Wait until ``text`` appears ``count`` times in the server's log (such as one "listening"
    line per worker), at most ``timeout_s``; how many times it appeared."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            seen = server.log.read_text(errors="replace").count(text)
        except FileNotFoundError:
            seen = 0
        if seen >= count or time.monotonic() >= deadline or server.process.poll() is not None:
            return seen
        time.sleep(0.1)


def issue_key(
    temp_dir: Path, env: dict[str, str], options: list[str] | None = None, executable: str = ""
) -> str:
    """A fresh ``la_sk_`` key from ``link-assistant-router tokens issue`` (``options``: more
    flags for it, such as limits; ``executable``: another revision's CLI). It lives a day: longer
    than any run (an hour's soak outlived a key of one hour by a few seconds), and its store is
    the run's own, removed with it."""
    command = [executable or tool("link-assistant-router"), "tokens", "issue"]
    command += ["--ttl-hours", "24", "--label", "bench", "--json", *(options or [])]
    done = subprocess.run(
        command, env=env, cwd=temp_dir, capture_output=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise ServerError(
            f"{' '.join(command)} exited with {done.returncode}:\n"
            f"{done.stdout.decode(errors='replace')}{done.stderr.decode(errors='replace')}"
        )
    try:
        token = orjson.loads(done.stdout)["token"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ServerError(
            f"no token in the output of {' '.join(command)}:\n{done.stdout!r}"
        ) from exc
    if not isinstance(token, str) or not token.startswith("la_sk_"):
        raise ServerError(f"unexpected token from {' '.join(command)}: {token!r}")
    return token
