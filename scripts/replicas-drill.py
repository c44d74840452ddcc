#!/usr/bin/env python3
"""Replicas behind a load balancer, restarted one at a time under load.

Two server processes on one PostgreSQL database, behind HAProxy (HTTP/2 to
each replica, health checked on `GET /healthz`, which answers 503 from the
moment a replica starts draining). Eight callers with 5 s deadlines go
through HAProxy with the published retry policy
(`clients/service-config.json`): each creates SMEs (every create with a
`request_id`), reads them back, lists a page, and increments a counter SME
with its etag (re-reading on ABORTED) contended by all eight. Meanwhile
replica A gets SIGTERM, drains, exits and is started again; then B. At the
end it checks, and prints:

- calls failed after the client's retries (must be 0);
- acknowledged creates missing or present twice (must be 0);
- the counter at least every acknowledged increment and at most every
  attempted one (a contended etag update loses nothing);
- the change feed read through A and through B: the same sequence;
- each replica's drain and restart times.

    python3 scripts/replicas-drill.py --bin target/debug/partnership [--seconds 24]

Needs: PostgreSQL at $PARTNERSHIP_DRILL_PG (default
postgres://postgres@127.0.0.1:5432), HAProxy (apt-get install haproxy), and
the Python client's requirements (clients/python/requirements.txt). Creates
a database of its own and drops it. Exits non-zero when a check fails.
"""

import argparse
import collections
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from drill import ROOT, all_sme_names, free_port, retry  # noqa: E402

import grpc  # noqa: E402
from google.protobuf import field_mask_pb2  # noqa: E402
from partnership.v1 import enterprise_pb2, journal_pb2, journal_pb2_grpc, sme_pb2, sme_pb2_grpc  # noqa: E402

DEADLINE = 5.0
WORKERS = 8



class Replica:
    def __init__(self, name, binary, url, work):
        self.name, self.binary, self.url, self.work = name, binary, url, work
        self.port = free_port()
        self.process = None
        self.log = open(work / f"replica-{name}.log", "a")

    def start(self):
        self.process = subprocess.Popen(
            [self.binary, "--listen", f"127.0.0.1:{self.port}", "--metrics-listen", "off",
             "--database-url", self.url, "--create-database", "--shutdown-grace", "10"],
            stdout=self.log, stderr=self.log)
        started = time.monotonic()
        while time.monotonic() - started < 30:
            if self.process.poll() is not None:
                raise SystemExit(f"replica {self.name} exited at start; see {self.log.name}")
            if subprocess.run([self.binary, "health", "--addr", f"127.0.0.1:{self.port}"],
                              capture_output=True).returncode == 0:
                return time.monotonic() - started
            time.sleep(0.1)
        raise SystemExit(f"replica {self.name} did not become healthy")

    def stop(self):
        """SIGTERM, then the seconds it took to drain and exit, and its exit code."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        return time.monotonic() - started, code


HAPROXY = """
global
    maxconn 2000
defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch
    retry-on conn-failure empty-response 503
frontend grpc
    bind 127.0.0.1:{front} proto h2
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
{servers}
"""


def haproxy(replicas, work):
    front = free_port()
    servers = "\n".join(
        f"    server {r.name} 127.0.0.1:{r.port} proto h2 check inter 250ms fall 1 rise 2"
        for r in replicas)
    config = work / "haproxy.cfg"
    config.write_text(HAPROXY.format(front=front, servers=servers))
    log = open(work / "haproxy.log", "w")
    process = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=log, stderr=log)
    time.sleep(1.0)
    if process.poll() is not None:
        raise SystemExit(f"haproxy did not start; see {log.name}")
    return process, front


class Load:
    def __init__(self, target):
        self.channel = grpc.insecure_channel(target, options=retry.options())
        self.smes = sme_pb2_grpc.SmeServiceStub(self.channel)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.calls = 0
        self.failed = collections.Counter()
        self.created = []
        self.increments = 0
        self.attempts = 0

    def call(self, method, request):
        with self.lock:
            self.calls += 1
        return getattr(self.smes, method)(request, timeout=DEADLINE)

    def fail(self, method, err):
        with self.lock:
            self.failed[f"{method} {err.code().name}"] += 1

    def increment(self):
        """The counter SME's employee_count plus one, with its etag; on
        ABORTED (another caller was first) read again and retry."""
        for _ in range(50):
            try:
                counter = self.call("GetSme", sme_pb2.GetSmeRequest(name="smes/counter"))
                with self.lock:
                    self.attempts += 1
                self.call("UpdateSme", sme_pb2.UpdateSmeRequest(
                    sme=sme_pb2.Sme(name="smes/counter", employee_count=counter.employee_count + 1,
                                    etag=counter.etag),
                    update_mask=field_mask_pb2.FieldMask(paths=["employee_count"])))
                with self.lock:
                    self.increments += 1
                return
            except grpc.RpcError as err:
                if err.code() != grpc.StatusCode.ABORTED:
                    self.fail("increment", err)
                    return

    def worker(self, w):
        n = 0
        while not self.stop.is_set():
            n += 1
            sme_id = f"w{w}-{n}"
            try:
                made = self.call("CreateSme", sme_pb2.CreateSmeRequest(
                    sme_id=sme_id, request_id=str(uuid.uuid4()),
                    sme=sme_pb2.Sme(display_name=f"Drill {sme_id}",
                                    size=enterprise_pb2.ENTERPRISE_SIZE_SMALL)))
                with self.lock:
                    self.created.append(made.name)
            except grpc.RpcError as err:
                self.fail("CreateSme", err)
                continue
            try:
                got = self.call("GetSme", sme_pb2.GetSmeRequest(name=made.name))
                if got.etag != made.etag:
                    self.fail("GetSme", _Stale())
                self.call("ListSmes", sme_pb2.ListSmesRequest(page_size=20))
            except grpc.RpcError as err:
                self.fail("read", err)
            self.increment()


class _Stale(Exception):
    def code(self):
        return type("Code", (), {"name": "STALE"})


def feed(port):
    """Every change to SMEs through the replica at `port`, as (sequence,
    resource, kind), read until the stream has been idle for its deadline."""
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = journal_pb2_grpc.ChangeFeedServiceStub(channel)
    out = []
    try:
        for answer in stub.WatchChanges(journal_pb2.WatchChangesRequest(
                collections=["smes"], start_from_earliest=True), timeout=4):
            out += [(c.sequence, c.resource, c.kind) for c in answer.changes]
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
            raise
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=str(ROOT / "target/debug/partnership"))
    parser.add_argument("--seconds", type=float, default=24)
    args = parser.parse_args()
    binary = str(pathlib.Path(args.bin).resolve())
    pg = os.environ.get("PARTNERSHIP_DRILL_PG", "postgres://postgres@127.0.0.1:5432")
    database = f"partnership_drill_{os.getpid()}"
    url = f"{pg}/{database}"
    work = pathlib.Path(tempfile.mkdtemp(prefix="replicas-drill-"))
    replicas = [Replica(name, binary, url, work) for name in ("a", "b")]
    balancer = None
    try:
        for r in replicas:
            r.start()
        balancer, front = haproxy(replicas, work)
        load = Load(f"127.0.0.1:{front}")
        load.call("CreateSme", sme_pb2.CreateSmeRequest(
            sme_id="counter", request_id=str(uuid.uuid4()),
            sme=sme_pb2.Sme(display_name="Drill counter", employee_count=0,
                            size=enterprise_pb2.ENTERPRISE_SIZE_SMALL)))
        workers = [threading.Thread(target=load.worker, args=(w,)) for w in range(WORKERS)]
        started = time.monotonic()
        for t in workers:
            t.start()
        restarts = []
        time.sleep(args.seconds * 0.2)
        for r in replicas:
            drained, code = r.stop()
            up = r.start()
            restarts.append((r.name, drained, code, up))
            # HAProxy takes it back after two passing checks.
            time.sleep(1.0)
        time.sleep(max(0.0, args.seconds - (time.monotonic() - started)))
        load.stop.set()
        for t in workers:
            t.join()
        elapsed = time.monotonic() - started

        direct = grpc.insecure_channel(f"127.0.0.1:{replicas[0].port}")
        names = all_sme_names(direct)
        counts = collections.Counter(names)
        missing = [n for n in load.created if counts[n] == 0]
        twice = [n for n, c in counts.items() if c > 1]
        counter = sme_pb2_grpc.SmeServiceStub(direct).GetSme(
            sme_pb2.GetSmeRequest(name="smes/counter"), timeout=10).employee_count
        feeds = [feed(r.port) for r in replicas]

        print(f"{load.calls} calls by {WORKERS} callers in {elapsed:.1f} s through HAProxy "
              f"({load.calls / elapsed:.0f}/s), deadlines {DEADLINE:.0f} s, retry policy of "
              f"clients/service-config.json")
        for name, drained, code, up in restarts:
            print(f"replica {name}: SIGTERM -> exit {code} in {drained:.2f} s; healthy again "
                  f"{up:.2f} s after its start")
        print(f"calls failed after retries: {sum(load.failed.values())} {dict(load.failed)}")
        print(f"acknowledged creates: {len(load.created)}; missing: {len(missing)}; "
              f"present twice: {len(twice)}")
        print(f"counter: {counter} (acknowledged increments {load.increments}, "
              f"attempted {load.attempts})")
        print(f"change feed: {len(feeds[0])} SME changes through a, {len(feeds[1])} through b, "
              f"{'the same sequence' if feeds[0] == feeds[1] else 'DIFFERENT'}")
        ok = (not load.failed and not missing and not twice
              and load.increments <= counter <= load.attempts
              and feeds[0] == feeds[1] and len(feeds[0]) > 0
              and all(code == 0 for _, _, code, _ in restarts))
        print("replicas drill: " + ("passed" if ok else "FAILED"))
        return 0 if ok else 1
    finally:
        if balancer:
            balancer.terminate()
            balancer.wait()
        for r in replicas:
            if r.process and r.process.poll() is None:
                r.process.terminate()
                r.process.wait()
        subprocess.run(["psql", f"{pg}/postgres", "-qc", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"],
                       capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
