#!/usr/bin/env bash
# Generates Go stubs for the partnership API from ../../proto with protoc,
# protoc-gen-go and protoc-gen-go-grpc, into a GOPATH directory, for a build
# in GOPATH mode (GO111MODULE=off) against the Go packages Debian installs in
# /usr/share/gocode. Nothing is downloaded.
#
#   ./generate.sh [DIR]        DIR defaults to ../../target/go-client
#
# Every .proto under proto/ is found now (not a fixed list). Those under
# partnership/ are generated to DIR/src/partnership.gov.kr/gen/<dir>, e.g.
# package partnershipv1 at partnership.gov.kr/gen/partnership/v1. The
# vendored google/rpc and google/type files are not generated: they map to
# their own go_package (google.golang.org/genproto/...), the packages that
# grpc-go's status package uses (Debian: golang-google-genproto-dev).
# Prints the environment to build with.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
proto=$(cd "$here/../../proto" && pwd)
dir=${1:-$here/../../target/go-client}

missing=()
for tool in protoc protoc-gen-go protoc-gen-go-grpc go; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
for pkg in google.golang.org/grpc google.golang.org/protobuf google.golang.org/genproto \
  github.com/golang/protobuf; do
  [ -d "/usr/share/gocode/src/$pkg" ] || missing+=("/usr/share/gocode/src/$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing: ${missing[*]}" >&2
  echo "install: apt-get install --no-install-recommends protobuf-compiler libprotobuf-dev \\" >&2
  echo "  protoc-gen-go protoc-gen-go-grpc golang-go golang-google-grpc-dev \\" >&2
  echo "  golang-google-protobuf-dev golang-google-genproto-dev golang-github-golang-protobuf-1-5-dev" >&2
  exit 1
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
rm -rf "$dir/src/partnership.gov.kr/gen"
mkdir -p "$dir/src"

mapfile -t all < <(cd "$proto" && find . -name '*.proto' | sed 's|^\./||' | LC_ALL=C sort)
generate=()
mapping=""
for f in "${all[@]}"; do
  case "$f" in
    google/*)
      # Vendored Google types: use the package their go_package names.
      pkg=$(sed -n 's/^option go_package = "\([^";]*\).*/\1/p' "$proto/$f")
      [ -n "$pkg" ] || { echo "$f has no go_package" >&2; exit 1; }
      ;;
    *)
      # partnership/v1/x.proto -> partnership.gov.kr/gen/partnership/v1, package partnershipv1
      # (the same as the files' own go_package, set here so a file without one works too).
      d=$(dirname "$f")
      pkg="partnership.gov.kr/gen/$d;$(echo "$d" | tr -cd 'a-z0-9')"
      generate+=("$f")
      ;;
  esac
  mapping="$mapping,M$f=$pkg"
done

protoc -I "$proto" \
  --go_out="$dir/src" --go_opt="paths=import$mapping" \
  --go-grpc_out="$dir/src" --go-grpc_opt="paths=import$mapping" \
  "${generate[@]}"

echo "protoc: ${#generate[@]} of ${#all[@]} .proto files -> $(find "$dir/src/partnership.gov.kr/gen" -name '*.go' | wc -l) Go files under $dir/src/partnership.gov.kr/gen" >&2
echo "export GO111MODULE=off GOPROXY=off GOPATH=$dir:/usr/share/gocode"
