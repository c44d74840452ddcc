"""Trace context: the service keeps a caller's trace id and says which it
used, on answers and on errors; the script runs against a server."""

import os
import subprocess
import sys

import grpc
import pytest

from partnership.v1 import company_pb2, company_pb2_grpc
from tracing import new_traceparent, trace_id_in, trace_id_of

from conftest import HERE


def test_the_callers_trace_id_comes_back(channel):
    companies = company_pb2_grpc.CompanyServiceStub(channel)
    traceparent = new_traceparent()
    _, call = companies.ListCompanies.with_call(
        company_pb2.ListCompaniesRequest(page_size=1),
        metadata=[("traceparent", traceparent)],
        timeout=10,
    )
    assert trace_id_of(call) == trace_id_in(traceparent)

    # Unsampled: the id is still the caller's.
    unsampled = new_traceparent(sampled=False)
    _, call = companies.ListCompanies.with_call(
        company_pb2.ListCompaniesRequest(page_size=1),
        metadata=[("traceparent", unsampled)],
        timeout=10,
    )
    assert trace_id_of(call) == trace_id_in(unsampled)

    # An error answered at once carries it in its trailing metadata.
    with pytest.raises(grpc.RpcError) as refused:
        companies.GetCompany(
            company_pb2.GetCompanyRequest(name="companies/no-such-company"),
            metadata=[("traceparent", traceparent)],
            timeout=10,
        )
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert trace_id_of(refused.value) == trace_id_in(traceparent)


def test_without_a_traceparent_the_service_starts_a_trace(channel):
    companies = company_pb2_grpc.CompanyServiceStub(channel)
    ids = set()
    for _ in range(2):
        _, call = companies.ListCompanies.with_call(
            company_pb2.ListCompaniesRequest(page_size=1), timeout=10
        )
        made = trace_id_of(call)
        assert made and len(made) == 32 and int(made, 16) != 0
        ids.add(made)
    assert len(ids) == 2


def test_the_script_runs(address, tokens):
    gen = [p for p in sys.path if "partnership-stubs-" in p][0]
    out = subprocess.run(
        [sys.executable, str(HERE.parent / "tracing.py"), address],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([gen, str(HERE.parent)]),
             "PARTNERSHIP_TOKEN": tokens["suite"]},
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    sent, says = out.splitlines()[0].split("sent trace ")[1].split(", the service says ")
    assert sent == says
    assert "NOT_FOUND: quote trace" in out
