"""Starts a real partnership server on a fresh SQLite file for the suite,
and generates the stubs into a temporary directory."""

import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time

import grpc
import pytest

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent.parent
sys.path.insert(0, str(HERE.parent))

import generate  # noqa: E402

_stubs = generate.generate(pathlib.Path(tempfile.mkdtemp(prefix="partnership-stubs-")))
sys.path.insert(0, str(_stubs))


from binary import find_binary  # noqa: E402

try:
    BINARY = find_binary(REPO)
except FileNotFoundError as e:
    pytest.exit(str(e), returncode=2)


def mint(name: str, scopes: str, callers: pathlib.Path) -> str:
    """A fresh token from `partnership token new`, its entry appended to
    the callers' file: what an operator does."""
    with callers.open("a") as entries:
        out = subprocess.run(
            [BINARY, "token", "new", name, "--scopes", scopes],
            stdout=subprocess.PIPE,
            stderr=entries,
            text=True,
            check=True,
        )
    return out.stdout.strip()


@pytest.fixture(scope="session")
def tokens():
    """The suite's callers: `suite` may do everything, `reader` only read."""
    callers = pathlib.Path(tempfile.mkdtemp(prefix="partnership-py-auth-")) / "callers.toml"
    return {
        "file": callers,
        "suite": mint("py-suite", "read,write,admin", callers),
        "reader": mint("py-reader", "read", callers),
    }


@pytest.fixture(scope="session")
def address(tokens):
    db_dir = tempfile.mkdtemp(prefix="partnership-py-")
    proc = subprocess.Popen(
        [
            BINARY,
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--auth-config",
            str(tokens["file"]),
            "--database-url",
            f"sqlite://{db_dir}/py.db?mode=rwc",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PARTNERSHIP_LOG_FORMAT": "text", "RUST_LOG": "info"},
    )
    addr = None
    deadline = time.time() + 60
    assert proc.stdout is not None
    for line in proc.stdout:
        if "listening" in line and "addr=" in line:
            addr = line.split("addr=")[1].split()[0]
            break
        if time.time() > deadline:
            break
    assert addr, "server did not report its address"
    # Keep draining the log so the server never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    yield addr
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture()
def raw_channel(address):
    """A channel that sends no token."""
    with grpc.insecure_channel(address) as ch:
        yield ch


@pytest.fixture()
def channel(raw_channel, tokens):
    """A channel that sends the suite's token on every call."""
    from auth import with_token

    yield with_token(raw_channel, tokens["suite"])
