/*
 * dmarcagg.h - the in-memory DMARC aggregate report aggregator: the mail
 * path adds the row of each finished message (dmarcrow.h); messages whose
 * rows have the same key are one entry with a count.  A background flush
 * takes every entry out (dmarcagg_take) and writes it to the store.
 *
 * Thread safety: dmarcagg_add and dmarcagg_take may be called from any
 * threads at once.  The entries are sharded by the key's hash, each shard
 * with its own lock, held only for a lookup or an insertion (never for
 * I/O: dmarcagg_take detaches a shard's entries under its lock and calls
 * fn on them after releasing it).
 *
 * Bound: at most max_rows distinct keys are held.  A message whose key is
 * new when the bound is reached is dropped and counted (dmarcagg_dropped);
 * a message whose key is already held is always counted.
 *
 * An entry keeps the row of the first message of its key: the fields that
 * are not part of the key (policy_published) are that message's; a policy
 * changed meanwhile shows in the entries made after the next take; the
 * store decides which values a report publishes.
 *
 * Ownership: dmarcagg_add copies the row (the caller keeps its own); the
 * rows handed to fn belong to the aggregator and are freed after fn
 * returns.
 */
#ifndef MXG_DMARCAGG_H
#define MXG_DMARCAGG_H

#include <stdbool.h>
#include <stddef.h>

#include "dmarcrow.h"

typedef struct dmarcagg dmarcagg_t;

/* An empty aggregator holding at most max_rows keys (0: nothing is kept). */
dmarcagg_t *dmarcagg_new(size_t max_rows);
/* Free it and every row still held (they are lost: take them first). */
void dmarcagg_free(dmarcagg_t *agg);

/* Count one message with row r.  True if counted, false if dropped (the
 * bound was reached and the key is new). */
bool dmarcagg_add(dmarcagg_t *agg, const dmarcrow *r);

/* Count n messages with row r at once (a flush that failed puts its rows
 * back with their counts).  The same bound: true if counted, false if the
 * key is new and the bound was reached (then the n messages are dropped and
 * counted in dmarcagg_dropped).  n 0 counts nothing and returns true. */
bool dmarcagg_add_n(dmarcagg_t *agg, const dmarcrow *r, unsigned long n);

/* Called by dmarcagg_take for each entry: the row and how many messages it
 * stands for.  No lock of the aggregator is held. */
typedef void (*dmarcagg_fn)(const dmarcrow *r, unsigned long count, void *arg);
/* Hand every entry to fn (in no fixed order) and empty the aggregator.
 * Rows added meanwhile go to the next take.  Returns the entries handed. */
size_t dmarcagg_take(dmarcagg_t *agg, dmarcagg_fn fn, void *arg);

/* Distinct keys held now. */
size_t dmarcagg_rows(const dmarcagg_t *agg);
/* Messages dropped over the bound since dmarcagg_new. */
unsigned long dmarcagg_dropped(const dmarcagg_t *agg);

#endif
