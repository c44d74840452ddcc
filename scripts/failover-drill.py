#!/usr/bin/env python3
"""A PostgreSQL primary that fails over under writers, on this machine.

etcd (Debian's etcd-server) and Patroni (PyPI) manage a primary and a
synchronous standby (PostgreSQL 15, each its own data directory and port,
run as the `postgres` user); HAProxy routes the service's connections to
whichever node Patroni's REST API calls the primary (`GET /primary`). The
service connects through HAProxy. Eight writers create SMEs, each with a
`request_id` and a 5 s deadline, and retry every call that was not
acknowledged with the same `request_id`; the primary's postmaster is
killed with SIGKILL and Patroni promotes the standby. Then it checks, and
prints:

- calls answered with anything but OK, UNAVAILABLE or DEADLINE_EXCEEDED
  during the gap (must be 0), and calls that took past their deadline;
- acknowledged writes missing or present twice (must be 0);
- the change feed: every acknowledged create in it once, and no entry
  twice (no gap in what was acknowledged, no repeat);
- health: NOT_SERVING during the outage and SERVING after (from the
  server's log, and sampled);
- the failover gap: from the kill to the first acknowledged write;
- four readers reading back acknowledged records through
  `--database-read-url` (HAProxy's `/replica` route, the standby until it
  is promoted): none older than its write (NOT_FOUND), the standby having
  answered reads, the primary the rest.

    python3 scripts/failover-drill.py --bin target/debug/partnership

Needs root (to run the cluster as `postgres`), PostgreSQL 15's binaries,
etcd, HAProxy and a Python with patroni[etcd3], psycopg and the client's
requirements (`--patroni` names Patroni's executable). Everything lives in
a temporary directory and is stopped at the end; exits non-zero when a
check fails.
"""

import argparse
import collections
import os
import re
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from drill import ROOT, all_sme_names, free_port, retry  # noqa: E402

import grpc  # noqa: E402
from partnership.v1 import enterprise_pb2, journal_pb2, journal_pb2_grpc, sme_pb2, sme_pb2_grpc  # noqa: E402

PG_BIN = "/usr/lib/postgresql/15/bin"
DEADLINE = 5.0
WRITERS = 8
READERS = 4



def as_postgres(argv, **kw):
    return subprocess.Popen(["runuser", "-u", "postgres", "--"] + argv, **kw)


PATRONI = """
scope: drill
name: {name}
restapi:
  listen: 127.0.0.1:{rest}
  connect_address: 127.0.0.1:{rest}
etcd3:
  hosts: 127.0.0.1:{etcd}
bootstrap:
  dcs:
    ttl: 20
    loop_wait: 1
    retry_timeout: 5
    # A crashed primary is not restarted in place: the standby takes over.
    primary_start_timeout: 0
    synchronous_mode: true
    postgresql:
      use_pg_rewind: false
      parameters:
        wal_level: replica
        hot_standby: "on"
        max_connections: 100
        max_wal_senders: 5
        wal_keep_size: 64MB
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:{port}
  connect_address: 127.0.0.1:{port}
  data_dir: {data}
  bin_dir: {bin}
  pgpass: {work}/pgpass-{name}
  authentication:
    superuser:
      username: postgres
    replication:
      username: postgres
  parameters:
    unix_socket_directories: {work}
"""

HAPROXY = """
global
    maxconn 500
defaults
    mode tcp
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout check 1s
listen primary
    bind 127.0.0.1:{front}
    option httpchk GET /primary
    http-check expect status 200
    default-server inter 250ms fall 1 rise 1 on-marked-down shutdown-sessions
{servers}
listen standby
    bind 127.0.0.1:{front_r}
    option httpchk GET /replica
    http-check expect status 200
    default-server inter 250ms fall 1 rise 1 on-marked-down shutdown-sessions
{servers}
"""


class Cluster:
    def __init__(self, work, patroni):
        self.work = work
        self.patroni = patroni
        self.etcd_port, self.etcd_peer = free_port(), free_port()
        self.nodes = [dict(name=f"node{i}", rest=free_port(), port=free_port()) for i in (1, 2)]
        self.processes = []

    def start(self):
        shutil.chown(self.work, "postgres", "postgres")
        os.chmod(self.work, 0o700)
        log = open(self.work / "etcd.log", "w")
        self.processes.append(as_postgres(
            ["etcd", "--name", "drill", "--data-dir", str(self.work / "etcd"),
             "--listen-client-urls", f"http://127.0.0.1:{self.etcd_port}",
             "--advertise-client-urls", f"http://127.0.0.1:{self.etcd_port}",
             "--listen-peer-urls", f"http://127.0.0.1:{self.etcd_peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.etcd_peer}",
             "--initial-cluster", f"drill=http://127.0.0.1:{self.etcd_peer}"],
            stdout=log, stderr=log))
        time.sleep(1.5)
        for i, node in enumerate(self.nodes):
            config = self.work / f"{node['name']}.yml"
            config.write_text(PATRONI.format(
                name=node["name"], rest=node["rest"], etcd=self.etcd_port, port=node["port"],
                data=self.work / node["name"], bin=PG_BIN, work=self.work))
            shutil.chown(config, "postgres", "postgres")
            log = open(self.work / f"{node['name']}.log", "w")
            node["process"] = as_postgres([self.patroni, str(config)], stdout=log, stderr=log)
            self.processes.append(node["process"])
            if i == 0:
                self.wait(lambda: self.role(node) == "primary", 60, "the first node to lead")
        self.wait(lambda: self.sync_standby() is not None, 90, "a synchronous standby")

    def role(self, node):
        """`primary`, `replica` (in sync or not) or None, from Patroni's REST API."""
        for path, role in (("/primary", "primary"), ("/sync", "sync"), ("/replica", "replica")):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{node['rest']}{path}", timeout=1):
                    return role
            except Exception:
                continue
        return None

    def primary(self):
        return next((n for n in self.nodes if self.role(n) == "primary"), None)

    def sync_standby(self):
        return next((n for n in self.nodes if self.role(n) == "sync"), None)

    def wait(self, condition, seconds, what):
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            if condition():
                return
            time.sleep(0.2)
        raise SystemExit(f"failover drill: timed out waiting for {what}; logs in {self.work}")

    def postmaster_pid(self, node):
        return int((self.work / node["name"] / "postmaster.pid").read_text().split()[0])

    def stop(self):
        for p in reversed(self.processes):
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in reversed(self.processes):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        # runuser does not pass every signal on: whatever still runs from
        # the drill's directory (etcd, Patroni, PostgreSQL) goes now.
        subprocess.run(["pkill", "-9", "-f", str(self.work)], capture_output=True)


class Writers:
    """Creates with request ids; a call not acknowledged is repeated with
    the same request id until it is (or the drill ends)."""

    def __init__(self, target):
        self.channel = grpc.insecure_channel(target, options=retry.options())
        self.smes = sme_pb2_grpc.SmeServiceStub(self.channel)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked = []
        self.codes = collections.Counter()
        self.late = 0
        self.ack_times = []
        self.reads = collections.Counter()

    def writer(self, w):
        n = 0
        while not self.stop.is_set():
            n += 1
            sme_id, request_id = f"w{w}-{n}", str(uuid.uuid4())
            request = sme_pb2.CreateSmeRequest(
                sme_id=sme_id, request_id=request_id,
                sme=sme_pb2.Sme(display_name=f"Failover {sme_id}",
                                size=enterprise_pb2.ENTERPRISE_SIZE_SMALL))
            while True:
                started = time.monotonic()
                try:
                    made = self.smes.CreateSme(request, timeout=DEADLINE)
                except grpc.RpcError as err:
                    took = time.monotonic() - started
                    with self.lock:
                        self.codes[err.code().name] += 1
                        if took > DEADLINE + 1.0:
                            self.late += 1
                    if self.stop.is_set() and err.code() != grpc.StatusCode.UNAVAILABLE:
                        break
                    time.sleep(0.05)
                    continue
                with self.lock:
                    self.codes["OK"] += 1
                    self.acked.append(made.name)
                    # When the acknowledged attempt began, and when it was
                    # answered.
                    self.ack_times.append((started, time.monotonic()))
                break

    def reader(self):
        """Reads back what the writers were told was written (off the
        standby when it has replayed that far): a NOT_FOUND would be a read
        older than an acknowledged write."""
        n = 0
        while not self.stop.is_set():
            with self.lock:
                name = self.acked[-1 - (n % len(self.acked))] if self.acked else None
            n += 1
            if name is None:
                time.sleep(0.01)
                continue
            try:
                self.smes.GetSme(sme_pb2.GetSmeRequest(name=name), timeout=DEADLINE)
                with self.lock:
                    self.reads["OK"] += 1
            except grpc.RpcError as err:
                with self.lock:
                    self.reads[err.code().name] += 1


def replica_reads(port):
    """partnership_replica_reads_total by who answered, from /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r'partnership_replica_reads_total\{answered_by="(\w+)"\} (\S+)', line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def health(binary, port):
    done = subprocess.run([binary, "health", "--addr", f"127.0.0.1:{port}", "--timeout", "1"],
                          capture_output=True, text=True)
    return "SERVING" if done.returncode == 0 else "NOT_SERVING"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=str(ROOT / "target/debug/partnership"))
    parser.add_argument("--patroni", default=shutil.which("patroni") or "patroni")
    parser.add_argument("--seconds-after", type=float, default=15)
    args = parser.parse_args()
    binary = str(pathlib.Path(args.bin).resolve())
    work = pathlib.Path(tempfile.mkdtemp(prefix="failover-drill-"))
    cluster = Cluster(work, str(pathlib.Path(args.patroni).resolve()))
    balancer = server = None
    try:
        cluster.start()
        front, front_r = free_port(), free_port()
        servers = "\n".join(
            f"    server {n['name']} 127.0.0.1:{n['port']} check port {n['rest']}"
            for n in cluster.nodes)
        (work / "haproxy.cfg").write_text(HAPROXY.format(front=front, front_r=front_r, servers=servers))
        hlog = open(work / "haproxy.log", "w")
        balancer = subprocess.Popen(["haproxy", "-db", "-f", str(work / "haproxy.cfg")],
                                    stdout=hlog, stderr=hlog)
        # HAProxy starts with every server up; its first checks (every
        # 250 ms) take the standby out.
        cluster.wait(lambda: "node" in (work / "haproxy.log").read_text(), 10, "HAProxy's first checks")
        time.sleep(0.5)
        # The database, made on the primary, then seen on the standby.
        psql = lambda p, sql: subprocess.run(  # noqa: E731
            ["psql", "-h", "127.0.0.1", "-p", str(p), "-U", "postgres", "-d", "postgres",
             "-Atqc", sql], capture_output=True, text=True)
        if psql(front, "CREATE DATABASE partnership").returncode != 0:
            raise SystemExit("failover drill: could not create the database on the primary")
        cluster.wait(lambda: psql(front_r, "SELECT 1 FROM pg_database WHERE datname = 'partnership'")
                     .stdout.strip() == "1", 30, "the database on the standby")
        port, metrics_port = free_port(), free_port()
        slog = open(work / "server.log", "w")
        server = subprocess.Popen(
            [binary, "--listen", f"127.0.0.1:{port}", "--metrics-listen", f"127.0.0.1:{metrics_port}",
             "--database-url", f"postgres://postgres@127.0.0.1:{front}/partnership",
             "--database-read-url", f"postgres://postgres@127.0.0.1:{front_r}/partnership",
             "--health-interval", "1"],
            stdout=slog, stderr=slog)
        cluster.wait(lambda: health(binary, port) == "SERVING", 60, "the service")

        writers = Writers(f"127.0.0.1:{port}")
        threads = [threading.Thread(target=writers.writer, args=(w,)) for w in range(WRITERS)]
        threads += [threading.Thread(target=writers.reader) for _ in range(READERS)]
        for t in threads:
            t.start()
        time.sleep(4)
        old = cluster.primary()
        before = len(writers.acked)
        killed_at = time.monotonic()
        os.kill(cluster.postmaster_pid(old), signal.SIGKILL)
        seen = collections.Counter()
        first_write = None
        while time.monotonic() - killed_at < 60:
            seen[health(binary, port)] += 1
            # The first write begun after the kill that was acknowledged:
            # one in flight at the kill may still be answered just after.
            with writers.lock:
                later = [done for began, done in writers.ack_times if began > killed_at]
            if later and first_write is None:
                first_write = min(later) - killed_at
            if first_write is not None and time.monotonic() - killed_at > first_write + args.seconds_after:
                break
            time.sleep(0.2)
        new = cluster.primary()
        writers.stop.set()
        for t in threads:
            t.join(timeout=60)
        healthy_after = health(binary, port)

        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        counts = collections.Counter(all_sme_names(channel))
        missing = [n for n in writers.acked if counts[n] == 0]
        twice = [n for n, c in counts.items() if c > 1]
        creates, sequences = collections.Counter(), []
        try:
            for answer in journal_pb2_grpc.ChangeFeedServiceStub(channel).WatchChanges(
                    journal_pb2.WatchChangesRequest(collections=["smes"], start_from_earliest=True),
                    timeout=5):
                for c in answer.changes:
                    sequences.append(c.sequence)
                    if c.kind == journal_pb2.CHANGE_KIND_CREATED:
                        creates[c.resource] += 1
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise
        feed_missing = [n for n in writers.acked if creates[n] == 0]
        feed_twice = [n for n, c in creates.items() if c > 1]
        # Delivered in commit order, which is not the order the sequence
        # numbers were drawn in: what must hold is that none comes twice.
        repeated = len(sequences) - len(set(sequences))
        bad_codes = {c: n for c, n in writers.codes.items()
                     if c not in ("OK", "UNAVAILABLE", "DEADLINE_EXCEEDED")}
        # What the server answered (the clients' retry policy repeats
        # UNAVAILABLE, so the writers may never see one).
        answered = collections.Counter()
        for line in (work / "server.log").read_text(errors="replace").splitlines():
            if "rpc finished" in line and "CreateSme" in line:
                code = re.search(r"code=(\w+)", line)
                reason = re.search(r"reason=(\w+)", line)
                answered[(code.group(1) if code else "?")
                         + (f" {reason.group(1)}" if reason else "")] += 1
        bad_codes.update({c: n for c, n in answered.items()
                          if not c.startswith(("Ok", "Unavailable", "DeadlineExceeded"))})

        print(f"cluster: a Patroni synchronous pair, {old['name']} primary; "
              f"SIGKILL to its postmaster after {before} acknowledged creates; {new and new['name']} "
              f"promoted")
        print(f"failover gap (kill to the first acknowledged write): "
              f"{first_write:.2f} s" if first_write is not None else "no write after the kill")
        print(f"writers saw: {dict(writers.codes)}; past their deadline by over 1 s: {writers.late}")
        print(f"the server answered CreateSme: {dict(answered)}")
        print(f"health during the outage: {dict(seen)}; after: {healthy_after}")
        by_whom = replica_reads(metrics_port)
        print(f"readers (through --database-read-url, HAProxy's /replica): {dict(writers.reads)}; "
              f"answered by: {by_whom}")
        print(f"acknowledged creates: {len(writers.acked)}; missing: {len(missing)}; "
              f"present twice: {len(twice)}")
        print(f"change feed: {len(sequences)} changes, {repeated} repeated; acknowledged creates "
              f"missing from it: {len(feed_missing)}, twice in it: {len(feed_twice)}")
        stale_reads = writers.reads["NOT_FOUND"]
        bad_reads = {c: n for c, n in writers.reads.items()
                     if c not in ("OK", "UNAVAILABLE", "DEADLINE_EXCEEDED")}
        # Health, from the server's log: a poll every 200 ms can miss a
        # NOT_SERVING that lasts a moment.
        flips = [line for line in (work / "server.log").read_text(errors="replace").splitlines()
                 if "database unreachable: not serving" in line
                 or "database reachable again: serving" in line]
        went_down = any("not serving" in line for line in flips)
        came_back = bool(flips) and "reachable again" in flips[-1]
        print(f"health in the server's log: {'NOT_SERVING then SERVING' if went_down and came_back else flips}")
        ok = (first_write is not None and not bad_codes and writers.late == 0
              and not bad_reads and stale_reads == 0 and by_whom.get("replica", 0) > 0
              and not missing and not twice and not feed_missing and not feed_twice and repeated == 0
              and went_down and came_back and healthy_after == "SERVING"
              and new is not None and new is not old)
        print("failover drill: " + ("passed" if ok else f"FAILED (logs in {work})"))
        return 0 if ok else 1
    finally:
        for p in (server, balancer):
            if p and p.poll() is None:
                p.terminate()
                p.wait()
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
