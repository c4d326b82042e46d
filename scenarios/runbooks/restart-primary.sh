#!/usr/bin/env bash
# restart-primary.sh: a runbook with a realistic mistake, shipped so that the
# drill can show it is caught.
#
# The author assumed the primary is "stuck" and that bouncing it in HAProxy
# brings it back: it forces the primary out of maintenance and back to ready,
# then waits for it to become healthy. But the primary's process is dead, so
# it never comes back, and the wait has no timeout of its own: only the drill's
# runbook timeout stops it. The standby, healthy all along, is never enabled.
#
# Environment: TAKEOVER_FRONTDOOR_URL, TAKEOVER_HAPROXY_ADMIN (see promote-standby.sh).
set -uo pipefail

front=${TAKEOVER_FRONTDOOR_URL:?TAKEOVER_FRONTDOOR_URL is not set}
admin=${TAKEOVER_HAPROXY_ADMIN:?TAKEOVER_HAPROXY_ADMIN is not set}

. "$(dirname "${BASH_SOURCE[0]}")/haproxy-runtime.sh"


log "restarting the primary in the front door"
haproxy_cmd "disable server workers/primary"
haproxy_cmd "enable server workers/primary"
haproxy_cmd "set server workers/primary state ready"

# The mistake: wait for the primary to come back, however long it takes.
n=0
until curl -fsS -o /dev/null --max-time 1 "$front/health" 2>/dev/null; do
  n=$((n + 1))
  log "waiting for the primary to come back (attempt $n)"
  sleep 1
done
log "primary is back"
