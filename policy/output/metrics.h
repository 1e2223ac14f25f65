/*
 * metrics.h - counters for the Prometheus endpoint: decisions per action,
 * rules that fired or would have fired (dry run), check results (spf,
 * spf_helo, dkim, dmarc, dnsbl), DNS queries
 * by outcome with a latency histogram, messages in flight, config reloads
 * and the loaded config's SHA-256.  metrics_format() writes them in the
 * Prometheus text exposition format (version 0.0.4).
 *
 * Ownership and threads: the daemon owns the one metrics_t (metrics_new()
 * in main.c) and hands a borrowed pointer to each config snapshot, which
 * passes it on to its resolver (dns_set_observer) and to the sessions; it
 * outlives every snapshot.  Every function may be called from any thread:
 * fixed counters are C11 atomics (one relaxed add each, no lock on the DNS
 * path), the counters keyed by a name (rule, DNS list) take a short mutex.
 * Every function accepts a NULL metrics_t and does nothing (metrics off,
 * unit tests without metrics).
 */
#ifndef MXG_METRICS_H
#define MXG_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "declog.h"
#include "dns.h"

typedef struct metrics metrics_t;

/* Distinct rule and DNS list names kept; further names are counted under
 * the label value "_other" (names come from the trusted config, but reloads
 * may bring new ones without end). */
#define METRICS_MAX_NAMES 512

/* Parse the metrics listen address "ADDR:PORT" (IPv4) or "[ADDR]:PORT"
 * (IPv6), a numeric address and port 1..65535, into *sa (room for an
 * IPv6 address: struct sockaddr_storage) and *salen.  False with a reason
 * in err otherwise.  sa may be NULL (only check). */
struct sockaddr;
bool metrics_parse_listen(const char *v, struct sockaddr *sa, unsigned *salen, char *err, size_t errlen);

metrics_t *metrics_new(void);
void metrics_free(metrics_t *m);

/* One decision line was logged: count its action, its rule (fired), its
 * dry-run rules, each check's result and the DNS lists that matched. */
void metrics_decision(metrics_t *m, const declog_entry *e);
/* A message started (+1) or ended (-1). */
void metrics_in_flight(metrics_t *m, int delta);
/* One DNS query finished with st after usec microseconds; matches
 * dns_observe_fn (arg is the metrics_t). */
void metrics_dns(dns_status st, long usec, void *arg);
/* A SIGHUP reload succeeded (ok) or kept the old config. */
void metrics_reload(metrics_t *m, bool ok);
/* The config now in use came from path: hash the file (SHA-256) for the
 * info metric.  False if it cannot be read (logged; the hash shows as ""). */
bool metrics_set_config(metrics_t *m, const char *path);

/* The DMARC aggregate report figures of the daemon (dmarcflush.h), read at
 * scrape time. */
typedef struct metrics_reports {
    unsigned long rows_buffered;    /* distinct rows in memory now (gauge) */
    unsigned long rows_flushed;     /* rows written to the store */
    unsigned long messages_dropped; /* messages not recorded: bound reached, lost at stop */
    unsigned long flush_errors;     /* failed store opens and writes */
    bool totals_known;              /* built/sent/failed were read from the store since
                                     * start; false: those three are not shown at all
                                     * (a 0 that later jumps would look like a reset) */
    unsigned long built, sent, failed; /* the store's report totals (all hosts) */
} metrics_reports;
/* Their exposition text (for metrics_format's extra).  Caller frees. */
char *metrics_format_reports(const metrics_reports *r);

/* The exposition text of every metric, plus extra (NULL or more lines in
 * the same format, e.g. gauges the daemon reads at scrape time) at the end.
 * Caller frees. */
char *metrics_format(metrics_t *m, const char *extra);

#endif
