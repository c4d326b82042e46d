#!/usr/bin/env bash
# promote-standby.sh: the on-call runbook for "the synthesis front door is down".
#
# 1. Check /health through the front door three times, each with a timeout.
# 2. If none answered 200, promote the standby in HAProxy through its runtime
#    API: take the primary out of rotation (maintenance) and enable the standby.
# 3. Verify: the front door must answer 200 on /health within a bound.
#
# Environment (set by `takeover run` for a `runbook` step; see docs/scenario-format.md):
#   TAKEOVER_FRONTDOOR_URL   the front door, e.g. http://127.0.0.1:40123
#   TAKEOVER_HAPROXY_ADMIN   HAProxy's runtime API, host:port (admin level)
#   CHECK_TIMEOUT            seconds per health check (default 1)
#   VERIFY_WITHIN            seconds the front door may take to come back (default 10)
# Exit: 0 service is up (already or after promotion), 1 promotion did not restore it,
#       2 the environment is incomplete.
set -euo pipefail

front=${TAKEOVER_FRONTDOOR_URL:?TAKEOVER_FRONTDOOR_URL is not set}
admin=${TAKEOVER_HAPROXY_ADMIN:?TAKEOVER_HAPROXY_ADMIN is not set}
check_timeout=${CHECK_TIMEOUT:-1}
verify_within=${VERIFY_WITHIN:-10}

. "$(dirname "${BASH_SOURCE[0]}")/haproxy-runtime.sh"

healthy() {
  curl -fsS -o /dev/null --max-time "$check_timeout" "$front/health"
}


server_states() {
  local host=${admin%:*} port=${admin##*:}
  exec 3<>"/dev/tcp/$host/$port"
  printf 'show stat\n' >&3
  timeout 3 cat <&3 | awk -F, '$1 == "workers" && $2 != "BACKEND" { print "  " $2 ": " $18 }' || true
  exec 3<&- 3>&-
}

failures=0
for attempt in 1 2 3; do
  if healthy 2>/dev/null; then
    log "check $attempt/3: front door healthy; nothing to do"
    exit 0
  fi
  failures=$((failures + 1))
  log "check $attempt/3: front door unhealthy"
  sleep 0.5
done

log "front door failed $failures/3 checks: promoting the standby"
server_states
haproxy_cmd "set server workers/primary state maint"
haproxy_cmd "enable server workers/standby"

deadline=$((SECONDS + verify_within))
while ((SECONDS < deadline)); do
  if healthy 2>/dev/null; then
    log "verified: front door healthy through the standby"
    server_states
    exit 0
  fi
  sleep 0.2
done
log "front door still unhealthy ${verify_within}s after promoting the standby"
server_states
exit 1
