#!/usr/bin/env python3
"""Fails when a dependency rule of ARCHITECTURE.md is broken.

Two layers:
1. Crate edges, from `cargo metadata`: each workspace crate may depend (normal and build
   dependencies) only on the workspace crates listed for it below, and the pure domain only on
   the external crates listed. The compiler then enforces the rest: a crate cannot `use` what
   it does not depend on.
2. Source rules the crate graph cannot express, over `use`/path lines: inside the service, the
   HTTP layer (src/api) reaches the engine only through `orderly_actors::engine` and the domain
   vocabulary it re-exports (`orderly_actors::domain`), never storage or actor messages; only
   the start-up wiring names a storage backend.
"""
import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# workspace crate -> workspace crates it may depend on (dev-dependencies are not limited).
ALLOWED = {
    "orderly-domain": set(),
    "orderly-storage": {"orderly-domain"},
    "orderly-storage-sled": {"orderly-storage", "orderly-domain"},
    "orderly-messages": {"orderly-domain"},
    "orderly-actors": {"orderly-domain", "orderly-storage", "orderly-messages"},
    "orderly-storage-postgres": {"orderly-storage", "orderly-domain"},
    "orderly": {"orderly-actors", "orderly-storage", "orderly-storage-sled", "orderly-storage-postgres"},
    "orderly-testkit": set(),
    "orderly-bench": {"orderly", "orderly-actors", "orderly-testkit"},
}
# The pure core: no runtime, storage, HTTP or schema crates.
DOMAIN_EXTERNAL = {"serde", "serde_json", "chrono", "chrono-tz", "uuid", "thiserror"}

# (files, forbidden pattern, why)
SOURCE_RULES = [
    ("src/api/**/*.rs", r"\borderly_storage\w*|\bsled::|\bactix::|orderly_actors::(store|clock)\b|engine::(notifier|registry|order_actor|effects|inventory|carrier)\b",
     "the HTTP layer talks to the engine API only (no storage, no actors)"),
    ("actors/src/**/*.rs", r"\borderly_storage_(sled|postgres)\b|\bsled::|\btokio_postgres\b",
     "the engine uses the storage interface, never a backend"),
    ("domain/src/**/*.rs", r"\b(actix\w*|sled|awc|utoipa|orderly_\w+)::",
     "the domain depends on nothing else in the workspace and no runtime"),
]
# Only the start-up wiring picks a backend.
BACKEND = r"\borderly_storage_(sled|postgres)\b"
BACKEND_ALLOWED = {"src/wiring.rs"}


def main() -> int:
    errors = []
    meta = json.loads(subprocess.check_output(
        ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"], cwd=ROOT))
    members = {p["name"]: p for p in meta["packages"]}
    for name in members:
        if name not in ALLOWED:
            errors.append(f"{name}: a workspace crate this check does not know; add it to ALLOWED")
    for name, pkg in members.items():
        for dep in pkg["dependencies"]:
            if dep.get("kind") == "dev":
                continue
            d = dep["name"]
            if d in members and d not in ALLOWED.get(name, set()):
                errors.append(f"{name} depends on {d}: not allowed (allowed: {sorted(ALLOWED.get(name, []))})")
            if name == "orderly-domain" and d not in members and d not in DOMAIN_EXTERNAL:
                errors.append(f"orderly-domain depends on {d}: the domain may use only {sorted(DOMAIN_EXTERNAL)}")

    def lines(glob):
        for path in sorted(ROOT.glob(glob)):
            rel = path.relative_to(ROOT).as_posix()
            for no, line in enumerate(path.read_text().splitlines(), 1):
                if line.lstrip().startswith("//"):
                    continue
                yield rel, no, line

    for glob, pattern, why in SOURCE_RULES:
        for rel, no, line in lines(glob):
            if re.search(pattern, line):
                errors.append(f"{rel}:{no}: {why}: {line.strip()}")
    for glob in ("src/**/*.rs", "actors/src/**/*.rs", "bench/src/**/*.rs"):
        for rel, no, line in lines(glob):
            if re.search(BACKEND, line) and rel not in BACKEND_ALLOWED:
                errors.append(f"{rel}:{no}: only the start-up wiring ({', '.join(sorted(BACKEND_ALLOWED))}) names a storage backend: {line.strip()}")

    for e in errors:
        print("dependency rule broken:", e)
    if not errors:
        print(f"dependency rules hold ({len(members)} workspace crates)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
