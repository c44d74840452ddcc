"""Mirrors the SMEs of a partnership server into a JSON file, and keeps the
file up to date from the change feed.

    python generate.py && PYTHONPATH=gen python mirror.py [--once] ADDRESS STATE_FILE

STATE_FILE holds {"resume_token": "...", "smes": {"smes/...": {...}}}, each
SME as MessageToDict gives it (proto field names), deleted ones included
(with their delete_time). The file is created if missing.

- Without a saved token it exports (ExportSmes, deleted SMEs too) and saves
  the records with the token of the export's first message.
- Then it watches (WatchChanges from the saved token) and, after each
  message, applies its changes and saves the file with the message's token.
  A message without changes is a heartbeat (every 15 s by default).
- UNAVAILABLE (server restart, database outage, shutdown): it waits a
  moment and resumes from the saved token.
- FAILED_PRECONDITION with reason RESUME_TOKEN_EXPIRED: it exports again.
- Anything else (INVALID_ARGUMENT for a malformed token, PERMISSION_DENIED
  without the `read` scope, ...) stops it with the error.

--once stops at the first message without changes: the mirror has caught up.
PARTNERSHIP_TOKEN, if set, is sent as a bearer token (it needs scope `read`).
"""

import argparse
import json
import os
import sys
import time

import grpc
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status

if __package__:  # installed: partnership_client.mirror (the wheel)
    from .auth import with_token
else:  # run or imported from clients/python
    from auth import with_token
from partnership.v1 import journal_pb2, journal_pb2_grpc, sme_pb2, sme_pb2_grpc

BACKOFF_SECONDS = 2.0


def load(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {"resume_token": "", "smes": {}}


def save(path: str, state: dict) -> None:
    """Writes a temporary file and renames it over `path`: a crash leaves the
    old state or the new one, records and token together, never half."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f, ensure_ascii=False, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def as_dict(sme: sme_pb2.Sme) -> dict:
    return json_format.MessageToDict(sme, preserving_proto_field_name=True)


def reason(err: grpc.RpcError) -> str:
    """The ErrorInfo reason of a failed call, or ""."""
    status = rpc_status.from_call(err)
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


def export(smes: sme_pb2_grpc.SmeServiceStub, state: dict, path: str) -> None:
    """Replaces the records with a fresh export and saves them with the
    export's token (in its first message only)."""
    records, token = {}, ""
    for i, message in enumerate(smes.ExportSmes(sme_pb2.ExportSmesRequest(show_deleted=True))):
        if i == 0:
            token = message.resume_token
        for sme in message.smes:
            records[sme.name] = as_dict(sme)
    if not token:
        raise RuntimeError("the export carried no resume_token: is the server older than the change feed?")
    state["smes"] = records
    state["resume_token"] = token
    save(path, state)


def apply(state: dict, message: journal_pb2.WatchChangesResponse) -> None:
    """Upserts each change's state by resource name (a DELETED change carries
    the soft-deleted record, delete_time set), then takes the message's token."""
    for change in message.changes:
        if change.state.WhichOneof("resource") == "sme":
            state["smes"][change.resource] = as_dict(change.state.sme)
    state["resume_token"] = message.resume_token


def run(address: str, path: str, once: bool = False) -> None:
    state = load(path)
    with grpc.insecure_channel(address) as plain:
        token = os.environ.get("PARTNERSHIP_TOKEN")
        channel = with_token(plain, token) if token else plain
        smes = sme_pb2_grpc.SmeServiceStub(channel)
        feed = journal_pb2_grpc.ChangeFeedServiceStub(channel)
        while True:
            try:
                if not state["resume_token"]:
                    export(smes, state, path)
                    print(f"exported {len(state['smes'])} smes", flush=True)
                # No timeout: the stream stays open, with a heartbeat when idle.
                stream = feed.WatchChanges(
                    journal_pb2.WatchChangesRequest(collections=["smes"], resume_token=state["resume_token"])
                )
                for message in stream:
                    apply(state, message)
                    save(path, state)
                    if message.changes:
                        print(f"applied {len(message.changes)} changes", flush=True)
                    elif once:
                        print(f"caught up: {len(state['smes'])} smes", flush=True)
                        stream.cancel()
                        return
                # Ended without an error (a proxy closed it): resume below.
            except grpc.RpcError as err:
                if err.code() == grpc.StatusCode.UNAVAILABLE:
                    print(f"unavailable ({err.details()}): resuming in {BACKOFF_SECONDS:g} s", file=sys.stderr)
                elif err.code() == grpc.StatusCode.FAILED_PRECONDITION and reason(err) == "RESUME_TOKEN_EXPIRED":
                    # Keep the records until the new export replaces them.
                    print("resume token expired: exporting again", file=sys.stderr)
                    state["resume_token"] = ""
                    continue
                else:
                    raise
            time.sleep(BACKOFF_SECONDS)


def main() -> None:
    parser = argparse.ArgumentParser(description="Mirror the SMEs of a partnership server into a JSON file.")
    parser.add_argument("address", help="e.g. 127.0.0.1:50051")
    parser.add_argument("state_file", help="JSON file with the records and the resume token")
    parser.add_argument("--once", action="store_true", help="stop at the first message without changes (caught up)")
    args = parser.parse_args()
    try:
        run(args.address, args.state_file, once=args.once)
    except KeyboardInterrupt:
        pass
    except grpc.RpcError as err:
        sys.exit(f"{err.code().name}: {err.details()}")


if __name__ == "__main__":
    main()
