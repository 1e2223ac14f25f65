/*
 * dmarcagg.c - the in-memory DMARC report aggregator: DMARCAGG_SHARDS hash
 * tables, each under its own mutex, and one atomic count of the keys held
 * for the bound (dmarcagg.h).
 */
#include "dmarcagg.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "xalloc.h"

#define DMARCAGG_SHARDS 16u
#define DMARCAGG_MIN_BUCKETS 16u

typedef struct agg_entry {
    struct agg_entry *next; /* same bucket */
    unsigned long hash;     /* dmarcrow_key_hash(row) */
    dmarcrow *row;          /* owned */
    unsigned long count;    /* messages */
} agg_entry;

typedef struct agg_shard {
    pthread_mutex_t lock;
    agg_entry **buckets;    /* nbuckets heads, or NULL while empty */
    size_t nbuckets;
    size_t n;               /* entries */
} agg_shard;

struct dmarcagg {
    size_t max_rows;
    atomic_size_t rows;     /* keys held, all shards */
    atomic_ulong dropped;   /* messages dropped over the bound */
    agg_shard shards[DMARCAGG_SHARDS];
};

dmarcagg_t *dmarcagg_new(size_t max_rows)
{
    dmarcagg_t *agg = xcalloc(1, sizeof(*agg));

    agg->max_rows = max_rows;
    atomic_init(&agg->rows, 0);
    atomic_init(&agg->dropped, 0);
    for (size_t i = 0; i < DMARCAGG_SHARDS; i++)
        pthread_mutex_init(&agg->shards[i].lock, NULL);
    return agg;
}

/* Free a detached bucket array and its entries, handing each to fn first. */
static size_t agg_drain(agg_entry **buckets, size_t nbuckets, dmarcagg_fn fn, void *arg)
{
    size_t n = 0;

    for (size_t b = 0; b < nbuckets; b++) {
        agg_entry *e = buckets[b], *next;
        for (; e; e = next) {
            next = e->next;
            if (fn)
                fn(e->row, e->count, arg);
            dmarcrow_free(e->row);
            free(e);
            n++;
        }
    }
    free(buckets);
    return n;
}

void dmarcagg_free(dmarcagg_t *agg)
{
    if (agg == NULL)
        return;
    for (size_t i = 0; i < DMARCAGG_SHARDS; i++) {
        agg_drain(agg->shards[i].buckets, agg->shards[i].nbuckets, NULL, NULL);
        pthread_mutex_destroy(&agg->shards[i].lock);
    }
    free(agg);
}

/* Double the buckets of s (its lock held). */
static void agg_grow(agg_shard *s)
{
    size_t nb = s->nbuckets ? s->nbuckets * 2 : DMARCAGG_MIN_BUCKETS;
    agg_entry **b = xcalloc(nb, sizeof(*b));

    for (size_t i = 0; i < s->nbuckets; i++) {
        agg_entry *e = s->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            e->next = b[e->hash % nb];
            b[e->hash % nb] = e;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = nb;
}

/* Reserve one key under the bound. */
static bool agg_reserve(dmarcagg_t *agg)
{
    size_t n = atomic_load(&agg->rows);

    do {
        if (n >= agg->max_rows)
            return false;
    } while (!atomic_compare_exchange_weak(&agg->rows, &n, n + 1));
    return true;
}

bool dmarcagg_add(dmarcagg_t *agg, const dmarcrow *r)
{
    return dmarcagg_add_n(agg, r, 1);
}

bool dmarcagg_add_n(dmarcagg_t *agg, const dmarcrow *r, unsigned long n)
{
    unsigned long h = dmarcrow_key_hash(r);
    agg_shard *s = &agg->shards[(h >> 8) % DMARCAGG_SHARDS];
    agg_entry *e;
    dmarcrow *copy;

    if (n == 0)
        return true;
    pthread_mutex_lock(&s->lock);
    if (s->nbuckets > 0)
        for (e = s->buckets[h % s->nbuckets]; e; e = e->next)
            if (e->hash == h && dmarcrow_key_equal(e->row, r)) {
                e->count += n;
                pthread_mutex_unlock(&s->lock);
                return true;
            }
    pthread_mutex_unlock(&s->lock);

    /* a new key: copy outside the lock, then insert unless another thread
     * inserted the same key meanwhile */
    copy = dmarcrow_copy(r);
    pthread_mutex_lock(&s->lock);
    if (s->nbuckets > 0)
        for (e = s->buckets[h % s->nbuckets]; e; e = e->next)
            if (e->hash == h && dmarcrow_key_equal(e->row, r)) {
                e->count += n;
                pthread_mutex_unlock(&s->lock);
                dmarcrow_free(copy);
                return true;
            }
    if (!agg_reserve(agg)) {
        pthread_mutex_unlock(&s->lock);
        dmarcrow_free(copy);
        atomic_fetch_add(&agg->dropped, n);
        return false;
    }
    if (s->n >= s->nbuckets)
        agg_grow(s);
    e = xmalloc(sizeof(*e));
    e->hash = h;
    e->row = copy;
    e->count = n;
    e->next = s->buckets[h % s->nbuckets];
    s->buckets[h % s->nbuckets] = e;
    s->n++;
    pthread_mutex_unlock(&s->lock);
    return true;
}

size_t dmarcagg_take(dmarcagg_t *agg, dmarcagg_fn fn, void *arg)
{
    size_t total = 0;

    for (size_t i = 0; i < DMARCAGG_SHARDS; i++) {
        agg_shard *s = &agg->shards[i];
        agg_entry **b;
        size_t nb, n;

        pthread_mutex_lock(&s->lock);
        b = s->buckets;
        nb = s->nbuckets;
        n = s->n;
        s->buckets = NULL;
        s->nbuckets = 0;
        s->n = 0;
        atomic_fetch_sub(&agg->rows, n);
        pthread_mutex_unlock(&s->lock);
        total += agg_drain(b, nb, fn, arg);
    }
    return total;
}

size_t dmarcagg_rows(const dmarcagg_t *agg)
{
    return atomic_load(&agg->rows);
}

unsigned long dmarcagg_dropped(const dmarcagg_t *agg)
{
    return atomic_load(&agg->dropped);
}
