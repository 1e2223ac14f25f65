#!/bin/bash
# metrics.sh - end-to-end test of the Prometheus endpoint: mxguard with
# "metrics = 127.0.0.1:PORT" behind a private Postfix (tests/lib), a test
# DNS server on 127.0.0.1, and scrapes over HTTP during and after the run:
#  - while a message sits between RCPT and DATA: one message in flight and
#    one connection open;
#  - after the messages: the counters per action, per rule (fired and dry
#    run), per check result and DNS list equal what the test sent, and equal
#    the decision lines mxguard logged;
#  - DNS queries by outcome add up to the latency histogram's count;
#  - SIGHUP with a good and with a broken config counts ok / failed reloads;
#    the info metric carries the SHA-256 of the config file;
#  - the milter socket is TCP in Postfix's syntax, inet:127.0.0.1:PORT, in
#    both mxguard.conf and smtpd_milters;
#  - `promtool check metrics` (Debian package prometheus) accepts every
#    scrape; 404 and 405 for other paths and methods.
#
# Environment (TESTS_ENVIRONMENT in Makefile.am): MXGUARD, TESTS_SRCDIR,
# POSTFIX, UNBOUND_SERVER; PROMTOOL (default: promtool on PATH).  Needs root
# (a private Postfix instance).  RIG_KEEP=1 keeps the temporary files.

TESTS_SRCDIR=${TESTS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$TESTS_SRCDIR/lib/rig.sh"
. "$TESTS_SRCDIR/lib/postfix.sh"
rig_init metrics
T0=$(rig_now_ms)
HERE="$TESTS_SRCDIR/e2e"
PROMTOOL=${PROMTOOL:-$(command -v promtool || echo /usr/bin/promtool)}

rig_need_exec mxguard "${MXGUARD:-}"
rig_need_exec postfix "${POSTFIX:-}"
rig_need_exec promtool "$PROMTOOL"

rig_start_dns "$HERE/zone.conf"
# The milter socket over TCP, written as Postfix writes it (inet:HOST:PORT)
# both in mxguard.conf and in Postfix's smtpd_milters.
SOCKET="inet:127.0.0.1:$(rig_free_port)"
# shellcheck disable=SC2034 # used through RIG_SUBST_VARS
DNS_PORT=$RIG_DNS_PORT
METRICS_PORT=$(rig_free_port)
RIG_SUBST_VARS="SOCKET DNS_PORT METRICS_PORT"
CONF="$RIG_TMP/mxguard.conf"
rig_subst "$HERE/metrics.conf.in" "$CONF"
rig_start_mxguard "$CONF" "$SOCKET"
rig_start_sink
rig_start_postfix "$SOCKET"

# ---- HTTP over bash /dev/tcp (127.0.0.1 only) --------------------------------
# scrape [METHOD] [PATH]: sets HTTP_STATUS, HTTP_MS and writes the body to
# $RIG_TMP/scrape.txt (also kept as scrape-N.txt).
NSCRAPE=0
scrape() {
    local method=${1:-GET} path=${2:-/metrics} fd t0
    NSCRAPE=$((NSCRAPE + 1))
    HTTP_STATUS=000
    t0=$(rig_now_ms)
    exec {fd}<>"/dev/tcp/127.0.0.1/$METRICS_PORT" || return 1
    printf '%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$method" "$path" >&"$fd"
    timeout 10 cat <&"$fd" > "$RIG_TMP/http.raw"
    exec {fd}>&-
    HTTP_MS=$(( $(rig_now_ms) - t0 ))
    HTTP_STATUS=$(head -1 "$RIG_TMP/http.raw" | awk '{print $2}')
    sed '1,/^\r\?$/d' "$RIG_TMP/http.raw" > "$RIG_TMP/scrape.txt"
    cp "$RIG_TMP/scrape.txt" "$RIG_TMP/scrape-$NSCRAPE.txt"
}
# metric SERIES: the value of one sample line of the last scrape ("" if none).
metric() { awk -v s="$1" 'substr($0, 1, length(s) + 1) == s " " { print $NF; exit }' "$RIG_TMP/scrape.txt"; }
# promtool_ok: the last scrape passes promtool's checks.
promtool_ok() {
    "$PROMTOOL" check metrics < "$RIG_TMP/scrape.txt" > "$RIG_TMP/promtool.out" 2>&1 ||
        { sed 's/^/#   /' "$RIG_TMP/promtool.out"; return 1; }
}

scrape
rig_eq "first scrape: HTTP status" 200 "$HTTP_STATUS"
rig_check "first scrape: promtool check metrics" promtool_ok
rig_eq "first scrape: no decision yet" 0 "$(metric 'mxguard_decisions_total{action="accept"}')"
rig_eq "config info: SHA-256 of the file" 1 \
    "$(metric "mxguard_config_info{sha256=\"$(sha256sum "$CONF" | cut -d' ' -f1)\"}")"

# ---- the messages ----------------------------------------------------------
smtp_until_rcpt() {
    rig_smtp_open "$RIG_SMTP_PORT" && [ "$RIG_SMTP_CODE" = 220 ] || return 1
    rig_smtp_cmd "EHLO mx.client.example" && [ "$RIG_SMTP_CODE" = 250 ] || return 1
    if [ -n "${3:-}" ]; then
        rig_smtp_cmd "XCLIENT ADDR=$3 NAME=[UNAVAILABLE]" && [ "$RIG_SMTP_CODE" = 220 ] || return 1
        rig_smtp_cmd "EHLO mx.client.example" && [ "$RIG_SMTP_CODE" = 250 ] || return 1
    fi
    rig_smtp_cmd "MAIL FROM:<$1>" && [ "$RIG_SMTP_CODE" = 250 ] || return 1
    rig_smtp_cmd "RCPT TO:<$2>"
}
smtp_data() {
    rig_smtp_cmd "DATA" && [ "$RIG_SMTP_CODE" = 354 ] || return 1
    rig_smtp_data "$1" && [ "$RIG_SMTP_CODE" = 250 ]
}

# 1. accepted (SPF pass, would-hold dry run), scraped while in flight
if smtp_until_rcpt alice@pass.example bob@dest.example && [ "$RIG_SMTP_CODE" = 250 ]; then
    scrape
    rig_eq "in flight: HTTP status" 200 "$HTTP_STATUS"
    rig_eq "in flight: one message in flight" 1 "$(metric mxguard_messages_in_flight)"
    rig_eq "in flight: one connection open" 1 "$(metric mxguard_connections_open)"
    rig_check "in flight: promtool check metrics" promtool_ok
    rig_check "pass: message accepted" smtp_data "$HERE/pass.eml"
else
    rig_fail "pass: SMTP session broke before DATA ($RIG_SMTP_CODE $RIG_SMTP_TEXT)"
fi
rig_smtp_close
# 2. a second accepted message
if smtp_until_rcpt alice@pass.example carol@dest.example && [ "$RIG_SMTP_CODE" = 250 ]; then
    rig_check "pass 2: message accepted" smtp_data "$TESTS_SRCDIR/data/dkim/pass-relaxed.eml"
else
    rig_fail "pass 2: SMTP session broke before DATA ($RIG_SMTP_CODE $RIG_SMTP_TEXT)"
fi
rig_smtp_close
# 3. SPF fail: refused at RCPT
smtp_until_rcpt mallory@fail.example bob@dest.example
rig_eq "spf fail: RCPT refused" 550 "$RIG_SMTP_CODE"
rig_smtp_close
# 4. listed client: refused at RCPT
smtp_until_rcpt dan@nospf.example bob@dest.example 192.0.2.66
rig_eq "dnsbl: RCPT refused" 550 "$RIG_SMTP_CODE"
rig_smtp_close
# 5. a client on no list (clean: NXDOMAIN), no SPF record: accepted
if smtp_until_rcpt dan@nospf.example bob@dest.example 192.0.2.10 && [ "$RIG_SMTP_CODE" = 250 ]; then
    rig_check "clean client: message accepted" smtp_data "$HERE/pass.eml"
else
    rig_fail "clean client: SMTP session broke before DATA ($RIG_SMTP_CODE $RIG_SMTP_TEXT)"
fi
rig_smtp_close
NMSG=5
rig_wait_for 5 bash -c "[ \$(grep -c 'mxguard: decision ' '$RIG_MX_LOG') -ge $NMSG ]" ||
    rig_fail "$NMSG decision lines not logged within 5 s"

# ---- counters equal what was sent, and equal the decision lines ------------
scrape
rig_eq "after: HTTP status" 200 "$HTTP_STATUS"
rig_check "after: promtool check metrics" promtool_ok
rig_check "after: scrape answered within 1 s (${HTTP_MS} ms)" test "$HTTP_MS" -lt 1000
declare -A want=(
    ['mxguard_decisions_total{action="accept"}']=3
    ['mxguard_decisions_total{action="reject"}']=2
    ['mxguard_decisions_total{action="tempfail"}']=0
    ['mxguard_decisions_total{action="quarantine"}']=0
    ['mxguard_decisions_total{action="discard"}']=0
    ['mxguard_rule_matches_total{rule="default",mode="fired"}']=3
    ['mxguard_rule_matches_total{rule="spf-fail",mode="fired"}']=1
    ['mxguard_rule_matches_total{rule="dnsbl-block",mode="fired"}']=1
    ['mxguard_rule_matches_total{rule="would-hold",mode="dry_run"}']=2
    ['mxguard_rule_matches_total{rule="would-hold",mode="fired"}']=0
    ['mxguard_check_results_total{check="spf",result="pass"}']=2
    ['mxguard_check_results_total{check="spf",result="fail"}']=1
    ['mxguard_check_results_total{check="spf",result="none"}']=2
    ['mxguard_check_results_total{check="spf_helo",result="pass"}']=3
    ['mxguard_check_results_total{check="spf_helo",result="fail"}']=2
    ['mxguard_check_results_total{check="dkim",result="none"}']=2
    ['mxguard_check_results_total{check="dkim",result="pass"}']=1
    ['mxguard_check_results_total{check="dmarc",result="none"}']=3
    ['mxguard_check_results_total{check="dmarc",result="fail"}']=0
    ['mxguard_check_results_total{check="dnsbl",result="listed"}']=1
    ['mxguard_check_results_total{check="dnsbl",result="clean"}']=1
    ['mxguard_dnsbl_matches_total{list="bl"}']=1
    ['mxguard_messages_in_flight']=0
    ['mxguard_connections_open']=0
    ['mxguard_config_reloads_total{result="ok"}']=0
    ['mxguard_config_reloads_total{result="failed"}']=0
)
for k in "${!want[@]}"; do
    rig_eq "after: $k" "${want[$k]}" "$(metric "$k")"
done
# the same counts from the decision lines themselves
rig_eq "one decision line per message" "$NMSG" "$(rig_decisions | wc -l)"
sum=$(grep '^mxguard_decisions_total{' "$RIG_TMP/scrape.txt" | awk '{s += $NF} END {print s + 0}')
rig_eq "decisions by action add up to the messages sent" "$NMSG" "$sum"
for a in accept reject; do
    n=0
    while IFS= read -r line; do
        rig_parse_decision "$line" && [ "${RIG_D[action]}" = "$a" ] && n=$((n + 1))
    done < <(rig_decisions)
    rig_eq "decision lines with action=$a equal the counter" "$n" \
        "$(metric "mxguard_decisions_total{action=\"$a\"}")"
done
# DNS: every outcome adds up to the histogram's count; answers were seen
sum=$(grep '^mxguard_dns_queries_total{' "$RIG_TMP/scrape.txt" | awk '{s += $NF} END {print s + 0}')
rig_eq "DNS queries by outcome add up to the histogram count" "$sum" \
    "$(metric mxguard_dns_query_duration_seconds_count)"
rig_check "DNS: answers counted ($(metric 'mxguard_dns_queries_total{outcome="answer"}'))" \
    test "$(metric 'mxguard_dns_queries_total{outcome="answer"}')" -ge 4
rig_check "DNS: NXDOMAIN counted (clean DNS list lookups)" \
    test "$(metric 'mxguard_dns_queries_total{outcome="nxdomain"}')" -ge 1

# ---- reloads ---------------------------------------------------------------
kill -HUP "$RIG_MX_PID"
rig_check "reload ok logged" rig_wait_for 5 grep -q 'configuration reloaded' "$RIG_MX_LOG"
cp "$CONF" "$RIG_TMP/good.conf"
echo 'metrics = "nonsense";' >> "$CONF"
kill -HUP "$RIG_MX_PID"
rig_check "failed reload logged" rig_wait_for 5 grep -q 'reload of .* failed' "$RIG_MX_LOG"
scrape
rig_eq "reloads: ok" 1 "$(metric 'mxguard_config_reloads_total{result="ok"}')"
rig_eq "reloads: failed" 1 "$(metric 'mxguard_config_reloads_total{result="failed"}')"
rig_eq "reloads: the hash is still the one of the running config" 1 \
    "$(metric "mxguard_config_info{sha256=\"$(sha256sum "$RIG_TMP/good.conf" | cut -d' ' -f1)\"}")"
rig_eq "reloads: counters kept across the reload" 3 "$(metric 'mxguard_decisions_total{action="accept"}')"
rig_check "reloads: promtool check metrics" promtool_ok
cp "$RIG_TMP/scrape.txt" "$RIG_TMP/scrape-final.txt"

# ---- other requests ----------------------------------------------------------
scrape GET /
rig_eq "GET / is 404" 404 "$HTTP_STATUS"
scrape DELETE /metrics
rig_eq "DELETE /metrics is 405" 405 "$HTTP_STATUS"

rig_check "Postfix logged no milter errors" \
    bash -c "! grep -qE 'warning:.*milter|Service unavailable' '$RIG_PF_DIR/maillog'"
rig_check "mxguard exits 0 on SIGTERM" rig_stop_mxguard
rig_check_mxguard_log
if [ -n "${METRICS_SAMPLE:-}" ]; then
    cp "$RIG_TMP/scrape-final.txt" "$METRICS_SAMPLE"
fi

rig_log "took $(( $(rig_now_ms) - T0 )) ms"
if [ "$RIG_FAILS" -ne 0 ]; then
    echo "# last scrape:"; sed 's/^/#   /' "$RIG_TMP/scrape.txt" | head -80
    echo "# mxguard log:"; sed 's/^/#   /' "$RIG_MX_LOG" | tail -30
    echo "# Postfix log:"; sed 's/^/#   /' "$RIG_PF_DIR/maillog" | tail -20
fi
rig_finish
