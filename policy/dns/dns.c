/*
 * dns.c - the one DNS resolver of mxguard, built on libunbound.
 *
 * One ub_ctx per dns_t, resolving in libunbound's background *thread*
 * (ub_ctx_async(ctx, 1), never a forked process).  Queries are started with
 * ub_resolve_async() from any thread; one dispatcher thread owned by the
 * dns_t polls ub_fd() and runs ub_process(), which invokes our callback.
 * Each query has its own condition variable (all share dns->mu); dns_wait()
 * sleeps on it until the answer or the query's deadline.
 *
 * Who frees what (libunbound 1.17 libunbound.c, thread mode):
 *  - ub_cancel() marks the ctx_query cancelled under ctx->cfglock.  It
 *    returns UB_NOERROR only while the query is still registered; then
 *    process_answer_detail() (also under cfglock) later sees the flag, frees
 *    the result itself and never calls our callback.
 *  - If the answer was already taken out of the registry, ub_cancel()
 *    returns UB_NOID and our callback has run or is about to run (in our
 *    dispatcher thread, without libunbound locks held).
 * So on a deadline dns_wait() cancels: on UB_NOERROR it frees the query at
 * once; otherwise, under dns->mu, it either takes the answer that just
 * arrived, or marks the query abandoned and the callback frees it (and the
 * ub_result).  Abandoned queries are kept on a list so that dns_free() can
 * release those whose answer never came (ub_ctx_delete() frees libunbound's
 * side, never ours).  Nothing is touched after it is freed, nothing leaks.
 *
 * Answer cache: a hash table with an LRU list, bounded in entries, keyed
 * by the lower-cased name and type, under its own mutex.  dns_start() looks
 * there first; a hit becomes a query that is already done (no libunbound,
 * no thread handoff: most of a message's lookups in steady state).  Entries
 * expire by their TTL (CLOCK_MONOTONIC); the cache lives and dies with the
 * dns_t, so a reload starts empty.
 *
 * SECURITY: answers come from the network and are untrusted.  Names are
 * checked before they reach libunbound; rdata is copied with the lengths of
 * the wire answer; the rdata helpers check every length byte.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <unbound.h>

#include "dns.h"
#include "log.h"
#include "strbuf.h"
#include "xalloc.h"

struct dns {
    struct ub_ctx *ctx;      /* libunbound context (owned) */
    unsigned timeout_ms;     /* per-query deadline */
    pthread_mutex_t mu;      /* guards every dns_query_t's state */
    pthread_condattr_t cattr; /* CLOCK_MONOTONIC for the query conds */
    pthread_t thread;        /* dispatcher: ub_fd() -> ub_process() */
    bool thread_started;
    int stop[2];             /* pipe: dns_free() wakes the dispatcher */
    dns_query_t *abandoned;  /* timed-out queries whose callback may come */
    dns_observe_fn observe;  /* told of every finished query, or NULL */
    void *observe_arg;
    /* answer cache (see the top of the file) */
    pthread_mutex_t cache_mu;
    struct dns_centry **buckets; /* nbuckets chains */
    size_t nbuckets;
    struct dns_centry *lru_head, *lru_tail; /* most recent first */
    unsigned cache_max, cache_n;
    dns_cache_stats stats;
};

struct dns_centry {
    char *key;               /* lower-cased name, no trailing dot */
    int rrtype;
    size_t hash;
    time_t expires;          /* CLOCK_MONOTONIC seconds */
    dns_answer *answer;      /* owned */
    struct dns_centry *chain; /* bucket */
    struct dns_centry *newer, *older; /* LRU */
};

struct dns_query {
    dns_t *dns;
    char *name;              /* for logs */
    int rrtype;
    int async_id;            /* libunbound's id, 0 if not started */
    struct timespec deadline; /* CLOCK_MONOTONIC */
    struct timespec started;  /* CLOCK_MONOTONIC, for the observer */
    pthread_cond_t cond;     /* signalled by the callback (under dns->mu) */
    bool done;               /* answer (or start failure) is in */
    bool abandoned;          /* waiter gave up: the callback frees */
    bool start_failed;       /* dns_start() could not start it */
    dns_answer *cached;      /* answered from the cache (owned) */
    int ub_err;              /* error given to the callback */
    struct ub_result *result; /* owned until converted */
    dns_query_t *next, *prev; /* on dns->abandoned */
};

/* ---- dispatcher thread -------------------------------------------------- */

/* After an error of poll() or ub_process(): log (the first and then every
 * 100th), pause briefly and go on, so that a transient failure does not
 * leave the resolver without a dispatcher (every later query would time out). */
static void dns_dispatch_error(unsigned *errors, const char *what, const char *why)
{
    struct timespec pause = {0, 100 * 1000 * 1000};

    if ((*errors)++ % 100 == 0)
        log_error("dns: %s: %s (%u so far); retrying", what, why, *errors);
    nanosleep(&pause, NULL);
}

static void *dns_dispatch(void *arg)
{
    dns_t *dns = arg;
    struct pollfd pfd[2];
    unsigned errors = 0;

    pfd[0].fd = ub_fd(dns->ctx);
    pfd[0].events = POLLIN;
    pfd[1].fd = dns->stop[0];
    pfd[1].events = POLLIN;
    for (;;) {
        pfd[0].revents = pfd[1].revents = 0;
        if (poll(pfd, 2, -1) < 0) {
            if (errno != EINTR)
                dns_dispatch_error(&errors, "poll", strerror(errno));
            continue;
        }
        if (pfd[1].revents != 0)
            break;
        if (pfd[0].revents != 0) {
            int r = ub_process(dns->ctx);
            if (r != 0)
                dns_dispatch_error(&errors, "ub_process", ub_strerror(r)); /* waiters still end at their deadlines */
        }
    }
    return NULL;
}

/* Run f with all signals blocked, so that threads created by it (ours and
 * libunbound's) never take the daemon's signals. */
static void dns_block_signals(sigset_t *old)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, old);
}

static void dns_restore_signals(const sigset_t *old)
{
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* ---- create / free ------------------------------------------------------ */

static bool dns_set(struct ub_ctx *ctx, const char *opt, const char *val,
                    char *err, size_t errlen)
{
    int r = ub_ctx_set_option(ctx, opt, val);
    if (r != 0) {
        snprintf(err, errlen, "resolver option %s %s: %s", opt, val, ub_strerror(r));
        return false;
    }
    return true;
}

/* Forward everything (issue 14).  Unless told otherwise, libunbound
 * answers its built-in local zones itself, even when it forwards all else:
 * NXDOMAIN for the RFC 1918 / RFC 6303 reverse zones (10.in-addr.arpa,
 * 168.192.in-addr.arpa, ..., 8.b.d.0.1.0.0.2.ip6.arpa, d.f.ip6.arpa, ...),
 * for test., invalid., onion., home.arpa., and its own answers for
 * localhost. and the loopback reverse zones.  mxguard is a stub in front of
 * the operator's resolver: what that resolver serves there (PTRs of private
 * and documentation addresses, names under test., ...) must reach the
 * checks.  Debian 12's libunbound (1.17.1), measured with
 * tests/unit/dns/test_dns.c (a TXT at the apex of each of the 102 zones the
 * installed unbound lists by default, served by the upstream) and
 * variants of this function:
 *  - "unblock-lan-zones: yes" removes 95 of them (every reverse zone but
 *    the loopback ones); without it all 102 answer locally;
 *    "insecure-lan-zones: yes" alone changes nothing here: it says the
 *    same to a validator (we run none; set for whoever adds one);
 *  - "local-zone: NAME nodefault" through ub_ctx_set_option() does nothing:
 *    1.17's cfg_parse_local_zone() stores "NAME nodefault" whole as the
 *    name, which never matches a zone (the config file parser behind
 *    ub_ctx_config() gets it right, but needs a file);
 *  - "local-zone: NAME transparent" replaces a built-in zone with one that
 *    answers nothing by itself, so its queries are forwarded: that is what
 *    the seven below get.
 * A caller's own local zone (test data only) at or above one of them keeps
 * the built-in zone instead, as before: that data is then all there is. */
static const char *const dns_builtin_zones[] = {
    "localhost.",
    "127.in-addr.arpa.",
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
    "home.arpa.",
    "onion.",
    "test.",
    "invalid.",
};

/* Is zone equal to or below the name of a caller's "NAME TYPE" local zone? */
static bool dns_zone_covered(const char *zone, const char *const *local_zones)
{
    size_t zl = strlen(zone);

    for (const char *const *z = local_zones; z && *z; z++) {
        size_t nl = strcspn(*z, " \t");
        if (nl > 0 && (*z)[nl - 1] == '.')
            nl--; /* compare without the trailing dots */
        if (nl == 0)
            return true; /* the root */
        if (zl - 1 >= nl && strncasecmp(zone + (zl - 1 - nl), *z, nl) == 0 &&
            (zl - 1 == nl || zone[zl - 2 - nl] == '.'))
            return true;
    }
    return false;
}

static bool dns_forward_everything(struct ub_ctx *ctx, const char *const *local_zones,
                                   char *err, size_t errlen)
{
    if (!dns_set(ctx, "unblock-lan-zones:", "yes", err, errlen) ||
        !dns_set(ctx, "insecure-lan-zones:", "yes", err, errlen))
        return false;
    for (size_t i = 0; i < sizeof(dns_builtin_zones) / sizeof(dns_builtin_zones[0]); i++) {
        char *v;
        bool ok;
        if (dns_zone_covered(dns_builtin_zones[i], local_zones))
            continue;
        v = xasprintf("%s transparent", dns_builtin_zones[i]);
        ok = dns_set(ctx, "local-zone:", v, err, errlen);
        free(v);
        if (!ok)
            return false;
    }
    return true;
}

/* Options for a stub resolver in front of a caching upstream: no DNSSEC
 * validator (no trust anchor), a modest EDNS buffer (no fragmentation),
 * few resends (our deadline is what counts), and keep probing a single
 * upstream that timed out rather than failing fast for minutes. */
static bool dns_configure(struct ub_ctx *ctx, const dns_options *opt,
                          char *err, size_t errlen)
{
    static const char *const base[][2] = {
        { "module-config:", "iterator" },
        { "edns-buffer-size:", "1232" },
        { "do-not-query-localhost:", "no" },
        { "outbound-msg-retry:", "2" },
        { "infra-keep-probing:", "yes" },
        { "infra-host-ttl:", "60" },
        { "prefetch:", "no" },
        { "serve-expired:", "no" },
        { "use-syslog:", "no" },
    };
    int r;

    for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
        if (!dns_set(ctx, base[i][0], base[i][1], err, errlen))
            return false;
    if (!dns_forward_everything(ctx, opt->local_zones, err, errlen))
        return false;
    if (dns_upstream_is_system(opt->upstream)) {
        if ((r = ub_ctx_resolvconf(ctx, NULL)) != 0) {
            snprintf(err, errlen, "cannot use /etc/resolv.conf: %s", ub_strerror(r));
            return false;
        }
        if ((r = ub_ctx_hosts(ctx, NULL)) != 0) {
            snprintf(err, errlen, "cannot use /etc/hosts: %s", ub_strerror(r));
            return false;
        }
    } else {
        if (!dns_upstream_valid(opt->upstream, err, errlen))
            return false;
        if ((r = ub_ctx_set_fwd(ctx, opt->upstream)) != 0) {
            snprintf(err, errlen, "bad upstream \"%s\": %s", opt->upstream, ub_strerror(r));
            return false;
        }
    }
    for (const char *const *z = opt->local_zones; z && *z; z++)
        if (!dns_set(ctx, "local-zone:", *z, err, errlen))
            return false;
    for (const char *const *d = opt->local_data; d && *d; d++)
        if (!dns_set(ctx, "local-data:", *d, err, errlen))
            return false;
    /* Finalize now, so that bad local data is reported here and not as a
     * failure of every later query.  Removing a zone that cannot exist is
     * the public call that finalizes without side effects. */
    if ((r = ub_ctx_zone_remove(ctx, "mxguard-finalize.invalid.")) != 0) {
        snprintf(err, errlen, "resolver configuration: %s", ub_strerror(r));
        return false;
    }
    return true;
}

/* ---- answer cache ------------------------------------------------------- */

static time_t dns_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* Lower-cased key without the trailing dot (names are checked already). */
static char *dns_cache_key(const char *name, size_t *hash)
{
    size_t n = strlen(name), h = 5381;
    char *k;

    if (n > 0 && name[n - 1] == '.')
        n--;
    k = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        k[i] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
        h = h * 33 + (unsigned char)k[i];
    }
    k[n] = '\0';
    *hash = h;
    return k;
}

static dns_answer *dns_answer_copy(const dns_answer *a)
{
    dns_answer *c = xcalloc(1, sizeof(*c));

    *c = *a;
    c->rdata = NULL;
    c->rdlen = NULL;
    if (a->count > 0) {
        c->rdata = xcalloc(a->count, sizeof(*c->rdata));
        c->rdlen = xcalloc(a->count, sizeof(*c->rdlen));
        for (size_t i = 0; i < a->count; i++) {
            c->rdata[i] = xmalloc(a->rdlen[i] ? a->rdlen[i] : 1);
            memcpy(c->rdata[i], a->rdata[i], a->rdlen[i]);
            c->rdlen[i] = a->rdlen[i];
        }
    }
    return c;
}

static void dns_cache_init(dns_t *dns, unsigned max)
{
    pthread_mutex_init(&dns->cache_mu, NULL);
    dns->cache_max = max ? max : DNS_CACHE_DEFAULT;
    dns->nbuckets = 64;
    while (dns->nbuckets < dns->cache_max && dns->nbuckets < (1u << 20))
        dns->nbuckets <<= 1;
    dns->buckets = xcalloc(dns->nbuckets, sizeof(*dns->buckets));
}

/* Unlink e from its bucket and the LRU list and free it (cache_mu held). */
static void dns_cache_drop(dns_t *dns, struct dns_centry *e)
{
    struct dns_centry **pp = &dns->buckets[e->hash & (dns->nbuckets - 1)];

    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    if (e->newer)
        e->newer->older = e->older;
    else
        dns->lru_head = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        dns->lru_tail = e->newer;
    dns->cache_n--;
    dns_answer_free(e->answer);
    free(e->key);
    free(e);
}

static void dns_cache_destroy(dns_t *dns)
{
    if (dns->buckets == NULL)
        return;
    while (dns->lru_head)
        dns_cache_drop(dns, dns->lru_head);
    free(dns->buckets);
    dns->buckets = NULL;
    pthread_mutex_destroy(&dns->cache_mu);
}

/* Find a live entry (cache_mu held); expired ones are dropped on the way. */
static struct dns_centry *dns_cache_find(dns_t *dns, const char *key, size_t hash, int rrtype, time_t now)
{
    struct dns_centry *e = dns->buckets[hash & (dns->nbuckets - 1)];

    for (; e != NULL; e = e->chain) {
        if (e->hash != hash || e->rrtype != rrtype || strcmp(e->key, key) != 0)
            continue;
        if (e->expires <= now) {
            dns_cache_drop(dns, e);
            return NULL;
        }
        return e;
    }
    return NULL;
}

/* A copy of the cached answer for name/rrtype, or NULL. */
static dns_answer *dns_cache_lookup(dns_t *dns, const char *name, int rrtype)
{
    size_t hash;
    char *key = dns_cache_key(name, &hash);
    dns_answer *copy = NULL;
    struct dns_centry *e;

    pthread_mutex_lock(&dns->cache_mu);
    e = dns_cache_find(dns, key, hash, rrtype, dns_now_s());
    if (e != NULL) {
        dns->stats.hits++;
        if (e->newer != NULL) { /* to the front of the LRU list */
            e->newer->older = e->older;
            if (e->older)
                e->older->newer = e->newer;
            else
                dns->lru_tail = e->newer;
            e->newer = NULL;
            e->older = dns->lru_head;
            dns->lru_head->newer = e;
            dns->lru_head = e;
        }
        copy = dns_answer_copy(e->answer);
    } else {
        dns->stats.misses++;
    }
    pthread_mutex_unlock(&dns->cache_mu);
    free(key);
    return copy;
}

/* Keep a copy of a final answer for its TTL (nothing with TTL 0). */
static void dns_cache_store(dns_t *dns, const char *name, int rrtype, const dns_answer *a, unsigned ttl)
{
    struct dns_centry *e;
    size_t hash;
    time_t now = dns_now_s();

    if (a->status != DNS_ANSWER && a->status != DNS_NXDOMAIN && a->status != DNS_NODATA)
        return;
    if (ttl == 0)
        return;
    if (ttl > DNS_CACHE_MAX_TTL)
        ttl = DNS_CACHE_MAX_TTL;
    e = xcalloc(1, sizeof(*e));
    e->key = dns_cache_key(name, &hash);
    e->hash = hash;
    e->rrtype = rrtype;
    e->expires = now + (time_t)ttl;
    e->answer = dns_answer_copy(a);
    pthread_mutex_lock(&dns->cache_mu);
    {
        struct dns_centry *old = dns_cache_find(dns, e->key, hash, rrtype, now);
        if (old != NULL) /* a parallel query got there first: keep the newer */
            dns_cache_drop(dns, old);
    }
    while (dns->cache_n >= dns->cache_max && dns->lru_tail != NULL) {
        dns_cache_drop(dns, dns->lru_tail);
        dns->stats.evictions++;
    }
    e->chain = dns->buckets[hash & (dns->nbuckets - 1)];
    dns->buckets[hash & (dns->nbuckets - 1)] = e;
    e->older = dns->lru_head;
    if (dns->lru_head)
        dns->lru_head->newer = e;
    else
        dns->lru_tail = e;
    dns->lru_head = e;
    dns->cache_n++;
    dns->stats.inserts++;
    pthread_mutex_unlock(&dns->cache_mu);
}

void dns_cache_get_stats(dns_t *dns, dns_cache_stats *st)
{
    pthread_mutex_lock(&dns->cache_mu);
    *st = dns->stats;
    st->entries = dns->cache_n;
    pthread_mutex_unlock(&dns->cache_mu);
}

dns_t *dns_new(const dns_options *opt, char *err, size_t errlen)
{
    static const dns_options defaults = { NULL, 0, NULL, NULL, 0 };
    dns_t *dns;
    sigset_t old;
    int r;

    if (opt == NULL)
        opt = &defaults;
    dns = xcalloc(1, sizeof(*dns));
    dns->stop[0] = dns->stop[1] = -1;
    dns->timeout_ms = opt->timeout_ms ? opt->timeout_ms : DNS_DEFAULT_TIMEOUT_MS;
    pthread_mutex_init(&dns->mu, NULL);
    pthread_condattr_init(&dns->cattr);
    pthread_condattr_setclock(&dns->cattr, CLOCK_MONOTONIC);
    dns_cache_init(dns, opt->cache_entries);

    dns->ctx = ub_ctx_create();
    if (dns->ctx == NULL) {
        snprintf(err, errlen, "cannot create resolver context");
        goto fail;
    }
    if ((r = ub_ctx_async(dns->ctx, 1)) != 0) {
        snprintf(err, errlen, "resolver threads: %s", ub_strerror(r));
        goto fail;
    }
    if (!dns_configure(dns->ctx, opt, err, errlen))
        goto fail;
    if (pipe(dns->stop) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        goto fail;
    }
    dns_block_signals(&old);
    r = pthread_create(&dns->thread, NULL, dns_dispatch, dns);
    dns_restore_signals(&old);
    if (r != 0) {
        snprintf(err, errlen, "cannot start resolver thread: %s", strerror(r));
        goto fail;
    }
    dns->thread_started = true;
    return dns;

fail:
    dns_free(dns);
    return NULL;
}

static void dns_query_destroy(dns_query_t *q)
{
    pthread_cond_destroy(&q->cond);
    dns_answer_free(q->cached);
    ub_resolve_free(q->result);
    free(q->name);
    free(q);
}

void dns_free(dns_t *dns)
{
    if (dns == NULL)
        return;
    if (dns->thread_started) {
        ssize_t n;
        do
            n = write(dns->stop[1], "x", 1);
        while (n < 0 && errno == EINTR);
        pthread_join(dns->thread, NULL);
    }
    /* Stops libunbound's thread; answers still queued are dropped without
     * callbacks, so the abandoned queries below are ours alone. */
    if (dns->ctx)
        ub_ctx_delete(dns->ctx);
    while (dns->abandoned) {
        dns_query_t *q = dns->abandoned;
        dns->abandoned = q->next;
        dns_query_destroy(q);
    }
    if (dns->stop[0] >= 0)
        close(dns->stop[0]);
    if (dns->stop[1] >= 0)
        close(dns->stop[1]);
    dns_cache_destroy(dns);
    pthread_condattr_destroy(&dns->cattr);
    pthread_mutex_destroy(&dns->mu);
    free(dns);
}

/* ---- queries ------------------------------------------------------------ */

static void dns_callback(void *arg, int err, struct ub_result *result)
{
    dns_query_t *q = arg;
    dns_t *dns = q->dns; /* q lives at least until done/abandoned is seen */

    pthread_mutex_lock(&dns->mu);
    if (q->abandoned) {
        if (q->prev)
            q->prev->next = q->next;
        else
            dns->abandoned = q->next;
        if (q->next)
            q->next->prev = q->prev;
        pthread_mutex_unlock(&dns->mu);
        ub_resolve_free(result);
        dns_query_destroy(q);
        return;
    }
    q->ub_err = err;
    q->result = result;
    q->done = true;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&dns->mu);
}

dns_query_t *dns_start(dns_t *dns, const char *name, int rrtype)
{
    return dns_start_timeout(dns, name, rrtype, 0);
}

dns_query_t *dns_start_timeout(dns_t *dns, const char *name, int rrtype, unsigned timeout_ms)
{
    dns_query_t *q = xcalloc(1, sizeof(*q));
    struct timespec now;
    sigset_t old;
    int r;

    if (timeout_ms == 0)
        timeout_ms = dns->timeout_ms;
    q->dns = dns;
    q->name = xstrdup(name ? name : "");
    q->rrtype = rrtype;
    pthread_cond_init(&q->cond, &dns->cattr);
    clock_gettime(CLOCK_MONOTONIC, &now);
    q->started = now;
    q->deadline.tv_sec = now.tv_sec + (time_t)(timeout_ms / 1000);
    q->deadline.tv_nsec = now.tv_nsec + (long)(timeout_ms % 1000) * 1000000L;
    if (q->deadline.tv_nsec >= 1000000000L) {
        q->deadline.tv_sec++;
        q->deadline.tv_nsec -= 1000000000L;
    }

    if (!dns_name_ok(name) || rrtype <= 0 || rrtype > 65535) {
        q->start_failed = true;
        q->done = true;
        return q;
    }
    if ((q->cached = dns_cache_lookup(dns, name, rrtype)) != NULL) {
        q->done = true;
        return q;
    }
    /* libunbound starts its thread on the first query: keep signals out. */
    dns_block_signals(&old);
    r = ub_resolve_async(dns->ctx, name, rrtype, 1 /* IN */, q, dns_callback, &q->async_id);
    dns_restore_signals(&old);
    if (r != 0) {
        char *qn = strbuf_quote(name); /* may come from the SMTP client */
        log_error("dns: cannot start query %s/%d: %s", qn, rrtype, ub_strerror(r));
        free(qn);
        /* A query registered before the failure must never call back. */
        if (q->async_id != 0)
            (void)ub_cancel(dns->ctx, q->async_id);
        q->start_failed = true;
        q->done = true;
    }
    return q;
}

/* Turn a finished query into an answer. */
static dns_answer *dns_convert(dns_query_t *q)
{
    dns_answer *a = xcalloc(1, sizeof(*a));
    struct ub_result *res = q->result;

    if (q->cached != NULL) {
        free(a);
        a = q->cached;
        q->cached = NULL;
        return a;
    }
    a->rrtype = q->rrtype;
    if (q->start_failed) {
        a->status = DNS_ERROR;
        return a;
    }
    if (q->ub_err != 0 || res == NULL) {
        char *qn = strbuf_quote(q->name); /* may come from the SMTP client */
        log_warn("dns: query %s/%d failed: %s", qn, q->rrtype, ub_strerror(q->ub_err));
        free(qn);
        a->status = DNS_ERROR;
        return a;
    }
    a->rcode = res->rcode;
    a->secure = res->secure != 0;
    if (res->bogus) {
        a->status = DNS_SERVFAIL;
    } else if (res->rcode == 3) {
        a->status = DNS_NXDOMAIN;
    } else if (res->rcode != 0) {
        a->status = DNS_SERVFAIL;
    } else if (!res->havedata || res->data == NULL || res->data[0] == NULL) {
        a->status = DNS_NODATA;
    } else {
        size_t n = 0;
        while (res->data[n] != NULL)
            n++;
        a->status = DNS_ANSWER;
        a->ttl = res->ttl > 0 ? (unsigned)res->ttl : 0;
        a->count = n;
        a->rdata = xcalloc(n, sizeof(*a->rdata));
        a->rdlen = xcalloc(n, sizeof(*a->rdlen));
        for (size_t i = 0; i < n; i++) {
            size_t len = res->len[i] > 0 ? (size_t)res->len[i] : 0;
            a->rdata[i] = xmalloc(len);
            if (len)
                memcpy(a->rdata[i], res->data[i], len);
            a->rdlen[i] = len;
        }
    }
    /* libunbound's TTL: of the answer, or of the negative answer's SOA. */
    dns_cache_store(q->dns, q->name, q->rrtype, a, res->ttl > 0 ? (unsigned)res->ttl : 0);
    return a;
}

void dns_set_observer(dns_t *dns, dns_observe_fn fn, void *arg)
{
    dns->observe = fn;
    dns->observe_arg = arg;
}

/* Tell the observer how a query ended. */
static void dns_observe(const dns_t *dns, const struct timespec *started, dns_status st)
{
    struct timespec now;

    if (dns->observe == NULL)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    dns->observe(st, (long)(now.tv_sec - started->tv_sec) * 1000000L + (now.tv_nsec - started->tv_nsec) / 1000,
                 dns->observe_arg);
}

dns_status dns_wait(dns_query_t *q, dns_answer **out)
{
    dns_t *dns = q->dns;
    struct timespec started = q->started;
    dns_answer *a;
    int r = 0;

    pthread_mutex_lock(&dns->mu);
    while (!q->done && r != ETIMEDOUT)
        r = pthread_cond_timedwait(&q->cond, &dns->mu, &q->deadline);
    if (!q->done) {
        pthread_mutex_unlock(&dns->mu);
        /* Not logged here: the caller decides what a timeout means, and logs it. */
        /* Deadline.  See the top of the file for the cancel protocol. */
        if (ub_cancel(dns->ctx, q->async_id) == 0) {
            dns_query_destroy(q); /* libunbound will never call back */
        } else {
            pthread_mutex_lock(&dns->mu);
            if (q->done) {
                /* The answer arrived in the meantime: too late, drop it. */
                pthread_mutex_unlock(&dns->mu);
                dns_query_destroy(q);
            } else {
                q->abandoned = true;
                q->prev = NULL;
                q->next = dns->abandoned;
                if (q->next)
                    q->next->prev = q;
                dns->abandoned = q;
                pthread_mutex_unlock(&dns->mu);
            }
        }
        a = xcalloc(1, sizeof(*a));
        a->status = DNS_TIMEOUT;
        *out = a;
        dns_observe(dns, &started, DNS_TIMEOUT);
        return DNS_TIMEOUT;
    }
    pthread_mutex_unlock(&dns->mu);
    a = dns_convert(q);
    dns_query_destroy(q);
    *out = a;
    dns_observe(dns, &started, a->status);
    return a->status;
}

dns_status dns_lookup(dns_t *dns, const char *name, int rrtype, dns_answer **out)
{
    return dns_wait(dns_start(dns, name, rrtype), out);
}
