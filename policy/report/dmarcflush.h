/*
 * dmarcflush.h - the daemon's side of DMARC aggregate reports (RFC 9990):
 * the mail path hands the row of each finished message (dmarcrow.h) to an
 * in-memory aggregator (dmarcagg.h); a background thread writes the
 * aggregated rows to the report store (rstore.h) every flush_interval
 * seconds, when kicked (SIGHUP) and a last time at stop.
 *
 * The mail path (dmarcflush_add) does no I/O and holds no lock across any:
 * it builds the row and counts it into the aggregator (a shard lock for a
 * lookup or an insertion).  Only the flush thread touches the store.
 *
 * A store that is down or slow never holds up mail: the store is opened
 * lazily by the flush thread (the daemon starts without it) and re-opened
 * after an error; a flush that fails puts its rows back into the aggregator
 * with their counts (dmarcagg_add_n), so nothing is lost until the
 * aggregator holds max_rows distinct rows; past that, new rows are dropped
 * and counted.  Store failures and drops are logged at most once a minute
 * (DMARCFLUSH_LOG_INTERVAL), and the recovery once.
 *
 * Stop: the final flush retries a failing store until stop_seconds have
 * passed; what it could not write is logged with its count and lost.  A
 * write hung in the store past that bound is left to the thread (the
 * process is exiting).
 *
 * Threads: dmarcflush_add and dmarcflush_stats_get from any thread at any
 * time; dmarcflush_kick from any thread (not from a signal handler: it
 * takes a mutex); new, start, stop and free from one owning thread.
 * Ownership: the options' strings are copied; the flusher owns its
 * aggregator, its store handle and its thread.  It outlives config
 * reloads: the daemon owns it, the sessions borrow it.
 */
#ifndef MXG_DMARCFLUSH_H
#define MXG_DMARCFLUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "facts.h"
#include "verdict.h"

#define DMARCFLUSH_STOP_SECONDS 10u /* default bound of the final flush */
#define DMARCFLUSH_LOG_INTERVAL 60u /* at most one store/drop warning per this many seconds */
#define DMARCFLUSH_BATCH 1000u      /* rows per store transaction */

typedef struct dmarcflush dmarcflush_t;

typedef struct dmarcflush_options {
    const char *store;       /* the store URI (rstore.h), copied */
    const char *own_email;   /* reports.email: mail whose From is this address (our
                              * own report mail) is not recorded; NULL: none */
    unsigned flush_interval; /* seconds between flushes, >= 1 */
    size_t max_rows;         /* distinct rows held in memory (the bound) */
    unsigned stop_seconds;   /* bound of the final flush; 0: DMARCFLUSH_STOP_SECONDS */
    unsigned period;         /* report period in seconds; 0: one UTC day */
} dmarcflush_options;

/* What dmarcflush_add did with a message. */
typedef enum dmarcflush_result {
    DMARCFLUSH_ADDED = 0,  /* counted into a row */
    DMARCFLUSH_OWN_MAIL,   /* From is own_email: our own report mail */
    DMARCFLUSH_NO_RUA,     /* no DMARC record with a rua: nobody to report to */
    DMARCFLUSH_NO_ROW,     /* the message makes no row (dmarcrow_from_facts) */
    DMARCFLUSH_DROPPED,    /* a new row past max_rows: dropped and counted */
} dmarcflush_result;

/* Figures for the metrics. */
typedef struct dmarcflush_stats {
    unsigned long rows_buffered;    /* distinct rows held now */
    unsigned long messages_added;   /* messages counted into rows */
    unsigned long rows_flushed;     /* rows written to the store (one per key and flush) */
    unsigned long messages_flushed; /* messages those rows stand for */
    unsigned long messages_dropped; /* over max_rows, and lost at stop */
    unsigned long flush_errors;     /* failed store opens and writes */
    unsigned long flushes;          /* flush attempts ended, good or not */
    bool totals_known;              /* the store's totals were read once */
    unsigned long reports_built, reports_sent, reports_failed; /* the store's totals
                                     * (all hosts) as of the last good flush */
} dmarcflush_stats;

/* A flusher with an empty aggregator; no thread yet, no store opened. */
dmarcflush_t *dmarcflush_new(const dmarcflush_options *opt);
/* Start the flush thread (call after dropping privileges: it opens the
 * store).  False with the reason in err. */
bool dmarcflush_start(dmarcflush_t *fl, char *err, size_t errsz);

/* Record a finished message: f its facts at end of message, v the verdict
 * applied (not a dry-run one), now when it was received, from_address the
 * author's address (fromhdr_msg_address) or NULL.  Cheap: no I/O. */
dmarcflush_result dmarcflush_add(dmarcflush_t *fl, const facts_t *f, const verdict_t *v, time_t now,
                                 const char *from_address);

/* Flush now (SIGHUP), without waiting for it.  A kick during a flush makes
 * another one follow.  Nothing when the thread is not running. */
void dmarcflush_kick(dmarcflush_t *fl);

/* The final flush, bounded by stop_seconds, and the end of the thread.
 * True when the thread ended; false when a store write was still hung
 * after the bound (logged): the thread runs on, do not free the flusher
 * unless you are ready to wait for that write.  Rows added after stop are
 * never written.  Nothing (true) if the thread never started. */
bool dmarcflush_stop(dmarcflush_t *fl);
/* Stop if not stopped, wait for the thread, free everything (rows still
 * held are lost). */
void dmarcflush_free(dmarcflush_t *fl);

void dmarcflush_stats_get(const dmarcflush_t *fl, dmarcflush_stats *out);
/* "added", "own mail", "no rua", "no row", "dropped". */
const char *dmarcflush_result_name(dmarcflush_result r);

#endif
