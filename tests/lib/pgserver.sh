#!/bin/sh
# pgserver.sh - a private PostgreSQL server for the tests (the DMARC report
# store's unit test, the fleet end-to-end test): a new cluster in a
# directory of the caller's, reachable only through a unix socket in that
# directory.  It never touches the system cluster, and it listens on no TCP
# address at all (listen_addresses=''), so port 5432 is never used; the
# port below only names the socket file.
#
#   pgserver.sh start DIR   initdb DIR/data (trust, superuser mxguard),
#                           start it (socket in DIR), wait until it answers
#                           (bounded), create database mxguard, print the
#                           connection URI on stdout
#   pgserver.sh uri DIR     print the URI of the server in DIR
#   pgserver.sh stop DIR    stop it (fast mode, bounded; immediate mode and
#                           then SIGKILL of the postmaster if that fails)
#   pgserver.sh resume DIR  start the stopped cluster in DIR again (same
#                           settings), wait until it answers, print the URI
#
# DIR is left mode 0711: other users (a daemon under test running as
# nobody) reach the socket in it, and nothing else (the socket itself is
# 0777 as PostgreSQL makes it; the cluster trusts local connections).
#
# initdb refuses to run as root: as root the server runs as user postgres
# (runuser) and DIR is chowned to it.  DIR must be an absolute path of
# letters, digits and "/._-" (it goes into a URI and a socket path); as
# root, its parent directories must let user postgres through (o+x).
# Logs: DIR/server.log.  Exit status non-zero on any failure, with the
# reason on stderr.

set -u

PG_USER=mxguard
PG_DB=mxguard
PG_PORT=54329           # names the socket file DIR/.s.PGSQL.54329 only
WAIT_SECONDS=30

die() { echo "pgserver.sh: $*" >&2; exit 1; }

# The newest installed server version's bin directory.
pg_bindir() {
    best=""
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] || continue
        v=${d#/usr/lib/postgresql/}; v=${v%/bin}
        case $v in *[!0-9]*) continue ;; esac
        if [ -z "$best" ] || [ "$v" -gt "${best_v:-0}" ]; then best=$d; best_v=$v; fi
    done
    [ -n "$best" ] || die "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql)"
    echo "$best"
}

# Run a server command as the cluster's owner.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

check_dir() {
    case $1 in
        /*) ;;
        *) die "DIR must be an absolute path: $1" ;;
    esac
    case $1 in
        *[!A-Za-z0-9/._-]*) die "DIR may hold only letters, digits and /._- : $1" ;;
    esac
    # a unix socket path holds at most 107 bytes
    [ ${#1} -le 80 ] || die "DIR is too long for a socket path: $1"
}

uri() { echo "postgresql:///$PG_DB?host=$1&port=$PG_PORT&user=$PG_USER"; }

ready() { as_owner "$BIN/pg_isready" -q -h "$1" -p "$PG_PORT" -U "$PG_USER" -d postgres; }

start() {
    dir=$1
    mkdir -p "$dir" || die "cannot create $dir"
    [ ! -e "$dir/data/PG_VERSION" ] || die "$dir/data holds a cluster already"
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || die "running as root needs the user postgres (apt-get install postgresql)"
        chown postgres "$dir" || die "cannot chown $dir to postgres"
        chmod 0711 "$dir"
        runuser -u postgres -- test -w "$dir" \
            || die "user postgres cannot reach $dir (each parent directory needs o+x)"
    fi
    as_owner "$BIN/initdb" -D "$dir/data" -A trust -U "$PG_USER" -E UTF8 --locale=C --no-sync \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    chmod 0711 "$dir"
    launch "$dir"
    as_owner "$BIN/createdb" -h "$dir" -p "$PG_PORT" -U "$PG_USER" "$PG_DB" \
        || { stop "$dir"; die "createdb failed"; }
    uri "$dir"
}

# Start the cluster in $1 (socket only, in $1) and wait until it answers.
launch() {
    as_owner "$BIN/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t "$WAIT_SECONDS" \
        -o "-c listen_addresses='' -c unix_socket_directories='$1' -c port=$PG_PORT -c fsync=off -c max_connections=50" \
        start >"$1/pg_ctl.log" 2>&1 || { cat "$1/pg_ctl.log" "$1/server.log" >&2; die "pg_ctl start failed"; }
    i=0
    until ready "$1"; do
        i=$((i + 1))
        [ $i -le $((WAIT_SECONDS * 10)) ] || { stop "$1"; die "server in $1 not ready after ${WAIT_SECONDS}s"; }
        sleep 0.1
    done
}

resume() {
    [ -e "$1/data/PG_VERSION" ] || die "$1/data holds no cluster (pgserver.sh start first)"
    [ ! -f "$1/data/postmaster.pid" ] || die "the server in $1 is running"
    launch "$1"
    uri "$1"
}

stop() {
    dir=$1
    [ -f "$dir/data/postmaster.pid" ] || return 0
    as_owner "$BIN/pg_ctl" -D "$dir/data" -m fast -w -t "$WAIT_SECONDS" stop >/dev/null 2>&1 && return 0
    as_owner "$BIN/pg_ctl" -D "$dir/data" -m immediate -w -t 10 stop >/dev/null 2>&1 && return 0
    pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null)
    case $pid in
        '' | *[!0-9]*) die "cannot stop the server in $dir" ;;
    esac
    kill -KILL "$pid" 2>/dev/null
    echo "pgserver.sh: killed postmaster $pid in $dir" >&2
}

[ $# -eq 2 ] || die "usage: pgserver.sh start|stop|resume|uri DIR"
check_dir "$2"
BIN=$(pg_bindir) || exit 1
case $1 in
    start) start "$2" ;;
    stop) stop "$2" ;;
    resume) resume "$2" ;;
    uri) uri "$2" ;;
    *) die "usage: pgserver.sh start|stop|resume|uri DIR" ;;
esac
