#!/usr/bin/env bash
# seed-monitor.sh: the failover monitor as the seed article describes it, so a
# drill can measure what that design costs.
#
# The article's monitor is a script a scheduler (cron) runs on a period. Each
# round asks the primary's /health with curl (fail on any non-2xx answer, 5 s
# to connect), up to three times, waiting 2 s after every failed try; a healthy
# answer ends the round. When all three tries fail it starts the standby and
# points the load balancer at it. Here the standby is already running (warm)
# but held back by the front door (`failover: manual`), so promotion is the
# load-balancer half: HAProxy's runtime API puts the primary in maintenance and
# enables the standby.
#
# The drill starts this script right after the fault is witnessed. A real cron
# job would be somewhere in its period then; NEXT_ROUND_IN says how far the
# next round is (half a period is the average wait).
#
# Environment (set by `takeover run` for a `runbook` step; see docs/scenario-format.md):
#   TAKEOVER_PRIMARY_URL     the primary worker, e.g. http://127.0.0.1:40123
#   TAKEOVER_FRONTDOOR_URL   the front door
#   TAKEOVER_HAPROXY_ADMIN   HAProxy's runtime API, host:port (admin level)
#   MONITOR_PERIOD           seconds between rounds (default 30)
#   NEXT_ROUND_IN            seconds from the start to the first round (default MONITOR_PERIOD / 2)
#   CONNECT_TIMEOUT          curl's --connect-timeout per try (default 5)
#   TRIES                    tries per round (default 3)
#   TRY_PAUSE                seconds slept after each failed try (default 2)
#   VERIFY_WITHIN            seconds the front door may take to serve after promotion (default 10)
# Exit: 0 the standby was promoted and the front door serves, 1 it does not,
#       2 the environment is incomplete.
set -euo pipefail

primary=${TAKEOVER_PRIMARY_URL:?TAKEOVER_PRIMARY_URL is not set}
front=${TAKEOVER_FRONTDOOR_URL:?TAKEOVER_FRONTDOOR_URL is not set}
admin=${TAKEOVER_HAPROXY_ADMIN:?TAKEOVER_HAPROXY_ADMIN is not set (this monitor needs the HAProxy front door)}
period=${MONITOR_PERIOD:-30}
next_round_in=${NEXT_ROUND_IN:-$((period / 2))}
connect_timeout=${CONNECT_TIMEOUT:-5}
tries=${TRIES:-3}
try_pause=${TRY_PAUSE:-2}
verify_within=${VERIFY_WITHIN:-10}

. "$(dirname "${BASH_SOURCE[0]}")/haproxy-runtime.sh"

# One try, as the article's: -f turns any non-2xx answer into a failure; only
# the connection has a time limit.
primary_answers() {
  curl -fsS -o /dev/null --connect-timeout "$connect_timeout" "$primary/health"
}


# A round: true when the primary answered one of the tries.
round() {
  local n
  for n in $(seq 1 "$tries"); do
    if primary_answers 2>/dev/null; then
      log "round $1, try $n/$tries: primary healthy"
      return 0
    fi
    log "round $1, try $n/$tries: primary unhealthy; next try in ${try_pause}s"
    sleep "$try_pause"
  done
  return 1
}

log "monitor: every ${period}s, next round in ${next_round_in}s; ${tries} tries of $primary/health, ${connect_timeout}s to connect, ${try_pause}s apart"
sleep "$next_round_in"
r=1
while round "$r"; do
  sleep "$period"
  r=$((r + 1))
done

log "primary failed $tries/$tries tries: promoting the standby"
haproxy_cmd "set server workers/primary state maint"
haproxy_cmd "enable server workers/standby"
promoted=$SECONDS
while ((SECONDS - promoted < verify_within)); do
  if curl -fsS -o /dev/null --max-time 1 "$front/health" 2>/dev/null; then
    log "front door serves through the standby"
    exit 0
  fi
  sleep 0.1
done
log "front door still unhealthy ${verify_within}s after promoting the standby"
exit 1
