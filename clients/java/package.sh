#!/usr/bin/env bash
# Packs the Java client as Maven artifacts in a repository layout, with the
# JDK's own tools (javac through build.sh, then jar): no Maven, nothing
# downloaded. A Maven or Gradle build depends on it through a file://
# repository (README.md, "As a package").
#
#   ./package.sh [REPO]       REPO defaults to ../../target/client-packages/maven-repo
#
# Writes, under REPO/kr/gov/partnership/:
#   partnership-client/0.1.0/        the stubs (kr.gov.partnership.v1) and the helpers
#                                    (kr.gov.partnership.client): .jar, -sources.jar, .pom
#   partnership-google-protos/0.1.0/ google.rpc (ErrorInfo, BadRequest, ...), google.type.Date
#                                    and google.api, compiled from proto/google: only for
#                                    builds on jars without them (Debian 12's
#                                    proto-google-common-protos 1.16.0 has no ErrorInfo)
# each file with its .sha1 and .md5, and a maven-metadata.xml per artifact.
# The .pom names the grpc-java and protobuf-java versions the classes were
# compiled against (the jars in /usr/share/java).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
repo=${1:-$root/target/client-packages/maven-repo}
build=${PARTNERSHIP_JAVA_BUILD:-$root/target/client-packages/java-build}
jars=${PARTNERSHIP_JAVA_JARS:-/usr/share/java}
group=kr.gov.partnership
version=0.1.0
# google.rpc.ErrorInfo, used by ErrorDetails: the proto-google-common-protos
# that grpc-protobuf 1.41.3 itself depends on upstream (Debian's pom records
# it as the original version), which has it.
common_protos=2.0.1

"$here/build.sh" "$build" >/dev/null

# The versions compiled against: /usr/share/java/grpc-stub-1.41.3.jar, protobuf-3.21.12.jar.
jar_version() {
  local found
  found=$(cd "$jars" && ls "$1"-[0-9]*.jar 2>/dev/null | sed "s/^$1-\(.*\)\.jar$/\1/" | sort -V | tail -n 1)
  [ -n "$found" ] || { echo "no $jars/$1-<version>.jar" >&2; exit 1; }
  echo "$found"
}
grpc=$(jar_version grpc-stub)
protobuf=$(jar_version protobuf)

mkdir -p "$repo"
repo=$(cd "$repo" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

pom_head() { # artifactId, name, description
  cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>$group</groupId>
  <artifactId>$1</artifactId>
  <version>$version</version>
  <packaging>jar</packaging>
  <name>$2</name>
  <description>$3</description>
  <licenses>
    <license><name>MIT</name><url>https://opensource.org/licenses/MIT</url></license>
    <license><name>Apache-2.0</name><url>https://www.apache.org/licenses/LICENSE-2.0</url></license>
  </licenses>
EOF
}
dep() { # groupId artifactId version [scope]
  printf '    <dependency>\n      <groupId>%s</groupId>\n      <artifactId>%s</artifactId>\n      <version>%s</version>\n' "$1" "$2" "$3"
  [ -z "${4:-}" ] || printf '      <scope>%s</scope>\n' "$4"
  printf '    </dependency>\n'
}

client_pom=$stage/partnership-client.pom
{
  pom_head partnership-client "partnership client" \
    "gRPC stubs of the partnership service (kr.gov.partnership.v1, generated from proto/ by protoc $protobuf and grpc-java's plugin $grpc) and helpers (kr.gov.partnership.client: Channels, ErrorDetails, BearerToken)"
  echo "  <dependencies>"
  dep io.grpc grpc-stub "$grpc"
  dep io.grpc grpc-protobuf "$grpc"
  dep com.google.protobuf protobuf-java "$protobuf"
  dep com.google.api.grpc proto-google-common-protos "$common_protos"
  dep io.grpc grpc-netty "$grpc" runtime
  echo "  </dependencies>"
  echo "</project>"
} >"$client_pom"

google_pom=$stage/partnership-google-protos.pom
{
  pom_head partnership-google-protos "partnership google protos" \
    "google.rpc, google.type and google.api messages compiled from the copies vendored in the partnership service's proto/google, for builds whose proto-google-common-protos lacks google.rpc.ErrorInfo; with a newer proto-google-common-protos on the class path, leave this out"
  echo "  <dependencies>"
  dep com.google.protobuf protobuf-java "$protobuf"
  echo "  </dependencies>"
  echo "</project>"
} >"$google_pom"

# artifactId, pom, top directories of the classes (in $build/classes) and of their
# sources (in each source root), source roots, proto dirs (under proto/)
pack() {
  local artifact=$1 pom=$2 classes=$3 sources=$4 protos=$5
  local dir=$repo/${group//.//}/$artifact/$version base
  base=$dir/$artifact-$version
  rm -rf "$dir"
  mkdir -p "$dir" "$stage/$artifact/meta/META-INF/maven/$group/$artifact" "$stage/$artifact/src"
  cp "$pom" "$base.pom"
  cp "$pom" "$stage/$artifact/meta/META-INF/maven/$group/$artifact/pom.xml"
  printf 'groupId=%s\nartifactId=%s\nversion=%s\n' "$group" "$artifact" "$version" \
    >"$stage/$artifact/meta/META-INF/maven/$group/$artifact/pom.properties"
  local args=() d
  for d in $classes; do args+=(-C "$build/classes" "$d"); done
  for d in $protos; do args+=(-C "$root/proto" "$d"); done
  jar --create --file "$base.jar" -C "$stage/$artifact/meta" META-INF "${args[@]}"
  local c
  for d in $sources; do
    for c in $classes; do
      [ ! -d "$d/$c" ] || { mkdir -p "$stage/$artifact/src/$c" && cp -r "$d/$c/." "$stage/$artifact/src/$c/"; }
    done
  done
  for d in $protos; do mkdir -p "$stage/$artifact/src/$d" && cp -r "$root/proto/$d/." "$stage/$artifact/src/$d/"; done
  jar --create --file "$base-sources.jar" -C "$stage/$artifact/meta" META-INF -C "$stage/$artifact/src" .

  local versions
  versions=$(cd "$dir/.." && ls -d */ | tr -d / | sort -V)
  {
    echo '<?xml version="1.0" encoding="UTF-8"?>'
    echo "<metadata>"
    echo "  <groupId>$group</groupId>"
    echo "  <artifactId>$artifact</artifactId>"
    echo "  <versioning>"
    echo "    <latest>$(tail -n 1 <<<"$versions")</latest>"
    echo "    <release>$(tail -n 1 <<<"$versions")</release>"
    echo "    <versions>"
    sed 's|.*|      <version>&</version>|' <<<"$versions"
    echo "    </versions>"
    echo "    <lastUpdated>$(date -u +%Y%m%d%H%M%S)</lastUpdated>"
    echo "  </versioning>"
    echo "</metadata>"
  } >"$dir/../maven-metadata.xml"

  local f
  for f in "$base.jar" "$base-sources.jar" "$base.pom" "$dir/../maven-metadata.xml"; do
    sha1sum "$f" | cut -d' ' -f1 | tr -d '\n' >"$f.sha1"
    md5sum "$f" | cut -d' ' -f1 | tr -d '\n' >"$f.md5"
  done
  echo "$group:$artifact:$version -> $dir ($(unzip -Z1 "$base.jar" | grep -c '\.class$') classes)"
}

pack partnership-client "$client_pom" "kr" "$build/gen $here/src/main/java" "partnership"
pack partnership-google-protos "$google_pom" "com" "$build/gen" "google"
echo "grpc-java $grpc, protobuf-java $protobuf; repository: file://$repo"
