#!/usr/bin/env bash
# A Kubernetes 1.20 of one to four nodes on this machine, for takeover's Kubernetes drills.
#
#   scripts/k8s-testbed.sh up       start it (idempotent: a running test bed is kept)
#   scripts/k8s-testbed.sh down     stop it and remove everything it made
#   scripts/k8s-testbed.sh status   say what runs; exit 0 when every node is Ready
#   scripts/k8s-testbed.sh env      print `export KUBECONFIG=... TAKEOVER_K8S_NODE_ENGINE=...` for a shell
#
# K8S_NODES (1 to 4, default 2) sets how many nodes `up` makes.
#
# What it makes (every piece recorded under $STATE, removed by `down`):
#   - etcd (Debian's etcd-server) on 127.0.0.1:23790;
#   - kube-apiserver on 198.19.254.1:16443 (token auth, RBAC), and the
#     controller manager and scheduler beside it, all in the root namespace;
#     the controller manager judges a node lost after 5 s without its lease
#     renewed (`--node-monitor-grace-period`), so a node loss shows in seconds;
#   - per node K (1..K8S_NODES), everything under $STATE/nK:
#     - a network namespace (`takeover-k8s`, then `takeover-k8s-K`) joined to
#       the root namespace by a veth pair (`tk8s-root` <-> `tk8s-node`, then
#       `tk8s-rootK` <-> `tk8s-nodeK`) on 198.19.254.<4(K-1)>/30 (root side
#       .+1, node side .+2), pods on 198.19.253.0/24 (node 1), 198.19.<253-K>.0/24
#       (node K > 1) behind the node; the namespace's only route beyond its
#       link is 198.19.248.0/21 through the root side (the API server and the
#       other nodes' pods), so nothing in it can reach beyond the test bed;
#     - a dockerd of its own inside the namespace (never the main engine: the
#       kubelet manages every container of the engine it is given), with a runc
#       wrapper that clamps the negative oom_score_adj this VM refuses;
#     - the kubelet inside the namespace, node name `takeover-node` (then
#       `takeover-node-K`), using that dockerd (its dockershim socket in nK/),
#       with a static `pause` sandbox image loaded into it; its pid is also in
#       nK/kubelet.pid, where `takeover`'s `node-loss` finds it;
#   - with more than one node, one ACCEPT rule at the top of the root
#     namespace's FORWARD chain for traffic between the test bed's links
#     (Docker's FORWARD policy is DROP), tagged `takeover-k8s-testbed`.
# The binaries come from ../shared/k8s (kubernetes-1.20.2-linux-amd64.tar.xz,
# built from Debian's source package; its SHA256SUMS is checked), or from
# $TAKEOVER_K8S_TARBALL. Images for pods are loaded into each node's dockerd:
# `docker -H unix://$STATE/nK/docker.sock load` (pods use imagePullPolicy: Never).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
STATE="${TAKEOVER_K8S_STATE:-/run/takeover-k8s}"
TARBALL="${TAKEOVER_K8S_TARBALL:-$root/../shared/k8s/kubernetes-1.20.2-linux-amd64.tar.xz}"
NODES="${K8S_NODES:-2}"
# The API server listens on node 1's link, root side.
ROOT_ADDR=198.19.254.1
APISERVER="https://$ROOT_ADDR:16443"
ETCD_URL=http://127.0.0.1:23790
PAUSE_IMAGE=takeover-k8s/pause:1.20.2
FORWARD_TAG=takeover-k8s-testbed
# Everything a node's namespace may reach through its link: the API server's
# link and every node's pods (198.19.248.0-198.19.255.255).
BED_NET=198.19.248.0/21

# Node K's names and addresses (K from 1): node 1 keeps the one-node test
# bed's names, so a one-node test bed is what it always was.
node_name() { if [ "$1" = 1 ]; then echo takeover-node; else echo "takeover-node-$1"; fi; }
node_netns() { if [ "$1" = 1 ]; then echo takeover-k8s; else echo "takeover-k8s-$1"; fi; }
node_veth_root() { if [ "$1" = 1 ]; then echo tk8s-root; else echo "tk8s-root$1"; fi; }
node_veth_node() { if [ "$1" = 1 ]; then echo tk8s-node; else echo "tk8s-node$1"; fi; }
node_root_addr() { echo "198.19.254.$((4 * ($1 - 1) + 1))"; }
node_addr() { echo "198.19.254.$((4 * ($1 - 1) + 2))"; }
node_pods_octet() { if [ "$1" = 1 ]; then echo 253; else echo $((253 - $1)); fi; }
node_dir() { echo "$STATE/n$1"; }

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

# The routes of our ranges must not already exist outside this test bed: a
# collision would send drill traffic somewhere else.
check_no_collision() {
  if ip -4 route show | grep -v ' tk8s-root' | grep -q '^198\.19\.2\(4[89]\|5[0-9]\)\.'; then
    die "198.19.248.0/21 is already routed on this machine; refusing to add a test bed over it"
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

# Node K's namespace and link, and the root namespace's route to its pods.
make_network() {
  local k=$1 netns veth_root veth_node root_addr addr octet
  netns=$(node_netns "$k") veth_root=$(node_veth_root "$k") veth_node=$(node_veth_node "$k")
  root_addr=$(node_root_addr "$k") addr=$(node_addr "$k") octet=$(node_pods_octet "$k")
  ip netns add "$netns"
  echo "$netns" >>"$STATE/netns"
  ip link add "$veth_root" type veth peer name "$veth_node"
  echo "$veth_root" >>"$STATE/veth"
  ip link set "$veth_node" netns "$netns"
  ip addr add "$root_addr/30" dev "$veth_root"
  ip link set "$veth_root" up
  nsenter --net="/run/netns/$netns" ip addr add "$addr/30" dev "$veth_node"
  nsenter --net="/run/netns/$netns" ip link set "$veth_node" up
  nsenter --net="/run/netns/$netns" ip link set lo up
  # The API server and the other nodes' pods, through the root namespace.
  nsenter --net="/run/netns/$netns" ip route add "$BED_NET" via "$root_addr"
  # Pods (on the node engine's bridge) are reached through the node's side of
  # the link; the route goes with the veth.
  ip route add "198.19.$octet.0/24" via "$addr" dev "$veth_root"
}

# Lets the root namespace forward between the nodes' links (Docker's FORWARD
# policy is DROP), so that a pod reaches a pod on another node.
allow_between_nodes() {
  iptables -w -I FORWARD 1 -i 'tk8s-root+' -o 'tk8s-root+' -m comment --comment "$FORWARD_TAG" -j ACCEPT
  echo "$FORWARD_TAG" >"$STATE/forward"
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
    --controllers='*,-serviceaccount-token' --use-service-account-credentials=false \
    --node-monitor-period=1s --node-monitor-grace-period=5s
  start scheduler "$STATE/bin/kube-scheduler" --kubeconfig="$STATE/admin.kubeconfig" \
    --leader-elect=false --port=0 --secure-port=0
}

# Node K's dockerd, in its namespace.
start_node_engine() {
  local k=$1 dir netns
  dir=$(node_dir "$k") netns=$(node_netns "$k")
  mkdir -p "$dir/docker" "$dir/docker-exec"
  install -m 0755 "$root/../shared/k8s/runc-wrap" "$STATE/runc-wrap" 2>/dev/null ||
    tar -xJf "$TARBALL" -C "$STATE" runc-wrap
  cat >"$dir/daemon.json" <<EOF
{
  "storage-driver": "fuse-overlayfs",
  "cgroup-parent": "/takeover-k8s-n$k",
  "bip": "198.19.$(node_pods_octet "$k").1/24",
  "iptables": true,
  "runtimes": {"runc-takeover": {"path": "$STATE/runc-wrap"}},
  "default-runtime": "runc-takeover"
}
EOF
  start "n$k-dockerd" nsenter --net="/run/netns/$netns" dockerd \
    --data-root "$dir/docker" --exec-root "$dir/docker-exec" \
    -H "unix://$dir/docker.sock" --pidfile "$dir/dockerd.pid" \
    --config-file "$dir/daemon.json"
}

# Waits for node K's dockerd and gives it the pause image (the pod sandbox).
load_pause() {
  local k=$1 dir
  dir=$(node_dir "$k")
  wait_for "node $k's dockerd" 60 docker -H "unix://$dir/docker.sock" info
  tar -C "$STATE/bin" -c pause |
    docker -H "unix://$dir/docker.sock" import -c 'ENTRYPOINT ["/pause"]' - "$PAUSE_IMAGE" >/dev/null
}

# Node K's kubelet. It renews its lease every 1.25 s (a quarter of
# --node-lease-duration-seconds) and its status every second, so that the
# controller manager's 5 s grace period tells a lost node from a slow one.
start_kubelet() {
  local k=$1 dir netns
  dir=$(node_dir "$k") netns=$(node_netns "$k")
  mkdir -p "$dir/kubelet" "$dir/dockershim"
  # The lease's length has no flag in 1.20: a config file holds it.
  cat >"$dir/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
nodeLeaseDurationSeconds: 5
nodeStatusUpdateFrequency: 1s
EOF
  start "n$k-kubelet" nsenter --net="/run/netns/$netns" "$STATE/bin/kubelet" \
    --kubeconfig="$STATE/admin.kubeconfig" --hostname-override="$(node_name "$k")" \
    --node-ip="$(node_addr "$k")" \
    --container-runtime=docker --docker-endpoint="unix://$dir/docker.sock" \
    --container-runtime-endpoint="unix://$dir/dockershim.sock" \
    --image-service-endpoint="unix://$dir/dockershim.sock" \
    --experimental-dockershim-root-directory="$dir/dockershim" \
    --pod-infra-container-image="$PAUSE_IMAGE" --cgroup-driver=cgroupfs --fail-swap-on=false \
    --root-dir="$dir/kubelet" --cert-dir="$dir/kubelet/pki" --cgroups-per-qos=false \
    --enforce-node-allocatable= --address=127.0.0.1 --read-only-port=0 --healthz-port=0 \
    --authorization-mode=AlwaysAllow --eviction-hard= --image-gc-high-threshold=100 \
    --image-gc-low-threshold=99 --register-node=true --config="$dir/kubelet.yaml"
  cp "$STATE/pids/n$k-kubelet" "$dir/kubelet.pid"
  node_name "$k" >"$dir/node"
}

# Whether node $1 (a name) is Ready.
node_ready() {
  [ -f "$STATE/tokens.csv" ] &&
    [ "$(api_get "/api/v1/nodes/$1" | jq -r '.status.conditions[] | select(.type == "Ready") | .status')" = True ]
}

# The node count of the test bed that is up (that `up` was asked for otherwise).
recorded_nodes() { cat "$STATE/nodes" 2>/dev/null || echo "$NODES"; }

all_ready() {
  local k
  for k in $(seq 1 "$(recorded_nodes)"); do node_ready "$(node_name "$k")" || return 1; done
}

# Like wait_for, without failing: whether "${@:2}" succeeded within $1 seconds.
wait_quietly() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

up() {
  [ "$(id -u)" = 0 ] || die "must run as root (network namespace, dockerd)"
  case "$NODES" in 1 | 2 | 3 | 4) ;; *) die "K8S_NODES must be 1 to 4 (got $NODES)" ;; esac
  for tool in etcd nsenter ip iptables openssl jq dockerd docker curl setsid; do
    command -v "$tool" >/dev/null || die "needs \`$tool\` (apt-get install etcd-server jq curl openssl)"
  done
  # A kubelet left stopped by a killed drill's `node-loss` goes on.
  for f in "$STATE"/n*/kubelet.pid; do [ -f "$f" ] && kill -CONT "$(cat "$f")" 2>/dev/null; done
  if [ -f "$STATE/up" ] && [ "$(recorded_nodes)" = "$NODES" ] && wait_quietly 15 all_ready; then
    say "already up (KUBECONFIG=$STATE/admin.kubeconfig)"
    return
  fi
  if [ -d "$STATE" ]; then down; fi
  mkdir -p "$STATE/pids" "$STATE/log"
  echo "$NODES" >"$STATE/nodes"
  trap 'say "up failed; removing what was made"; down' ERR
  unpack_binaries
  check_no_collision
  local k
  for k in $(seq 1 "$NODES"); do make_network "$k"; done
  if [ "$NODES" -gt 1 ]; then allow_between_nodes; fi
  make_credentials
  # The node engines start while the control plane does.
  for k in $(seq 1 "$NODES"); do start_node_engine "$k"; done
  start_control_plane
  for k in $(seq 1 "$NODES"); do load_pause "$k"; done
  for k in $(seq 1 "$NODES"); do start_kubelet "$k"; done
  for k in $(seq 1 "$NODES"); do wait_for "node $(node_name "$k") Ready" 120 node_ready "$(node_name "$k")"; done
  trap - ERR
  touch "$STATE/up"
  say "up: $NODES node(s) Ready; KUBECONFIG=$STATE/admin.kubeconfig, images: docker -H unix://$STATE/nK/docker.sock"
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
  local dir name f
  # The kubelets first, so that they do not restart the pods the engines stop
  # (a stopped one is killed as it is).
  for f in "$STATE"/pids/n*-kubelet; do [ -e "$f" ] && stop_pid "$(basename "$f")" 5; done
  for dir in "$STATE"/n*/; do
    dir=${dir%/}
    if [ -S "$dir/docker.sock" ]; then
      local ids
      ids=$(docker -H "unix://$dir/docker.sock" ps -aq 2>/dev/null || true)
      [ -z "$ids" ] || docker -H "unix://$dir/docker.sock" rm -f $ids >/dev/null 2>&1 || true
    fi
  done
  for f in "$STATE"/pids/n*-dockerd; do [ -e "$f" ] && stop_pid "$(basename "$f")" 20; done
  for name in scheduler controller-manager apiserver etcd; do stop_pid "$name" 10; done
  # The node engines may leave their own containerd and shims behind them.
  for dir in "$STATE"/n*/; do
    dir=${dir%/}
    pkill -KILL -f -- "$dir/docker-exec" 2>/dev/null || true
    pkill -KILL -f -- "$dir/docker/containerd" 2>/dev/null || true
  done
  # Mounts the engines or the kubelets made under the state folder, deepest first.
  awk -v s="$STATE/" 'index($2, s) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  if [ -f "$STATE/forward" ]; then
    while iptables -w -D FORWARD -i 'tk8s-root+' -o 'tk8s-root+' -m comment --comment "$FORWARD_TAG" -j ACCEPT 2>/dev/null; do :; done
  fi
  local veth netns
  for veth in $(cat "$STATE/veth" 2>/dev/null); do
    if ip link show "$veth" >/dev/null 2>&1; then ip link del "$veth"; fi
  done
  for netns in $(cat "$STATE/netns" 2>/dev/null); do
    if [ -e "/run/netns/$netns" ]; then ip netns del "$netns"; fi
  done
  # The cgroups the node engines made.
  for c in /sys/fs/cgroup/*/takeover-k8s-n*; do [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null; done
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
  local k ready=0
  for k in $(seq 1 "$(recorded_nodes)"); do
    if node_ready "$(node_name "$k")"; then say "node $(node_name "$k") Ready"; else say "node $(node_name "$k") not Ready"; ready=1; fi
  done
  return $ready
}

# TAKEOVER_K8S_NODE_ENGINE: each node's engine, `NODE=ENDPOINT,...`.
engines() {
  local k out=""
  for k in $(seq 1 "$(recorded_nodes)"); do
    out="$out${out:+,}$(node_name "$k")=unix://$(node_dir "$k")/docker.sock"
  done
  echo "$out"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) printf "export KUBECONFIG=%s\nexport TAKEOVER_K8S_NODE_ENGINE=%s\n" "$STATE/admin.kubeconfig" "$(engines)" ;;
  *) echo "usage: $0 up | down | status | env" >&2; exit 2 ;;
esac
