"""Trace context for calls to the partnership service.

The service joins its callers' traces: send W3C trace context
(`traceparent`, optionally `tracestate`) as call metadata and the call's
span on the service is a child of yours (when the service exports spans,
`--otlp-endpoint`). Every answer carries the trace id the call went by in
`x-trace-id` (initial metadata, or trailing metadata for an error answered
at once), the id to quote in a support ticket; it is also on the service's
`rpc finished` log line.

A caller instrumented with OpenTelemetry needs none of this: its gRPC
instrumentation (opentelemetry-instrumentation-grpc) injects `traceparent`,
or inject it yourself:

    from opentelemetry import propagate
    carrier = {}
    propagate.inject(carrier)             # {'traceparent': '00-…'}
    stub.GetCompany(request, metadata=list(carrier.items()))

Without OpenTelemetry, make one per operation with `new_traceparent()`:

    traceparent = new_traceparent()
    reply, call = stub.GetCompany.with_call(request, metadata=[("traceparent", traceparent)])
    print(trace_id_of(call))              # the trace id in `traceparent`

Run as a script it makes one call both ways:

    python generate.py && PYTHONPATH=gen python tracing.py [ADDRESS]
"""

import os
import secrets
import sys

import grpc

TRACE_ID = "x-trace-id"


def new_traceparent(sampled: bool = True) -> str:
    """A W3C traceparent for a new trace: version 00, a random trace id
    and parent span id, and the sampled flag."""
    trace_id = secrets.token_hex(16)
    span_id = secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"


def trace_id_in(traceparent: str) -> str:
    """The trace id a traceparent carries."""
    return traceparent.split("-")[1]


def trace_id_of(call) -> str | None:
    """The trace id the service answered with: from a call's initial
    metadata, or its trailing metadata (an error, or an RpcError)."""
    for metadata in (call.initial_metadata(), call.trailing_metadata()):
        for key, value in metadata or ():
            if key == TRACE_ID:
                return value
    return None


def main(address: str) -> None:
    if __package__:  # installed: partnership_client.tracing (the wheel)
        from .auth import with_token
    else:  # run from clients/python
        from auth import with_token
    from partnership.v1 import company_pb2, company_pb2_grpc

    with grpc.insecure_channel(address) as plain:
        token = os.environ.get("PARTNERSHIP_TOKEN")
        channel = with_token(plain, token) if token else plain
        companies = company_pb2_grpc.CompanyServiceStub(channel)
        request = company_pb2.ListCompaniesRequest(page_size=1)

        # Inside a trace of the caller's: the service answers with its id.
        traceparent = new_traceparent()
        _, call = companies.ListCompanies.with_call(
            request, metadata=[("traceparent", traceparent)], timeout=10
        )
        print(f"sent trace {trace_id_in(traceparent)}, the service says {trace_id_of(call)}")

        # Without one, the service starts a trace and says which.
        _, call = companies.ListCompanies.with_call(request, timeout=10)
        print(f"no trace sent, the service started {trace_id_of(call)}")

        # An error carries it too (in the trailing metadata).
        try:
            companies.GetCompany(
                company_pb2.GetCompanyRequest(name="companies/no-such-company"),
                metadata=[("traceparent", traceparent)],
                timeout=10,
            )
        except grpc.RpcError as e:
            print(f"{e.code().name}: quote trace {trace_id_of(e)} in a ticket")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051")
