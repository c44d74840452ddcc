#!/usr/bin/env bash
# The Java and Go client suites (clients/java, clients/go), as CI runs them:
# installs what they need from Debian's packages (skipped when all are
# installed), generates the stubs from every .proto under proto/, builds, and
# runs each suite; each suite starts its own servers from $PARTNERSHIP_BIN
# (default target/debug/partnership) on fresh SQLite files. Build output goes
# to target/client-suites. Exits non-zero on the first failure.
#
#   PARTNERSHIP_BIN=target/debug/partnership bash scripts/client-suites.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PARTNERSHIP_BIN=${PARTNERSHIP_BIN:-$PWD/target/debug/partnership}
case "$PARTNERSHIP_BIN" in /*) ;; *) PARTNERSHIP_BIN=$PWD/$PARTNERSHIP_BIN ;; esac
export PARTNERSHIP_BIN
if [ ! -x "$PARTNERSHIP_BIN" ]; then
  echo "no server binary at $PARTNERSHIP_BIN (cargo build, or set PARTNERSHIP_BIN)" >&2
  exit 1
fi

packages=(
  openssl protobuf-compiler libprotobuf-dev
  # Java: grpc-java and its runtime (Netty, with netty-tcnative for TLS), JUnit 4
  protobuf-compiler-grpc-java-plugin libgrpc-java libprotobuf-java libnetty-java
  libnetty-tcnative-java libnetty-tcnative-jni libperfmark-java libgoogle-gson-java libguava-java
  libgeronimo-annotation-1.3-spec-java libjsr305-java liberror-prone-java junit4
  # Go: the toolchain, the two protoc plugins, and the libraries in /usr/share/gocode
  golang-go protoc-gen-go protoc-gen-go-grpc golang-google-grpc-dev golang-google-protobuf-dev
  golang-google-genproto-dev golang-github-golang-protobuf-1-5-dev
)
command -v javac >/dev/null || packages+=(default-jdk-headless)
# shellcheck source=scripts/apt.sh
. scripts/apt.sh
ensure_packages "${packages[@]}"
version() { dpkg-query -W -f='${Version}' "$1"; }
echo "protoc $(version protobuf-compiler), grpc-java $(version libgrpc-java)," \
  "protobuf-java $(version libprotobuf-java), $(javac -version 2>&1);" \
  "$(go version | cut -d' ' -f3), grpc-go $(version golang-google-grpc-dev)," \
  "protoc-gen-go $(version protoc-gen-go), protoc-gen-go-grpc $(version protoc-gen-go-grpc)"

out=$PWD/target/client-suites
mkdir -p "$out"

echo "== Java client suite (grpc-java, JUnit 4)"
(
  cd clients/java
  ./build.sh "$out/java"
  timeout 300 java -cp "$(cat "$out/java/test-classpath")" kr.gov.partnership.client.RunTests
)

echo "== Go client suite (grpc-go, go test)"
(
  cd clients/go
  eval "$(./generate.sh "$out/go")"
  export GOFLAGS= GOCACHE="${GOCACHE:-$out/go-cache}"
  unformatted=$(gofmt -l .)
  [ -z "$unformatted" ] || { echo "gofmt: not formatted: $unformatted" >&2; exit 1; }
  go vet . ./example
  go test -count=1 -timeout 300s -v .
)
