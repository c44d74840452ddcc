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


@pytest.fixture(scope="session")
def address():
    binary = os.environ.get("PARTNERSHIP_BIN", str(REPO / "target" / "debug" / "partnership"))
    db_dir = tempfile.mkdtemp(prefix="partnership-py-")
    proc = subprocess.Popen(
        [
            binary,
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
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
def channel(address):
    with grpc.insecure_channel(address) as ch:
        yield ch
