"""The console's vendored JavaScript and CSS: pinned copies from the npm registry, with their
licences, checked against the hashes in ``MANIFEST.json``.

    python scripts/vendor_assets.py            # check the shipped files against the manifest
    python scripts/vendor_assets.py --refresh  # download the pinned versions again, verify the
                                               # registry's sha512 of each tarball, rewrite
    python scripts/vendor_assets.py --refresh --set uplot=1.6.32   # move a pin

Nothing is fetched at run time: the router serves these files from its package.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path
from typing import Any

REGISTRY = "https://registry.npmjs.org"
VENDOR = Path(__file__).resolve().parent.parent / "src/link_assistant_router/console/static/vendor"
MANIFEST = VENDOR / "MANIFEST.json"
# package -> (version, {path in the tarball: file name here})
PINS: dict[str, tuple[str, dict[str, str]]] = {
    "htmx.org": (
        "2.0.11",
        {"package/dist/htmx.min.js": "htmx.min.js", "package/LICENSE": "htmx.LICENSE.txt"},
    ),
    "uplot": (
        "1.6.32",
        {
            "package/dist/uPlot.iife.min.js": "uPlot.iife.min.js",
            "package/dist/uPlot.min.css": "uPlot.min.css",
            "package/LICENSE": "uPlot.LICENSE.txt",
        },
    ),
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _get(url: str) -> bytes:
    if not url.startswith(REGISTRY + "/"):
        raise SystemExit(f"refusing to fetch {url}: not the npm registry")
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (checked above)
        data: bytes = response.read()
    return data


def refresh(pins: dict[str, tuple[str, dict[str, str]]]) -> dict[str, Any]:
    manifest: dict[str, Any] = {}
    for package, (version, files) in pins.items():
        meta = json.loads(_get(f"{REGISTRY}/{package}/{version}"))
        dist = meta["dist"]
        tarball = _get(dist["tarball"])
        algorithm, _, expected = dist["integrity"].partition("-")
        if algorithm != "sha512":
            raise SystemExit(f"{package}: unexpected integrity {dist['integrity']}")
        if base64.b64encode(hashlib.sha512(tarball).digest()).decode() != expected:
            raise SystemExit(f"{package}@{version}: the tarball does not match its sha512")
        entry: dict[str, Any] = {
            "version": version,
            "integrity": dist["integrity"],
            "license": meta.get("license"),
            "files": {},
        }
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
            for member, name in files.items():
                handle = archive.extractfile(member)
                if handle is None:
                    raise SystemExit(f"{package}@{version} has no {member}")
                data = handle.read()
                (VENDOR / name).write_bytes(data)
                entry["files"][name] = sha256(data)
        manifest[package] = entry
        print(f"{package}@{version}: {', '.join(files.values())}")
    MANIFEST.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def check() -> list[str]:
    """What differs between the shipped files and the manifest (nothing: an empty list)."""
    manifest = json.loads(MANIFEST.read_text())
    problems = []
    for package, (version, files) in PINS.items():
        entry = manifest.get(package)
        if entry is None or entry["version"] != version:
            problems.append(f"{package}: the manifest does not hold the pinned {version}")
            continue
        for name in files.values():
            path = VENDOR / name
            if not path.exists():
                problems.append(f"{name} is missing")
            elif sha256(path.read_bytes()) != entry["files"].get(name):
                problems.append(f"{name} does not match its hash in the manifest")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refresh", action="store_true", help="download and rewrite")
    parser.add_argument("--set", action="append", default=[], help="PACKAGE=VERSION")
    args = parser.parse_args()
    pins = dict(PINS)
    for pin in args.set:
        package, _, version = pin.partition("=")
        if package not in pins or not version:
            raise SystemExit(f"--set takes one of {', '.join(pins)} as PACKAGE=VERSION")
        pins[package] = (version, pins[package][1])
        print(f"remember to change PINS[{package!r}] to {version!r} in this script")
    if args.refresh:
        refresh(pins)
        return
    problems = check()
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        raise SystemExit(1)
    print("vendored assets match the manifest")


if __name__ == "__main__":
    main()
