# Shared by the runbooks here (sourced, not run): a timestamped log line and
# HAProxy's runtime API over TCP with bash's /dev/tcp (no socat needed).
# Needs `admin` (host:port of the runtime API, from TAKEOVER_HAPROXY_ADMIN).

log() { printf '%s %s\n' "$(date -u +%H:%M:%S.%3N)" "$*"; }

# One command to the runtime API; logs it with HAProxy's reply.
haproxy_cmd() {
  local host=${admin%:*} port=${admin##*:} reply
  exec 3<>"/dev/tcp/$host/$port"
  printf '%s\n' "$1" >&3
  reply=$(timeout 3 cat <&3 || true)
  exec 3<&- 3>&-
  log "haproxy> $1${reply:+ -> $reply}"
}
