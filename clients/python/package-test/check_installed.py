"""A ministry's program using the wheel: scripts/client-packages.sh installs
partnership_client-*.whl into a fresh venv, copies this file to a directory
outside the repository and runs it there with that venv's Python, against a
server it started with auth on, the token in PARTNERSHIP_TOKEN. Exits
non-zero on the first check that fails.

    python check_installed.py ADDRESS
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import uuid

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

import partnership.v1
import partnership_client
from partnership.v1 import enterprise_pb2, sme_pb2, sme_pb2_grpc
from partnership_client import auth, retry, tracing


def failure(call, code: grpc.StatusCode):
    try:
        call()
    except grpc.RpcError as err:
        assert err.code() == code, f"expected {code}, got {err.code()}: {err.details()}"
        return rpc_status.from_call(err)
    raise AssertionError(f"expected {code}, the call succeeded")


def detail(status, kind):
    for any_ in status.details:
        if any_.Is(kind.DESCRIPTOR):
            message = kind()
            any_.Unpack(message)
            return message
    raise AssertionError(f"no {kind.DESCRIPTOR.full_name} in {status}")


def main(address: str) -> None:
    token = os.environ["PARTNERSHIP_TOKEN"]
    # The stubs and helpers come from the venv, not from a checkout.
    venv = pathlib.Path(sys.prefix).resolve()
    for module in (partnership.v1, partnership_client, retry):
        where = pathlib.Path(module.__file__).resolve()
        assert venv in where.parents and "site-packages" in where.parts, f"{module.__name__} from {where}"
    assert retry.SERVICE_CONFIG.parent == pathlib.Path(retry.__file__).resolve().parent, retry.SERVICE_CONFIG

    with grpc.insecure_channel(address, options=retry.options()) as plain:
        failure(lambda: sme_pb2_grpc.SmeServiceStub(plain).ListSmes(sme_pb2.ListSmesRequest(), timeout=30),
                grpc.StatusCode.UNAUTHENTICATED)

        smes = sme_pb2_grpc.SmeServiceStub(auth.with_token(plain, token))
        sme_id = f"py-pkg-{uuid.uuid4().hex[:8]}"
        display_name = f"Python package check {sme_id}"
        created = smes.CreateSme(
            sme_pb2.CreateSmeRequest(
                sme=sme_pb2.Sme(display_name=display_name, size=enterprise_pb2.ENTERPRISE_SIZE_SMALL, employee_count=12),
                sme_id=sme_id,
                request_id=str(uuid.uuid4()),
            ),
            timeout=30,
        )
        assert created.name == f"smes/{sme_id}" and created.etag, created

        traceparent = tracing.new_traceparent()
        got, call = smes.GetSme.with_call(sme_pb2.GetSmeRequest(name=created.name), timeout=30,
                                          metadata=[("traceparent", traceparent)])
        assert got.display_name == display_name and got.employee_count == 12, got
        assert tracing.trace_id_of(call) == tracing.trace_id_in(traceparent), call.initial_metadata()

        page = smes.ListSmes(sme_pb2.ListSmesRequest(filter=f'display_name = "{display_name}"'), timeout=30)
        assert [s.name for s in page.smes] == [created.name], page

        bad = failure(lambda: smes.GetSme(sme_pb2.GetSmeRequest(name="not a name"), timeout=30),
                      grpc.StatusCode.INVALID_ARGUMENT)
        fields = [v.field for v in detail(bad, error_details_pb2.BadRequest).field_violations]
        assert fields == ["name"], fields
        missing = failure(lambda: smes.GetSme(sme_pb2.GetSmeRequest(name=f"smes/no-such-{sme_id}"), timeout=30),
                          grpc.StatusCode.NOT_FOUND)
        assert detail(missing, error_details_pb2.ErrorInfo).reason == "RESOURCE_NOT_FOUND"

        # The console script the wheel installs: a mirror that stops once caught up.
        state = pathlib.Path(tempfile.mkdtemp(prefix="partnership-mirror-")) / "smes.json"
        mirror = pathlib.Path(sys.executable).parent / "partnership-mirror"
        subprocess.run([str(mirror), "--once", address, str(state)], check=True, timeout=120,
                       env={**os.environ, "PARTNERSHIP_TOKEN": token})
        mirrored = json.loads(state.read_text(encoding="utf-8"))
        assert mirrored["resume_token"] and mirrored["smes"][created.name]["display_name"] == display_name

        deleted = smes.DeleteSme(sme_pb2.DeleteSmeRequest(name=created.name), timeout=30)
        assert deleted.HasField("delete_time"), deleted
    print(f"python package: created, got (in a trace), listed, mirrored (partnership-mirror) and deleted {created.name};"
          f" UNAUTHENTICATED, INVALID_ARGUMENT (name) and NOT_FOUND (RESOURCE_NOT_FOUND) decoded;"
          f" stubs from {pathlib.Path(partnership.v1.__file__).parent}")


if __name__ == "__main__":
    main(sys.argv[1])
