"""The crowd of the pool-deadlock issue, the way an integrator meets it: the
stock Python client, a deadline on every call, more callers than the
server's pooled connections, each making a fixed number of calls. Prints a
Markdown table: per scenario, calls answered, errors by code and reason
(shed calls carry OVERLOADED and a RetryInfo), and latency.

    python scripts/crowd.py --addr 127.0.0.1:50061 --smes 1000000

Needs grpcio, grpcio-tools and grpcio-status (clients/python/requirements.txt);
stubs are generated into a temporary directory from proto/.
"""

import argparse
import collections
import pathlib
import random
import sys
import tempfile
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "clients" / "python"))

import generate  # noqa: E402  (clients/python/generate.py)

STUBS = tempfile.mkdtemp(prefix="partnership-crowd-")
generate.generate(pathlib.Path(STUBS))
sys.path.insert(0, STUBS)

import grpc  # noqa: E402
from google.rpc import error_details_pb2  # noqa: E402
from grpc_status import rpc_status  # noqa: E402

from partnership.v1 import program_pb2, program_pb2_grpc  # noqa: E402
from partnership.v1 import sme_pb2, sme_pb2_grpc  # noqa: E402


def reason_of(error: grpc.RpcError) -> str:
    """The ErrorInfo reason of an error, and whether it carries a RetryInfo."""
    status = rpc_status.from_call(error)
    reason, retry = "", False
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
            if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                retry = True
    return f"{error.code().name} {reason}".strip() + (" +RetryInfo" if retry else "")


def scenarios(smes: int):
    def get(stubs, rng, timeout):
        name = f"smes/s{rng.randrange(smes):07d}"
        stubs["smes"].GetSme(sme_pb2.GetSmeRequest(name=name), timeout=timeout)

    def lister(**fields):
        def call(stubs, rng, timeout):
            stubs["smes"].ListSmes(sme_pb2.ListSmesRequest(page_size=50, **fields), timeout=timeout)

        return call

    def programs(stubs, rng, timeout):
        stubs["programs"].ListPrograms(
            program_pb2.ListProgramsRequest(
                page_size=50, filter="region = REGION_GYEONGGI AND budget_krw >= 1000000000"
            ),
            timeout=timeout,
        )

    return [
        ("GetSme", 24, get),
        ("ListSmes, no filter", 24, lister()),
        ("ListSmes `filter: region = REGION_BUSAN`", 24, lister(filter="region = REGION_BUSAN")),
        ("ListSmes `search: 홍성산`", 24, lister(search="홍성산")),
        ("ListPrograms, two-field filter", 16, programs),
    ]


def run(address: str, callers: int, calls: int, timeout: float, call):
    outcomes = collections.Counter()
    latencies = []
    lock = threading.Lock()
    start = threading.Barrier(callers)

    def caller(seed: int):
        rng = random.Random(seed)
        with grpc.insecure_channel(address) as channel:
            stubs = {
                "smes": sme_pb2_grpc.SmeServiceStub(channel),
                "programs": program_pb2_grpc.ProgramServiceStub(channel),
            }
            start.wait()
            for _ in range(calls):
                t = time.monotonic()
                try:
                    call(stubs, rng, timeout)
                    outcome = "OK"
                except grpc.RpcError as e:
                    outcome = reason_of(e)
                took = (time.monotonic() - t) * 1000
                with lock:
                    outcomes[outcome] += 1
                    latencies.append(took)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    pick = lambda p: latencies[min(len(latencies) - 1, int(p * (len(latencies) - 1)))]  # noqa: E731
    return outcomes, pick(0.5), pick(0.99), latencies[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:50051")
    parser.add_argument("--smes", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=15, help="calls per caller")
    parser.add_argument("--deadline", type=float, default=10.0, help="seconds")
    args = parser.parse_args()
    print(f"| {args.calls} calls per caller, deadline {args.deadline:g} s | callers | answered | errors | p50 | p99 | max |")
    print("|---|---|---|---|---|---|---|")
    failed = False
    for name, callers, call in scenarios(args.smes):
        outcomes, p50, p99, slowest = run(args.addr, callers, args.calls, args.deadline, call)
        answered = outcomes.pop("OK", 0)
        errors = ", ".join(f"{n} {what}" for what, n in outcomes.most_common()) or "0"
        shed_only = all(what.endswith("+RetryInfo") and "OVERLOADED" in what for what in outcomes)
        failed |= not shed_only
        print(f"| {name} | {callers} | {answered} | {errors} | {p50:.1f} ms | {p99:.1f} ms | {slowest:.1f} ms |")
    if failed:
        sys.exit("some calls failed other than by documented shedding (OVERLOADED with RetryInfo)")


if __name__ == "__main__":
    main()
