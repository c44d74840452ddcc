"""The service's gRPC retry policy, for a channel that retries for you.

`clients/service-config.json` (the same file for every language) retries
UNAVAILABLE (a shed call, the database out of reach, a replica that went
away) up to five times with backoff, on the methods it is safe for: reads;
creates, which are safe to repeat when they carry a `request_id` (always
send one); and updates, which set the same fields to the same values
again. Deletes and undeletes are not retried (a repeat of one that landed
answers NOT_FOUND or ALREADY_EXISTS: read the record instead), nor is
WatchChanges (resume from your last token).

    channel = grpc.insecure_channel("127.0.0.1:50051", options=retry.options())
"""

import pathlib

_HERE = pathlib.Path(__file__).resolve().parent
# Beside this file in the installed package (partnership_client), one level up
# in the repository (clients/service-config.json).
SERVICE_CONFIG = next(
    (p for p in (_HERE / "service-config.json", _HERE.parent / "service-config.json") if p.is_file()),
    _HERE.parent / "service-config.json",
)


def options():
    """Channel options that apply the retry policy."""
    return [
        ("grpc.service_config", SERVICE_CONFIG.read_text(encoding="utf-8")),
        ("grpc.enable_retries", 1),
    ]
