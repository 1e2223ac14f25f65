#!/bin/bash
# run.sh - the benchmark (make bench): mxguard with SPF (MAIL FROM and HELO),
# DKIM, DMARC and 4 DNS lists on the corpus of mkcorpus.py, its DNS data on a
# private unbound, everything on 127.0.0.1:
#   direct      tests/bench/loadgen -> mxguard (unix socket, TCP)
#   end to end  loadgen in SMTP mode (XCLIENT for the corpus' client
#               addresses) -> a private Postfix -> smtp-sink, on three smtpd
#               ports of one instance: no milter, mxguard over unix, over TCP
# in interleaved rounds (every configuration once per round, ROUNDS rounds),
# medians reported, one table: msgs/s, p50/p99 latency, mxguard CPU ms per
# message (utime+stime from /proc/PID/stat before and after the run), peak
# RSS (VmHWM), the ratio to Postfix without a milter and the latency added.
# The OpenDKIM+OpenDMARC and rspamd columns of issue 7 are not done (see
# README "Benchmarks").
#
# Usage: tests/bench/run.sh BUILDDIR      (as root: a private Postfix)
# Environment: ROUNDS (3), COUNT messages per run (500), CONNS (50),
#   CORPUS_N messages in the corpus (500), LAT_COUNT for the one-connection
#   latency runs (200), RIG_KEEP=1 keeps the temporary directory.
# Prints figures; it never fails on a timing.
set -u
BUILDDIR=$(cd "${1:?usage: run.sh BUILDDIR}" && pwd)
TESTS_SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
HERE="$TESTS_SRCDIR/bench"
MXGUARD=${MXGUARD:-$BUILDDIR/mxguard}
LOADGEN=$BUILDDIR/tests/bench/loadgen
POSTFIX=${POSTFIX:-/usr/sbin/postfix}
UNBOUND_SERVER=${UNBOUND_SERVER:-/usr/sbin/unbound}
ROUNDS=${ROUNDS:-3}
COUNT=${COUNT:-500}
CONNS=${CONNS:-50}
CORPUS_N=${CORPUS_N:-500}
LAT_COUNT=${LAT_COUNT:-200}
. "$TESTS_SRCDIR/lib/rig.sh"
. "$TESTS_SRCDIR/lib/postfix.sh"
rig_init bench
rig_need_exec loadgen "$LOADGEN"
rig_need_exec mxguard "$MXGUARD"

CORPUS=$RIG_TMP/corpus
/usr/bin/python3 "$HERE/mkcorpus.py" "$CORPUS" "$CORPUS_N" 1 > "$RIG_TMP/corpus.log" || rig_die "mkcorpus.py failed"
cat "$RIG_TMP/corpus.log"
rig_start_dns "$CORPUS/zone.conf"

# ---- two mxguard daemons: unix socket and TCP ---------------------------
# shellcheck disable=SC2034 # used through RIG_SUBST_VARS
DNS_PORT=$RIG_DNS_PORT
RIG_SUBST_VARS="SOCKET DNS_PORT"
UNIX_SOCK=$RIG_TMP/mxguard.sock
SOCKET="unix:$UNIX_SOCK"
rig_subst "$HERE/mxguard.conf.in" "$RIG_TMP/mx-unix.conf"
rig_start_mxguard "$RIG_TMP/mx-unix.conf" "$UNIX_SOCK"
MX_UNIX_PID=$RIG_MX_PID
MX_TCP_PORT=$(rig_free_port)
SOCKET="inet:$MX_TCP_PORT@127.0.0.1"
rig_subst "$HERE/mxguard.conf.in" "$RIG_TMP/mx-tcp.conf"
"$MXGUARD" -c "$RIG_TMP/mx-tcp.conf" -f > "$RIG_TMP/mxguard-tcp.log" 2>&1 &
MX_TCP_PID=$!
rig_bg mxguard-tcp "$MX_TCP_PID"
rig_wait_for 15 _rig_tcp_open "$MX_TCP_PORT" || rig_die "mxguard on TCP port $MX_TCP_PORT did not start"

# ---- Postfix: smtpd without milter, with mxguard over unix, over TCP -----
SINK_PORT=$(rig_free_port)
# A sink that discards (no -d): the benchmark measures the MTA and milter.
smtp-sink -u postfix -h sink.bench.example "127.0.0.1:$SINK_PORT" 256 > "$RIG_TMP/sink.out" 2>&1 &
rig_bg smtp-sink $!
RIG_SINK_PORT=$SINK_PORT
rig_wait_for 10 _rig_tcp_open "$SINK_PORT" || rig_die "smtp-sink did not start"
rig_start_postfix ""
# The corpus' client addresses (XCLIENT) may relay.
postconf -c "$RIG_PF_CONF" -e "mynetworks = 127.0.0.0/8 198.51.100.0/24 203.0.113.0/24"
PF_UNIX_PORT=$(rig_free_port)
PF_TCP_PORT=$(rig_free_port)
cat >> "$RIG_PF_CONF/master.cf" <<EOF
127.0.0.1:$PF_UNIX_PORT inet n - n - - smtpd -o smtpd_milters=unix:$UNIX_SOCK
127.0.0.1:$PF_TCP_PORT inet n - n - - smtpd -o smtpd_milters=inet:127.0.0.1:$MX_TCP_PORT
EOF
"$POSTFIX" -c "$RIG_PF_CONF" reload > /dev/null 2>&1
rig_wait_for 20 _rig_tcp_open "$PF_UNIX_PORT" || rig_die "Postfix did not listen on $PF_UNIX_PORT"
rig_wait_for 20 _rig_tcp_open "$PF_TCP_PORT" || rig_die "Postfix did not listen on $PF_TCP_PORT"

# ---- measuring ----------------------------------------------------------
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)
queue_empty() {
    [ "$(find "$RIG_PF_DIR/queue/incoming" "$RIG_PF_DIR/queue/active" \
        "$RIG_PF_DIR/queue/deferred" "$RIG_PF_DIR/queue/maildrop" -type f 2>/dev/null | wc -l)" -eq 0 ]
}
# Postfix delivers what a run queued before the next run starts; held
# (quarantined) messages are deleted.
settle() {
    rig_wait_for 120 queue_empty || rig_log "queue not empty after 120 s"
    postsuper -c "$RIG_PF_CONF" -d ALL hold > /dev/null 2>&1
}

RESULTS=$RIG_TMP/results.txt
: > "$RESULTS"
# run NAME CONNS N PID_OF_FILTER_OR_- LOADGEN-ARGS...: one run, one result line.
run() {
    local name=$1 conns=$2 n=$3 pid=$4 c0 c1 out cpu; shift 4
    settle
    c0=0; [ "$pid" != - ] && c0=$(cpu_ticks "$pid")
    out=$(timeout 600 "$LOADGEN" -c "$conns" -n "$n" -m "$CORPUS/manifest.tsv" "$@" 2> "$RIG_TMP/loadgen.err")
    [ -s "$RIG_TMP/loadgen.err" ] && head -5 "$RIG_TMP/loadgen.err"
    cpu=-
    if [ "$pid" != - ]; then
        c1=$(cpu_ticks "$pid")
        cpu=$(awk -v a="$c0" -v b="$c1" -v t="$TCK" -v n="$n" 'BEGIN { printf "%.3f", (b - a) * 1000 / t / n }')
    fi
    local mps p50 p99 errs
    mps=$(sed -n 's/.* msgs_per_s=\([^ ]*\).*/\1/p' <<< "$out")
    p50=$(sed -n 's/.* p50_ms=\([^ ]*\).*/\1/p' <<< "$out")
    p99=$(sed -n 's/.* p99_ms=\([^ ]*\).*/\1/p' <<< "$out")
    errs=$(sed -n 's/.* error=\([^ ]*\).* mismatches=\([0-9]*\).*/\1+\2/p' <<< "$out")
    echo "$name $conns ${mps:-0} ${p50:-0} ${p99:-0} $cpu ${errs:-?}" >> "$RESULTS"
    rig_log "$name c=$conns: $out cpu_ms_per_msg=$cpu"
}

CONFIGS="direct-unix direct-tcp pf-none pf-unix pf-tcp"
one() {
    case $1 in
    direct-unix) run "$1" "$2" "$3" "$MX_UNIX_PID" -s "unix:$UNIX_SOCK" ;;
    direct-tcp) run "$1" "$2" "$3" "$MX_TCP_PID" -s "inet:$MX_TCP_PORT@127.0.0.1" ;;
    pf-none) run "$1" "$2" "$3" - -S "inet:$RIG_SMTP_PORT@127.0.0.1" -X -I ;;
    pf-unix) run "$1" "$2" "$3" "$MX_UNIX_PID" -S "inet:$PF_UNIX_PORT@127.0.0.1" -X ;;
    pf-tcp) run "$1" "$2" "$3" "$MX_TCP_PID" -S "inet:$PF_TCP_PORT@127.0.0.1" -X ;;
    esac
}
# Warm up (page cache, DNS cache of unbound, mxguard's caches).
for cfg in $CONFIGS; do one "$cfg" 10 100 > /dev/null; done
: > "$RESULTS"
for r in $(seq "$ROUNDS"); do
    rig_log "round $r of $ROUNDS"
    for cfg in $CONFIGS; do one "$cfg" "$CONNS" "$COUNT"; done
    # one connection: the latency a message sees with no queueing
    for cfg in pf-none pf-unix pf-tcp direct-unix direct-tcp; do one "$cfg" 1 "$LAT_COUNT"; done
done

# ---- table --------------------------------------------------------------
med() { # med NAME CONNS FIELD
    awk -v n="$1" -v c="$2" -v f="$3" '$1 == n && $2 == c { print $f }' "$RESULTS" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
              else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
hwm() { awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
none50=$(med pf-none "$CONNS" 3)
none1=$(med pf-none 1 4)
echo
echo "mxguard benchmark: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(. /etc/os-release; echo "$PRETTY_NAME")"
echo "corpus: $(tail -1 "$RIG_TMP/corpus.log" 2>/dev/null || echo "$CORPUS_N messages") $ROUNDS interleaved rounds, medians; $COUNT messages per run"
printf '%-12s %5s %9s %9s %9s %12s %8s %8s %7s\n' config conns msgs/s p50_ms p99_ms cpu_ms/msg rss_MB vs_none errors
for c in "$CONNS" 1; do
    for cfg in $CONFIGS; do
        mps=$(med "$cfg" "$c" 3); p50=$(med "$cfg" "$c" 4); p99=$(med "$cfg" "$c" 5); cpu=$(med "$cfg" "$c" 6)
        errs=$(awk -v n="$cfg" -v c="$c" '$1 == n && $2 == c { split($7, e, "+"); s += e[1] + e[2] } END { print s + 0 }' "$RESULTS")
        rss=-
        case $cfg in *unix) rss=$(hwm "$MX_UNIX_PID") ;; *tcp) rss=$(hwm "$MX_TCP_PID") ;; esac
        ratio=-
        case $cfg in pf-*) ratio=$(awk -v a="$mps" -v b="$none50" -v c="$c" -v d="$(med pf-none "$c" 3)" \
            'BEGIN { if (d > 0) printf "%.2f", a / d }') ;; esac
        printf '%-12s %5s %9s %9s %9s %12s %8s %8s %7s\n' "$cfg" "$c" "$mps" "$p50" "$p99" "$cpu" "$rss" "$ratio" "$errs"
    done
done
echo
ratio=$(awk -v a="$(med pf-unix "$CONNS" 3)" -v b="$none50" 'BEGIN { printf "%.2f", a / b }')
cpu=$(med pf-unix "$CONNS" 6)
add_u=$(awk -v a="$(med pf-unix 1 4)" -v b="$none1" 'BEGIN { printf "%.2f", a - b }')
add_t=$(awk -v a="$(med pf-tcp 1 4)" -v b="$none1" 'BEGIN { printf "%.2f", a - b }')
verdict() { awk -v v="$1" -v l="$2" -v op="$3" 'BEGIN { ok = op == ">=" ? v >= l : v <= l; print ok ? "met" : "MISSED" }'; }
echo "target: Postfix+mxguard (unix) at $CONNS connections / Postfix alone = $ratio (>= 0.90: $(verdict "$ratio" 0.90 ">="))"
echo "target: mxguard CPU ms per message through Postfix = $cpu (<= 0.5: $(verdict "$cpu" 0.5 "<="))"
echo "target: p50 latency added, one connection, unix = $add_u ms (<= 2: $(verdict "$add_u" 2 "<=")), TCP = $add_t ms (<= 2: $(verdict "$add_t" 2 "<="))"
echo "peak RSS: mxguard unix $(hwm "$MX_UNIX_PID") MB, TCP $(hwm "$MX_TCP_PID") MB"
errors=$(awk '{ split($7, e, "+"); s += e[1] + e[2] } END { print s + 0 }' "$RESULTS")
echo "errors and verdict mismatches over all runs: $errors"
[ -n "${RIG_KEEP:-}" ] && cp "$RESULTS" "$RIG_TMP/results-final.txt"
exit 0
