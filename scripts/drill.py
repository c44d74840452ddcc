"""What the drills (replicas-drill.py, failover-drill.py) share: the
Python client's generated stubs and retry policy on the import path, free
ports, and reading every SME back."""

import pathlib
import socket
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "clients" / "python"))

import generate  # noqa: E402
import retry  # noqa: E402,F401  (re-exported for the drills)

sys.path.insert(0, str(generate.generate(pathlib.Path(tempfile.mkdtemp(prefix="drill-stubs-")))))

from partnership.v1 import sme_pb2, sme_pb2_grpc  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def all_sme_names(channel):
    """The name of every SME, page by page."""
    stub = sme_pb2_grpc.SmeServiceStub(channel)
    names, token = [], ""
    while True:
        page = stub.ListSmes(sme_pb2.ListSmesRequest(page_size=1000, page_token=token), timeout=30)
        names += [s.name for s in page.smes]
        token = page.next_page_token
        if not token:
            return names
