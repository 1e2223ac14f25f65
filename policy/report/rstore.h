/*
 * rstore.h - the DMARC aggregate report store: where the daemons' flushes
 * add counted rows (dmarcrow.h) and where `mxguard report` claims the
 * reports of closed periods, reads their rows and marks them sent.
 *
 * Two back ends behind one interface, chosen by URI:
 *   sqlite:PATH              one file (WAL), for one host
 *   postgresql://... or postgres://...  (libpq connection URI), for a fleet:
 *                            several MX hosts add to one database at once
 * One schema with a version number; rstore_open reads it first and runs
 * DDL only when it is missing or older (created or migrated in a
 * transaction: a role without CREATE privilege opens a current store),
 * and refuses a newer one.
 *
 * The data:
 *   - a report: one policy domain and one period [begin, end]; a
 *     policy_published taken from a row of the latest rstore_add that had
 *     rows for it (the last of them in that call's array; the daemon's
 *     array is in the aggregator's order, so in effect any row of its
 *     latest batch); its state (open, claimed until a lease ends, sent);
 *     attempts, the next try, the last error.
 *   - its rows: the key of dmarcrow_key_equal and a count.  rstore_add adds
 *     counts (an upsert: INSERT ... ON CONFLICT DO UPDATE SET count = count +
 *     excluded.count), so hosts writing at once lose no increment.
 *   - per report, the destinations (rua addresses) already sent to, so a
 *     retry after a partial failure never sends twice to one address.
 *   - a log of sends per destination for the rate limit, and totals of
 *     reports built, sent and failed (the daemon's metrics read them).
 *
 * Claims: rstore_claim takes one report that is not sent, whose period
 * ended before closed_before, whose next try is due and that no one holds
 * (or whose holder's lease ran out: a reporter killed mid-run) and holds it
 * for lease seconds under owner.  On PostgreSQL it is one UPDATE over a
 * SELECT ... FOR UPDATE SKIP LOCKED; on SQLite a BEGIN IMMEDIATE
 * transaction.  Two reporters at once never hold the same report.
 *
 * Errors: every function that can fail returns false (or -1) and writes a
 * one-line reason into err (errsz bytes); it logs nothing.  A failed
 * rstore_add changed nothing (one transaction): the caller keeps its rows.
 *
 * Threads: one rstore_t is used by one thread at a time.
 * Ownership: strings passed in are copied or used during the call only;
 * what the store returns belongs to the caller (free functions below).
 */
#ifndef MXG_RSTORE_H
#define MXG_RSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dmarcrow.h"

#define RSTORE_SCHEMA_VERSION 1

typedef struct rstore rstore_t;

/* Syntax of a store URI only (no connection, no file access): for the
 * config loader.  False with the reason in err. */
bool rstore_uri_valid(const char *uri, char *err, size_t errsz);

/* The URI for a log line or a message: a PostgreSQL password (user:PW@ or
 * password=PW) replaced by "***".  Caller frees. */
char *rstore_uri_shown(const char *uri);

/* Connect (PostgreSQL) or open (SQLite: created if missing, mode 0640),
 * then create or migrate the schema.  NULL with the reason in err.  A
 * PostgreSQL connection that is lost later is re-made by the next call. */
rstore_t *rstore_open(const char *uri, char *err, size_t errsz);
void rstore_close(rstore_t *st);

/* "sqlite" or "postgresql". */
const char *rstore_kind(const rstore_t *st);

/* ---- the daemon's flush ---- */

/* Add n rows, counts[i] messages each, in one transaction: rows with the
 * same key add up; the report of each (policy domain, period) is created
 * if missing and its policy_published set from the row (while the report is
 * not sent).  Rows of a report already sent are still added (and counted
 * in *late when late is not NULL) but never reported.  Rows added to a
 * report while it is claimed are counted late by rstore_done. */
bool rstore_add(rstore_t *st, const dmarcrow *const *rows, const unsigned long *counts, size_t n,
                unsigned long *late, char *err, size_t errsz);

/* ---- `mxguard report` ---- */

/* One claimed report.  Strings owned by it. */
typedef struct rstore_report {
    int64_t id;                 /* the store's id of the report */
    char *policy_domain;
    int64_t begin, end;         /* UTC seconds, end = begin + period - 1 */
    /* policy_published */
    dmarccheck_policy p, sp, np; /* sp, np: UNSET when absent */
    bool adkim_strict, aspf_strict, testing, psl;
    char *owner;                /* who holds the claim (rstore_claim's owner) */
    int64_t next_try;           /* the report's next try before this claim (a dry
                                 * run releases it with this one, unchanged) */
    unsigned attempts;          /* failed attempts before this claim */
    unsigned long messages;     /* sum of the counts of its rows */
    size_t nrows;
} rstore_report;
void rstore_report_free(rstore_report *r);

/* Claim the next due report (see above): 1 with *out set, 0 when there is
 * none, -1 on error.  now: the time to compare next tries and leases
 * with. */
int rstore_claim(rstore_t *st, int64_t closed_before, int64_t now, const char *owner,
                 unsigned lease, rstore_report **out, char *err, size_t errsz);

/* Each row of a report, with its count (fn's row is freed after fn
 * returns), in a fixed order (the same on every call). */
typedef void (*rstore_row_fn)(const dmarcrow *row, unsigned long count, void *arg);
bool rstore_rows(rstore_t *st, const rstore_report *r, rstore_row_fn fn, void *arg, char *err,
                 size_t errsz);

/* Hold the claim lease more seconds from now (before each destination:
 * a slow run never loses its claim to another reporter mid-send).  1 when
 * renewed, 0 when r->owner no longer holds it (then stop: another reporter
 * has it), -1 on a store error. */
int rstore_renew(rstore_t *st, const rstore_report *r, int64_t now, unsigned lease, char *err,
                 size_t errsz);

/* Was this report sent to dest (a rua address) already? */
bool rstore_dest_sent(rstore_t *st, const rstore_report *r, const char *dest, bool *sent,
                      char *err, size_t errsz);
/* Record that it was sent to dest at now (also in the rate-limit log). */
bool rstore_mark_dest(rstore_t *st, const rstore_report *r, const char *dest, int64_t now,
                      char *err, size_t errsz);
/* Reports sent to dest since `since` (for the rate limit). */
bool rstore_dest_count(rstore_t *st, const char *dest, int64_t since, unsigned long *count,
                       char *err, size_t errsz);

/* End a claim that r->owner still holds (false, and nothing changed, when
 * its lease ran out and another reporter claimed the report meanwhile):
 * done (every destination sent, or nothing to send: state sent; *late,
 * when late is not NULL, the messages a flush added after the claim: they
 * are not in what was sent and never will be, since a destination gets one
 * report per Report-ID), or failed (state open again, attempts + 1, next
 * try at next_try, why kept as the last error), or released unchanged
 * (--dry-run, a deferral by the rate limit: next try at next_try, attempts
 * kept). */
bool rstore_done(rstore_t *st, const rstore_report *r, int64_t now, unsigned long *late, char *err,
                 size_t errsz);
bool rstore_failed(rstore_t *st, const rstore_report *r, int64_t next_try, const char *why,
                   char *err, size_t errsz);
bool rstore_release(rstore_t *st, const rstore_report *r, int64_t next_try, char *err,
                    size_t errsz);

/* Delete reports (with their rows and sends) whose period ended before
 * `before`, and send-log entries older than it.  *deleted: reports. */
bool rstore_expire(rstore_t *st, int64_t before, unsigned long *deleted, char *err, size_t errsz);

/* Totals kept by the store (all hosts): reports built (rendered), sent (to
 * a destination), failed (a destination's send failed). */
typedef struct rstore_totals {
    unsigned long built, sent, failed;
    unsigned long reports_open, reports_sent; /* reports in each state now */
    unsigned long rows;                       /* rows held */
} rstore_totals;
bool rstore_count(rstore_t *st, const char *what /* "built", "sent", "failed" */, unsigned long n,
                  char *err, size_t errsz);
bool rstore_totals_get(rstore_t *st, rstore_totals *out, char *err, size_t errsz);
/* Only built, sent and failed of the totals (one small table: what the
 * daemon's metrics read after each flush; the other fields are left 0). */
bool rstore_counters_get(rstore_t *st, rstore_totals *out, char *err, size_t errsz);

#endif
