"""Bearer tokens for the partnership service.

A server started with --auth-config wants `authorization: Bearer <token>`
metadata on every call but health and reflection. Over TLS, gRPC's own call
credentials carry it:

    creds = grpc.composite_channel_credentials(
        grpc.ssl_channel_credentials(open("ca.pem", "rb").read()),
        grpc.access_token_call_credentials(token),
    )
    channel = grpc.secure_channel("partnership.example.go.kr:443", creds)

gRPC refuses call credentials on a plaintext channel, so for a server on
loopback (or behind a TLS-terminating proxy) wrap the channel instead:

    channel = with_token(grpc.insecure_channel("127.0.0.1:50051"), token)
"""

import collections

import grpc


class _Details(
    collections.namedtuple(
        "_Details", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")
    ),
    grpc.ClientCallDetails,
):
    pass


class _Bearer(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    def __init__(self, token: str):
        self._header = ("authorization", f"Bearer {token}")

    def _with_token(self, details):
        metadata = [m for m in (details.metadata or []) if m[0] != "authorization"]
        metadata.append(self._header)
        return _Details(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._with_token(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._with_token(details), request)

    def intercept_stream_unary(self, continuation, details, requests):
        return continuation(self._with_token(details), requests)

    def intercept_stream_stream(self, continuation, details, requests):
        return continuation(self._with_token(details), requests)


def with_token(channel: grpc.Channel, token: str) -> grpc.Channel:
    """`channel`, sending `authorization: Bearer <token>` on every call."""
    return grpc.intercept_channel(channel, _Bearer(token))
