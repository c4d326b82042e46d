#!/usr/bin/env bash
# The multi-host test bed: N "hosts" on this one machine, each a network
# namespace with its own Docker engine (see docs/hosts.md).
#
# Usage: scripts/testbed-hosts.sh up N | down | status
#
#   up N    makes hosts h1..hN (1 <= N <= 8) and prints one line per host:
#           `hN <docker socket> <address>`. Fails if a test bed is already up.
#   down    removes everything `up` made, by the pids and names it recorded
#           (also what a killed `up` or a killed drill left behind). Safe to
#           run when nothing is up.
#   status  prints the hosts of the test bed that is up (exit 1 when none).
#
# Host hK is:
#   - the network namespace `takeover-tb-hK` (/run/netns/takeover-tb-hK);
#   - a veth pair `tkb-hK` (root side, 198.18.0.<4K+1>/30) <-> `eth0` in the
#     namespace (198.18.0.<4K+2>/30, its default route via the root side): the
#     host's address, the one other hosts reach it by;
#   - a dockerd started with `nsenter --net=/run/netns/takeover-tb-hK`, with
#     its own data root (/var/lib/takeover-tb/hK), exec root, pid file,
#     config file and socket (unix:///run/takeover-tb/hK/docker.sock), cgroup
#     parent /takeover-tb-hK and bridge 198.19.K.1/24; it starts its own
#     containerd.
# 198.18.0.0/15 is the benchmarking range (RFC 2544): `up` refuses to run when
# the machine already routes or holds an address in it.
#
# h1's engine also listens on tcp://198.18.0.6:2376 (its namespace address,
# never 0.0.0.0) with mutual TLS (`--tlsverify`), as a real host's engine
# would: `up` makes a CA of its own with `openssl`, a server certificate for
# 198.18.0.6 (IP SAN) and a client certificate, in /run/takeover-tb/tls
# (ca.pem, cert.pem, key.pem: what `stack.hosts.NAME.tls` names). Without
# `openssl` on PATH, h1 gets no TLS listener and `up` says so. `status` prints
# the listener as `tls h1 tcp://198.18.0.6:2376 /run/takeover-tb/tls`.
#
# In the root namespace, the chain TAKEOVER-TB (jumped to first from FORWARD)
# lets the hosts reach one another and drops anything a host sends elsewhere:
# test-bed traffic never leaves the machine. Host faults add DROP rules or
# blackhole routes; nothing here ever sets a link down (the route would go and
# traffic for the subnet would follow the default route out of the machine).
#
# Everything made is recorded under /run/takeover-tb (pids, names, a list of
# objects); `down` removes by pid and name, never by a broad process match.
set -Eeuo pipefail

PREFIX=takeover-tb
LINK_PREFIX=tkb
STATE=/run/$PREFIX
DATA=/var/lib/$PREFIX
CHAIN=TAKEOVER-TB
RANGE=198.18.0.0/15
MAX_HOSTS=8
TLS_DIR=$STATE/tls
TLS_PORT=2376

die() {
  echo "testbed-hosts: $*" >&2
  exit 2
}

log() { echo "testbed-hosts: $*" >&2; }

# The addresses of host $1: root side, namespace side, bridge.
root_addr() { echo "198.18.0.$((4 * $1 + 1))"; }
host_addr() { echo "198.18.0.$((4 * $1 + 2))"; }
bridge_ip() { echo "198.19.$1.1/24"; }

need_root_tools() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (it makes namespaces, links and iptables rules)"
  for p in ip iptables nsenter dockerd containerd; do
    command -v "$p" >/dev/null 2>&1 || die "\`$p\` is not on PATH"
  done
}

# Refuses when anything on the machine already uses 198.18.0.0/15: an address
# or a route there that is not the test bed's own would collide. The Kubernetes
# test bed's link (tk8s-root, scripts/k8s-testbed.sh: 198.19.252.0-198.19.254.3)
# is the project's own and does not overlap these hosts' blocks.
check_range_free() {
  local clash
  clash=$(
    {
      ip -4 -o addr show | awk '{print $4 " (address on " $2 ")"}'
      ip -4 route show table all | awk '{print $1 " (route " $0 ")"}'
    } | grep -E '^198\.(18|19)\.' | grep -v -e " $LINK_PREFIX-h[0-9]" -e " tk8s-root" || true
  )
  if [ -n "$clash" ]; then
    die "the machine already uses the test bed's range $RANGE:
$clash
refusing to make hosts whose addresses would collide"
  fi
  # A default route inside 198.18/15 or a route covering it (e.g. 198.0.0.0/7)
  # would also catch test-bed traffic.
  if ip -4 route show table all | awk '{print $1}' | grep -Eq '^198\.(0|16)\.0\.0/(7|8|9|10|11|12|13|14)$'; then
    die "a route on this machine covers $RANGE; refusing to make hosts there"
  fi
}

record() { echo "$*" >>"$STATE/objects"; }

# ---------------------------------------------------------------- TLS

# An EC P-256 key and signing request: key file $1, request $2, subject $3.
tls_request() {
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -subj "$3" -keyout "$1" -out "$2"
}

# Signs request $1 with the test bed's CA into certificate $2, with the
# extensions of file $3.
tls_sign() {
  openssl x509 -req -in "$1" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca-key.pem" \
    -CAcreateserial -days 2 -extfile "$3" -out "$2"
}

# Mutual TLS for h1's engine: a CA made for this test bed only, a server
# certificate whose IP SAN is h1's address, a client certificate. Keys are
# readable by root only; `down` removes the folder.
make_tls() {
  local addr
  addr=$(host_addr 1)
  mkdir -m 700 "$TLS_DIR"
  record "dir $TLS_DIR"
  # One && chain: `set -e` does not act inside a subshell that `||` tests.
  (
    umask 077 && cd "$TLS_DIR" &&
      openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -days 2 -subj "/CN=takeover test bed CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout ca-key.pem -out ca.pem &&
      tls_request server-key.pem server.csr "/CN=h1" &&
      printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:%s\n' \
        "$addr" >server.ext &&
      tls_sign server.csr server-cert.pem server.ext &&
      tls_request key.pem client.csr "/CN=takeover harness" &&
      printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >client.ext &&
      tls_sign client.csr cert.pem client.ext &&
      rm -f server.csr client.csr server.ext client.ext ca.srl
  ) >"$TLS_DIR/openssl.log" 2>&1 || {
    log "making the TLS certificates failed; openssl said:"
    cat "$TLS_DIR/openssl.log" >&2
    return 1
  }
}

# dockerd's flags for host $1's TLS listener: only h1 has one, and only when
# its certificates were made.
tls_flags() {
  [ "$1" -eq 1 ] && [ -s "$TLS_DIR/server-cert.pem" ] || return 0
  echo "-H tcp://$(host_addr 1):$TLS_PORT --tlsverify --tlscacert $TLS_DIR/ca.pem" \
    "--tlscert $TLS_DIR/server-cert.pem --tlskey $TLS_DIR/server-key.pem"
}

# Whether host $1's TLS listener answers a client with the test bed's certificate.
tls_answers() {
  DOCKER_HOST="tcp://$(host_addr "$1"):$TLS_PORT" docker --tlsverify \
    --tlscacert "$TLS_DIR/ca.pem" --tlscert "$TLS_DIR/cert.pem" --tlskey "$TLS_DIR/key.pem" \
    version --format '{{.Server.Version}}' >/dev/null 2>&1
}

# ---------------------------------------------------------------- up

up_host() {
  local k=$1
  local ns="$PREFIX-h$k" link="$LINK_PREFIX-h$k" peer="$LINK_PREFIX-h$k-in"
  local dir="$STATE/h$k" data="$DATA/h$k"
  mkdir -p "$dir" "$data"
  record "dir $dir"
  record "dir $data"

  ip netns add "$ns"
  record "netns $ns"
  ip link add "$link" type veth peer name "$peer"
  record "link $link"
  ip link set "$peer" netns "$ns"
  ip addr add "$(root_addr "$k")/30" dev "$link"
  ip link set "$link" up
  nsenter --net="/run/netns/$ns" ip link set lo up
  nsenter --net="/run/netns/$ns" ip link set "$peer" name eth0
  nsenter --net="/run/netns/$ns" ip addr add "$(host_addr "$k")/30" dev eth0
  nsenter --net="/run/netns/$ns" ip link set eth0 up
  nsenter --net="/run/netns/$ns" ip route add default via "$(root_addr "$k")"

  for hierarchy in /sys/fs/cgroup/*/; do
    [ -d "$hierarchy" ] || continue
    record "cgroup $hierarchy$ns"
  done

  cat >"$dir/daemon.json" <<EOF
{
  "storage-driver": "$(storage_driver)",
  "log-driver": "json-file",
  "log-opts": {"max-size": "10m", "max-file": "2"},
  "mtu": 1400,
  "live-restore": false
}
EOF
  local tls
  tls=$(tls_flags "$k")
  # shellcheck disable=SC2086 # $tls is words of flags (paths without spaces)
  nsenter --net="/run/netns/$ns" setsid dockerd $tls \
    --config-file "$dir/daemon.json" \
    --data-root "$data" \
    --exec-root "$dir/exec" \
    --pidfile "$dir/dockerd.pid" \
    -H "unix://$dir/docker.sock" \
    --cgroup-parent "/$ns" \
    --bip "$(bridge_ip "$k")" \
    >"$dir/dockerd.log" 2>&1 </dev/null &
  echo $! >"$dir/dockerd.spawned"
  record "dockerd $dir"
}

# The root engine's storage driver, so the hosts behave as it does
# (fuse-overlayfs where overlay on overlay does not work).
storage_driver() {
  local driver
  driver=$(docker info --format '{{.Driver}}' 2>/dev/null || true)
  echo "${driver:-overlay2}"
}

wait_ready() {
  local k=$1 dir="$STATE/h$k" i
  for i in $(seq 1 150); do
    if DOCKER_HOST="unix://$dir/docker.sock" docker version --format '{{.Server.Version}}' >/dev/null 2>&1 &&
      { [ -z "$(tls_flags "$k")" ] || tls_answers "$k"; }; then
      # dockerd's managed containerd writes its pid here.
      [ -s "$dir/exec/containerd/containerd.pid" ] && cp "$dir/exec/containerd/containerd.pid" "$dir/containerd.pid"
      return 0
    fi
    if ! kill -0 "$(cat "$dir/dockerd.spawned")" 2>/dev/null; then
      log "dockerd of h$k exited; its log:"
      tail -20 "$dir/dockerd.log" >&2
      return 1
    fi
    sleep 0.1
  done
  log "dockerd of h$k did not answer within 15 s; its log:"
  tail -20 "$dir/dockerd.log" >&2
  return 1
}

up_chain() {
  iptables -N "$CHAIN"
  record "chain $CHAIN"
  iptables -I FORWARD 1 -j "$CHAIN"
  # Between test-bed hosts: allowed. Anything else a host sends through the
  # root namespace: dropped, so no drill traffic can leave the machine.
  iptables -A "$CHAIN" -i "$LINK_PREFIX-h+" -o "$LINK_PREFIX-h+" -j ACCEPT
  iptables -A "$CHAIN" -i "$LINK_PREFIX-h+" -j DROP
  iptables -A "$CHAIN" -o "$LINK_PREFIX-h+" -j DROP
}

cmd_up() {
  local n=${1:-}
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le "$MAX_HOSTS" ] ||
    die "usage: up N, with 1 <= N <= $MAX_HOSTS"
  need_root_tools
  if [ -e "$STATE" ]; then
    die "a test bed is already up (or a killed one left $STATE): run \`$0 down\` first"
  fi
  check_range_free
  mkdir -p "$STATE"
  : >"$STATE/objects"
  record "dir $STATE"
  [ -d /run/netns ] || record "netns-dir /run/netns"
  # Half-way failures remove whatever was made so far.
  trap 'log "up failed; removing what it made"; cmd_down >/dev/null 2>&1 || true; exit 1' ERR
  up_chain
  if command -v openssl >/dev/null 2>&1; then
    make_tls
  else
    log "\`openssl\` is not on PATH: h1's engine gets no TLS listener"
  fi
  local k
  for k in $(seq 1 "$n"); do up_host "$k"; done
  for k in $(seq 1 "$n"); do wait_ready "$k" || false; done
  trap - ERR
  echo "$n" >"$STATE/hosts"
  cmd_status
}

# ---------------------------------------------------------------- down

# Ends a process by pid: SIGTERM, up to $2 tenths of a second, then SIGKILL.
end_pid() {
  local pid=$1 tenths=${2:-100} i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 "$tenths"); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
}

# Pids of the processes whose command line names the folder $1 (dockerd,
# containerd, containerd-shim of a killed engine): each is one the test bed
# started, found by its own state path, not by a program name.
pids_using() {
  local dir=$1 f
  # One grep over every command line (NUL-separated, hence -a); the list is
  # expanded before grep starts, so it never finds itself.
  for f in $(grep -laF -- "$dir/" /proc/[0-9]*/cmdline 2>/dev/null || true); do
    f=${f#/proc/}
    echo "${f%/cmdline}"
  done
}

# The pids in the cgroups of host $1 (a killed engine's containers).
pids_in_cgroups() {
  local k=$1 f
  for f in /sys/fs/cgroup/*/"$PREFIX-h$k"/*/cgroup.procs /sys/fs/cgroup/*/"$PREFIX-h$k"/cgroup.procs; do
    if [ -f "$f" ]; then cat "$f" 2>/dev/null || true; fi
  done | sort -u
}

# SIGKILLs the processes in host $1's cgroups and waits (up to 5 s) for them to go.
kill_cgroup_pids() {
  local k=$1 pid i
  for i in $(seq 1 50); do
    pid=$(pids_in_cgroups "$k")
    [ -n "$pid" ] || return 0
    # shellcheck disable=SC2086 # one pid a word
    kill -KILL $pid 2>/dev/null || true
    sleep 0.1
  done
}

# Removes the cgroup folder $1 of a host, its children first.
remove_cgroup() {
  local dir=$1 child
  [ -d "$dir" ] || return 0
  for child in "$dir"/*/; do
    [ -d "$child" ] && remove_cgroup "${child%/}"
  done
  rmdir "$dir" 2>/dev/null || true
}

down_engine() {
  local k=$1 dir="$STATE/h$1" data="$DATA/h$1" f pid
  # dockerd first: it stops its containers and its containerd.
  for f in dockerd.pid dockerd.spawned; do
    [ -s "$dir/$f" ] && end_pid "$(cat "$dir/$f")" 150
  done
  [ -s "$dir/containerd.pid" ] && end_pid "$(cat "$dir/containerd.pid")" 50
  # What a SIGKILLed engine leaves: its containers' processes (in its cgroup
  # parent), shims and fuse-overlayfs mounts (named by its folders).
  kill_cgroup_pids "$k"
  for pid in $(pids_using "$dir") $(pids_using "$data"); do end_pid "$pid" 20; done
  return 0
}

# Unmounts everything under the folder $1, deepest first.
unmount_under() {
  local dir=$1 m
  { awk '{print $2}' /proc/self/mounts | grep -E "^$dir(/|$)" || true; } | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}

cmd_down() {
  need_root_tools
  local objects="$STATE/objects" kind what k f
  # Engines first (while their namespaces still exist), then the rest in
  # reverse order of making.
  # Every engine with a folder, also one a killed `up` did not record. Their
  # containers go first, all at once (a test bed keeps nothing worth a
  # graceful stop, and an engine stopping them waits 10 s for each that
  # ignores SIGTERM).
  local dir hosts=()
  for dir in "$STATE"/h*/ "$DATA"/h*/; do
    [ -d "$dir" ] || continue
    dir=${dir%/}
    hosts+=("${dir##*/h}")
  done
  for k in "${hosts[@]}"; do kill_cgroup_pids "$k"; done
  # All engines stop at once; down_engine then waits for each.
  for k in "${hosts[@]}"; do
    for f in dockerd.pid dockerd.spawned; do
      [ -s "$STATE/h$k/$f" ] && kill -TERM "$(cat "$STATE/h$k/$f")" 2>/dev/null || true
    done
  done
  for k in "${hosts[@]}"; do down_engine "$k"; done
  if [ -f "$objects" ]; then
    tac "$objects" | while read -r kind what; do
      case "$kind" in
        link) ip link del "$what" 2>/dev/null || true ;;
        netns) ip netns del "$what" 2>/dev/null || true ;;
        cgroup) remove_cgroup "$what" ;;
        chain)
          while iptables -D FORWARD -j "$what" 2>/dev/null; do :; done
          iptables -F "$what" 2>/dev/null || true
          iptables -X "$what" 2>/dev/null || true
          ;;
        dir)
          unmount_under "$what"
          rm -rf --one-file-system "$what"
          ;;
        netns-dir)
          if [ -d "$what" ] && [ -z "$(ls -A "$what")" ]; then
            umount "$what" 2>/dev/null || true
            rmdir "$what" 2>/dev/null || true
          fi
          ;;
      esac
    done
  fi
  sweep_by_name
}

# What carries the project's prefix but was not (or no longer) recorded: a
# killed `down`, or a state folder removed by hand.
sweep_by_name() {
  local name
  for name in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E "^$LINK_PREFIX-h[0-9]+$" || true); do
    ip link del "$name" 2>/dev/null || true
  done
  if [ -d /run/netns ]; then
    for name in $(ls /run/netns | grep -E "^$PREFIX-h[0-9]+$" || true); do
      ip netns del "$name" 2>/dev/null || true
    done
  fi
  if iptables -S "$CHAIN" >/dev/null 2>&1; then
    while iptables -D FORWARD -j "$CHAIN" 2>/dev/null; do :; done
    iptables -F "$CHAIN" || true
    iptables -X "$CHAIN" || true
  fi
  for name in /sys/fs/cgroup/*/"$PREFIX"-h*; do
    [ -d "$name" ] || continue
    kill_cgroup_pids "${name##*-h}"
    remove_cgroup "$name"
  done
  for name in "$STATE" "$DATA"; do
    if [ -e "$name" ]; then
      unmount_under "$name"
      rm -rf --one-file-system "$name"
    fi
  done
}

# ---------------------------------------------------------------- status

cmd_status() {
  [ -s "$STATE/hosts" ] || {
    echo "no test bed is up" >&2
    return 1
  }
  local n k
  n=$(cat "$STATE/hosts")
  for k in $(seq 1 "$n"); do
    echo "h$k unix://$STATE/h$k/docker.sock $(host_addr "$k")"
  done
  if [ -n "$(tls_flags 1)" ]; then
    echo "tls h1 tcp://$(host_addr 1):$TLS_PORT $TLS_DIR"
  fi
}

case "${1:-}" in
  up) cmd_up "${2:-}" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) die "usage: $0 up N | down | status" ;;
esac
