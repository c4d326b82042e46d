#!/usr/bin/env bash
# A one-node Kubernetes 1.20 on this machine, for takeover's Kubernetes drills.
#
#   scripts/k8s-testbed.sh up       start it (idempotent: a running test bed is kept)
#   scripts/k8s-testbed.sh down     stop it and remove everything it made
#   scripts/k8s-testbed.sh status   say what runs; exit 0 when the node is Ready
#   scripts/k8s-testbed.sh env      print `export KUBECONFIG=... TAKEOVER_K8S_NODE_ENGINE=...` for a shell
#
# What it makes (every piece recorded under $STATE, removed by `down`):
#   - a network namespace `takeover-k8s` joined to the root namespace by a veth
#     pair on 198.19.254.0/30 (root side .1, node side .2), pods on
#     198.19.253.0/24 behind the node; the namespace has no default route, so
#     nothing in it can reach beyond that link;
#   - etcd (Debian's etcd-server) on 127.0.0.1:23790;
#   - kube-apiserver on 198.19.254.1:16443 (token auth, RBAC), and the
#     controller manager and scheduler beside it, all in the root namespace;
#   - a dockerd of its own inside the namespace (never the main engine: the
#     kubelet manages every container of the engine it is given), with a runc
#     wrapper that clamps the negative oom_score_adj this VM refuses;
#   - the kubelet inside the namespace, node name `takeover-node`, using that
#     dockerd, with a static `pause` sandbox image loaded into it.
# The binaries come from ../shared/k8s (kubernetes-1.20.2-linux-amd64.tar.xz,
# built from Debian's source package; its SHA256SUMS is checked), or from
# $TAKEOVER_K8S_TARBALL. Images for pods are loaded into the node's dockerd:
# `docker -H unix://$STATE/docker.sock load` (pods use imagePullPolicy: Never).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
STATE="${TAKEOVER_K8S_STATE:-/run/takeover-k8s}"
TARBALL="${TAKEOVER_K8S_TARBALL:-$root/../shared/k8s/kubernetes-1.20.2-linux-amd64.tar.xz}"
NETNS=takeover-k8s
VETH_ROOT=tk8s-root
VETH_NODE=tk8s-node
ROOT_ADDR=198.19.254.1
NODE_ADDR=198.19.254.2
LINK_NET=198.19.254.0/30
BRIDGE_CIDR=198.19.253.1/24
PODS_NET=198.19.253.0/24
APISERVER="https://$ROOT_ADDR:16443"
ETCD_URL=http://127.0.0.1:23790
NODE=takeover-node
PAUSE_IMAGE=takeover-k8s/pause:1.20.2

say() { printf 'k8s-testbed: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# Starts "$@" in the background with its output in $STATE/log/NAME.log and
# records its pid in $STATE/pids/NAME.
start() {
  local name=$1; shift
  setsid "$@" >"$STATE/log/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/pids/$name"
}

# Waits up to $2 seconds for the command "${@:3}" to succeed; names $1 on failure.
wait_for() {
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      die "$what not ready after ${seconds}s (logs: $STATE/log/)"
    fi
    sleep 0.3
  done
}

# GET of an API path with the admin token (the test bed needs no kubectl).
api_get() {
  curl -fsS -k --max-time 5 -H "Authorization: Bearer $(cut -d, -f1 "$STATE/tokens.csv")" "$APISERVER$1"
}

# The route the kernel would use for an address of ours must not already exist
# outside this test bed: a collision would send drill traffic somewhere else.
check_no_collision() {
  if ip -4 route show | grep -v "$VETH_ROOT" | grep -q '^198\.19\.25[34]\.'; then
    die "198.19.253.0/24 or 198.19.254.0/30 is already routed on this machine; refusing to add a test bed over it"
  fi
}

unpack_binaries() {
  mkdir -p "$STATE/bin"
  if [ -x "$STATE/bin/kubelet" ]; then return; fi
  [ -f "$TARBALL" ] || die "no Kubernetes binaries: $TARBALL is missing (see ../shared/k8s/README.md)"
  local sums
  sums="$(dirname "$TARBALL")/SHA256SUMS"
  if [ -f "$sums" ]; then
    (cd "$(dirname "$TARBALL")" && grep "$(basename "$TARBALL")" SHA256SUMS | sha256sum -c --quiet -) ||
      die "$TARBALL does not match its SHA256SUMS"
  fi
  tar -xJf "$TARBALL" -C "$STATE/bin"
}

make_network() {
  check_no_collision
  ip netns add "$NETNS"
  echo "$NETNS" >"$STATE/netns"
  ip link add "$VETH_ROOT" type veth peer name "$VETH_NODE"
  echo "$VETH_ROOT" >"$STATE/veth"
  ip link set "$VETH_NODE" netns "$NETNS"
  ip addr add "$ROOT_ADDR/30" dev "$VETH_ROOT"
  ip link set "$VETH_ROOT" up
  nsenter --net="/run/netns/$NETNS" ip addr add "$NODE_ADDR/30" dev "$VETH_NODE"
  nsenter --net="/run/netns/$NETNS" ip link set "$VETH_NODE" up
  nsenter --net="/run/netns/$NETNS" ip link set lo up
  # Pods (on the node engine's bridge) are reached through the node's side of
  # the link; the route goes with the veth.
  ip route add "$PODS_NET" via "$NODE_ADDR" dev "$VETH_ROOT"
}

make_credentials() {
  local token
  token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  umask 077
  echo "$token,admin,admin,system:masters" >"$STATE/tokens.csv"
  openssl genrsa -out "$STATE/sa.key" 2048 2>/dev/null
  cat >"$STATE/admin.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: takeover-testbed
  cluster:
    server: $APISERVER
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: $token
contexts:
- name: takeover-testbed
  context: {cluster: takeover-testbed, user: admin}
current-context: takeover-testbed
EOF
  umask 022
}

start_control_plane() {
  mkdir -p "$STATE/etcd" "$STATE/apiserver"
  start etcd etcd --name takeover-testbed --data-dir "$STATE/etcd" \
    --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
    --listen-peer-urls http://127.0.0.1:23800 --initial-advertise-peer-urls http://127.0.0.1:23800 \
    --initial-cluster takeover-testbed=http://127.0.0.1:23800
  wait_for etcd 30 curl -fsS "$ETCD_URL/health"
  start apiserver "$STATE/bin/kube-apiserver" --etcd-servers="$ETCD_URL" \
    --bind-address="$ROOT_ADDR" --advertise-address="$ROOT_ADDR" --secure-port=16443 \
    --insecure-port=0 --cert-dir="$STATE/apiserver" --token-auth-file="$STATE/tokens.csv" \
    --authorization-mode=RBAC --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$STATE/sa.key" --service-account-signing-key-file="$STATE/sa.key" \
    --service-cluster-ip-range=198.19.252.0/24 --disable-admission-plugins=ServiceAccount \
    --enable-priority-and-fairness=false
  wait_for kube-apiserver 90 api_get /readyz
  start controller-manager "$STATE/bin/kube-controller-manager" \
    --kubeconfig="$STATE/admin.kubeconfig" --leader-elect=false --port=0 --secure-port=0 \
    --controllers='*,-serviceaccount-token' --use-service-account-credentials=false
  start scheduler "$STATE/bin/kube-scheduler" --kubeconfig="$STATE/admin.kubeconfig" \
    --leader-elect=false --port=0 --secure-port=0
}

start_node_engine() {
  mkdir -p "$STATE/docker" "$STATE/docker-exec"
  install -m 0755 "$root/../shared/k8s/runc-wrap" "$STATE/runc-wrap" 2>/dev/null ||
    tar -xJf "$TARBALL" -C "$STATE" runc-wrap
  cat >"$STATE/daemon.json" <<EOF
{
  "storage-driver": "fuse-overlayfs",
  "cgroup-parent": "/takeover-k8s",
  "bip": "$BRIDGE_CIDR",
  "iptables": true,
  "runtimes": {"runc-takeover": {"path": "$STATE/runc-wrap"}},
  "default-runtime": "runc-takeover"
}
EOF
  start dockerd nsenter --net="/run/netns/$NETNS" dockerd \
    --data-root "$STATE/docker" --exec-root "$STATE/docker-exec" \
    -H "unix://$STATE/docker.sock" --pidfile "$STATE/dockerd.pid" \
    --config-file "$STATE/daemon.json"
  wait_for "the node's dockerd" 60 docker -H "unix://$STATE/docker.sock" info
  # The pod sandbox: a static `pause` in an image of its own.
  tar -C "$STATE/bin" -c pause |
    docker -H "unix://$STATE/docker.sock" import -c 'ENTRYPOINT ["/pause"]' - "$PAUSE_IMAGE" >/dev/null
}

start_kubelet() {
  mkdir -p "$STATE/kubelet"
  start kubelet nsenter --net="/run/netns/$NETNS" "$STATE/bin/kubelet" \
    --kubeconfig="$STATE/admin.kubeconfig" --hostname-override="$NODE" --node-ip="$NODE_ADDR" \
    --container-runtime=docker --docker-endpoint="unix://$STATE/docker.sock" \
    --pod-infra-container-image="$PAUSE_IMAGE" --cgroup-driver=cgroupfs --fail-swap-on=false \
    --root-dir="$STATE/kubelet" --cert-dir="$STATE/kubelet/pki" --cgroups-per-qos=false \
    --enforce-node-allocatable= --address=127.0.0.1 --read-only-port=0 --healthz-port=0 \
    --authorization-mode=AlwaysAllow --eviction-hard= --image-gc-high-threshold=100 \
    --image-gc-low-threshold=99 --register-node=true
  wait_for "node $NODE Ready" 120 node_ready
}

node_ready() {
  [ -f "$STATE/tokens.csv" ] &&
    [ "$(api_get "/api/v1/nodes/$NODE" | jq -r '.status.conditions[] | select(.type == "Ready") | .status')" = True ]
}

up() {
  [ "$(id -u)" = 0 ] || die "must run as root (network namespace, dockerd)"
  for tool in etcd nsenter ip openssl jq dockerd docker curl setsid; do
    command -v "$tool" >/dev/null || die "needs \`$tool\` (apt-get install etcd-server jq curl openssl)"
  done
  if [ -f "$STATE/up" ] && node_ready; then
    say "already up (KUBECONFIG=$STATE/admin.kubeconfig)"
    return
  fi
  if [ -d "$STATE" ]; then down; fi
  mkdir -p "$STATE/pids" "$STATE/log"
  trap 'say "up failed; removing what was made"; down' ERR
  unpack_binaries
  make_network
  make_credentials
  start_control_plane
  start_node_engine
  start_kubelet
  trap - ERR
  touch "$STATE/up"
  say "up: node $NODE Ready; KUBECONFIG=$STATE/admin.kubeconfig, images: docker -H unix://$STATE/docker.sock"
}

# Stops a recorded process: TERM, then KILL after $2 seconds.
stop_pid() {
  local name=$1 grace=$2 pid
  pid=$(cat "$STATE/pids/$name" 2>/dev/null) || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + grace))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$STATE/pids/$name"
}

down() {
  [ -d "$STATE" ] || return 0
  trap - ERR
  # The kubelet first, so that it does not restart the pods the engine stops.
  stop_pid kubelet 5
  if [ -S "$STATE/docker.sock" ]; then
    local ids
    ids=$(docker -H "unix://$STATE/docker.sock" ps -aq 2>/dev/null || true)
    [ -z "$ids" ] || docker -H "unix://$STATE/docker.sock" rm -f $ids >/dev/null 2>&1 || true
  fi
  stop_pid dockerd 20
  for name in scheduler controller-manager apiserver etcd; do stop_pid "$name" 10; done
  # The node's engine may leave its own containerd and shims behind it.
  pkill -KILL -f -- "$STATE/docker-exec" 2>/dev/null || true
  pkill -KILL -f -- "$STATE/docker/containerd" 2>/dev/null || true
  # Mounts the engine or the kubelet made under the state folder, deepest first.
  awk -v s="$STATE/" 'index($2, s) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  if ip link show "$VETH_ROOT" >/dev/null 2>&1; then ip link del "$VETH_ROOT"; fi
  if [ -e "/run/netns/$NETNS" ]; then ip netns del "$NETNS"; fi
  # The cgroups the node's engine made.
  for c in /sys/fs/cgroup/*/takeover-k8s; do [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null; done
  rm -rf "$STATE"
  say "down: nothing left"
}

status() {
  if [ ! -d "$STATE" ]; then say "down"; return 1; fi
  for f in "$STATE"/pids/*; do
    [ -e "$f" ] || continue
    local name pid
    name=$(basename "$f")
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then say "$name: pid $pid running"; else say "$name: pid $pid gone"; fi
  done
  if node_ready; then say "node $NODE Ready"; else say "node $NODE not Ready"; return 1; fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) printf "export KUBECONFIG=%s\nexport TAKEOVER_K8S_NODE_ENGINE=unix://%s\n" "$STATE/admin.kubeconfig" "$STATE/docker.sock" ;;
  *) echo "usage: $0 up | down | status | env" >&2; exit 2 ;;
esac
