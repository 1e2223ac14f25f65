/*
 * rstore_pg.c - the PostgreSQL back end of the report store
 * (rstore_impl.h), through libpq: one connection made from the URI (a
 * connect_timeout of 10 s, a statement_timeout of 30 s and TCP keepalives
 * unless the URI sets connect_timeout, options or keepalives*: a stalled
 * server fails a flush instead of holding the daemon's flush thread for
 * good); a connection found lost is re-made once (PQreset) before the
 * next call.
 * Several hosts write one database at once: the upserts of rstore.c add
 * counts; a claim locks its report row with FOR UPDATE SKIP LOCKED so two
 * reporters never take the same one; the schema is created under a
 * transaction-scoped advisory lock, so two processes starting on an empty
 * database do not both create it.
 *
 * SECURITY: the URI comes from the config (root's); values are bound
 * parameters (PQexecParams), never SQL text.  Server notices are dropped
 * (the store logs nothing; errors come back as results).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "rstore_impl.h"
#include "xalloc.h"

#define RS_PG_MAXPARAM 16
#define RS_PG_CONNECT_TIMEOUT "10" /* seconds, unless the URI says otherwise */
#define RS_PG_OPTIONS "-c statement_timeout=30000" /* ms, unless the URI has options */
/* TCP keepalives (unless the URI sets them): a server or a path that died
 * without a word is found within about a minute (30 s idle, then 3 probes
 * 10 s apart), not after the kernel's two hours.  Unix sockets ignore them. */
#define RS_PG_KEEPALIVES_IDLE "30"
#define RS_PG_KEEPALIVES_INTERVAL "10"
#define RS_PG_KEEPALIVES_COUNT "3"
#define RS_PG_MAXCOL 16
/* pg_advisory_xact_lock key of the schema's creation: "mxgrst" */
#define RS_PG_SCHEMA_LOCK "SELECT pg_advisory_xact_lock(120359239398260)"

typedef struct rs_pg {
    struct rstore base;
    PGconn *conn;
} rs_pg;

/* The first line of a libpq message. */
static void rs_pg_msg(const char *what, const char *msg, char *err, size_t errsz)
{
    size_t n = strcspn(msg ? msg : "", "\n");
    snprintf(err, errsz, "postgresql: %s: %.*s", what, (int)n, msg ? msg : "");
}

static bool rs_pg_rows(PGresult *res, rs_row_cb cb, void *arg, char *err, size_t errsz)
{
    int nrow = PQntuples(res), ncol = PQnfields(res);
    const char *vals[RS_PG_MAXCOL];

    if (ncol > RS_PG_MAXCOL)
        ncol = RS_PG_MAXCOL;
    for (int r = 0; r < nrow; r++) {
        for (int c = 0; c < ncol; c++)
            vals[c] = PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
        if (!cb(arg, ncol, vals, err, errsz))
            return false;
    }
    return true;
}

static bool rs_pg_exec(rstore_t *st, const char *sql, const rs_param *p, int np, rs_row_cb cb, void *arg,
                       unsigned long *changes, char *err, size_t errsz)
{
    rs_pg *s = (rs_pg *)st;
    char ints[RS_PG_MAXPARAM][24];
    const char *values[RS_PG_MAXPARAM];
    PGresult *res;
    bool ok;

    if (np > RS_PG_MAXPARAM) {
        snprintf(err, errsz, "postgresql: too many parameters");
        return false;
    }
    for (int i = 0; i < np; i++) {
        if (p[i].s == NULL)
            snprintf(ints[i], sizeof(ints[i]), "%" PRId64, p[i].i);
        values[i] = p[i].s != NULL ? p[i].s : ints[i];
    }
    res = PQexecParams(s->conn, sql, np, NULL, values, NULL, NULL, 0);
    switch (PQresultStatus(res)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
        ok = cb == NULL || rs_pg_rows(res, cb, arg, err, errsz);
        if (ok && changes != NULL)
            *changes = strtoul(PQcmdTuples(res), NULL, 10);
        break;
    default:
        rs_pg_msg("query", res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(s->conn), err, errsz);
        ok = false;
        break;
    }
    PQclear(res);
    return ok;
}

static bool rs_pg_lost(rstore_t *st)
{
    return PQstatus(((rs_pg *)st)->conn) == CONNECTION_BAD;
}

static bool rs_pg_ready(rstore_t *st, char *err, size_t errsz)
{
    rs_pg *s = (rs_pg *)st;

    if (PQstatus(s->conn) != CONNECTION_BAD)
        return true;
    PQreset(s->conn);
    if (PQstatus(s->conn) == CONNECTION_BAD) {
        rs_pg_msg("connection lost", PQerrorMessage(s->conn), err, errsz);
        return false;
    }
    return true;
}

static void rs_pg_close(rstore_t *st)
{
    rs_pg *s = (rs_pg *)st;

    PQfinish(s->conn);
    free(s);
}

static void rs_pg_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static const rstore_ops rs_pg_ops = {
    .kind = "postgresql",
    .id_type = "BIGSERIAL PRIMARY KEY",
    .begin_write = "BEGIN",
    .claim_lock = " FOR UPDATE SKIP LOCKED",
    .schema_lock = RS_PG_SCHEMA_LOCK,
    .schema_there = "SELECT CASE WHEN to_regclass('report_schema') IS NULL THEN 0 ELSE 1 END",
    .exec = rs_pg_exec,
    .lost = rs_pg_lost,
    .ready = rs_pg_ready,
    .close = rs_pg_close,
};

bool rstore_pg_uri_valid(const char *uri, char *err, size_t errsz)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(uri, &msg);

    if (opts == NULL) {
        rs_pg_msg("bad URI", msg ? msg : "out of memory", err, errsz);
        PQfreemem(msg);
        return false;
    }
    PQconninfoFree(opts);
    return true;
}

rstore_t *rstore_pg_open(const char *uri, char *err, size_t errsz)
{
    /* the defaults first: the URI's own values, if it has them, override them */
    static const char *const keys[] = {"connect_timeout", "options", "keepalives", "keepalives_idle",
                                       "keepalives_interval", "keepalives_count", "dbname", NULL};
    const char *values[] = {RS_PG_CONNECT_TIMEOUT, RS_PG_OPTIONS, "1", RS_PG_KEEPALIVES_IDLE,
                            RS_PG_KEEPALIVES_INTERVAL, RS_PG_KEEPALIVES_COUNT, uri, NULL};
    rs_pg *s = xcalloc(1, sizeof(*s));

    s->base.ops = &rs_pg_ops;
    s->conn = PQconnectdbParams(keys, values, 1);
    if (s->conn == NULL || PQstatus(s->conn) != CONNECTION_OK) {
        rs_pg_msg("connect", s->conn ? PQerrorMessage(s->conn) : "out of memory", err, errsz);
        rs_pg_close(&s->base);
        return NULL;
    }
    PQsetNoticeProcessor(s->conn, rs_pg_notice, NULL);
    return &s->base;
}
