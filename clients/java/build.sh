#!/usr/bin/env bash
# Generates Java stubs for every .proto under ../../proto with protoc and
# grpc-java's protoc plugin, then compiles them, the example and the tests
# with javac against Debian's jars in /usr/share/java. Nothing is downloaded.
#
#   ./build.sh [OUT]          OUT defaults to ../../target/java-client
#
# Writes OUT/gen (generated sources), OUT/classes, OUT/test-classes, and two
# files holding a `java -cp` value: OUT/classpath (stubs, example, runtime
# jars) and OUT/test-classpath (that plus the tests and JUnit 4).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
proto=$(cd "$here/../../proto" && pwd)
out=${1:-$here/../../target/java-client}
jars=${PARTNERSHIP_JAVA_JARS:-/usr/share/java}

# Runtime: grpc-java (libgrpc-java) on Netty (libnetty-java), protobuf-java.
runtime=(grpc-api grpc-context grpc-core grpc-netty grpc-protobuf grpc-protobuf-lite grpc-stub
  protobuf guava perfmark-api gson
  netty-buffer netty-codec netty-codec-http netty-codec-http2 netty-codec-socks netty-common
  netty-handler netty-handler-proxy netty-resolver netty-transport netty-transport-native-unix-common
  netty-tcnative)
# Compile only: the plugin's @javax.annotation.Generated (JDK 11+ lacks it) and annotations.
compile_only=(geronimo-annotation-1.3-spec jsr305 error_prone_annotations)
tests=(junit4 hamcrest-core)

missing=()
tcnative_so=$(ls /usr/lib/*/jni/libnetty-tcnative.so 2>/dev/null | head -n 1 || true)
[ -n "$tcnative_so" ] || missing+=("libnetty-tcnative.so (libnetty-tcnative-jni)")
for tool in protoc grpc_java_plugin javac jar; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
for jar in "${runtime[@]}" "${compile_only[@]}" "${tests[@]}"; do
  [ -f "$jars/$jar.jar" ] || missing+=("$jars/$jar.jar")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing: ${missing[*]}" >&2
  echo "install: apt-get install --no-install-recommends protobuf-compiler libprotobuf-dev \\" >&2
  echo "  protobuf-compiler-grpc-java-plugin libgrpc-java libprotobuf-java libnetty-java \\" >&2
  echo "  libperfmark-java libgoogle-gson-java libguava-java libgeronimo-annotation-1.3-spec-java \\" >&2
  echo "  libnetty-tcnative-java libnetty-tcnative-jni libjsr305-java liberror-prone-java junit4 \\" >&2
  echo "  default-jdk-headless" >&2
  exit 1
fi

cp_of() { local IFS=:; local list=("${@/#/$jars/}"); echo "${list[*]/%/.jar}"; }
runtime_cp=$(cp_of "${runtime[@]}")
compile_cp=$runtime_cp:$(cp_of "${compile_only[@]}")
test_cp=$(cp_of "${tests[@]}")

mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -rf "$out/gen" "$out/classes" "$out/test-classes" "$out/lib"
mkdir -p "$out/gen" "$out/classes" "$out/test-classes" "$out/lib/META-INF/native"

# TLS: Debian's Netty has no JDK ALPN support, so grpc-netty does TLS with
# netty-tcnative (OpenSSL). Netty loads that native library from the class
# path under the name libnetty_tcnative.so; Debian installs it as
# libnetty-tcnative.so, so it is packed into a jar under the expected name.
cp "$tcnative_so" "$out/lib/META-INF/native/libnetty_tcnative.so"
(cd "$out/lib" && jar cf netty-tcnative-native.jar META-INF && rm -rf META-INF)
runtime_cp=$runtime_cp:$out/lib/netty-tcnative-native.jar

# Every .proto file under proto/, found now (not a fixed list): the
# partnership.v1 messages and services, and the vendored google.rpc and
# google.type messages (com.google.rpc.Status, ErrorInfo, BadRequest, Date).
mapfile -t files < <(cd "$proto" && find . -name '*.proto' | sed 's|^\./||' | LC_ALL=C sort)
protoc -I "$proto" \
  --java_out="$out/gen" \
  --plugin=protoc-gen-grpc-java="$(command -v grpc_java_plugin)" --grpc-java_out="$out/gen" \
  "${files[@]}"
echo "protoc: ${#files[@]} .proto files -> $(find "$out/gen" -name '*.java' | wc -l) Java sources in $out/gen"

# --release 8: the stubs and the example also build for Java 8 projects (the
# tests use Java 11 API). Needs a JDK 11 or later.
mapfile -t main_sources < <(find "$out/gen" "$here/src/main/java" -name '*.java')
mapfile -t test_sources < <(find "$here/src/test/java" -name '*.java')
javac -nowarn -encoding UTF-8 --release 8 -Xlint:-options -d "$out/classes" -cp "$compile_cp" \
  "${main_sources[@]}"
javac -nowarn -encoding UTF-8 --release 11 -d "$out/test-classes" \
  -cp "$out/classes:$compile_cp:$test_cp" "${test_sources[@]}"

echo "$out/classes:$runtime_cp" >"$out/classpath"
echo "$out/test-classes:$out/classes:$runtime_cp:$test_cp" >"$out/test-classpath"
echo "javac: classes in $out/classes and $out/test-classes"
echo "run:   java -cp \"\$(cat $out/classpath)\" kr.gov.partnership.client.Example 127.0.0.1:50051"
echo "test:  java -cp \"\$(cat $out/test-classpath)\" kr.gov.partnership.client.RunTests"
