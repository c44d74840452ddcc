#!/usr/bin/env bash
# The clients as packages, as CI runs them: builds each one the way its
# README's "As a package" says, installs it into a clean place and runs a
# small program of a ministry's against a server started here from
# $PARTNERSHIP_BIN (default target/debug/partnership; auth on, a fresh SQLite
# file, a minted read,write token), each from outside the repository:
#
#   buf generate   buf.gen.yaml's stubs: Python imported and called, Go built
#                  into the Go program and run, Java compiled
#   Python         `pip wheel` -> a fresh venv, `pip install` of the .whl
#   Node           `npm pack` -> a fresh directory, `npm install` of the .tgz
#   Java           clients/java/package.sh (javac, jar) -> a Maven build of
#                  a consumer pom against the file:// layout and Debian's
#                  /usr/share/maven-repo (no network)
#   Go             clients/go/package.sh -> a Go modules program with
#                  require + replace, vendored offline and built
#
# Installs its Debian packages when missing (as client-suites.sh does);
# Python and npm packages come from PyPI and the npm registry. Packages go
# to target/client-packages; everything else to a temporary directory that
# is removed, with the server, on exit. Exits non-zero on the first failure.
#
#   PARTNERSHIP_BIN=target/debug/partnership bash scripts/client-packages.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

PARTNERSHIP_BIN=${PARTNERSHIP_BIN:-$root/target/debug/partnership}
case "$PARTNERSHIP_BIN" in /*) ;; *) PARTNERSHIP_BIN=$root/$PARTNERSHIP_BIN ;; esac
if [ ! -x "$PARTNERSHIP_BIN" ]; then
  echo "no server binary at $PARTNERSHIP_BIN (cargo build, or set PARTNERSHIP_BIN)" >&2
  exit 1
fi
for tool in python3 node npm; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

packages=(
  protobuf-compiler libprotobuf-dev
  # buf.gen.yaml's local plugins
  protobuf-compiler-grpc protoc-gen-go protoc-gen-go-grpc protobuf-compiler-grpc-java-plugin
  # Java: what clients/java/build.sh compiles against, and Maven with the
  # plugins and poms the consumer build resolves from /usr/share/maven-repo
  libgrpc-java libprotobuf-java libnetty-java libnetty-tcnative-java libnetty-tcnative-jni
  libperfmark-java libgoogle-gson-java libguava-java libgeronimo-annotation-1.3-spec-java
  libjsr305-java liberror-prone-java junit4 libgoogle-common-protos-java libanimal-sniffer-java
  maven libmaven-resources-plugin-java libmaven-compiler-plugin-java libmaven-dependency-plugin-java
  junit5
  # Go: the toolchain and the modules the consumer vendors from /usr/share/gocode
  golang-go golang-google-grpc-dev golang-google-protobuf-dev golang-google-genproto-dev
  golang-github-golang-protobuf-1-5-dev
)
command -v javac >/dev/null || packages+=(default-jdk-headless)
# shellcheck source=scripts/apt.sh
. scripts/apt.sh
ensure_packages "${packages[@]}"

out=$root/target/client-packages
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/partnership-packages.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

pip_quiet=(--quiet --disable-pip-version-check)
npm_quiet=(--silent --no-audit --no-fund)

echo "== server: $PARTNERSHIP_BIN, auth on, fresh SQLite"
"$PARTNERSHIP_BIN" token new packages --scopes read,write 2>>"$work/callers.toml" >"$work/token"
export PARTNERSHIP_TOKEN
PARTNERSHIP_TOKEN=$(cat "$work/token")
PARTNERSHIP_LOG_FORMAT=text RUST_LOG=info "$PARTNERSHIP_BIN" serve \
  --listen 127.0.0.1:0 --metrics-listen off --auth-config "$work/callers.toml" \
  --database-url "sqlite://$work/packages.db?mode=rwc" --feed-heartbeat 1s \
  >"$work/server.log" 2>&1 &
server_pid=$!
address=
for _ in $(seq 1 600); do
  address=$(sed -n 's/.*listening.*addr=\([^ ]*\).*/\1/p' "$work/server.log" | head -n 1)
  [ -z "$address" ] || break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; echo "server exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$address" ] || { cat "$work/server.log" >&2; echo "server did not report its address" >&2; exit 1; }
echo "serving on $address"

echo "== buf generate (buf.gen.yaml)"
buf=${BUF:-$root/target/ci-node/node_modules/.bin/buf}
if [ ! -x "$buf" ]; then
  npm install "${npm_quiet[@]}" --no-package-lock --prefix "$root/target/ci-node" @bufbuild/buf@1.75 >/dev/null
  buf=$root/target/ci-node/node_modules/.bin/buf
fi
"$buf" generate -o "$work/buf"
for lang in python go java; do
  [ -n "$(find "$work/buf/gen/$lang" -type f 2>/dev/null)" ] || { echo "buf generate wrote nothing to gen/$lang" >&2; exit 1; }
done
echo "buf $("$buf" --version): $(find "$work/buf/gen" -type f | wc -l) files in gen/python, gen/go, gen/java"

echo "== Python: wheel (pip wheel), installed into a fresh venv"
python3 -m venv "$work/py-tools"
rm -rf "$out/python"
"$work/py-tools/bin/pip" wheel "${pip_quiet[@]}" --no-deps -w "$out/python" clients/python
wheel=$(ls "$out/python"/partnership_client-*-py3-none-any.whl)
echo "built $wheel"
python3 -m venv "$work/py-clean"
"$work/py-clean/bin/pip" install "${pip_quiet[@]}" "$wheel"
mkdir -p "$work/py-app"
cp clients/python/package-test/check_installed.py "$work/py-app/"
(cd "$work/py-app" && "$work/py-clean/bin/python" check_installed.py "$address")

echo "== buf generate, Python: every module imported and a call made"
"$work/py-tools/bin/pip" install "${pip_quiet[@]}" 'grpcio-status>=1.85.1,<2'
(
  cd "$work/py-app"
  PYTHONPATH=$work/buf/gen/python "$work/py-tools/bin/python" - "$address" "$work/buf/gen/python" <<'EOF'
import importlib, os, pathlib, sys
import grpc
gen = pathlib.Path(sys.argv[2])
names = sorted(f"partnership.v1.{p.stem}" for p in (gen / "partnership" / "v1").glob("*.py"))
modules = [importlib.import_module(n) for n in names]
assert len(modules) >= 12 and all(gen in pathlib.Path(m.__file__).parents for m in modules), names
from partnership.v1 import sme_pb2, sme_pb2_grpc
with grpc.insecure_channel(sys.argv[1]) as channel:
    smes = sme_pb2_grpc.SmeServiceStub(channel)
    token = [("authorization", "Bearer " + os.environ["PARTNERSHIP_TOKEN"])]
    try:
        smes.GetSme(sme_pb2.GetSmeRequest(name="smes/no-such"), metadata=token, timeout=30)
        raise SystemExit("GetSme of a missing SME succeeded")
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.NOT_FOUND, err
print(f"buf Python stubs: {len(modules)} modules imported; GetSme answered NOT_FOUND")
EOF
)

echo "== Node: npm pack, installed into a fresh directory"
rm -rf "$out/node"
mkdir -p "$out/node"
(cd clients/node && npm pack --silent --pack-destination "$out/node" >/dev/null)
[ ! -e clients/node/proto ] || { echo "npm pack left clients/node/proto behind" >&2; exit 1; }
tarball=$(ls "$out/node"/partnership-client-*.tgz)
tar -tzf "$tarball" >"$work/node-files"
for f in client.js proto/partnership/v1/sme.proto proto/google/rpc/error_details.proto; do
  grep -qx "package/$f" "$work/node-files" || { echo "$tarball has no $f" >&2; exit 1; }
done
echo "built $tarball ($(grep -c '\.proto$' "$work/node-files") .proto files)"
mkdir -p "$work/node-app"
cat >"$work/node-app/package.json" <<EOF
{
  "name": "ministry-app",
  "version": "1.0.0",
  "private": true,
  "dependencies": {
    "partnership-client": "file:$tarball"
  }
}
EOF
cp clients/node/package-test/check-installed.js "$work/node-app/"
(cd "$work/node-app" && npm install "${npm_quiet[@]}" >/dev/null && node check-installed.js "$address")

echo "== Java: Maven layout (javac, jar), built against by Maven offline"
rm -rf "$out/maven-repo"
PARTNERSHIP_JAVA_BUILD=$out/java-build bash clients/java/package.sh "$out/maven-repo"
# Every repository but the layout is Debian's, so nothing is downloaded.
cat >"$work/maven-settings.xml" <<'EOF'
<settings>
  <mirrors>
    <mirror>
      <id>debian</id>
      <mirrorOf>*,!partnership</mirrorOf>
      <url>file:///usr/share/maven-repo</url>
    </mirror>
  </mirrors>
</settings>
EOF
cp -r clients/java/package-test "$work/java-app"
(
  cd "$work/java-app"
  mvn -B -s "$work/maven-settings.xml" -Dmaven.repo.local="$work/m2" \
    -Dpartnership.repository="file://$out/maven-repo" compile >"$work/mvn.log" 2>&1 ||
    { cat "$work/mvn.log" >&2; echo "mvn failed" >&2; exit 1; }
  echo "mvn: $(grep -c 'Downloaded from partnership' "$work/mvn.log") files from the layout, $(grep -c 'Downloaded from debian' "$work/mvn.log") from Debian's repository"
  java -cp "target/classes:$(cat classpath.txt)" consumer.CheckInstalled "$address"
)

echo "== buf generate, Java: the stubs compiled against Debian's jars"
jars=/usr/share/java
java_cp=$(printf "$jars/%s.jar:" grpc-api grpc-stub grpc-protobuf grpc-protobuf-lite protobuf \
  proto-google-common-protos guava geronimo-annotation-1.3-spec jsr305)
mkdir -p "$work/buf-java"
javac -nowarn -encoding UTF-8 --release 8 -Xlint:-options -d "$work/buf-java" -cp "$java_cp" \
  $(find "$work/buf/gen/java" -name '*.java')
echo "buf Java stubs: $(find "$work/buf-java" -name '*.class' | wc -l) classes"

echo "== Go: module layout, required and replaced by a Go modules program"
rm -rf "$out/go"
bash clients/go/package.sh "$out/go/partnership-go"
export GOFLAGS= GOPROXY=off GOSUMDB=off GOCACHE="$out/go-cache" GOPATH="$work/gopath"
go_app() { # layout dir, app dir
  mkdir -p "$2"
  cp clients/go/package-test/main.go "$2/"
  # The first line and the replace of partnership.gov.kr/gen are what a
  # ministry writes (with its module proxy, `go mod tidy` does the rest); the
  # other requires and replaces stand in for that proxy: Debian's sources.
  cat >"$2/go.mod" <<EOF
module example.go.kr/ministry-app

go 1.17

require (
	partnership.gov.kr/gen v0.1.0
	google.golang.org/genproto v0.0.0-20200526211855-cb27e3aa2013
	google.golang.org/grpc v1.33.3
	google.golang.org/protobuf v1.28.1
	github.com/golang/protobuf v1.5.2 // indirect
	golang.org/x/net v0.7.0 // indirect
	golang.org/x/sys v0.3.0 // indirect
	golang.org/x/text v0.7.0 // indirect
)

replace partnership.gov.kr/gen => $1
EOF
  local m
  for m in google.golang.org/grpc google.golang.org/protobuf google.golang.org/genproto \
    github.com/golang/protobuf golang.org/x/net golang.org/x/sys golang.org/x/text; do
    echo "replace $m => /usr/share/gocode/src/$m" >>"$2/go.mod"
  done
  (
    cd "$2"
    # grpc-go 1.33's go.mod (go 1.11) names modules Debian does not ship
    # (golang.org/x/lint, envoyproxy, ...), none of them imported: -e vendors
    # the packages that are, and the -mod=vendor build checks nothing is missing.
    GOFLAGS=-mod=mod go mod vendor -e 2>"$2/vendor.log" || { cat "$2/vendor.log" >&2; exit 1; }
    grep -qx "# partnership.gov.kr/gen v0.1.0 => $1" vendor/modules.txt ||
      { echo "vendor/modules.txt does not take partnership.gov.kr/gen from $1" >&2; exit 1; }
    GOFLAGS=-mod=vendor go vet . || { cat "$2/vendor.log" >&2; exit 1; }
    GOFLAGS=-mod=vendor go build -o ministry-app .
    ./ministry-app "$address"
  )
}
go_app "$out/go/partnership-go" "$work/go-app"

echo "== buf generate, Go: the same program on buf's stubs"
cp "$out/go/partnership-go/go.mod" "$work/buf/gen/go/go.mod"
go_app "$work/buf/gen/go" "$work/go-app-buf"

echo "== client packages: buf generate, wheel, npm package, Maven layout and Go module each run against the server (${SECONDS} s)"
