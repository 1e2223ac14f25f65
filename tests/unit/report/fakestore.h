/*
 * fakestore.h - a test double of the report store (rstore.h) for the unit
 * tests of the daemon's flush (test_dmarcflush, test_session): every
 * rstore_* symbol of policy/report/rstore.c, linked instead of it (the URI
 * functions of rstore_uri.c are the real ones), keeping the
 * rows in memory (added up by key like the real store) and failing or
 * hanging on request.  Only the tests link it; it is not the store.
 */
#ifndef MXG_FAKESTORE_H
#define MXG_FAKESTORE_H

#include <stdbool.h>
#include <stddef.h>

#include "dmarcrow.h"

/* Forget every row and reset every switch and figure. */
void fakestore_reset(void);
/* Make rstore_open fail (the store is down). */
void fakestore_fail_open(bool on);
/* Make rstore_add fail (changes nothing, like the real one). */
void fakestore_fail_add(bool on);
/* Make rstore_open wait until released (a store that does not answer). */
void fakestore_hang_open(bool on);
/* Make rstore_add wait until released (a hung store). */
void fakestore_hang_add(bool on);
/* Counters rstore_counters_get returns (rstore_totals_get fails: the
 * daemon must not count over every row). */
void fakestore_set_totals(unsigned long built, unsigned long sent, unsigned long failed);

/* Distinct rows held and the messages they count. */
size_t fakestore_rows(void);
unsigned long fakestore_messages(void);
/* The count of the row with r's key (0 if none). */
unsigned long fakestore_count(const dmarcrow *r);
/* Each row held with its count (under the store's lock: fn must not call
 * the store). */
void fakestore_each(void (*fn)(const dmarcrow *r, unsigned long count, void *arg), void *arg);
/* Calls so far: rstore_open (successful or not), rstore_add (idem). */
unsigned fakestore_opens(void);
unsigned fakestore_adds(void);
/* Stores open now (opened and not closed). */
int fakestore_open_now(void);

#endif
