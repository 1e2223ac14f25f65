# rig.sh - shared shell helpers for the integration and end-to-end tests:
# a private temporary directory, free ports on 127.0.0.1, a test DNS server
# (Debian's unbound, answering only from local data), the mxguard daemon in
# the foreground, parsing of its decision lines, and small assertions.
#
# Source it from bash:  . "$TESTS_SRCDIR/lib/rig.sh"
# Exit codes follow automake: 0 pass, 1 fail, 77 skip (never used to hide a
# failure: a missing tool is a failure).  Every wait loop is bounded.
# Nothing here sends a packet anywhere but 127.0.0.1: the DNS server refuses
# every name outside its local zones and forwards nothing.

set -u

RIG_NAME=${RIG_NAME:-rig}
RIG_FAILS=0
RIG_CHECKS=0
RIG_PIDS=""             # "name:pid" of background processes we started
RIG_STOP_HOOKS=""       # functions to call at exit (before killing RIG_PIDS)
RIG_TMP=""

rig_log() { printf '%s: %s\n' "$RIG_NAME" "$*"; }
rig_die() {
    printf '%s: FATAL: %s\n' "$RIG_NAME" "$*" >&2
    RIG_FAILS=$((RIG_FAILS + 1))
    exit 1
}

# Elapsed milliseconds since the epoch (GNU date).
rig_now_ms() { date +%s%3N; }

# ---- assertions ------------------------------------------------------------
rig_pass() { RIG_CHECKS=$((RIG_CHECKS + 1)); printf 'ok %d - %s\n' "$RIG_CHECKS" "$*"; }
rig_fail() {
    RIG_CHECKS=$((RIG_CHECKS + 1)); RIG_FAILS=$((RIG_FAILS + 1))
    printf 'not ok %d - %s\n' "$RIG_CHECKS" "$*"
    return 1
}
# rig_check DESCRIPTION COMMAND...: pass when the command succeeds.
rig_check() {
    local d=$1; shift
    if "$@"; then rig_pass "$d"; else rig_fail "$d"; fi
}
# rig_eq DESCRIPTION EXPECTED GOT
rig_eq() {
    if [ "$2" = "$3" ]; then rig_pass "$1"
    else rig_fail "$1: expected [$2], got [$3]"; fi
}
# rig_match DESCRIPTION EXTENDED-REGEX GOT
rig_match() {
    if [[ $3 =~ $2 ]]; then rig_pass "$1"
    else rig_fail "$1: [$3] does not match /$2/"; fi
}

# Print the "N passed, N failed" summary and exit 0/1.
rig_finish() {
    local passed=$((RIG_CHECKS - RIG_FAILS))
    echo "$RIG_NAME: $passed passed, $RIG_FAILS failed"
    if [ "$RIG_CHECKS" -eq 0 ]; then
        rig_log "no check ran"
        exit 1
    fi
    [ "$RIG_FAILS" -eq 0 ] && exit 0
    exit 1
}

# ---- required tools --------------------------------------------------------
# rig_need_exec NAME PATH: PATH must be an executable (a missing tool fails
# the test: the test dependencies are in scripts/install-deps.sh --test).
rig_need_exec() {
    if [ -z "$2" ] || [ ! -x "$2" ]; then
        rig_die "$1 not found or not executable ('$2'): run scripts/install-deps.sh --test"
    fi
}

# ---- temporary directory and cleanup ---------------------------------------
# rig_init NAME: make the temp dir (0755: the postfix user must reach the
# milter socket inside it) and install the exit trap.
rig_init() {
    RIG_NAME=$1
    RIG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/mxguard-$RIG_NAME.XXXXXX") || rig_die "mktemp failed"
    chmod 0755 "$RIG_TMP"
    trap rig_cleanup EXIT
    trap 'exit 1' INT TERM HUP
}

# rig_bg NAME PID: remember a background process to stop at exit.
rig_bg() { RIG_PIDS="$RIG_PIDS $1:$2"; }

# rig_stop_pid PID [SECONDS]: SIGTERM, wait (bounded), then SIGKILL.
rig_stop_pid() {
    local pid=$1 max=${2:-10} i=0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    while kill -0 "$pid" 2>/dev/null && [ $i -lt $((max * 10)) ]; do
        sleep 0.1; i=$((i + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        rig_log "pid $pid did not stop on SIGTERM within ${max}s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    return 0
}

rig_cleanup() {
    local rc=$? h e
    trap - EXIT
    for h in $RIG_STOP_HOOKS; do "$h" || true; done
    for e in $RIG_PIDS; do rig_stop_pid "${e#*:}" 5; done
    [ "$RIG_FAILS" -ne 0 ] && [ "$rc" -eq 0 ] && rc=1
    if [ "$rc" -ne 0 ] || [ -n "${RIG_KEEP:-}" ]; then
        [ -n "$RIG_TMP" ] && rig_log "kept temporary files for debugging: $RIG_TMP"
    else
        [ -n "$RIG_TMP" ] && rm -rf "$RIG_TMP"
    fi
    exit "$rc"
}

# ---- waiting ---------------------------------------------------------------
# rig_wait_for SECONDS COMMAND...: poll every 0.05 s until COMMAND succeeds.
rig_wait_for() {
    local max=$1 i=0; shift
    while ! "$@"; do
        i=$((i + 1))
        [ $i -ge $((max * 20)) ] && return 1
        sleep 0.05
    done
    return 0
}

# ---- free ports ------------------------------------------------------------
# A port in 20000..59999 not bound by any TCP or UDP socket (from /proc/net).
_rig_port_used() {
    local hex
    hex=$(printf ':%04X ' "$1")
    cat /proc/net/tcp /proc/net/udp /proc/net/tcp6 /proc/net/udp6 2>/dev/null |
        awk '{print $2" "}' | grep -q -- "$hex"
}
RIG_PORTS_TAKEN=""
rig_free_port() {
    local p n=0
    while [ $n -lt 200 ]; do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        n=$((n + 1))
        case " $RIG_PORTS_TAKEN " in *" $p "*) continue ;; esac
        _rig_port_used "$p" && continue
        RIG_PORTS_TAKEN="$RIG_PORTS_TAKEN $p"
        echo "$p"
        return 0
    done
    rig_die "no free port found"
}

# ---- test DNS server (unbound) ---------------------------------------------
# rig_start_dns ZONEFILE: start unbound on 127.0.0.1:$RIG_DNS_PORT serving the
# unbound "server:" clauses in ZONEFILE (local-zone/local-data lines), after
# "example." as a static zone.  Every other name is refused, nothing is
# forwarded or recursed.  Sets RIG_DNS_PORT and RIG_DNS_PID.
# RIG_DNS_EXTRA_IF (unbound "interface:" values, e.g. "127.0.5.3@53") adds
# listening addresses (tests/bench/run.sh: for OpenDMARC's system resolver).
rig_start_dns() {
    local zone=$1 dir="$RIG_TMP/dns" try
    rig_need_exec unbound "${UNBOUND_SERVER:-}"
    [ -r "$zone" ] || rig_die "zone file $zone not readable"
    mkdir -p "$dir"
    for try in 1 2 3; do
        RIG_DNS_PORT=$(rig_free_port)
        cat > "$dir/unbound.conf" <<EOF
server:
    verbosity: 1
    interface: 127.0.0.1
$(for a in ${RIG_DNS_EXTRA_IF:-}; do echo "    interface: $a"; done)
    port: $RIG_DNS_PORT
    do-ip4: yes
    do-ip6: no
    do-udp: yes
    do-tcp: yes
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "$dir"
    pidfile: "$dir/unbound.pid"
    logfile: "$dir/unbound.log"
    use-syslog: no
    log-queries: yes
    access-control: 127.0.0.0/8 allow
    num-threads: 1
    outgoing-range: 32
    so-reuseport: no
    # No trust anchor (no auto-trust-anchor-file), no DNSSEC validation.
    module-config: "iterator"
    # Never leave this machine: everything outside the local zones is refused.
    local-zone: "." refuse
    local-zone: "example." static
    include: "$zone"
remote-control:
    control-enable: yes
    control-interface: "$dir/control.sock"
    control-use-cert: no
EOF
        "$UNBOUND_SERVER" -d -c "$dir/unbound.conf" > "$dir/unbound.out" 2>&1 &
        RIG_DNS_PID=$!
        rig_bg unbound "$RIG_DNS_PID"
        if rig_wait_for 10 _rig_dns_ready "$dir"; then
            rig_log "DNS server (unbound) on 127.0.0.1:$RIG_DNS_PORT, pid $RIG_DNS_PID"
            return 0
        fi
        rig_log "unbound did not come up on port $RIG_DNS_PORT (try $try):"
        cat "$dir/unbound.out" "$dir/unbound.log" 2>/dev/null | tail -5
        rig_stop_pid "$RIG_DNS_PID" 2
    done
    rig_die "could not start the test DNS server"
}
_rig_dns_ready() {
    kill -0 "$RIG_DNS_PID" 2>/dev/null || return 1
    unbound-control -c "$1/unbound.conf" status > /dev/null 2>&1 ||
        "${UNBOUND_SERVER%/*}/unbound-control" -c "$1/unbound.conf" status > /dev/null 2>&1
}

# ---- mxguard -----------------------------------------------------------------
# The daemon's privileges, @MX_PRIVS@ in every *.conf.in: as root, change to
# nobody after opening the socket (mxguard refuses to run as root without a
# user); as any other user there is nothing to drop.
if [ "$(id -u)" -eq 0 ]; then RIG_MX_PRIVS='user = "nobody";'; else RIG_MX_PRIVS=''; fi

# rig_subst TEMPLATE OUT: replace @VAR@ with the shell variable VAR for the
# variables named in RIG_SUBST_VARS, and @MX_PRIVS@ with RIG_MX_PRIVS.
rig_subst() {
    local v sedargs=(-e "s|@MX_PRIVS@|$RIG_MX_PRIVS|g")
    for v in $RIG_SUBST_VARS; do
        sedargs+=(-e "s|@$v@|${!v}|g")
    done
    sed "${sedargs[@]}" "$1" > "$2"
    if grep -q '@[A-Z_]*@' "$2"; then
        rig_die "unsubstituted variable in $2: $(grep -o '@[A-Z_]*@' "$2" | head -1)"
    fi
}

# rig_start_mxguard CONF SOCKPATH: run "$MXGUARD -c CONF -f" in the
# background (stderr and stdout to $RIG_TMP/mxguard.log), wait until the unix
# socket exists, make it connectable for the postfix user.  SOCKPATH may
# instead be a TCP socket, inet:PORT or as Postfix writes it,
# inet:127.0.0.1:PORT: then wait until 127.0.0.1:PORT accepts connections.
# Sets RIG_MX_PID,
# RIG_MX_LOG ($RIG_TMP/mxguard.log, or $RIG_TMP/$RIG_MX_LOGNAME when set:
# for a test that runs several daemons).  MXGUARD_WRAPPER (e.g. "valgrind --error-exitcode=1
# --leak-check=full") is put in front of the daemon when set.
rig_start_mxguard() {
    local conf=$1 sock=$2
    rig_need_exec mxguard "${MXGUARD:-}"
    RIG_MX_LOG="$RIG_TMP/${RIG_MX_LOGNAME:-mxguard.log}"
    [[ $sock == inet:* ]] || rm -f "$sock"
    # A config that says neither (e.g. the shipped one, edited) gets
    # RIG_MX_PRIVS, said in the log: as root it would be refused.
    if [ -n "$RIG_MX_PRIVS" ] && ! grep -qE '^[[:space:]]*(user|allow_root)[[:space:]]*=' "$conf"; then
        rig_log "$conf sets neither user nor allow_root: appending $RIG_MX_PRIVS"
        printf '%s\n' "$RIG_MX_PRIVS" >> "$conf"
    fi
    "$MXGUARD" -n -c "$conf" > "$RIG_TMP/mxguard-n.out" 2>&1 ||
        { cat "$RIG_TMP/mxguard-n.out"; rig_die "mxguard -n rejects $conf"; }
    # shellcheck disable=SC2086 # the wrapper is a command line
    ${MXGUARD_WRAPPER:-} "$MXGUARD" -c "$conf" -f > "$RIG_MX_LOG" 2>&1 &
    RIG_MX_PID=$!
    rig_bg mxguard "$RIG_MX_PID"
    if ! rig_wait_for 15 _rig_sock_ready "$sock"; then
        cat "$RIG_MX_LOG"
        rig_die "mxguard did not create $sock within 15 s"
    fi
    # mxguard sets the socket's mode (socket_mode) after creating it and
    # logs "started" after that: widen it only then, or its chmod could
    # come second and lock the postfix user out.
    if ! rig_wait_for 15 _rig_mx_started; then
        cat "$RIG_MX_LOG"
        rig_die "mxguard did not log its start within 15 s"
    fi
    [[ $sock == inet:* ]] || chmod 0666 "$sock"
    rig_log "mxguard pid $RIG_MX_PID on $sock"
}
_rig_mx_started() {
    kill -0 "$RIG_MX_PID" 2>/dev/null || return 1
    grep -q 'mxguard .* started on ' "$RIG_MX_LOG"
}
_rig_sock_ready() {
    kill -0 "$RIG_MX_PID" 2>/dev/null || return 1
    case $1 in
    inet:127.0.0.1:*) (exec 3<>"/dev/tcp/127.0.0.1/${1##*:}") 2>/dev/null ;;
    inet:*) (exec 3<>"/dev/tcp/127.0.0.1/${1#inet:}") 2>/dev/null ;;
    *) [ -S "$1" ] ;;
    esac
}

# rig_stop_mxguard: SIGTERM; the daemon must exit by itself with status 0
# within 15 s (the listener stops at once, then connections still open
# get a grace period of 10 s).
rig_stop_mxguard() {
    local i=0 st
    [ -n "${RIG_MX_PID:-}" ] || return 1
    kill -TERM "$RIG_MX_PID" 2>/dev/null || return 1
    while kill -0 "$RIG_MX_PID" 2>/dev/null && [ $i -lt 150 ]; do
        sleep 0.1; i=$((i + 1))
    done
    if kill -0 "$RIG_MX_PID" 2>/dev/null; then
        kill -KILL "$RIG_MX_PID" 2>/dev/null
        wait "$RIG_MX_PID" 2>/dev/null
        return 1
    fi
    wait "$RIG_MX_PID"; st=$?
    return "$st"
}

# ---- decision lines -----------------------------------------------------------
RIG_DECISION_KEYS="stage queue_id client_addr client_name helo mail_from rcpts rcpts_rejected spf spf_domain spf_helo dnsbl_score dnsbl dkim dkim_reason dmarc dmarc_policy dmarc_aligned from_domain rule dry_run action reply elapsed_ms"

# rig_decisions: all decision lines so far (without the "mxguard: " prefix).
rig_decisions() { sed -n 's/^mxguard: \(decision .*\)$/\1/p' "$RIG_MX_LOG"; }

# rig_decision_for FIELD=VALUE: the decision line(s) with that exact raw
# key=value pair (VALUE as it appears on the line, quotes included).
rig_decision_for() { rig_decisions | grep -F -- " $1 " ; }
_rig_has_decision() { [ "$(rig_decision_for "$1" | wc -l)" -ge 1 ]; }
# rig_wait_decision FIELD=VALUE [SECONDS]: wait until such a line is logged.
rig_wait_decision() { rig_wait_for "${2:-5}" _rig_has_decision "$1"; }

# rig_parse_decision LINE: fill the associative array RIG_D (raw values,
# unquoted and unescaped) and RIG_D_KEYS (keys in order, space-separated).
# Returns 1 if the line does not have the key=value syntax.
declare -A RIG_D
rig_parse_decision() {
    local line=$1 rest re k v
    RIG_D=()
    RIG_D_KEYS=""
    [[ $line == decision\ * ]] || return 1
    rest=${line#decision }
    re='^([a-z_]+)=("([^"\\]|\\.)*"|[^ "]*)( (.*))?$'
    while [ -n "$rest" ]; do
        [[ $rest =~ $re ]] || return 1
        k=${BASH_REMATCH[1]}
        v=${BASH_REMATCH[2]}
        rest=${BASH_REMATCH[5]}
        if [[ $v == \"*\" ]]; then
            v=${v:1:${#v}-2}
            v=$(printf '%s' "$v" | sed -e 's/\\"/"/g' -e 's/\\\\/\\/g')
        fi
        RIG_D[$k]=$v
        RIG_D_KEYS="$RIG_D_KEYS${RIG_D_KEYS:+ }$k"
    done
    return 0
}

# rig_check_decision LABEL SELECTOR KEY=VALUE...: find the one decision line
# matching SELECTOR (a raw "key=value" as on the line), check the key order
# and each expected (unquoted) value.  VALUE "~REGEX" matches a regex.
rig_check_decision() {
    local label=$1 sel=$2 lines n kv k want got; shift 2
    rig_wait_decision "$sel" 5
    lines=$(rig_decision_for "$sel")
    n=$(printf '%s' "$lines" | grep -c '^decision ')
    if [ "$n" -ne 1 ]; then
        rig_fail "$label: expected exactly 1 decision line with $sel, found $n"
        [ -n "$lines" ] && printf '%s\n' "$lines" | sed 's/^/#   /'
        return
    fi
    if ! rig_parse_decision "$lines"; then
        rig_fail "$label: decision line does not parse: $lines"
        return
    fi
    rig_eq "$label: decision keys in order" "$RIG_DECISION_KEYS" "$RIG_D_KEYS"
    for kv in "$@"; do
        k=${kv%%=*}; want=${kv#*=}
        got=${RIG_D[$k]-<absent>}
        if [[ $want == \~* ]]; then
            rig_match "$label: decision $k" "${want#\~}" "$got"
        else
            rig_eq "$label: decision $k" "$want" "$got"
        fi
    done
}

# rig_check_mxguard_log: no sanitizer or valgrind report, no crash.
rig_check_mxguard_log() {
    if grep -qE 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|Segmentation|ERROR SUMMARY: [1-9]|definitely lost: [1-9]' "$RIG_MX_LOG"; then
        rig_fail "mxguard log shows a sanitizer/valgrind report or a crash"
        grep -E -A5 'Sanitizer|runtime error:|ERROR SUMMARY|definitely lost' "$RIG_MX_LOG" | head -40 | sed 's/^/#   /'
    else
        rig_pass "mxguard log shows no sanitizer/valgrind report or crash"
    fi
}
