"""mirror.py against a live server: export, then follow and resume."""

import json
import uuid

import pytest

import mirror
from partnership.v1 import enterprise_pb2, sme_pb2, sme_pb2_grpc


def new_sme(stub, name):
    return stub.CreateSme(
        sme_pb2.CreateSmeRequest(
            sme=sme_pb2.Sme(display_name=name, size=enterprise_pb2.ENTERPRISE_SIZE_SMALL),
            sme_id=f"py-m-{uuid.uuid4().hex[:10]}",
        )
    )


def test_mirror_exports_then_resumes_from_its_token(channel, address, tokens, tmp_path, monkeypatch):
    smes = sme_pb2_grpc.SmeServiceStub(channel)
    first = new_sme(smes, "Mirror One")
    monkeypatch.setenv("PARTNERSHIP_TOKEN", tokens["reader"])
    state_file = tmp_path / "mirror.json"

    mirror.run(address, str(state_file), once=True)
    state = json.loads(state_file.read_text())
    assert state["resume_token"]
    assert first.name in state["smes"]

    # Changes made while the mirror is away arrive when it resumes.
    second = new_sme(smes, "Mirror Two")
    smes.DeleteSme(sme_pb2.DeleteSmeRequest(name=first.name))
    token_before = state["resume_token"]
    mirror.run(address, str(state_file), once=True)
    state = json.loads(state_file.read_text())
    assert state["resume_token"] != token_before
    assert state["smes"][second.name]["display_name"] == "Mirror Two"
    assert "delete_time" in state["smes"][first.name]


def test_mirror_refuses_a_token_it_cannot_use(address, tokens, tmp_path, monkeypatch):
    monkeypatch.setenv("PARTNERSHIP_TOKEN", tokens["reader"])
    state_file = tmp_path / "bad.json"
    state_file.write_text(json.dumps({"resume_token": "not-a-token", "smes": {}}))
    with pytest.raises(Exception) as raised:
        mirror.run(address, str(state_file), once=True)
    assert "INVALID_ARGUMENT" in str(raised.value) or "resume_token" in str(raised.value)
