/*
 * metricsrv.h - the optional Prometheus endpoint (config key "metrics"):
 * an HTTP server (libmicrohttpd, its own thread) that answers
 * GET /metrics with metrics_format() plus the daemon's gauges and, with
 * reports on, the DMARC report figures.
 */
#ifndef MXG_METRICSRV_H
#define MXG_METRICSRV_H

#include <stddef.h>

#include "dmarcflush.h"
#include "metrics.h"

typedef struct metricsrv metricsrv_t;

/* Listen on listen ("ADDR:PORT" or "[ADDR]:PORT") and serve m and, when
 * reports is not NULL, the DMARC report figures (both borrowed: they must
 * outlive the server).  NULL with a reason in err on failure. */
metricsrv_t *metricsrv_start(const char *listen, metrics_t *m, dmarcflush_t *reports, char *err,
                             size_t errlen);
/* Stop serving (waits for the server thread) and free. */
void metricsrv_stop(metricsrv_t *srv);

#endif
