#!/usr/bin/env bash
# Lays out the Go stubs as a Go module: DIR/go.mod (module
# partnership.gov.kr/gen, the module that the .proto files' go_package
# partnership.gov.kr/gen/partnership/v1 belongs to) and DIR/partnership/v1,
# generated from ../../proto with protoc, protoc-gen-go and
# protoc-gen-go-grpc (Debian's, as generate.sh). A Go modules project
# requires it and points a replace directive at DIR (README.md, "As a
# package"); nothing is downloaded here.
#
#   ./package.sh [DIR]        DIR defaults to ../../target/client-packages/go/partnership-go
#
# The vendored google/ files are not generated: they map to their own
# go_package (google.golang.org/genproto/...), which go.mod requires.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
proto=$root/proto
dir=${1:-$root/target/client-packages/go/partnership-go}
module=partnership.gov.kr/gen

for tool in protoc protoc-gen-go protoc-gen-go-grpc; do
  command -v "$tool" >/dev/null || { echo "missing: $tool (see README.md, 1. Install)" >&2; exit 1; }
done

# Every partnership/ file must say it belongs to this module (a file
# elsewhere would land outside it).
mapfile -t files < <(cd "$proto" && find partnership -name '*.proto' | LC_ALL=C sort)
for f in "${files[@]}"; do
  grep -q "^option go_package = \"$module/" "$proto/$f" || {
    echo "$f: go_package is not under $module" >&2
    exit 1
  }
done

rm -rf "$dir"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
protoc -I "$proto" \
  --go_out="$dir" --go_opt="module=$module" \
  --go-grpc_out="$dir" --go-grpc_opt="module=$module" \
  "${files[@]}"

# The lowest versions the stubs build with: protoc-gen-go 1.28 code needs
# google.golang.org/protobuf 1.28, protoc-gen-go-grpc 1.0 code grpc-go 1.32
# (SupportPackageIsVersion7); 1.33.3 is the grpc-go they are tested with
# (Debian 12's), and genproto the version grpc-go 1.33.3 requires.
cat >"$dir/go.mod" <<EOF
module $module

go 1.17

require (
	google.golang.org/genproto v0.0.0-20200526211855-cb27e3aa2013
	google.golang.org/grpc v1.33.3
	google.golang.org/protobuf v1.28.1
)
EOF
echo "module $module: $(find "$dir" -name '*.go' | wc -l) Go files from ${#files[@]} .proto files in $dir"
