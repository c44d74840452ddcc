"""Which partnership server binary the suite starts."""

import os
import pathlib

HOW = (
    "no partnership binary found: build one at the repository root with "
    "`cargo build --release` (or `cargo build`), or set PARTNERSHIP_BIN to its path"
)


def find_binary(repo: pathlib.Path, env=os.environ) -> str:
    """`PARTNERSHIP_BIN` when set; else the most recently built of
    `target/release/partnership` and `target/debug/partnership`. Raises
    `FileNotFoundError` saying how to get one when there is none."""
    given = env.get("PARTNERSHIP_BIN")
    if given:
        return given
    built = [
        p
        for p in (repo / "target" / "release" / "partnership", repo / "target" / "debug" / "partnership")
        if p.is_file()
    ]
    if not built:
        raise FileNotFoundError(HOW)
    return str(max(built, key=lambda p: p.stat().st_mtime))
