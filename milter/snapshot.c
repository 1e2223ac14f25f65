/*
 * snapshot.c - reference-counted config snapshots, swapped whole on reload.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "snapshot.h"
#include "xalloc.h"

static pthread_mutex_t snap_lock = PTHREAD_MUTEX_INITIALIZER;
static snapshot_t *snap_current;

/* Put what failed ("cannot start the DNS resolver", ...) before the
 * library's reason in err. */
static void snap_err_what(char *err, size_t errlen, const char *what)
{
    char *why = xstrdup(err);

    snprintf(err, errlen, "%s: %s", what, why);
    free(why);
}

snapshot_t *snapshot_from_conf(conf_t *conf, const dns_options *dnsopt, char *err, size_t errlen)
{
    dns_options opt = {0};
    snapshot_t *s;
    dns_t *dns;
    dkimcheck_lib *dkim = NULL;
    dmarccheck_lib *dmarc = NULL;

    if (dnsopt == NULL) {
        opt.upstream = conf->dns_upstream;
        opt.timeout_ms = conf->dns_timeout_ms;
        dnsopt = &opt;
    }
    dns = dns_new(dnsopt, err, errlen);
    if (dns == NULL) {
        snap_err_what(err, errlen, "cannot start the DNS resolver");
        conf_free(conf);
        return NULL;
    }
    if (conf->dkim_enabled) {
        dkimcheck_options dko = {
            .min_key_bits = conf->dkim_min_key_bits,
            .max_signatures = conf->dkim_max_signatures,
            .clock_skew = conf->dkim_clock_skew,
            .required_headers = (const char *const *)conf->dkim_required_headers,
        };
        dkim = dkimcheck_lib_new(dns, &dko, err, errlen);
        if (dkim == NULL) {
            snap_err_what(err, errlen, "cannot set up DKIM verification");
            dns_free(dns);
            conf_free(conf);
            return NULL;
        }
    }
    if (conf->dmarc_enabled) {
        dmarccheck_options dmo = {
            .psl_file = conf->dmarc_psl_file,
            .max_queries = conf->dmarc_max_queries,
            .timeout_ms = conf->dmarc_timeout_ms,
        };
        dmarccheck_mode_parse(conf->dmarc_mode, &dmo.mode); /* checked by conf.c */
        dmarc = dmarccheck_lib_new(dns, &dmo, err, errlen);
        if (dmarc == NULL) {
            snap_err_what(err, errlen, "cannot set up DMARC");
            dkimcheck_lib_free(dkim);
            dns_free(dns);
            conf_free(conf);
            return NULL;
        }
    }
    s = xcalloc(1, sizeof(*s));
    s->conf = s->conf_owned = conf;
    s->dns = dns;
    s->dkim = dkim;
    s->dmarc = dmarc;
    s->refs = 1;
    return s;
}

snapshot_t *snapshot_load(const char *path, conf_error_fn errfn, void *arg)
{
    char err[256];
    conf_t *conf = conf_load(path, errfn, arg);
    snapshot_t *s;

    if (conf == NULL)
        return NULL;
    s = snapshot_from_conf(conf, NULL, err, sizeof(err));
    if (s == NULL) {
        char *msg = xasprintf("%s: %s", path, err);
        if (errfn)
            errfn(msg, arg);
        else
            log_error("%s", msg);
        free(msg);
    }
    return s;
}

void snapshot_attach_metrics(snapshot_t *s, metrics_t *m)
{
    s->metrics = m;
    dns_set_observer(s->dns, m ? metrics_dns : NULL, m);
}

void snapshot_attach_reports(snapshot_t *s, dmarcflush_t *fl)
{
    s->reports = fl;
}

void snapshot_install(snapshot_t *s)
{
    snapshot_t *old;

    pthread_mutex_lock(&snap_lock);
    old = snap_current;
    snap_current = s;
    pthread_mutex_unlock(&snap_lock);
    if (old)
        snapshot_release(old);
}

snapshot_t *snapshot_acquire(void)
{
    snapshot_t *s;

    pthread_mutex_lock(&snap_lock);
    s = snap_current;
    if (s)
        s->refs++;
    pthread_mutex_unlock(&snap_lock);
    return s;
}

void snapshot_release(snapshot_t *s)
{
    int left;

    if (s == NULL)
        return;
    pthread_mutex_lock(&snap_lock);
    left = --s->refs;
    pthread_mutex_unlock(&snap_lock);
    if (left > 0)
        return;
    dkimcheck_lib_free(s->dkim);
    dmarccheck_lib_free(s->dmarc);
    dns_free(s->dns);
    conf_free(s->conf_owned);
    free(s);
}

void snapshot_shutdown(void)
{
    snapshot_install(NULL);
}
