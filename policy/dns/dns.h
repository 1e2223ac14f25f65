/*
 * dns.h - the one DNS resolver of mxguard, built on libunbound.
 *
 * Every lookup of every check (SPF through a libspf2 DNS layer, later DKIM
 * keys, DMARC records, DNS lists) goes through one dns_t: one shared cache,
 * one upstream (the system's resolv.conf, or a forwarder "address@port"), a
 * per-query timeout, and answers that keep answer / NXDOMAIN / NODATA /
 * SERVFAIL / timeout apart (SPF, DKIM and DMARC temperror depend on it).
 *
 * Queries may be started from any thread and run in parallel: dns_start()
 * returns at once, dns_wait() blocks until the answer or the deadline.
 * dns_lookup() is start+wait for one query.
 *
 * Two files implement it: dns.c the resolver (dns_new ... dns_lookup, the
 * cache), dnsdata.c the data (status names, answers, rdata helpers,
 * upstream syntax), so a test can link a resolver of its own with the
 * shipped data half (tests/fuzz/fakedns.c).
 *
 * SECURITY: answers come from the network and are untrusted; callers must
 * bound what they take from rdata.  This module only guarantees that rdata
 * lengths are those of the wire answer.
 */
#ifndef MXG_DNS_H
#define MXG_DNS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct dns dns_t;
typedef struct dns_query dns_query_t;

typedef enum dns_status {
    DNS_ANSWER = 0, /* records of the asked type (possibly via CNAME) */
    DNS_NXDOMAIN,   /* the name does not exist */
    DNS_NODATA,     /* the name exists, no records of this type */
    DNS_SERVFAIL,   /* server failure, REFUSED, or another error rcode */
    DNS_TIMEOUT,    /* no answer before the deadline */
    DNS_ERROR,      /* local failure (bad name, resolver error) */
} dns_status;

/* Name of a status for logs: "answer", "nxdomain", ... */
const char *dns_status_name(dns_status st);

typedef struct dns_options {
    /* NULL or "system": resolvers of /etc/resolv.conf (and /etc/hosts);
     * otherwise "ADDR" or "ADDR@PORT", a forwarder (IPv4 or IPv6). */
    const char *upstream;
    unsigned timeout_ms; /* per-query deadline; 0 means DNS_DEFAULT_TIMEOUT_MS */
    /* Test data: unbound.conf "local-zone:" and "local-data:" values,
     * NULL-terminated arrays or NULL.  E.g. zone "example. static",
     * data "example. TXT \"v=spf1 -all\"". */
    const char *const *local_zones;
    const char *const *local_data;
    /* Answer cache in front of libunbound: at most this many answers
     * (0: DNS_CACHE_DEFAULT).  Answers, NXDOMAIN and NODATA are kept for
     * their TTL (at most DNS_CACHE_MAX_TTL s); SERVFAIL, timeouts and errors
     * never.  A hit is answered in the calling thread, with no handoff to
     * the resolver threads. */
    unsigned cache_entries;
} dns_options;

/* DNS record types (RFC 1035, 3596), the rrtype of the calls below;
 * libspf2's callbacks keep its own ns_type values (ns_t_txt, ...). */
#define DNS_TYPE_A 1
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_PTR 12
#define DNS_TYPE_MX 15
#define DNS_TYPE_TXT 16
#define DNS_TYPE_AAAA 28

#define DNS_CACHE_DEFAULT 20000u
/* The per-query deadline when none is given (also dns.timeout_ms's default). */
#define DNS_DEFAULT_TIMEOUT_MS 5000u
#define DNS_CACHE_MAX_TTL 3600u

/* Answer cache counters (for tests and metrics). */
typedef struct dns_cache_stats {
    unsigned long hits, misses, inserts, evictions;
    unsigned entries;
} dns_cache_stats;
void dns_cache_get_stats(dns_t *dns, dns_cache_stats *st);

/* Create a resolver.  On failure returns NULL and writes a reason to err. */
dns_t *dns_new(const dns_options *opt, char *err, size_t errlen);
/* Stop the resolver.  No query may be in flight (all waited for). */
void dns_free(dns_t *dns);
/* Called by dns_wait() for every query it finishes, with the outcome and
 * the microseconds since its start (the daemon's metrics).  Set it before
 * the resolver is shared with other threads; fn must be cheap and
 * thread-safe.  NULL fn: none. */
typedef void (*dns_observe_fn)(dns_status st, long usec, void *arg);
void dns_set_observer(dns_t *dns, dns_observe_fn fn, void *arg);
/* Check an upstream string without creating a resolver (for config -n). */
bool dns_upstream_valid(const char *upstream, char *err, size_t errlen);
/* NULL or "system": the resolvers of /etc/resolv.conf. */
bool dns_upstream_is_system(const char *upstream);

/* One answer.  Owned by the caller: free with dns_answer_free(). */
typedef struct dns_answer {
    dns_status status;
    int rrtype;          /* the type asked for */
    int rcode;           /* DNS rcode as received (0 if none) */
    unsigned ttl;        /* TTL of the answer (0 if none) */
    size_t count;        /* number of records (ANSWER only) */
    unsigned char **rdata; /* count pointers to wire rdata */
    size_t *rdlen;       /* count lengths */
    bool secure;         /* DNSSEC validated (never true without a trust anchor) */
} dns_answer;

void dns_answer_free(dns_answer *a);

/* Start a query for name/rrtype (e.g. DNS_TYPE_TXT).  Never returns NULL:
 * a failure to start is reported by dns_wait() as DNS_ERROR. */
dns_query_t *dns_start(dns_t *dns, const char *name, int rrtype);
/* dns_start() with its own deadline: timeout_ms after the start (0: the
 * resolver's timeout_ms). */
dns_query_t *dns_start_timeout(dns_t *dns, const char *name, int rrtype, unsigned timeout_ms);
/* Wait for a started query (deadline: timeout_ms after dns_start), store the
 * answer in *out (never NULL afterwards) and free the query.  A timeout is
 * not logged: the caller, which decides what it means, logs it. */
dns_status dns_wait(dns_query_t *q, dns_answer **out);
/* Start and wait. */
dns_status dns_lookup(dns_t *dns, const char *name, int rrtype, dns_answer **out);

/* Can name (presentation format) be asked: not empty, no empty label,
 * labels of 1..63 octets, at most 255 octets in wire form (\X and \DDD
 * escapes understood)?  dns_start() answers DNS_ERROR for one that is not. */
bool dns_name_ok(const char *name);

/* Helpers to read rdata.  Each returns false on malformed rdata. */
/* Concatenate the character-strings of a TXT rdata into a new NUL-terminated
 * string (caller frees); *len gets its length (it may contain NUL bytes). */
bool dns_rdata_txt(const unsigned char *rd, size_t len, char **out, size_t *outlen);
/* Uncompressed wire domain name at rd[off..] to text without the trailing dot
 * (root is ""), escaping non-printable bytes as \DDD; out has room for 1025. */
bool dns_rdata_name(const unsigned char *rd, size_t len, size_t off, char *out, size_t outsz);

#endif
