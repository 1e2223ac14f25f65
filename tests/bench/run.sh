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
# The peers of issue 7, same corpus, same DNS, interleaved in every round:
#   (b) OpenDKIM (Mode v, opendkim.conf.in) then OpenDMARC (SPFSelfValidate,
#       opendmarc.conf.in), each its own milter; Postfix chains them, loadgen
#       measures each alone (the "direct-chain" row adds the two);
#   (c) rspamd's proxy worker in milter mode, self_scan (rspamd.conf.in):
#       spf, dkim, dmarc, rbl with the corpus' four DNS lists;
#   (d) Postfix with no milter (pf-none).
# Their CPU and RSS are the sums over their processes (rspamd: main and
# workers).  A peer whose binaries are missing is skipped with a "not
# installed" line (tests/bench/install-peers.sh installs them).
#
# Usage: tests/bench/run.sh BUILDDIR      (as root: a private Postfix)
# Environment: PEERS ("b c": which peer columns to run), ROUNDS (3), COUNT messages per run (500), CONNS (50),
#   CORPUS_N messages in the corpus (500), LAT_COUNT for the one-connection
#   latency runs (200), RIG_KEEP=1 keeps the temporary directory,
#   IN_FLOW_DELAY for Postfix's in_flow_delay (default: Postfix's, 1s; "0"
#   turns its flow control off, see README Benchmarks).
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
PEERS=${PEERS-b c}
OPENDKIM=${OPENDKIM:-/usr/sbin/opendkim}
OPENDMARC=${OPENDMARC:-/usr/sbin/opendmarc}
RSPAMD=${RSPAMD:-/usr/bin/rspamd}
. "$TESTS_SRCDIR/lib/rig.sh"
. "$TESTS_SRCDIR/lib/postfix.sh"
. "$HERE/benchlib.sh"
rig_init bench
rig_need_exec loadgen "$LOADGEN"
rig_need_exec mxguard "$MXGUARD"

CORPUS=$RIG_TMP/corpus
/usr/bin/python3 "$HERE/mkcorpus.py" "$CORPUS" "$CORPUS_N" 1 > "$RIG_TMP/corpus.log" || rig_die "mkcorpus.py failed"
cat "$RIG_TMP/corpus.log"

# ---- which peers run ------------------------------------------------------
# OpenDMARC resolves through the system resolver (res_* and libspf2's resolv
# backend read /etc/resolv.conf: no port, no nameserver setting), so it runs
# in a mount namespace whose /etc/resolv.conf names DMARC_NS, a second
# address of the same private unbound, on port 53.
DMARC_NS=127.0.5.3
HAVE_B=""; HAVE_C=""
case " $PEERS " in *" b "*)
    if [ ! -x "$OPENDKIM" ] || [ ! -x "$OPENDMARC" ]; then
        echo "peer (b) OpenDKIM+OpenDMARC: not installed ($OPENDKIM, $OPENDMARC; tests/bench/install-peers.sh): column skipped"
    elif ! command -v unshare > /dev/null; then
        echo "peer (b) OpenDKIM+OpenDMARC: unshare (util-linux) missing: column skipped"
    elif _rig_port_used 53; then
        echo "peer (b) OpenDKIM+OpenDMARC: port 53 is in use here, OpenDMARC's resolver cannot reach the private DNS: column skipped"
    else
        HAVE_B=1
        RIG_DNS_EXTRA_IF="$DMARC_NS@53"
    fi ;;
esac
case " $PEERS " in *" c "*)
    if [ -x "$RSPAMD" ]; then HAVE_C=1
    else echo "peer (c) rspamd: not installed ($RSPAMD; tests/bench/install-peers.sh): column skipped"; fi ;;
esac
rig_start_dns "$CORPUS/zone.conf"

# ---- two mxguard daemons: unix socket and TCP ---------------------------
bench_start_mxguard_unix
MX_TCP_PORT=$(rig_free_port)
SOCKET="inet:$MX_TCP_PORT@127.0.0.1"
rig_subst "$HERE/mxguard.conf.in" "$RIG_TMP/mx-tcp.conf"
"$MXGUARD" -c "$RIG_TMP/mx-tcp.conf" -f > "$RIG_TMP/mxguard-tcp.log" 2>&1 &
MX_TCP_PID=$!
rig_bg mxguard-tcp "$MX_TCP_PID"
rig_wait_for 15 _rig_tcp_open "$MX_TCP_PORT" || rig_die "mxguard on TCP port $MX_TCP_PORT did not start"

# ---- peer (b): OpenDKIM and OpenDMARC, each on a unix socket and on TCP --
# start_peer NAME FILE COMMAND...: run COMMAND in the background (it stays
# in the foreground), wait until FILE (its pid file or socket) exists; sets
# PEER_PID.
start_peer() {
    local name=$1 pidfile=$2; shift 2
    "$@" > "$RIG_TMP/$name.log" 2>&1 &
    PEER_PID=$!
    rig_bg "$name" "$PEER_PID"
    rig_wait_for 60 test -e "$pidfile" || { cat "$RIG_TMP/$name.log"; rig_die "$name did not start"; }
    kill -0 "$PEER_PID" 2> /dev/null || { cat "$RIG_TMP/$name.log"; rig_die "$name exited"; }
}
# OpenDMARC in its mount namespace (see DMARC_NS): start_odmarc NAME CONF
start_odmarc() {
    # shellcheck disable=SC2016 # expanded by the inner shell
    start_peer "$1" "$PIDFILE" unshare -m sh -c 'mount --bind "$1" /etc/resolv.conf && exec "$2" -f -c "$3"' \
        sh "$RIG_TMP/odmarc-resolv.conf" "$OPENDMARC" "$2"
}
if [ -n "$HAVE_B" ]; then
    printf 'nameserver %s\noptions timeout:2 attempts:2\n' "$DMARC_NS" > "$RIG_TMP/odmarc-resolv.conf"
    echo 192.0.2.254/32 > "$RIG_TMP/odmarc-ignore"
    # shellcheck disable=SC2034 # used through RIG_SUBST_VARS
    IGNORE_HOSTS=$RIG_TMP/odmarc-ignore
    RIG_SUBST_VARS="SOCKET PIDFILE DNS_PORT"
    ODKIM_UNIX=$RIG_TMP/odkim.sock
    SOCKET="local:$ODKIM_UNIX" PIDFILE=$RIG_TMP/odkim-u.pid
    rig_subst "$HERE/opendkim.conf.in" "$RIG_TMP/odkim-u.conf"
    start_peer opendkim-unix "$PIDFILE" "$OPENDKIM" -f -x "$RIG_TMP/odkim-u.conf"
    ODKIM_U_PID=$PEER_PID
    ODKIM_TCP_PORT=$(rig_free_port)
    SOCKET="inet:$ODKIM_TCP_PORT@127.0.0.1" PIDFILE=$RIG_TMP/odkim-t.pid
    rig_subst "$HERE/opendkim.conf.in" "$RIG_TMP/odkim-t.conf"
    start_peer opendkim-tcp "$PIDFILE" "$OPENDKIM" -f -x "$RIG_TMP/odkim-t.conf"
    ODKIM_T_PID=$PEER_PID
    RIG_SUBST_VARS="SOCKET PIDFILE IGNORE_HOSTS"
    ODMARC_UNIX=$RIG_TMP/odmarc.sock
    SOCKET="local:$ODMARC_UNIX" PIDFILE=$RIG_TMP/odmarc-u.pid
    rig_subst "$HERE/opendmarc.conf.in" "$RIG_TMP/odmarc-u.conf"
    start_odmarc opendmarc-unix "$RIG_TMP/odmarc-u.conf"
    ODMARC_U_PID=$PEER_PID
    ODMARC_TCP_PORT=$(rig_free_port)
    SOCKET="inet:$ODMARC_TCP_PORT@127.0.0.1" PIDFILE=$RIG_TMP/odmarc-t.pid
    rig_subst "$HERE/opendmarc.conf.in" "$RIG_TMP/odmarc-t.conf"
    start_odmarc opendmarc-tcp "$RIG_TMP/odmarc-t.conf"
    ODMARC_T_PID=$PEER_PID
    rig_wait_for 10 test -S "$ODKIM_UNIX" -a -S "$ODMARC_UNIX" || rig_die "OpenDKIM/OpenDMARC sockets missing"
    chmod 0666 "$ODKIM_UNIX" "$ODMARC_UNIX"
    rig_wait_for 10 _rig_tcp_open "$ODKIM_TCP_PORT" || rig_die "OpenDKIM not on TCP $ODKIM_TCP_PORT"
    rig_wait_for 10 _rig_tcp_open "$ODMARC_TCP_PORT" || rig_die "OpenDMARC not on TCP $ODMARC_TCP_PORT"
    rig_log "OpenDKIM pids $ODKIM_U_PID (unix) $ODKIM_T_PID (TCP $ODKIM_TCP_PORT)," \
        "OpenDMARC pids $ODMARC_U_PID (unix) $ODMARC_T_PID (TCP $ODMARC_TCP_PORT)"
fi

# ---- peer (c): rspamd, proxy worker in milter mode, unix socket and TCP ---
if [ -n "$HAVE_C" ]; then
    # shellcheck disable=SC2034 # used through RIG_SUBST_VARS
    { RUNDIR=$RIG_TMP/rspamd; SOCKPATH=$RIG_TMP/rspamd.sock; WORKERS=$(nproc); }
    RSPAMD_TCP_PORT=$(rig_free_port)
    TCP_PORT=$RSPAMD_TCP_PORT
    mkdir -p "$RUNDIR"
    RIG_SUBST_VARS="RUNDIR DNS_PORT SOCKPATH TCP_PORT WORKERS"
    rig_subst "$HERE/rspamd.conf.in" "$RIG_TMP/rspamd.conf"
    # -i: workers may run as root (a private instance in a temporary directory).
    start_peer rspamd "$SOCKPATH" "$RSPAMD" -f -i -c "$RIG_TMP/rspamd.conf" \
        --var "DBDIR=$RUNDIR" --var "RUNDIR=$RUNDIR" --var "LOGDIR=$RUNDIR" --var "LOCAL_CONFDIR=$RUNDIR"
    RSPAMD_PID=$PEER_PID
    rig_wait_for 30 _rig_tcp_open "$RSPAMD_TCP_PORT" || rig_die "rspamd not on TCP $RSPAMD_TCP_PORT"
    rig_log "rspamd pid $RSPAMD_PID, on $SOCKPATH and TCP $RSPAMD_TCP_PORT"
fi

# ---- Postfix: smtpd without milter, with mxguard over unix, over TCP -----
bench_start_postfix
PF_UNIX_PORT=$(rig_free_port)
PF_TCP_PORT=$(rig_free_port)
cat >> "$RIG_PF_CONF/master.cf" <<EOF
127.0.0.1:$PF_UNIX_PORT inet n - n - - smtpd -o smtpd_milters=unix:$UNIX_SOCK
127.0.0.1:$PF_TCP_PORT inet n - n - - smtpd -o smtpd_milters=inet:127.0.0.1:$MX_TCP_PORT
EOF
# The peers: the chain (OpenDKIM then OpenDMARC: the second sees the first's
# A-R header) and rspamd, over unix and over TCP.
PF_PEER_PORTS=""
if [ -n "$HAVE_B" ]; then
    PF_CHAIN_UNIX_PORT=$(rig_free_port) PF_CHAIN_TCP_PORT=$(rig_free_port)
    PF_PEER_PORTS="$PF_CHAIN_UNIX_PORT $PF_CHAIN_TCP_PORT"
    cat >> "$RIG_PF_CONF/master.cf" <<EOF
127.0.0.1:$PF_CHAIN_UNIX_PORT inet n - n - - smtpd -o smtpd_milters=unix:$ODKIM_UNIX,unix:$ODMARC_UNIX
127.0.0.1:$PF_CHAIN_TCP_PORT inet n - n - - smtpd -o smtpd_milters=inet:127.0.0.1:$ODKIM_TCP_PORT,inet:127.0.0.1:$ODMARC_TCP_PORT
EOF
fi
if [ -n "$HAVE_C" ]; then
    PF_RSPAMD_UNIX_PORT=$(rig_free_port) PF_RSPAMD_TCP_PORT=$(rig_free_port)
    PF_PEER_PORTS="$PF_PEER_PORTS $PF_RSPAMD_UNIX_PORT $PF_RSPAMD_TCP_PORT"
    cat >> "$RIG_PF_CONF/master.cf" <<EOF
127.0.0.1:$PF_RSPAMD_UNIX_PORT inet n - n - - smtpd -o smtpd_milters=unix:$SOCKPATH
127.0.0.1:$PF_RSPAMD_TCP_PORT inet n - n - - smtpd -o smtpd_milters=inet:127.0.0.1:$RSPAMD_TCP_PORT
EOF
fi
"$POSTFIX" -c "$RIG_PF_CONF" reload > /dev/null 2>&1
rig_wait_for 20 _rig_tcp_open "$PF_UNIX_PORT" || rig_die "Postfix did not listen on $PF_UNIX_PORT"
rig_wait_for 20 _rig_tcp_open "$PF_TCP_PORT" || rig_die "Postfix did not listen on $PF_TCP_PORT"
for p in $PF_PEER_PORTS; do
    rig_wait_for 20 _rig_tcp_open "$p" || rig_die "Postfix did not listen on $p"
done

# ---- measuring ----------------------------------------------------------
# A filter is a SPEC: pids, comma-separated; each counts with its child
# processes (rspamd's workers; mxguard and the OpenDKIM/OpenDMARC daemons
# are one process each).
pid_tree() { ps -e -o pid=,ppid= | awk -v l=",$1," 'index(l, "," $1 ",") || index(l, "," $2 ",") { print $1 }'; }
# utime+stime in ticks of a SPEC (the fields after the command name: it may
# hold spaces).
cpu_ticks() {
    local p t=0 v
    for p in $(pid_tree "$1"); do
        v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }')
        t=$((t + ${v:-0}))
    done
    echo "$t"
}
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
# run NAME CONNS N FILTER-SPEC_OR_- LOADGEN-ARGS...: one run, one result line:
#   NAME CONNS MSGS/S P50 P99 CPU_MS/MSG ERRORS+MISMATCHES CPU_SPLIT VERDICTS
# (CPU_SPLIT: per pid of the SPEC, "a+b"; VERDICTS: a,r,t,d,q,e counts).
run() {
    local name=$1 conns=$2 n=$3 spec=$4 out cpu split=- p; shift 4
    local -a c0=()
    settle
    if [ "$spec" != - ]; then for p in ${spec//,/ }; do c0+=("$(cpu_ticks "$p")"); done; fi
    out=$(timeout 600 "$LOADGEN" -c "$conns" -n "$n" -m "$CORPUS/manifest.tsv" "$@" 2> "$RIG_TMP/loadgen.err")
    [ -s "$RIG_TMP/loadgen.err" ] && head -5 "$RIG_TMP/loadgen.err"
    cpu=-
    if [ "$spec" != - ]; then
        local i=0 c1 one
        cpu=0; split=""
        for p in ${spec//,/ }; do
            c1=$(cpu_ticks "$p")
            one=$(awk -v a="${c0[$i]}" -v b="$c1" -v t="$TCK" -v n="$n" 'BEGIN { printf "%.3f", (b - a) * 1000 / t / n }')
            cpu=$(awk -v a="$cpu" -v b="$one" 'BEGIN { printf "%.3f", a + b }')
            split="$split${split:++}$one"
            i=$((i + 1))
        done
    fi
    local mps p50 p99 errs verdicts
    mps=$(sed -n 's/.* msgs_per_s=\([^ ]*\).*/\1/p' <<< "$out")
    p50=$(sed -n 's/.* p50_ms=\([^ ]*\).*/\1/p' <<< "$out")
    p99=$(sed -n 's/.* p99_ms=\([^ ]*\).*/\1/p' <<< "$out")
    errs=$(sed -n 's/.* error=\([^ ]*\).* mismatches=\([0-9]*\).*/\1+\2/p' <<< "$out")
    # Without expectations (-I: Postfix alone, the peers), a tempfail is an
    # error (a filter that failed), not a verdict.
    case " $* " in *" -I "*) errs=$(sed -n 's/.* tempfail=\([0-9]*\).* error=\([0-9]*\).*/\2+\1/p' <<< "$out") ;; esac
    verdicts=$(sed -n 's/.* accept=\([0-9]*\) reject=\([0-9]*\) tempfail=\([0-9]*\) discard=\([0-9]*\) quarantine=\([0-9]*\) error=\([0-9]*\).*/\1,\2,\3,\4,\5,\6/p' <<< "$out")
    echo "$name $conns ${mps:-0} ${p50:-0} ${p99:-0} $cpu ${errs:-?} $split ${verdicts:--}" >> "$RESULTS"
    rig_log "$name c=$conns: $out cpu_ms_per_msg=$cpu${split:+ ($split)}"
}

# filter_of CONFIG: the FILTER-SPEC of a configuration ("-" for none).
filter_of() {
    case $1 in
    direct-unix|pf-unix) echo "$MX_UNIX_PID" ;;
    direct-tcp|pf-tcp) echo "$MX_TCP_PID" ;;
    direct-odkim-unix) echo "$ODKIM_U_PID" ;;
    direct-odkim-tcp) echo "$ODKIM_T_PID" ;;
    direct-odmarc-unix) echo "$ODMARC_U_PID" ;;
    direct-odmarc-tcp) echo "$ODMARC_T_PID" ;;
    pf-chain-unix) echo "$ODKIM_U_PID,$ODMARC_U_PID" ;;
    pf-chain-tcp) echo "$ODKIM_T_PID,$ODMARC_T_PID" ;;
    *rspamd*) echo "$RSPAMD_PID" ;;
    *) echo - ;;
    esac
}
# Interleaved: for each path, mxguard (a), the chain (b), rspamd (c),
# Postfix alone (d).  The peers' verdicts differ from mxguard's by design
# (see README): their runs ignore the expectations (-I).
CONFIGS="direct-unix" LAT_CONFIGS="pf-none pf-unix"
[ -n "$HAVE_B" ] && CONFIGS="$CONFIGS direct-odkim-unix direct-odmarc-unix"
[ -n "$HAVE_C" ] && CONFIGS="$CONFIGS direct-rspamd-unix"
CONFIGS="$CONFIGS direct-tcp"
[ -n "$HAVE_B" ] && CONFIGS="$CONFIGS direct-odkim-tcp direct-odmarc-tcp"
[ -n "$HAVE_C" ] && CONFIGS="$CONFIGS direct-rspamd-tcp"
CONFIGS="$CONFIGS pf-none pf-unix"
[ -n "$HAVE_B" ] && { CONFIGS="$CONFIGS pf-chain-unix"; LAT_CONFIGS="$LAT_CONFIGS pf-chain-unix"; }
[ -n "$HAVE_C" ] && { CONFIGS="$CONFIGS pf-rspamd-unix"; LAT_CONFIGS="$LAT_CONFIGS pf-rspamd-unix"; }
CONFIGS="$CONFIGS pf-tcp" LAT_CONFIGS="$LAT_CONFIGS pf-tcp"
[ -n "$HAVE_B" ] && { CONFIGS="$CONFIGS pf-chain-tcp"; LAT_CONFIGS="$LAT_CONFIGS pf-chain-tcp"; }
[ -n "$HAVE_C" ] && { CONFIGS="$CONFIGS pf-rspamd-tcp"; LAT_CONFIGS="$LAT_CONFIGS pf-rspamd-tcp"; }
LAT_CONFIGS="$LAT_CONFIGS direct-unix direct-tcp"
[ -n "$HAVE_B" ] && LAT_CONFIGS="$LAT_CONFIGS direct-odkim-unix direct-odmarc-unix direct-odkim-tcp direct-odmarc-tcp"
[ -n "$HAVE_C" ] && LAT_CONFIGS="$LAT_CONFIGS direct-rspamd-unix direct-rspamd-tcp"
one() {
    local f; f=$(filter_of "$1")
    case $1 in
    direct-unix) run "$1" "$2" "$3" "$f" -s "unix:$UNIX_SOCK" ;;
    direct-tcp) run "$1" "$2" "$3" "$f" -s "inet:$MX_TCP_PORT@127.0.0.1" ;;
    pf-none) run "$1" "$2" "$3" - -S "inet:$RIG_SMTP_PORT@127.0.0.1" -X -I ;;
    pf-unix) run "$1" "$2" "$3" "$f" -S "inet:$PF_UNIX_PORT@127.0.0.1" -X ;;
    pf-tcp) run "$1" "$2" "$3" "$f" -S "inet:$PF_TCP_PORT@127.0.0.1" -X ;;
    direct-odkim-unix) run "$1" "$2" "$3" "$f" -s "unix:$ODKIM_UNIX" -I ;;
    direct-odkim-tcp) run "$1" "$2" "$3" "$f" -s "inet:$ODKIM_TCP_PORT@127.0.0.1" -I ;;
    direct-odmarc-unix) run "$1" "$2" "$3" "$f" -s "unix:$ODMARC_UNIX" -I ;;
    direct-odmarc-tcp) run "$1" "$2" "$3" "$f" -s "inet:$ODMARC_TCP_PORT@127.0.0.1" -I ;;
    direct-rspamd-unix) run "$1" "$2" "$3" "$f" -s "unix:$SOCKPATH" -I ;;
    direct-rspamd-tcp) run "$1" "$2" "$3" "$f" -s "inet:$RSPAMD_TCP_PORT@127.0.0.1" -I ;;
    pf-chain-unix) run "$1" "$2" "$3" "$f" -S "inet:$PF_CHAIN_UNIX_PORT@127.0.0.1" -X -I ;;
    pf-chain-tcp) run "$1" "$2" "$3" "$f" -S "inet:$PF_CHAIN_TCP_PORT@127.0.0.1" -X -I ;;
    pf-rspamd-unix) run "$1" "$2" "$3" "$f" -S "inet:$PF_RSPAMD_UNIX_PORT@127.0.0.1" -X -I ;;
    pf-rspamd-tcp) run "$1" "$2" "$3" "$f" -S "inet:$PF_RSPAMD_TCP_PORT@127.0.0.1" -X -I ;;
    esac
}
# Warm up (page cache, DNS cache of unbound, the filters' caches).
for cfg in $CONFIGS; do one "$cfg" 10 100 > /dev/null; done
: > "$RESULTS"
for r in $(seq "$ROUNDS"); do
    rig_log "round $r of $ROUNDS (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    for cfg in $CONFIGS; do one "$cfg" "$CONNS" "$COUNT"; done
    # one connection: the latency a message sees with no queueing
    for cfg in $LAT_CONFIGS; do one "$cfg" 1 "$LAT_COUNT"; done
done

# ---- table --------------------------------------------------------------
med() { # med NAME CONNS FIELD
    awk -v n="$1" -v c="$2" -v f="$3" '$1 == n && $2 == c { print $f }' "$RESULTS" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
              else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# hwm SPEC: peak RSS in MB, summed over the processes (shared pages count
# in each process that maps them).
hwm() {
    [ "$1" = - ] && { echo -; return; }
    local p
    for p in $(pid_tree "$1"); do cat "/proc/$p/status" 2>/dev/null; done |
        awk '/VmHWM/ { s += $2 } END { printf "%.1f", s / 1024 }'
}
# split_med NAME CONNS: the median of each part of the CPU split.
split_med() {
    local k out=""
    for k in 1 2; do
        out="$out${out:+ + }$(awk -v n="$1" -v c="$2" '$1 == n && $2 == c { print $8 }' "$RESULTS" | cut -d+ -f"$k" | sort -g |
            awk '{ v[NR] = $1 } END { if (NR % 2) x = v[(NR + 1) / 2]; else x = (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", x }')"
    done
    echo "$out"
}
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "-" && b != "-" && b > 0) printf "%.2f", a / b; else print "-" }'; }
none50=$(med pf-none "$CONNS" 3)
none1=$(med pf-none 1 4)
echo
echo "mxguard benchmark: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(. /etc/os-release; echo "$PRETTY_NAME"), load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "corpus: $(tail -1 "$RIG_TMP/corpus.log" 2>/dev/null || echo "$CORPUS_N messages") $ROUNDS interleaved rounds, medians; $COUNT messages per run"
[ -n "$HAVE_B" ] && echo "peer (b): $("$OPENDKIM" -V 2>&1 | head -1), $("$OPENDMARC" -V 2>&1 | head -1)"
[ -n "$HAVE_C" ] && echo "peer (c): $("$RSPAMD" -v 2>&1 | head -1), $(nproc) proxy workers (self_scan)"
printf '%-18s %5s %9s %9s %9s %12s %8s %8s %7s\n' config conns msgs/s p50_ms p99_ms cpu_ms/msg rss_MB vs_none errors
for c in "$CONNS" 1; do
    for cfg in $CONFIGS; do
        mps=$(med "$cfg" "$c" 3); p50=$(med "$cfg" "$c" 4); p99=$(med "$cfg" "$c" 5); cpu=$(med "$cfg" "$c" 6)
        [ "$mps" = - ] && continue
        errs=$(awk -v n="$cfg" -v c="$c" '$1 == n && $2 == c { split($7, e, "+"); s += e[1] + e[2] } END { print s + 0 }' "$RESULTS")
        rss=$(hwm "$(filter_of "$cfg")")
        ratio=-
        case $cfg in pf-*) ratio=$(div "$mps" "$(med pf-none "$c" 3)") ;; esac
        printf '%-18s %5s %9s %9s %9s %12s %8s %8s %7s\n' "$cfg" "$c" "$mps" "$p50" "$p99" "$cpu" "$rss" "$ratio" "$errs"
    done
    # The chain measured directly: each milter alone, added (a message goes
    # through one then the other).
    for t in unix tcp; do
        [ -n "$HAVE_B" ] || break
        a=$(med "direct-odkim-$t" "$c" 3); b=$(med "direct-odmarc-$t" "$c" 3)
        printf '%-18s %5s %9s %9s %9s %12s %8s %8s %7s\n' "direct-chain-$t*" "$c" \
            "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", 1 / (1 / a + 1 / b) }')" \
            "$(awk -v a="$(med "direct-odkim-$t" "$c" 4)" -v b="$(med "direct-odmarc-$t" "$c" 4)" 'BEGIN { print a + b }')" - \
            "$(awk -v a="$(med "direct-odkim-$t" "$c" 6)" -v b="$(med "direct-odmarc-$t" "$c" 6)" 'BEGIN { print a + b }')" \
            "$(hwm "$(filter_of "pf-chain-$t")")" - -
    done
done
[ -n "$HAVE_B" ] && echo "* direct-chain: OpenDKIM and OpenDMARC each measured alone with loadgen, msgs/s 1/(1/a+1/b), p50 and CPU added"
echo
# The table of issue 7: (a) mxguard, (b) OpenDKIM+OpenDMARC, (c) rspamd,
# (d) Postfix without a milter; msgs/s at CONNS connections, p50 at one.
echo "issue 7 table: (a) mxguard, (b) OpenDKIM+OpenDMARC, (c) rspamd, (d) Postfix alone; $CONNS connections"
echo "| path | a msgs/s | b msgs/s | c msgs/s | d msgs/s | a/b | a/c | a/d | a CPU ms/msg | b CPU ms/msg | c CPU ms/msg | a RSS MB | b RSS MB | c RSS MB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for t in unix tcp; do
    for path in direct pf; do
        if [ "$path" = direct ]; then
            am=$(med "direct-$t" "$CONNS" 3); ac=$(med "direct-$t" "$CONNS" 6); dm=-
            bm=-; bc=-; cm=-; cc=-
            if [ -n "$HAVE_B" ]; then
                bm=$(awk -v a="$(med "direct-odkim-$t" "$CONNS" 3)" -v b="$(med "direct-odmarc-$t" "$CONNS" 3)" 'BEGIN { printf "%.1f", 1 / (1 / a + 1 / b) }')
                bc="$(awk -v a="$(med "direct-odkim-$t" "$CONNS" 6)" -v b="$(med "direct-odmarc-$t" "$CONNS" 6)" 'BEGIN { printf "%.2f (%.2f + %.2f)", a + b, a, b }')"
            fi
            [ -n "$HAVE_C" ] && { cm=$(med "direct-rspamd-$t" "$CONNS" 3); cc=$(med "direct-rspamd-$t" "$CONNS" 6); }
            label="loadgen -> filter, $t"
        else
            am=$(med "pf-$t" "$CONNS" 3); ac=$(med "pf-$t" "$CONNS" 6); dm=$none50
            bm=-; bc=-; cm=-; cc=-
            if [ -n "$HAVE_B" ]; then
                bm=$(med "pf-chain-$t" "$CONNS" 3)
                bc="$(med "pf-chain-$t" "$CONNS" 6 | awk '{ printf "%.2f", $1 }') ($(split_med "pf-chain-$t" "$CONNS"))"
            fi
            [ -n "$HAVE_C" ] && { cm=$(med "pf-rspamd-$t" "$CONNS" 3); cc=$(med "pf-rspamd-$t" "$CONNS" 6); }
            label="Postfix + filter, $t"
        fi
        br=-; cr=-
        [ -n "$HAVE_B" ] && br=$(hwm "$(filter_of "pf-chain-$t")")
        [ -n "$HAVE_C" ] && cr=$(hwm "$RSPAMD_PID")
        echo "| $label | $am | $bm | $cm | $dm | $(div "$am" "$bm") | $(div "$am" "$cm") | $(div "$am" "$dm") | $ac | $bc | $cc | $(hwm "$(filter_of "direct-$t")") | $br | $cr |"
    done
done
echo "p50 ms at one connection through Postfix: d $none1; unix: a $(med pf-unix 1 4)" \
    "b $(med pf-chain-unix 1 4) c $(med pf-rspamd-unix 1 4); TCP: a $(med pf-tcp 1 4) b $(med pf-chain-tcp 1 4) c $(med pf-rspamd-tcp 1 4)"
echo "verdicts (accept,reject,tempfail,discard,quarantine,error) of the last run at $CONNS connections:"
for cfg in $CONFIGS; do
    awk -v n="$cfg" -v c="$CONNS" '$1 == n && $2 == c { v = $9 } END { if (v != "") printf "  %-18s %s\n", n, v }' "$RESULTS"
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
