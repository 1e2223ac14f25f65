/*
 * rstore_pending.c - TEMPORARY (branch i17daemon only): the store's
 * functions the daemon links to, each failing with "the report store is not
 * built yet", until policy/report/rstore.c has its back ends (branch
 * i17store).  Remove this file (and its Makefile.am line) when merging
 * i17store.  The daemon runs with it: reports.enabled only logs that the
 * store cannot be opened and keeps the rows up to max_rows.
 */
#include "config.h"

#include <stdio.h>

#include "rstore.h"

rstore_t *rstore_open(const char *uri, char *err, size_t errsz)
{
    (void)uri;
    snprintf(err, errsz, "the report store is not built yet");
    return NULL;
}

void rstore_close(rstore_t *st)
{
    (void)st;
}

bool rstore_add(rstore_t *st, const dmarcrow *const *rows, const unsigned long *counts, size_t n,
                unsigned long *late, char *err, size_t errsz)
{
    (void)st, (void)rows, (void)counts, (void)n, (void)late;
    snprintf(err, errsz, "the report store is not built yet");
    return false;
}

bool rstore_totals_get(rstore_t *st, rstore_totals *out, char *err, size_t errsz)
{
    (void)st, (void)out;
    snprintf(err, errsz, "the report store is not built yet");
    return false;
}
