/*
 * snapshot.h - the loaded configuration as an immutable, reference-counted
 * snapshot: the parsed config plus the DNS resolver built from it.
 *
 * This is mxguard's one piece of global mutable state.  A reload builds a
 * complete new snapshot first and swaps it in whole only if it loaded
 * cleanly; a message holds the snapshot it started with until it ends, so a
 * reload never changes the rules under a message in flight.
 */
#ifndef MXG_SNAPSHOT_H
#define MXG_SNAPSHOT_H

#include "conf.h"
#include "dkimcheck.h"
#include "dmarccheck.h"
#include "dmarcflush.h"
#include "dns.h"
#include "metrics.h"

typedef struct snapshot {
    const conf_t *conf; /* read-only */
    dns_t *dns;         /* shared resolver of this snapshot */
    dkimcheck_lib *dkim; /* DKIM verifier over dns, NULL when dkim is disabled */
    dmarccheck_lib *dmarc; /* DMARC over dns, NULL when dmarc is disabled */
    metrics_t *metrics;  /* the daemon's counters (borrowed), or NULL */
    dmarcflush_t *reports; /* the daemon's DMARC report rows (borrowed), or NULL */
    /* private */
    conf_t *conf_owned;
    int refs;
} snapshot_t;

/* Load a config file and build its resolver.  On failure returns NULL after
 * reporting every problem through errfn (NULL: log_error). */
snapshot_t *snapshot_load(const char *path, conf_error_fn errfn, void *arg);
/* Build a snapshot around an already loaded config (takes ownership) and an
 * optional resolver options override for tests (NULL: from the config).
 * On failure returns NULL with err saying what failed and why ("cannot
 * start the DNS resolver: ...", "cannot set up DKIM verification: ...",
 * "cannot set up DMARC: ..."); nothing is logged. */
snapshot_t *snapshot_from_conf(conf_t *conf, const dns_options *dnsopt, char *err, size_t errlen);

/* Count into m (owned by the daemon, outlives s): the sessions' decisions
 * and the DNS queries of s's resolver.  Call before snapshot_install(). */
void snapshot_attach_metrics(snapshot_t *s, metrics_t *m);

/* Hand the rows of finished messages to fl (owned by the daemon, outlives
 * s; NULL: reports off).  Call before snapshot_install(). */
void snapshot_attach_reports(snapshot_t *s, dmarcflush_t *fl);

/* Make s the current snapshot (takes the caller's reference); the previous
 * one is released. */
void snapshot_install(snapshot_t *s);
/* A new reference to the current snapshot (NULL if none installed). */
snapshot_t *snapshot_acquire(void);
/* Drop a reference; the last one frees the snapshot and its resolver. */
void snapshot_release(snapshot_t *s);
/* Release the current snapshot (at shutdown). */
void snapshot_shutdown(void);

#endif
