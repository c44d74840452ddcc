#!/usr/bin/env python3
"""Runs the README's examples in order, as a newcomer pastes them: the Quick
start (the service and seed-demo, with the built binary in place of
`cargo run --release`), then every block of "Calling it" (grpcurl, the Python
and Node commands and snippets). Each must succeed; then no two live
companies or SMEs may share a name, and the grpcurl examples must succeed a
second time (they carry request ids). The README is the only source, so it
cannot drift from what works.

    python3 scripts/readme_examples.py --bin target/debug/partnership --grpcurl-dir DIR

Prints `N passed, M failed` and exits non-zero on a failure. It serves on
127.0.0.1:50051, the address the README uses, and stops the server at the
end.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ADDRESS = "127.0.0.1:50051"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def blocks(readme: str, section: str):
    """(language, code) of each fenced block of a `## section`, its `###`
    subsections included, in order."""
    match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## )", readme, re.S | re.M)
    if not match:
        raise SystemExit(f"README has no section '## {section}'")
    return re.findall(r"^```(\w+)\n(.*?)^```", match.group(1), re.S | re.M)


class Run:
    def __init__(self, env):
        self.env = env
        self.passed = 0
        self.failed = []

    def check(self, what, argv, cwd=ROOT, stdin=None, extra_env=None):
        print(f"-- {what}", flush=True)
        env = dict(self.env, **(extra_env or {}))
        done = subprocess.run(argv, cwd=cwd, env=env, input=stdin, text=True,
                              capture_output=True, timeout=600)
        if done.returncode == 0:
            self.passed += 1
        else:
            self.failed.append(what)
            print(done.stdout[-3000:], done.stderr[-3000:], sep="\n", file=sys.stderr)
        return done


def grpcurl_json(env, method, request):
    out = subprocess.run(["grpcurl", "-plaintext", "-d", json.dumps(request), ADDRESS, method],
                         env=env, text=True, capture_output=True, check=True).stdout
    return json.loads(out)


def no_duplicates(env):
    """Names of live companies and SMEs that appear more than once."""
    dupes = []
    for method, key in [("partnership.v1.CompanyService/ListCompanies", "companies"),
                        ("partnership.v1.SmeService/ListSmes", "smes")]:
        names = [r["displayName"] for r in grpcurl_json(env, method, {"page_size": 1000}).get(key, [])]
        dupes += sorted({n for n in names if names.count(n) > 1})
    return dupes


HANGUL = re.compile("[\uac00-\ud7a3]")


def korean_examples(codes):
    """(method, request) of each grpcurl example whose request is in Korean."""
    found = []
    for code in codes:
        for line in code.replace("\\\n", " ").splitlines():
            m = re.search(r"-d '(\{.*?\})'.*?(partnership\.v1\.\S+)", line)
            if m and HANGUL.search(m.group(1)):
                found.append((m.group(2), json.loads(m.group(1))))
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="the partnership binary")
    parser.add_argument("--grpcurl-dir", required=True, help="a directory holding grpcurl")
    args = parser.parse_args()
    binary = os.path.abspath(args.bin)
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    work = tempfile.mkdtemp(prefix="readme-examples-")
    env = dict(os.environ)
    env["PATH"] = os.path.abspath(args.grpcurl_dir) + os.pathsep + env["PATH"]
    env["DATABASE_URL"] = f"sqlite://{work}/readme.db?mode=rwc"
    env["PARTNERSHIP_BIN"] = binary
    env["PARTNERSHIP_METRICS_LISTEN"] = "off"
    env.pop("VIRTUAL_ENV", None)
    run = Run(env)
    server = None
    try:
        # Quick start: `cargo run --release` is the built binary.
        for lang, code in blocks(readme, "Quick start"):
            for line in code.splitlines():
                command = line.split("#", 1)[0].strip()
                if not command:
                    continue
                if command == "cargo run --release":
                    log = open(os.path.join(work, "server.log"), "w")
                    server = subprocess.Popen([binary], cwd=work, env=env, stdout=log, stderr=log)
                    for _ in range(100):
                        if subprocess.run([binary, "health"], env=env, capture_output=True).returncode == 0:
                            break
                        time.sleep(0.2)
                    else:
                        raise SystemExit("the service did not become healthy")
                    run.passed += 1
                elif command.startswith("cargo run --release -- "):
                    run.check(command, [binary] + command.split()[4:], cwd=work)
                else:
                    run.check(command, ["bash", "-ec", command])
        grpcurl_blocks = []
        for lang, code in blocks(readme, "Calling it"):
            if lang == "sh":
                if "grpcurl" in code:
                    grpcurl_blocks.append(code)
                run.check(f"sh block: {code.strip().splitlines()[0]}", ["bash", "-e"], stdin=code)
            elif lang == "python":
                # The venv and the stubs come from the block before it.
                run.check("Python snippet", [os.path.join(ROOT, "clients/python/.venv/bin/python"), "-"],
                          cwd=os.path.join(ROOT, "clients/python"), stdin=code,
                          extra_env={"PYTHONPATH": "gen"})
            elif lang == "js":
                snippet = os.path.join(ROOT, "clients/node/readme-snippet.js")
                with open(snippet, "w", encoding="utf-8") as f:
                    f.write(code)
                try:
                    run.check("Node snippet", ["node", snippet], cwd=os.path.join(ROOT, "clients/node"))
                finally:
                    os.remove(snippet)
        # A Korean search or filter must find demo records, not `{}`.
        korean = korean_examples(grpcurl_blocks)
        if not korean:
            run.failed.append("the README has no Korean search example")
        for method, request in korean:
            print(f"-- Korean example finds records: {method} {request}", flush=True)
            found = grpcurl_json(env, method, request)
            if any(isinstance(v, list) and v for v in found.values()):
                run.passed += 1
            else:
                run.failed.append(f"{method} {request} found nothing: {found}")
        dupes = no_duplicates(env)
        print("-- no duplicate live names", dupes or "")
        if dupes:
            run.failed.append(f"duplicate live records: {dupes}")
        else:
            run.passed += 1
        for code in grpcurl_blocks:
            run.check("the grpcurl examples once more", ["bash", "-e"], stdin=code)
        dupes = no_duplicates(env)
        if dupes:
            run.failed.append(f"duplicate live records after a second run: {dupes}")
        else:
            run.passed += 1
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    print(f"README examples: {run.passed} passed, {len(run.failed)} failed")
    for what in run.failed:
        print(f"FAILED: {what}", file=sys.stderr)
    sys.exit(1 if run.failed else 0)


if __name__ == "__main__":
    main()
