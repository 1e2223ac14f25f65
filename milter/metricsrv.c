/*
 * metricsrv.c - the Prometheus endpoint on libmicrohttpd.
 *
 * libmicrohttpd runs in its own thread (MHD_USE_INTERNAL_POLLING_THREAD)
 * with poll(), at most METRICSRV_MAX_CONN connections of at most
 * METRICSRV_TIMEOUT seconds each.  A scrape only reads counters (atomics,
 * and a mutex held while the rule and list names are copied out), so it
 * never holds up a milter thread; the milter threads never wait for it.
 *
 * SECURITY: the endpoint is meant for a loopback or management address
 * (the config takes a numeric address, never a wildcard by default).
 * Requests are untrusted: only GET and HEAD of /metrics are answered (404
 * and 405 otherwise), request bodies are refused, nothing from the request
 * reaches the answer or the log.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "glue.h"
#include "log.h"
#include "metricsrv.h"
#include "xalloc.h"

#define METRICSRV_MAX_CONN 8u
#define METRICSRV_TIMEOUT 5u

struct metricsrv {
    struct MHD_Daemon *mhd; /* owned */
    metrics_t *m;           /* borrowed */
    dmarcflush_t *reports;  /* borrowed, or NULL */
};

static void metricsrv_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* libmicrohttpd's own errors go to our log. */
static void metricsrv_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_warn("metrics: %s", msg);
}

static enum MHD_Result metricsrv_reply(struct MHD_Connection *conn, unsigned status, char *body,
                                       const char *type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ret;

    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result metricsrv_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                        const char *method, const char *version, const char *upload,
                                        size_t *upload_size, void **req_cls)
{
    static const char plain[] = "text/plain; charset=utf-8";
    metricsrv_t *srv = cls;
    char *extra, *rep = NULL, *body;

    (void)version;
    (void)upload;
    /* First call per request: headers only.  Answer on the second. */
    if (*req_cls == NULL) {
        *req_cls = srv;
        return MHD_YES;
    }
    if (*upload_size != 0)
        return MHD_NO; /* a body we never asked for: drop the connection */
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return metricsrv_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, xstrdup("only GET\n"), plain);
    if (strcmp(url, "/metrics") != 0)
        return metricsrv_reply(conn, MHD_HTTP_NOT_FOUND, xstrdup("not found: try /metrics\n"), plain);
    if (srv->reports != NULL) {
        dmarcflush_stats st;
        metrics_reports mr;

        dmarcflush_stats_get(srv->reports, &st);
        mr = (metrics_reports){
            .rows_buffered = st.rows_buffered,
            .rows_flushed = st.rows_flushed,
            .messages_dropped = st.messages_dropped,
            .flush_errors = st.flush_errors,
            .totals_known = st.totals_known,
            .built = st.reports_built,
            .sent = st.reports_sent,
            .failed = st.reports_failed,
        };
        rep = metrics_format_reports(&mr);
    }
    extra = xasprintf("# HELP mxguard_connections_open SMTP connections the MTA has open with mxguard.\n"
                      "# TYPE mxguard_connections_open gauge\n"
                      "mxguard_connections_open %d\n%s",
                      glue_active_sessions(), rep ? rep : "");
    body = metrics_format(srv->m, extra);
    free(extra);
    free(rep);
    return metricsrv_reply(conn, MHD_HTTP_OK, body, "text/plain; version=0.0.4; charset=utf-8");
}

metricsrv_t *metricsrv_start(const char *listen, metrics_t *m, dmarcflush_t *reports, char *err,
                             size_t errlen)
{
    struct sockaddr_storage ss;
    unsigned salen = 0;
    metricsrv_t *srv;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;

    if (!metrics_parse_listen(listen, (struct sockaddr *)&ss, &salen, err, errlen))
        return NULL;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    srv = xcalloc(1, sizeof(*srv));
    srv->m = m;
    srv->reports = reports;
    srv->mhd = MHD_start_daemon(flags, 0, NULL, NULL, metricsrv_handle, srv,
                                MHD_OPTION_EXTERNAL_LOGGER, metricsrv_log, NULL, /* first */
                                MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                                MHD_OPTION_CONNECTION_LIMIT, METRICSRV_MAX_CONN,
                                MHD_OPTION_CONNECTION_TIMEOUT, METRICSRV_TIMEOUT,
                                MHD_OPTION_END);
    if (srv->mhd == NULL) {
        snprintf(err, errlen, "cannot listen on %s (address in use, or not local?)", listen);
        free(srv);
        return NULL;
    }
    return srv;
}

void metricsrv_stop(metricsrv_t *srv)
{
    if (srv == NULL)
        return;
    MHD_stop_daemon(srv->mhd);
    free(srv);
}
