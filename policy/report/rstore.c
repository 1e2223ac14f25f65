/*
 * rstore.c - the DMARC aggregate report store (rstore.h): the back end
 * chosen by URI (its syntax in rstore_uri.c), the schema, and every
 * operation as SQL written once for both back ends (rstore_impl.h: SQLite
 * in rstore_sqlite.c, PostgreSQL in rstore_pg.c).  How a row's strings
 * and key become column text: rstore_key.c.
 *
 * SECURITY: the strings of a row come from mail (domains, DKIM selectors)
 * and from DNS; every value reaches the database as a bound parameter,
 * never as SQL text, encoded by rstore_key_enc.
 */
#include "config.h"

#include "rstore.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rstore_impl.h"
#include "rstore_key.h"
#include "strbuf.h"
#include "xalloc.h"

#define RS_STATE_OPEN 0
#define RS_STATE_SENT 1

const char *rstore_kind(const rstore_t *st)
{
    return st->ops->kind;
}

/* ---- statements ------------------------------------------------------------ */

static bool rs_exec(rstore_t *st, const char *sql, const rs_param *p, int np, rs_row_cb cb, void *arg,
                    unsigned long *changes, char *err, size_t errsz)
{
    return st->ops->exec(st, sql, p, np, cb, arg, changes, err, errsz);
}

static bool rs_begin(rstore_t *st, char *err, size_t errsz)
{
    return rs_exec(st, st->ops->begin_write, NULL, 0, NULL, NULL, NULL, err, errsz);
}

static bool rs_commit(rstore_t *st, char *err, size_t errsz)
{
    return rs_exec(st, "COMMIT", NULL, 0, NULL, NULL, NULL, err, errsz);
}

/* Undo a transaction after a failure (the failure's reason is kept). */
static bool rs_rollback(rstore_t *st)
{
    char e[256];
    (void)rs_exec(st, "ROLLBACK", NULL, 0, NULL, NULL, NULL, e, sizeof(e));
    return false;
}

static bool rs_parse_i64(const char *s, int64_t *out)
{
    char *end;

    if (s == NULL) {
        *out = 0;
        return true;
    }
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* A result of one integer (the first column of the last row; NULL: 0). */
static bool rs_cb_int(void *arg, int ncol, const char *const *vals, char *err, size_t errsz)
{
    if (ncol < 1 || !rs_parse_i64(vals[0], arg)) {
        snprintf(err, errsz, "store: not an integer: %s", ncol < 1 || vals[0] == NULL ? "(none)" : vals[0]);
        return false;
    }
    return true;
}

static bool rs_query_int(rstore_t *st, const char *sql, const rs_param *p, int np, int64_t *out, char *err,
                         size_t errsz)
{
    *out = 0;
    return rs_exec(st, sql, p, np, rs_cb_int, out, NULL, err, errsz);
}

/* ---- schema ---------------------------------------------------------------- */

/* Version 1.  "@ID@": the back end's id column type. */
static const char *const rs_schema_v1[] = {
    "CREATE TABLE reports ("
    " id @ID@,"
    " policy_domain TEXT NOT NULL,"
    " begin_ts BIGINT NOT NULL,"
    " end_ts BIGINT NOT NULL,"
    " p TEXT NOT NULL, sp TEXT NOT NULL, np TEXT NOT NULL,"
    " adkim_strict INTEGER NOT NULL, aspf_strict INTEGER NOT NULL,"
    " testing INTEGER NOT NULL, psl INTEGER NOT NULL,"
    " state INTEGER NOT NULL DEFAULT 0,"
    " owner TEXT, lease_until BIGINT NOT NULL DEFAULT 0,"
    " attempts INTEGER NOT NULL DEFAULT 0, next_try BIGINT NOT NULL DEFAULT 0,"
    " last_error TEXT, sent_at BIGINT,"
    " UNIQUE (policy_domain, begin_ts, end_ts))",
    "CREATE INDEX reports_due ON reports (state, end_ts)",
    "CREATE TABLE report_rows ("
    " id @ID@,"
    " report_id BIGINT NOT NULL REFERENCES reports (id),"
    " rkey TEXT NOT NULL,"
    " source_ip TEXT NOT NULL, header_from TEXT NOT NULL, envelope_from TEXT NOT NULL,"
    " disposition TEXT NOT NULL, reasons TEXT NOT NULL,"
    " dkim_aligned INTEGER NOT NULL, spf_aligned INTEGER NOT NULL,"
    " dkim TEXT NOT NULL, spf_domain TEXT NOT NULL, spf TEXT NOT NULL,"
    " count BIGINT NOT NULL,"
    " UNIQUE (report_id, rkey))",
    "CREATE TABLE report_dests ("
    " report_id BIGINT NOT NULL REFERENCES reports (id),"
    " dest TEXT NOT NULL, sent_at BIGINT NOT NULL,"
    " PRIMARY KEY (report_id, dest))",
    "CREATE TABLE report_sendlog (dest TEXT NOT NULL, sent_at BIGINT NOT NULL)",
    "CREATE INDEX report_sendlog_dest ON report_sendlog (dest, sent_at)",
    "CREATE TABLE report_totals (what TEXT PRIMARY KEY, n BIGINT NOT NULL)",
    NULL,
};

/* rs_migrations[v]: the statements from version v to v + 1 (v >= 1). */
static const char *const *const rs_migrations[RSTORE_SCHEMA_VERSION + 1] = {NULL};

static bool rs_run_all(rstore_t *st, const char *const *sqls, char *err, size_t errsz)
{
    for (size_t i = 0; sqls[i] != NULL; i++) {
        strbuf b = {0};
        const char *s = sqls[i], *at;
        while ((at = strstr(s, "@ID@")) != NULL) {
            strbuf_add(&b, s, (size_t)(at - s));
            strbuf_adds(&b, st->ops->id_type);
            s = at + 4;
        }
        strbuf_adds(&b, s);
        char *sql = strbuf_take(&b);
        bool ok = rs_exec(st, sql, NULL, 0, NULL, NULL, NULL, err, errsz);
        free(sql);
        if (!ok)
            return false;
    }
    return true;
}

/* The schema's version without any DDL or lock (0: none yet): a role
 * with no CREATE privilege opens a store that is there. */
static bool rs_schema_version(rstore_t *st, int64_t *have, char *err, size_t errsz)
{
    int64_t there = 0;

    *have = 0;
    return rs_query_int(st, st->ops->schema_there, NULL, 0, &there, err, errsz) &&
           (there == 0 || rs_query_int(st, "SELECT MAX(version) FROM report_schema", NULL, 0, have, err, errsz));
}

/* Create the schema, or migrate an older one, in one transaction; nothing
 * when it is there at this version already. */
/* A schema newer than this mxguard's is refused (err says so). */
static bool rs_schema_newer(int64_t have, char *err, size_t errsz)
{
    if (have <= RSTORE_SCHEMA_VERSION)
        return false;
    snprintf(err, errsz, "store schema version %" PRId64 " is newer than this mxguard's %d", have,
             RSTORE_SCHEMA_VERSION);
    return true;
}

static bool rs_schema(rstore_t *st, char *err, size_t errsz)
{
    int64_t have;

    if (!rs_schema_version(st, &have, err, errsz))
        return false;
    if (have == RSTORE_SCHEMA_VERSION)
        return true;
    if (rs_schema_newer(have, err, errsz))
        return false;
    if (!rs_begin(st, err, errsz))
        return false;
    if ((st->ops->schema_lock != NULL &&
         !rs_exec(st, st->ops->schema_lock, NULL, 0, NULL, NULL, NULL, err, errsz)) ||
        !rs_exec(st, "CREATE TABLE IF NOT EXISTS report_schema (version INTEGER NOT NULL)", NULL, 0, NULL,
                 NULL, NULL, err, errsz) ||
        !rs_query_int(st, "SELECT MAX(version) FROM report_schema", NULL, 0, &have, err, errsz))
        return rs_rollback(st);
    if (rs_schema_newer(have, err, errsz))
        return rs_rollback(st);
    if (have == 0) {
        if (!rs_run_all(st, rs_schema_v1, err, errsz) ||
            !rs_exec(st, "INSERT INTO report_schema (version) VALUES ($1)",
                     (rs_param[]){RS_I(RSTORE_SCHEMA_VERSION)}, 1, NULL, NULL, NULL, err, errsz))
            return rs_rollback(st);
    } else if (have < RSTORE_SCHEMA_VERSION) {
        for (int64_t v = have; v < RSTORE_SCHEMA_VERSION; v++)
            if (rs_migrations[v] == NULL || !rs_run_all(st, rs_migrations[v], err, errsz))
                return rs_rollback(st);
        if (!rs_exec(st, "UPDATE report_schema SET version = $1", (rs_param[]){RS_I(RSTORE_SCHEMA_VERSION)}, 1,
                     NULL, NULL, NULL, err, errsz))
            return rs_rollback(st);
    }
    return rs_commit(st, err, errsz) || rs_rollback(st);
}

rstore_t *rstore_open(const char *uri, char *err, size_t errsz)
{
    rstore_t *st = NULL;

    if (!rstore_uri_valid(uri, err, errsz))
        return NULL;
    if (rstore_uri_kind(uri) == RS_SQLITE)
        st = rstore_sqlite_open(uri + 7, err, errsz);
    else
        st = rstore_pg_open(uri, err, errsz);
    if (st != NULL && !rs_schema(st, err, errsz)) {
        rstore_close(st);
        return NULL;
    }
    return st;
}

void rstore_close(rstore_t *st)
{
    if (st != NULL)
        st->ops->close(st);
}

/* Before a call, and once more after it failed on a lost connection:
 * re-make the connection.  True when the call should be (re)tried. */
static bool rs_ready(rstore_t *st, char *err, size_t errsz)
{
    return st->ops->ready(st, err, errsz);
}

static bool rs_retry(rstore_t *st)
{
    char e[256];
    return st->ops->lost(st) && st->ops->ready(st, e, sizeof(e));
}

/* ---- add -------------------------------------------------------------------- */

typedef struct rs_addrow {
    const dmarcrow *row;
    unsigned long count;
    size_t idx;            /* position in the caller's array */
    char key[RSTORE_KEY_HEX];
} rs_addrow;

static const char *rs_s(const char *s)
{
    return s ? s : "";
}

static int rs_item_cmp(const void *a, const void *b)
{
    const rs_addrow *x = a, *y = b;
    int c = strcmp(rs_s(x->row->policy_domain), rs_s(y->row->policy_domain));

    if (c == 0)
        c = (x->row->begin > y->row->begin) - (x->row->begin < y->row->begin);
    if (c == 0)
        c = (x->row->end > y->row->end) - (x->row->end < y->row->end);
    if (c == 0)
        c = strcmp(x->key, y->key);
    if (c == 0)
        c = (x->idx > y->idx) - (x->idx < y->idx);
    return c;
}

static bool rs_same_report(const dmarcrow *a, const dmarcrow *b)
{
    return strcmp(rs_s(a->policy_domain), rs_s(b->policy_domain)) == 0 && a->begin == b->begin &&
           a->end == b->end;
}

typedef struct rs_idstate {
    int64_t id, state;
    bool found;
} rs_idstate;

static bool rs_cb_idstate(void *arg, int ncol, const char *const *vals, char *err, size_t errsz)
{
    rs_idstate *o = arg;

    if (ncol != 2 || vals[0] == NULL || !rs_parse_i64(vals[0], &o->id) || !rs_parse_i64(vals[1], &o->state)) {
        snprintf(err, errsz, "store: bad report id");
        return false;
    }
    o->found = true;
    return true;
}

/* Create or update the report of row r (its policy_published while not
 * sent): *out its id and state. */
static bool rs_add_report(rstore_t *st, const dmarcrow *r, rs_idstate *out, char *err, size_t errsz)
{
    char *pd = rstore_key_enc_new(r->policy_domain);
    rs_param p[] = {
        RS_S(pd), RS_I(r->begin), RS_I(r->end), RS_S(dmarccheck_policy_name(r->p)),
        RS_S(dmarccheck_policy_name(r->sp)), RS_S(dmarccheck_policy_name(r->np)), RS_I(r->adkim_strict),
        RS_I(r->aspf_strict), RS_I(r->testing), RS_I(r->psl),
    };
    bool ok = rs_exec(st,
                      "INSERT INTO reports (policy_domain, begin_ts, end_ts, p, sp, np, adkim_strict,"
                      " aspf_strict, testing, psl) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                      " ON CONFLICT (policy_domain, begin_ts, end_ts) DO UPDATE SET p = EXCLUDED.p,"
                      " sp = EXCLUDED.sp, np = EXCLUDED.np, adkim_strict = EXCLUDED.adkim_strict,"
                      " aspf_strict = EXCLUDED.aspf_strict, testing = EXCLUDED.testing, psl = EXCLUDED.psl"
                      " WHERE reports.state = 0",
                      p, 10, NULL, NULL, NULL, err, errsz);

    out->found = false;
    ok = ok && rs_exec(st, "SELECT id, state FROM reports WHERE policy_domain = $1 AND begin_ts = $2 AND end_ts = $3",
                       p, 3, rs_cb_idstate, out, NULL, err, errsz);
    free(pd);
    if (ok && !out->found) {
        snprintf(err, errsz, "store: report of %s vanished", r->policy_domain);
        return false;
    }
    return ok;
}

static bool rs_add_row(rstore_t *st, int64_t report, const rs_addrow *it, char *err, size_t errsz)
{
    const dmarcrow *r = it->row;
    char *ip = rstore_key_enc_new(r->source_ip), *hf = rstore_key_enc_new(r->header_from), *ef = rstore_key_enc_new(r->envelope_from);
    char *reasons = rstore_key_reasons_text(r), *dkim = rstore_key_dkim_text(r), *sd = rstore_key_enc_new(r->spf_domain);
    int64_t count = it->count > (unsigned long)INT64_MAX ? INT64_MAX : (int64_t)it->count;
    rs_param p[] = {
        RS_I(report), RS_S(it->key), RS_S(ip), RS_S(hf), RS_S(ef),
        RS_S(dmarcrow_disposition_name(r->disposition)), RS_S(reasons), RS_I(r->dkim_aligned),
        RS_I(r->spf_aligned), RS_S(dkim), RS_S(sd), RS_S(spfcheck_result_name(r->spf)), RS_I(count),
    };
    bool ok = rs_exec(st,
                      "INSERT INTO report_rows (report_id, rkey, source_ip, header_from, envelope_from,"
                      " disposition, reasons, dkim_aligned, spf_aligned, dkim, spf_domain, spf, count)"
                      " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
                      " ON CONFLICT (report_id, rkey) DO UPDATE SET count = report_rows.count + EXCLUDED.count",
                      p, 13, NULL, NULL, NULL, err, errsz);

    free(ip);
    free(hf);
    free(ef);
    free(reasons);
    free(dkim);
    free(sd);
    return ok;
}

/* The rows in the order every writer takes its locks in (no deadlock
 * between two PostgreSQL writers): by report, then key. */
static rs_addrow *rs_items(const dmarcrow *const *rows, const unsigned long *counts, size_t n, char *err,
                         size_t errsz)
{
    rs_addrow *it = xcalloc(n, sizeof(*it));

    for (size_t i = 0; i < n; i++) {
        if (rows[i]->nreasons > DMARCROW_REASONS_MAX || rows[i]->ndkim > DMARCROW_DKIM_MAX) {
            snprintf(err, errsz, "store: row %zu has too many reasons or DKIM results", i);
            free(it);
            return NULL;
        }
        it[i].row = rows[i];
        it[i].count = counts[i];
        it[i].idx = i;
        rstore_key_hash(rows[i], it[i].key);
    }
    qsort(it, n, sizeof(*it), rs_item_cmp);
    return it;
}

static bool rs_add(rstore_t *st, const rs_addrow *it, size_t n, unsigned long *late, char *err, size_t errsz)
{
    *late = 0;
    if (!rs_begin(st, err, errsz))
        return false;
    for (size_t i = 0, j; i < n; i = j) {
        size_t last = i; /* the group's latest row in the caller's order */
        rs_idstate rep;
        for (j = i; j < n && rs_same_report(it[i].row, it[j].row); j++)
            if (it[j].idx > it[last].idx)
                last = j;
        if (!rs_add_report(st, it[last].row, &rep, err, errsz))
            return rs_rollback(st);
        for (size_t k = i; k < j; k++) {
            if (!rs_add_row(st, rep.id, &it[k], err, errsz))
                return rs_rollback(st);
            if (rep.state == RS_STATE_SENT)
                *late += it[k].count;
        }
    }
    return rs_commit(st, err, errsz) || rs_rollback(st);
}

bool rstore_add(rstore_t *st, const dmarcrow *const *rows, const unsigned long *counts, size_t n,
                unsigned long *late, char *err, size_t errsz)
{
    unsigned long l = 0;
    rs_addrow *it;
    bool ok;

    if (late != NULL)
        *late = 0;
    if (n == 0)
        return true;
    if ((it = rs_items(rows, counts, n, err, errsz)) == NULL)
        return false;
    ok = rs_ready(st, err, errsz) && rs_add(st, it, n, &l, err, errsz);
    if (!ok && rs_retry(st))
        ok = rs_add(st, it, n, &l, err, errsz);
    free(it);
    if (ok && late != NULL)
        *late = l;
    return ok;
}

/* ---- claims ------------------------------------------------------------------ */

void rstore_report_free(rstore_report *r)
{
    if (r == NULL)
        return;
    free(r->policy_domain);
    free(r->owner);
    free(r);
}

static bool rs_cb_report(void *arg, int ncol, const char *const *v, char *err, size_t errsz)
{
    rstore_report *r = arg;
    int64_t b[4], attempts;
    bool ok = ncol == 12;

    for (int i = 0; ok && i < ncol; i++)
        ok = v[i] != NULL;
    ok = ok && rs_parse_i64(v[1], &r->begin) && rs_parse_i64(v[2], &r->end) && rstore_key_policy(v[3], &r->p) &&
         rstore_key_policy(v[4], &r->sp) && rstore_key_policy(v[5], &r->np);
    for (int i = 0; ok && i < 4; i++)
        ok = rs_parse_i64(v[6 + i], &b[i]);
    ok = ok && rs_parse_i64(v[10], &attempts) && rs_parse_i64(v[11], &r->next_try) && r->policy_domain == NULL &&
         (r->policy_domain = rstore_key_dec(v[0], strlen(v[0]))) != NULL;
    if (!ok) {
        snprintf(err, errsz, "store: malformed report");
        return false;
    }
    r->adkim_strict = b[0] != 0;
    r->aspf_strict = b[1] != 0;
    r->testing = b[2] != 0;
    r->psl = b[3] != 0;
    r->attempts = attempts < 0 ? 0 : (unsigned)attempts;
    return true;
}

static bool rs_cb_sums(void *arg, int ncol, const char *const *v, char *err, size_t errsz)
{
    rstore_report *r = arg;
    int64_t nrows, messages;

    if (ncol != 2 || !rs_parse_i64(v[0], &nrows) || !rs_parse_i64(v[1], &messages)) {
        snprintf(err, errsz, "store: malformed row sums");
        return false;
    }
    r->nrows = (size_t)nrows;
    r->messages = (unsigned long)messages;
    return true;
}

/* The report with this id, its sums read in the same transaction. */
static bool rs_read_report(rstore_t *st, int64_t id, rstore_report *r, char *err, size_t errsz)
{
    rs_param p[] = {RS_I(id)};

    r->id = id;
    return rs_exec(st,
                   "SELECT policy_domain, begin_ts, end_ts, p, sp, np, adkim_strict, aspf_strict, testing,"
                   " psl, attempts, next_try FROM reports WHERE id = $1",
                   p, 1, rs_cb_report, r, NULL, err, errsz) &&
           rs_exec(st, "SELECT COUNT(*), COALESCE(SUM(count), 0) FROM report_rows WHERE report_id = $1", p, 1,
                   rs_cb_sums, r, NULL, err, errsz);
}

static int rs_claim(rstore_t *st, int64_t closed_before, int64_t now, const char *owner, unsigned lease,
                    rstore_report **out, char *err, size_t errsz)
{
    int64_t id = -1;
    char *sql = xasprintf("SELECT id FROM reports WHERE state = 0 AND end_ts < $1 AND next_try <= $2"
                          " AND (owner IS NULL OR lease_until <= $2) ORDER BY end_ts, id LIMIT 1%s",
                          st->ops->claim_lock);
    char *ow = rstore_key_enc_new(owner);
    rstore_report *r = xcalloc(1, sizeof(*r));
    bool ok = rs_begin(st, err, errsz) &&
              rs_exec(st, sql, (rs_param[]){RS_I(closed_before), RS_I(now)}, 2, rs_cb_int, &id, NULL, err,
                      errsz);

    if (ok && id >= 0)
        ok = rs_exec(st, "UPDATE reports SET owner = $2, lease_until = $3 WHERE id = $1",
                     (rs_param[]){RS_I(id), RS_S(ow), RS_I(now + (int64_t)lease)}, 3, NULL, NULL, NULL, err,
                     errsz) &&
             rs_read_report(st, id, r, err, errsz);
    r->owner = xstrdup(owner);
    free(sql);
    free(ow);
    if (!ok || !rs_commit(st, err, errsz)) {
        rstore_report_free(r);
        rs_rollback(st);
        return -1;
    }
    if (id < 0) {
        rstore_report_free(r);
        return 0;
    }
    *out = r;
    return 1;
}

int rstore_claim(rstore_t *st, int64_t closed_before, int64_t now, const char *owner, unsigned lease,
                 rstore_report **out, char *err, size_t errsz)
{
    int rc;

    *out = NULL;
    if (!rs_ready(st, err, errsz))
        return -1;
    rc = rs_claim(st, closed_before, now, owner, lease, out, err, errsz);
    if (rc < 0 && rs_retry(st))
        rc = rs_claim(st, closed_before, now, owner, lease, out, err, errsz);
    return rc;
}

/* ---- rows --------------------------------------------------------------------- */

typedef struct rs_rows_arg {
    const rstore_report *r;
    rstore_row_fn fn;
    void *arg;
} rs_rows_arg;

static bool rs_row_decode(const rstore_report *rep, const char *const *v, dmarcrow *r, int64_t *count)
{
    int64_t da, sa;

    r->p = rep->p;
    r->sp = rep->sp;
    r->np = rep->np;
    r->adkim_strict = rep->adkim_strict;
    r->aspf_strict = rep->aspf_strict;
    r->testing = rep->testing;
    r->psl = rep->psl;
    r->policy_domain = xstrdup(rep->policy_domain);
    r->begin = (time_t)rep->begin;
    r->end = (time_t)rep->end;
    for (int i = 0; i < 11; i++)
        if (v[i] == NULL)
            return false;
    return (r->source_ip = rstore_key_dec(v[0], strlen(v[0]))) != NULL &&
           (r->header_from = rstore_key_dec(v[1], strlen(v[1]))) != NULL &&
           (r->envelope_from = rstore_key_dec(v[2], strlen(v[2]))) != NULL && rstore_key_disp(v[3], &r->disposition) &&
           rstore_key_reasons_parse(v[4], r) && rs_parse_i64(v[5], &da) && rs_parse_i64(v[6], &sa) &&
           (r->dkim_aligned = da != 0, r->spf_aligned = sa != 0, rstore_key_dkim_parse(v[7], r)) &&
           (r->spf_domain = rstore_key_dec(v[8], strlen(v[8]))) != NULL && rstore_key_spf(v[9], &r->spf) &&
           rs_parse_i64(v[10], count) && *count >= 0;
}

static bool rs_cb_row(void *arg, int ncol, const char *const *v, char *err, size_t errsz)
{
    rs_rows_arg *a = arg;
    dmarcrow *r = xcalloc(1, sizeof(*r));
    int64_t count = 0;
    bool ok = ncol == 11 && rs_row_decode(a->r, v, r, &count);

    if (ok)
        a->fn(r, (unsigned long)count, a->arg);
    else
        snprintf(err, errsz, "store: malformed row of report %" PRId64, a->r->id);
    dmarcrow_free(r); /* a half-decoded row too: free(NULL) is nothing */
    return ok;
}

bool rstore_rows(rstore_t *st, const rstore_report *r, rstore_row_fn fn, void *arg, char *err, size_t errsz)
{
    rs_rows_arg a = {r, fn, arg};
    const char *sql = "SELECT source_ip, header_from, envelope_from, disposition, reasons, dkim_aligned,"
                      " spf_aligned, dkim, spf_domain, spf, count FROM report_rows WHERE report_id = $1 ORDER BY id";
    rs_param p[] = {RS_I(r->id)};
    bool ok;

    if (!rs_ready(st, err, errsz))
        return false;
    ok = rs_exec(st, sql, p, 1, rs_cb_row, &a, NULL, err, errsz);
    if (!ok && rs_retry(st))
        ok = rs_exec(st, sql, p, 1, rs_cb_row, &a, NULL, err, errsz);
    return ok;
}

/* One statement as a whole call: the connection made ready first, the
 * statement retried once after a lost connection was re-made. */
static bool rs_exec1(rstore_t *st, const char *sql, const rs_param *p, int np, rs_row_cb cb, void *arg,
                     unsigned long *changes, char *err, size_t errsz)
{
    if (!rs_ready(st, err, errsz))
        return false;
    if (rs_exec(st, sql, p, np, cb, arg, changes, err, errsz))
        return true;
    return rs_retry(st) && rs_exec(st, sql, p, np, cb, arg, changes, err, errsz);
}

/* ---- destinations ------------------------------------------------------------- */

bool rstore_dest_sent(rstore_t *st, const rstore_report *r, const char *dest, bool *sent, char *err,
                      size_t errsz)
{
    char *d = rstore_key_enc_new(dest);
    int64_t n = 0;
    bool ok = rs_exec1(st, "SELECT COUNT(*) FROM report_dests WHERE report_id = $1 AND dest = $2",
                       (rs_param[]){RS_I(r->id), RS_S(d)}, 2, rs_cb_int, &n, NULL, err, errsz);

    free(d);
    *sent = ok && n > 0;
    return ok;
}

static bool rs_mark_dest(rstore_t *st, int64_t id, const char *d, int64_t now, char *err, size_t errsz)
{
    if (!rs_begin(st, err, errsz))
        return false;
    if (!rs_exec(st,
                 "INSERT INTO report_dests (report_id, dest, sent_at) VALUES ($1, $2, $3)"
                 " ON CONFLICT (report_id, dest) DO NOTHING",
                 (rs_param[]){RS_I(id), RS_S(d), RS_I(now)}, 3, NULL, NULL, NULL, err, errsz) ||
        !rs_exec(st, "INSERT INTO report_sendlog (dest, sent_at) VALUES ($1, $2)",
                 (rs_param[]){RS_S(d), RS_I(now)}, 2, NULL, NULL, NULL, err, errsz))
        return rs_rollback(st);
    return rs_commit(st, err, errsz) || rs_rollback(st);
}

bool rstore_mark_dest(rstore_t *st, const rstore_report *r, const char *dest, int64_t now, char *err,
                      size_t errsz)
{
    char *d = rstore_key_enc_new(dest);
    bool ok = rs_ready(st, err, errsz) && rs_mark_dest(st, r->id, d, now, err, errsz);

    if (!ok && rs_retry(st))
        ok = rs_mark_dest(st, r->id, d, now, err, errsz);
    free(d);
    return ok;
}

bool rstore_dest_count(rstore_t *st, const char *dest, int64_t since, unsigned long *count, char *err,
                       size_t errsz)
{
    char *d = rstore_key_enc_new(dest);
    int64_t n = 0;
    bool ok = rs_exec1(st, "SELECT COUNT(*) FROM report_sendlog WHERE dest = $1 AND sent_at >= $2",
                       (rs_param[]){RS_S(d), RS_I(since)}, 2, rs_cb_int, &n, NULL, err, errsz);

    free(d);
    *count = ok ? (unsigned long)n : 0;
    return ok;
}

/* ---- the end of a claim ------------------------------------------------------- */

static void rs_not_held(const rstore_report *r, char *err, size_t errsz)
{
    snprintf(err, errsz, "store: report %" PRId64 " (%s) is no longer held by %s (expired, or its lease ran"
             " out and another reporter claimed it)", r->id, r->policy_domain, r->owner ? r->owner : "?");
}

/* One UPDATE of report r that must change it: sql ends "WHERE id = $1 AND
 * owner = $N" with N = np + 1 (r->owner is appended to p): a claim whose
 * lease ran out and that another reporter took changes nothing. */
/* 1 done, 0 not held (err says so), -1 a store error. */
static int rs_update_report3(rstore_t *st, const rstore_report *r, const char *sql, const rs_param *p, int np,
                             char *err, size_t errsz)
{
    unsigned long changes = 0;
    char *ow = rstore_key_enc_new(r->owner ? r->owner : "");
    rs_param all[4];
    bool ok;

    memcpy(all, p, (size_t)np * sizeof(*p));
    all[np] = RS_S(ow);
    ok = rs_exec1(st, sql, all, np + 1, NULL, NULL, &changes, err, errsz);
    free(ow);
    if (!ok)
        return -1;
    if (changes != 1) {
        rs_not_held(r, err, errsz);
        return 0;
    }
    return 1;
}

static bool rs_update_report(rstore_t *st, const rstore_report *r, const char *sql, const rs_param *p, int np,
                             char *err, size_t errsz)
{
    return rs_update_report3(st, r, sql, p, np, err, errsz) == 1;
}

/* The report's end as sent, in one transaction: the UPDATE first (on
 * PostgreSQL it waits for the row lock a writer's upsert of the report
 * holds, so every row committed before it is seen; a writer after it
 * waits, then finds the report sent and counts its rows late), then the
 * sum of its rows.  What exceeds r->messages (the sum when claimed) was
 * added while the report was claimed, after the reporter read its rows:
 * it is not in what was sent and never will be (a re-send to the same
 * destination must carry the same report), so it is counted in *late. */
static bool rs_done(rstore_t *st, const rstore_report *r, const char *ow, int64_t now, unsigned long *late,
                    char *err, size_t errsz)
{
    unsigned long changes = 0;
    int64_t sum = 0;

    if (!rs_begin(st, err, errsz))
        return false;
    if (!rs_exec(st,
                 "UPDATE reports SET state = 1, owner = NULL, lease_until = 0, sent_at = $2"
                 " WHERE id = $1 AND owner = $3",
                 (rs_param[]){RS_I(r->id), RS_I(now), RS_S(ow)}, 3, NULL, NULL, &changes, err, errsz) ||
        !rs_query_int(st, "SELECT COALESCE(SUM(count), 0) FROM report_rows WHERE report_id = $1",
                      (rs_param[]){RS_I(r->id)}, 1, &sum, err, errsz))
        return rs_rollback(st);
    if (changes != 1) {
        rs_not_held(r, err, errsz);
        return rs_rollback(st);
    }
    if (!rs_commit(st, err, errsz))
        return rs_rollback(st);
    if (late != NULL)
        *late = sum > 0 && (unsigned long)sum > r->messages ? (unsigned long)sum - r->messages : 0;
    return true;
}

bool rstore_done(rstore_t *st, const rstore_report *r, int64_t now, unsigned long *late, char *err, size_t errsz)
{
    char *ow = rstore_key_enc_new(r->owner ? r->owner : "");
    bool ok;

    if (late != NULL)
        *late = 0;
    ok = rs_ready(st, err, errsz) && rs_done(st, r, ow, now, late, err, errsz);
    if (!ok && rs_retry(st))
        ok = rs_done(st, r, ow, now, late, err, errsz);
    free(ow);
    return ok;
}

int rstore_renew(rstore_t *st, const rstore_report *r, int64_t now, unsigned lease, char *err, size_t errsz)
{
    return rs_update_report3(st, r, "UPDATE reports SET lease_until = $2 WHERE id = $1 AND owner = $3",
                            (rs_param[]){RS_I(r->id), RS_I(now + (int64_t)lease)}, 2, err, errsz);
}

bool rstore_failed(rstore_t *st, const rstore_report *r, int64_t next_try, const char *why, char *err,
                   size_t errsz)
{
    char *w = rstore_key_enc_new(why);
    bool ok = rs_update_report(st, r,
                               "UPDATE reports SET owner = NULL, lease_until = 0, attempts = attempts + 1,"
                               " next_try = $2, last_error = $3 WHERE id = $1 AND owner = $4",
                               (rs_param[]){RS_I(r->id), RS_I(next_try), RS_S(w)}, 3, err, errsz);
    free(w);
    return ok;
}

bool rstore_release(rstore_t *st, const rstore_report *r, int64_t next_try, char *err, size_t errsz)
{
    return rs_update_report(st, r, "UPDATE reports SET owner = NULL, lease_until = 0, next_try = $2 WHERE id = $1 AND owner = $3",
                            (rs_param[]){RS_I(r->id), RS_I(next_try)}, 2, err, errsz);
}

/* ---- expiry and totals -------------------------------------------------------- */

static bool rs_expire(rstore_t *st, int64_t before, unsigned long *deleted, char *err, size_t errsz)
{
    rs_param p[] = {RS_I(before)};

    if (!rs_begin(st, err, errsz))
        return false;
    if (!rs_exec(st, "DELETE FROM report_rows WHERE report_id IN (SELECT id FROM reports WHERE end_ts < $1)", p,
                 1, NULL, NULL, NULL, err, errsz) ||
        !rs_exec(st, "DELETE FROM report_dests WHERE report_id IN (SELECT id FROM reports WHERE end_ts < $1)", p,
                 1, NULL, NULL, NULL, err, errsz) ||
        !rs_exec(st, "DELETE FROM reports WHERE end_ts < $1", p, 1, NULL, NULL, deleted, err, errsz) ||
        !rs_exec(st, "DELETE FROM report_sendlog WHERE sent_at < $1", p, 1, NULL, NULL, NULL, err, errsz))
        return rs_rollback(st);
    return rs_commit(st, err, errsz) || rs_rollback(st);
}

bool rstore_expire(rstore_t *st, int64_t before, unsigned long *deleted, char *err, size_t errsz)
{
    unsigned long d = 0;
    bool ok = rs_ready(st, err, errsz) && rs_expire(st, before, &d, err, errsz);

    if (!ok && rs_retry(st))
        ok = rs_expire(st, before, &d, err, errsz);
    if (deleted != NULL)
        *deleted = ok ? d : 0;
    return ok;
}

bool rstore_count(rstore_t *st, const char *what, unsigned long n, char *err, size_t errsz)
{
    if (what == NULL || (strcmp(what, "built") != 0 && strcmp(what, "sent") != 0 && strcmp(what, "failed") != 0)) {
        snprintf(err, errsz, "store: unknown total \"%s\"", what ? what : "(null)");
        return false;
    }
    return rs_exec1(st,
                    "INSERT INTO report_totals (what, n) VALUES ($1, $2)"
                    " ON CONFLICT (what) DO UPDATE SET n = report_totals.n + EXCLUDED.n",
                    (rs_param[]){RS_S(what), RS_I(n > (unsigned long)INT64_MAX ? INT64_MAX : (int64_t)n)}, 2,
                    NULL, NULL, NULL, err, errsz);
}

/* "name, n" rows of the totals and of the reports per state. */
static bool rs_cb_totals(void *arg, int ncol, const char *const *v, char *err, size_t errsz)
{
    rstore_totals *t = arg;
    int64_t n;

    if (ncol != 2 || v[0] == NULL || !rs_parse_i64(v[1], &n) || n < 0) {
        snprintf(err, errsz, "store: malformed totals");
        return false;
    }
    if (strcmp(v[0], "built") == 0)
        t->built = (unsigned long)n;
    else if (strcmp(v[0], "sent") == 0)
        t->sent = (unsigned long)n;
    else if (strcmp(v[0], "failed") == 0)
        t->failed = (unsigned long)n;
    else if (strcmp(v[0], "0") == 0)
        t->reports_open = (unsigned long)n;
    else if (strcmp(v[0], "1") == 0)
        t->reports_sent = (unsigned long)n;
    return true;
}

bool rstore_counters_get(rstore_t *st, rstore_totals *out, char *err, size_t errsz)
{
    memset(out, 0, sizeof(*out));
    return rs_exec1(st, "SELECT what, n FROM report_totals", NULL, 0, rs_cb_totals, out, NULL, err, errsz);
}

bool rstore_totals_get(rstore_t *st, rstore_totals *out, char *err, size_t errsz)
{
    int64_t rows = 0;

    if (!rstore_counters_get(st, out, err, errsz) ||
        !rs_exec1(st, "SELECT state, COUNT(*) FROM reports GROUP BY state", NULL, 0, rs_cb_totals, out, NULL, err,
                  errsz) ||
        !rs_exec1(st, "SELECT COUNT(*) FROM report_rows", NULL, 0, rs_cb_int, &rows, NULL, err, errsz))
        return false;
    out->rows = (unsigned long)rows;
    return true;
}
