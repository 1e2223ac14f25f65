/*
 * conf.c - the mxguard.conf loader (libconfig syntax).
 *
 * The scalar settings are described by declarative tables (conf_top_keys[],
 * conf_dns_keys[], ...): name, kind, where it goes in conf_t, range and an
 * optional check.  One walker applies a table to a group and reports unknown
 * keys, wrong types and bad values; trusted_networks, default_action and the
 * rules list have their own parsers (cidr.h, rules.h).
 *
 * Every error is collected as (file, line, reason), then all are reported in
 * file order as "FILE:LINE: reason"; a load with any error returns NULL.
 * Checking has no side effects: the user is looked up, nothing is opened but
 * the file itself.
 *
 * SECURITY: the file is trusted (root's configuration), but it is still only
 * parsed by libconfig and every value is range-checked before use; reply
 * texts that reach SMTP clients are restricted to printable ASCII (rules.c).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <libconfig.h>

#include "cfgload.h"
#include "conf.h"
#include "confcheck.h"
#include "dkimcheck.h"
#include "dmarccheck.h"
#include "dname.h"
#include "dns.h"
#include "log.h"
#include "metrics.h"
#include "xalloc.h"

#define CONF_DEFAULT_SOCKET "unix:/run/mxguard/mxguard.sock"

/* ---- error collection --------------------------------------------------- */

typedef struct conf_errent {
    size_t file;  /* index into conf_ctx.files: order of first appearance */
    int line;     /* 0: the file as a whole */
    size_t seq;   /* order of reporting, to keep the sort stable */
    char *reason;
} conf_errent;

typedef struct conf_ctx {
    cfgload_t ld;       /* errors at a setting (cfgload_err) go to conf_collect */
    const char *name;   /* the file name used in messages */
    char **files;       /* distinct file names seen in errors */
    size_t nfiles;
    conf_errent *errs;
    size_t nerrs;
} conf_ctx;

static size_t conf_file_index(conf_ctx *cx, const char *file)
{
    for (size_t i = 0; i < cx->nfiles; i++)
        if (strcmp(cx->files[i], file) == 0)
            return i;
    cx->files = xreallocarray(cx->files, cx->nfiles + 1, sizeof(char *));
    cx->files[cx->nfiles] = xstrdup(file);
    return cx->nfiles++;
}

/* Record one error; file NULL stands for the loaded file itself. */
static void conf_error_at(conf_ctx *cx, const char *file, int line, const char *reason)
{
    conf_errent *e;

    cx->errs = xreallocarray(cx->errs, cx->nerrs + 1, sizeof(conf_errent));
    e = &cx->errs[cx->nerrs];
    e->file = conf_file_index(cx, file ? file : cx->name);
    e->line = line;
    e->seq = cx->nerrs++;
    e->reason = xstrdup(reason);
}

/* The loaders (cfgload.h: conf_ctx.ld, rules.c, dnsbl.c) report through
 * this. */
static void conf_collect(const char *file, int line, const char *reason, void *arg)
{
    conf_error_at(arg, file, line, reason);
}

static void conf_ctx_init(conf_ctx *cx, const char *name)
{
    memset(cx, 0, sizeof(*cx));
    cx->name = name;
    cx->ld.errfn = conf_collect;
    cx->ld.arg = cx;
}

static int conf_err_cmp(const void *a, const void *b)
{
    const conf_errent *x = a, *y = b;

    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Report every error in file order and free them; returns how many. */
static size_t conf_flush(conf_ctx *cx, conf_error_fn errfn, void *arg)
{
    size_t n = cx->nerrs;

    if (n > 0)
        qsort(cx->errs, n, sizeof(conf_errent), conf_err_cmp);
    for (size_t i = 0; i < n; i++) {
        const conf_errent *e = &cx->errs[i];
        char *msg = e->line > 0 ? xasprintf("%s:%d: %s", cx->files[e->file], e->line, e->reason)
                                : xasprintf("%s: %s", cx->files[e->file], e->reason);
        if (errfn)
            errfn(msg, arg);
        else
            log_error("%s", msg);
        free(msg);
        free(e->reason);
    }
    for (size_t i = 0; i < cx->nfiles; i++)
        free(cx->files[i]);
    free(cx->files);
    free(cx->errs);
    cx->files = NULL;
    cx->errs = NULL;
    cx->nfiles = cx->nerrs = 0;
    return n;
}

/* ---- declarative key tables ------------------------------------------- */

typedef enum conf_kind {
    CONF_STRING,  /* char * */
    CONF_BOOL,    /* bool */
    CONF_UINT,    /* unsigned, min..max */
    CONF_GROUP,   /* { ... } with its own table */
    CONF_SPECIAL, /* parsed elsewhere (trusted_networks, rules) */
} conf_kind;

typedef struct conf_key {
    const char *name;
    conf_kind kind;
    size_t off;              /* offset in conf_t (STRING, BOOL, UINT) */
    unsigned min, max;       /* UINT range */
    bool (*check)(const char *v, char *err, size_t errlen); /* STRING */
    const struct conf_key *sub; /* GROUP: its keys, ending with name NULL */
} conf_key;

#define CONF_AT(field) offsetof(conf_t, field)

static const conf_key conf_dns_keys[] = {
    {"upstream", CONF_STRING, CONF_AT(dns_upstream), 0, 0, confcheck_upstream, NULL},
    {"timeout_ms", CONF_UINT, CONF_AT(dns_timeout_ms), 100, 60000, NULL, NULL},
    {NULL, CONF_SPECIAL, 0, 0, 0, NULL, NULL},
};

static const conf_key conf_spf_keys[] = {
    {"enabled", CONF_BOOL, CONF_AT(spf_enabled), 0, 0, NULL, NULL},
    {"helo", CONF_BOOL, CONF_AT(spf_helo), 0, 0, NULL, NULL},
    {NULL, CONF_SPECIAL, 0, 0, 0, NULL, NULL},
};

static const conf_key conf_authres_keys[] = {
    {"add", CONF_BOOL, CONF_AT(authres_add), 0, 0, NULL, NULL},
    {"strip", CONF_BOOL, CONF_AT(authres_strip), 0, 0, NULL, NULL},
    {NULL, CONF_SPECIAL, 0, 0, 0, NULL, NULL},
};

static const conf_key conf_dkim_keys[] = {
    {"enabled", CONF_BOOL, CONF_AT(dkim_enabled), 0, 0, NULL, NULL},
    {"min_key_bits", CONF_UINT, CONF_AT(dkim_min_key_bits), 512, 16384, NULL, NULL},
    {"max_signatures", CONF_UINT, CONF_AT(dkim_max_signatures), 1, 50, NULL, NULL},
    {"clock_skew", CONF_UINT, CONF_AT(dkim_clock_skew), 0, 86400, NULL, NULL},
    {"required_headers", CONF_SPECIAL, 0, 0, 0, NULL, NULL},
    {NULL, CONF_SPECIAL, 0, 0, 0, NULL, NULL},
};

static const conf_key conf_dmarc_keys[] = {
    {"enabled", CONF_BOOL, CONF_AT(dmarc_enabled), 0, 0, NULL, NULL},
    {"mode", CONF_STRING, CONF_AT(dmarc_mode), 0, 0, confcheck_dmarc_mode, NULL},
    {"psl_file", CONF_STRING, CONF_AT(dmarc_psl_file), 0, 0, confcheck_psl, NULL},
    {"max_queries", CONF_UINT, CONF_AT(dmarc_max_queries), 8, 100, NULL, NULL},
    {"timeout_ms", CONF_UINT, CONF_AT(dmarc_timeout_ms), 100, 60000, NULL, NULL},
    {NULL, CONF_SPECIAL, 0, 0, 0, NULL, NULL},
};

static const conf_key conf_reports_keys[] = {
    {"enabled", CONF_BOOL, CONF_AT(reports_enabled), 0, 0, NULL, NULL},
    {"store", CONF_STRING, CONF_AT(reports_store), 0, 0, confcheck_report_store, NULL},
    {"org_name", CONF_STRING, CONF_AT(reports_org_name), 0, 0, confcheck_report_text, NULL},
    {"email", CONF_STRING, CONF_AT(reports_email), 0, 0, confcheck_report_email, NULL},
    {"receiver", CONF_STRING, CONF_AT(reports_receiver), 0, 0, confcheck_report_receiver, NULL},
    {"extra_contact_info", CONF_STRING, CONF_AT(reports_extra_contact_info), 0, 0, confcheck_report_text, NULL},
    {"flush_interval", CONF_UINT, CONF_AT(reports_flush_interval), 1, 3600, NULL, NULL},
    {"max_rows", CONF_UINT, CONF_AT(reports_max_rows), 1, 10000000, NULL, NULL},
    {"retention_days", CONF_UINT, CONF_AT(reports_retention_days), 1, 3650, NULL, NULL},
    {"sendmail", CONF_STRING, CONF_AT(reports_sendmail), 0, 0, confcheck_report_sendmail, NULL},
    {"rate_limit", CONF_UINT, CONF_AT(reports_rate_limit), 0, 100000, NULL, NULL},
    {"max_recipients", CONF_UINT, CONF_AT(reports_max_recipients), 1, 20, NULL, NULL},
    {NULL, CONF_SPECIAL, 0, 0, 0, NULL, NULL},
};

static const conf_key conf_top_keys[] = {
    {"socket", CONF_STRING, CONF_AT(socket), 0, 0, confcheck_socket, NULL},
    {"user", CONF_STRING, CONF_AT(user), 0, 0, confcheck_user, NULL},
    {"pidfile", CONF_STRING, CONF_AT(pidfile), 0, 0, confcheck_path, NULL},
    {"syslog_facility", CONF_STRING, CONF_AT(syslog_facility), 0, 0, confcheck_facility, NULL},
    {"log_file", CONF_STRING, CONF_AT(log_file), 0, 0, confcheck_log_file, NULL},
    {"authserv_id", CONF_STRING, CONF_AT(authserv_id), 0, 0, confcheck_authserv_id, NULL},
    {"milter_timeout", CONF_UINT, CONF_AT(milter_timeout), 1, 3600, NULL, NULL},
    {"metrics", CONF_STRING, CONF_AT(metrics), 0, 0, confcheck_metrics, NULL},
    {"trusted_networks", CONF_SPECIAL, 0, 0, 0, NULL, NULL},
    {"dns", CONF_GROUP, 0, 0, 0, NULL, conf_dns_keys},
    {"spf", CONF_GROUP, 0, 0, 0, NULL, conf_spf_keys},
    {"authentication_results", CONF_GROUP, 0, 0, 0, NULL, conf_authres_keys},
    {"dkim", CONF_GROUP, 0, 0, 0, NULL, conf_dkim_keys},
    {"dmarc", CONF_GROUP, 0, 0, 0, NULL, conf_dmarc_keys},
    {"reports", CONF_GROUP, 0, 0, 0, NULL, conf_reports_keys},
    {"default_action", CONF_SPECIAL, 0, 0, 0, NULL, NULL},
    {"rules", CONF_SPECIAL, 0, 0, 0, NULL, NULL},
    {"dnsbl", CONF_SPECIAL, 0, 0, 0, NULL, NULL},
    {"dnsbl_options", CONF_SPECIAL, 0, 0, 0, NULL, NULL},
    {"allow_root", CONF_BOOL, CONF_AT(allow_root), 0, 0, NULL, NULL},
    {"socket_mode", CONF_SPECIAL, 0, 0, 0, NULL, NULL},
    {"socket_group", CONF_STRING, CONF_AT(socket_group), 0, 0, confcheck_group, NULL},
    {NULL, CONF_SPECIAL, 0, 0, 0, NULL, NULL},
};

/* Comma-separated key names of a table, for "unknown key" messages. */
static void conf_key_names(const conf_key *keys, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (const conf_key *k = keys; k->name && used < len; k++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", k->name);
}

/* Apply a key table to a group; prefix is "" or "dns." for messages. */
static void conf_walk(conf_ctx *cx, const config_setting_t *group, const conf_key *keys, const char *prefix,
                      conf_t *c)
{
    for (int i = 0; i < config_setting_length(group); i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(s);
        const conf_key *k = keys;
        char *field = (char *)c;
        int type = config_setting_type(s);

        while (k->name && strcmp(k->name, name) != 0)
            k++;
        if (k->name == NULL) {
            char names[512];
            conf_key_names(keys, names, sizeof(names));
            if (*prefix)
                cfgload_err(&cx->ld, s, "unknown key \"%s\" in %.*s (%s)", name, (int)strlen(prefix) - 1, prefix,
                         names);
            else
                cfgload_err(&cx->ld, s, "unknown key \"%s\"", name);
            continue;
        }
        switch (k->kind) {
        case CONF_STRING: {
            char err[512];
            if (type != CONFIG_TYPE_STRING) {
                cfgload_err(&cx->ld, s, "%s%s: expected a string", prefix, name);
                break;
            }
            const char *v = config_setting_get_string(s);
            if (k->check && !k->check(v, err, sizeof(err))) {
                cfgload_err(&cx->ld, s, "%s", err);
                break;
            }
            char **dst = (char **)(void *)(field + k->off);
            free(*dst);
            *dst = xstrdup(v);
            break;
        }
        case CONF_BOOL:
            if (type != CONFIG_TYPE_BOOL)
                cfgload_err(&cx->ld, s, "%s%s: expected true or false", prefix, name);
            else
                *(bool *)(void *)(field + k->off) = config_setting_get_bool(s) != 0;
            break;
        case CONF_UINT: {
            long long v;
            if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) {
                cfgload_err(&cx->ld, s, "%s%s: expected an integer", prefix, name);
                break;
            }
            v = config_setting_get_int64(s);
            if (v < (long long)k->min || v > (long long)k->max) {
                cfgload_err(&cx->ld, s, "%s%s %lld out of range (%u..%u)", prefix, name, v, k->min, k->max);
                break;
            }
            *(unsigned *)(void *)(field + k->off) = (unsigned)v;
            break;
        }
        case CONF_GROUP: {
            char sub[64];
            if (!config_setting_is_group(s)) {
                cfgload_err(&cx->ld, s, "%s%s: expected a group { ... }", prefix, name);
                break;
            }
            snprintf(sub, sizeof(sub), "%s%s.", prefix, name);
            conf_walk(cx, s, k->sub, sub, c);
            break;
        }
        case CONF_SPECIAL:
            break;
        }
    }
}

static void conf_trusted(conf_ctx *cx, const config_setting_t *s, conf_t *c)
{
    if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
        cfgload_err(&cx->ld, s, "trusted_networks: expected a list of strings, e.g. [ \"127.0.0.0/8\", \"::1\" ]");
        return;
    }
    for (int i = 0; i < config_setting_length(s); i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        char err[256];

        if (config_setting_type(e) != CONFIG_TYPE_STRING)
            cfgload_err(&cx->ld, e, "trusted_networks: expected a list of strings");
        else if (!cidr_list_add(c->trusted, config_setting_get_string(e), err, sizeof(err)))
            cfgload_err(&cx->ld, e, "trusted_networks: %s", err);
    }
}

/* dkim.required_headers: header field names (RFC 5322 ftext), kept lower
 * case.  An empty list requires nothing. */
static void conf_dkim_headers(conf_ctx *cx, const config_setting_t *s, conf_t *c)
{
    size_t n = 0;

    if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
        cfgload_err(&cx->ld, s, "dkim.required_headers: expected a list of header names, e.g. [ \"from\" ]");
        return;
    }
    for (char **p = c->dkim_required_headers; p && *p; p++)
        free(*p);
    free(c->dkim_required_headers);
    c->dkim_required_headers = xcalloc((size_t)config_setting_length(s) + 1, sizeof(char *));
    for (int i = 0; i < config_setting_length(s); i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        const char *v = config_setting_type(e) == CONFIG_TYPE_STRING ? config_setting_get_string(e) : NULL;
        bool ok = v != NULL && *v != '\0' && strlen(v) <= 64;

        for (const char *p = v; ok && *p; p++)
            ok = *p > 0x20 && *p < 0x7f && *p != ':';
        if (!ok) {
            cfgload_err(&cx->ld, e, "dkim.required_headers: \"%s\" is not a header field name",
                     v ? v : "(not a string)");
            continue;
        }
        c->dkim_required_headers[n] = xstrdup(v);
        for (char *p = c->dkim_required_headers[n]; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        n++;
    }
}

/* ---- loading ---------------------------------------------------------- */

static char *conf_default_authserv_id(void)
{
    char host[256];

    if (gethostname(host, sizeof(host)) == 0) {
        host[sizeof(host) - 1] = '\0';
        if (dname_valid(host, strlen(host)))
            return xstrdup(host);
    }
    return xstrdup("localhost");
}

static conf_t *conf_defaults(const char *path)
{
    conf_t *c = xcalloc(1, sizeof(conf_t));

    c->path = xstrdup(path);
    c->socket = xstrdup(CONF_DEFAULT_SOCKET);
    c->socket_mode = 0660;
    c->syslog_facility = xstrdup("mail");
    c->authserv_id = conf_default_authserv_id();
    c->milter_timeout = 300;
    c->dns_upstream = xstrdup("system");
    c->dns_timeout_ms = DNS_DEFAULT_TIMEOUT_MS;
    c->spf_enabled = true;
    c->spf_helo = true;
    c->authres_add = true;
    c->authres_strip = true;
    c->dkim_enabled = false;
    c->dkim_min_key_bits = DKIMCHECK_DEFAULT_MIN_KEY_BITS;
    c->dkim_max_signatures = DKIMCHECK_DEFAULT_MAX_SIGNATURES;
    c->dkim_clock_skew = 300;
    c->dkim_required_headers = xcalloc(2, sizeof(char *));
    c->dkim_required_headers[0] = xstrdup("from");
    c->dmarc_enabled = false;
    c->dmarc_mode = xstrdup("rfc9989");
    c->dmarc_psl_file = xstrdup("/usr/share/publicsuffix/public_suffix_list.dat");
    c->dmarc_max_queries = DMARCCHECK_DEFAULT_MAX_QUERIES;
    c->dmarc_timeout_ms = DMARCCHECK_DEFAULT_TIMEOUT_MS;
    c->trusted = cidr_list_new();
    c->reports_store = xstrdup(REPORTS_DEFAULT_STORE);
    c->reports_flush_interval = REPORTS_DEFAULT_FLUSH_INTERVAL;
    c->reports_max_rows = REPORTS_DEFAULT_MAX_ROWS;
    c->reports_retention_days = REPORTS_DEFAULT_RETENTION_DAYS;
    c->reports_sendmail = xstrdup(REPORTS_DEFAULT_SENDMAIL);
    c->reports_rate_limit = REPORTS_DEFAULT_RATE_LIMIT;
    c->reports_max_recipients = REPORTS_DEFAULT_MAX_RECIPIENTS;
    return c;
}

void conf_free(conf_t *c)
{
    if (c == NULL)
        return;
    free(c->path);
    free(c->socket);
    free(c->user);
    free(c->socket_group);
    free(c->pidfile);
    free(c->metrics);
    free(c->syslog_facility);
    free(c->log_file);
    free(c->authserv_id);
    free(c->dns_upstream);
    cidr_list_free(c->trusted);
    for (char **p = c->dkim_required_headers; p && *p; p++)
        free(*p);
    free(c->dkim_required_headers);
    free(c->dmarc_mode);
    free(c->dmarc_psl_file);
    rules_free(c->rules);
    dnsbl_conf_free(c->dnsbl);
    free(c->reports_store);
    free(c->reports_org_name);
    free(c->reports_email);
    free(c->reports_receiver);
    free(c->reports_extra_contact_info);
    free(c->reports_sendmail);
    free(c);
}

/* socket_mode: a string of three or four octal digits, permission bits
 * only ("0660"); socket_mode and socket_group apply to unix sockets only. */
static void conf_socket_perms(conf_ctx *cx, const config_setting_t *root, conf_t *c)
{
    const config_setting_t *m = config_setting_get_member(root, "socket_mode");
    const config_setting_t *g = config_setting_get_member(root, "socket_group");
    bool is_unix = strncmp(c->socket, "unix:", 5) == 0 || strncmp(c->socket, "local:", 6) == 0;

    if (m != NULL) {
        const char *v = config_setting_type(m) == CONFIG_TYPE_STRING ? config_setting_get_string(m) : NULL;
        size_t n = v ? strlen(v) : 0;
        unsigned mode = 0;
        bool ok = n == 3 || (n == 4 && v[0] == '0');

        for (size_t i = 0; ok && i < n; i++) {
            ok = v[i] >= '0' && v[i] <= '7';
            mode = mode * 8 + (unsigned)(v[i] - '0');
        }
        if (v == NULL)
            cfgload_err(&cx->ld, m, "socket_mode: expected an octal mode as a string, e.g. \"0660\"");
        else if (!ok)
            cfgload_err(&cx->ld, m, "bad socket_mode \"%s\": expected an octal mode of permission bits, e.g. \"0660\"", v);
        else
            c->socket_mode = mode;
        if (!is_unix)
            cfgload_err(&cx->ld, m, "socket_mode applies to unix sockets only (socket is \"%s\")", c->socket);
    }
    if (g != NULL && !is_unix)
        cfgload_err(&cx->ld, g, "socket_group applies to unix sockets only (socket is \"%s\")", c->socket);
}

/* reports { }: enabled needs org_name and email (RFC 9990 report
 * metadata); receiver defaults to the domain of email (refused when longer
 * than REPORTS_RECEIVER_MAX). */
static void conf_reports(conf_ctx *cx, const config_setting_t *root, conf_t *c)
{
    const config_setting_t *g = config_setting_get_member(root, "reports");

    if (g == NULL || !config_setting_is_group(g))
        return;
    c->reports_line = (int)config_setting_source_line(g);
    if (c->reports_receiver == NULL && c->reports_email != NULL) {
        const char *dom = strrchr(c->reports_email, '@') + 1;
        if (strlen(dom) > REPORTS_RECEIVER_MAX) /* set receiver then (confcheck_report_receiver) */
            cfgload_err(&cx->ld, config_setting_get_member(g, "email"),
                        "reports.receiver defaults to the domain of reports.email, which is longer than %u "
                        "characters (the Report-ID \"<16 hex digits>@<receiver>\" must fit in 128): set "
                        "reports.receiver",
                        REPORTS_RECEIVER_MAX);
        else
            c->reports_receiver = xstrdup(dom);
    }
    if (!c->reports_enabled)
        return;
    if (c->reports_org_name == NULL)
        cfgload_err(&cx->ld, g, "reports.enabled needs reports.org_name (the reporting organization's name)");
    if (c->reports_email == NULL)
        cfgload_err(&cx->ld, g, "reports.enabled needs reports.email (the address reports come from)");
}

/* Every list named by a dnsbl_listed condition must be configured. */
static void conf_check_dnsbl_names(conf_ctx *cx, const config_setting_t *rules, const dnsbl_conf_t *d)
{
    for (int i = 0; rules && config_setting_is_list(rules) && i < config_setting_length(rules); i++) {
        const config_setting_t *g = config_setting_get_elem(rules, (unsigned)i);
        const config_setting_t *m = config_setting_is_group(g) ? config_setting_get_member(g, "match") : NULL;
        const config_setting_t *l = m && config_setting_is_group(m) ? config_setting_get_member(m, "dnsbl_listed")
                                                                    : NULL;

        for (int j = 0; l && config_setting_is_aggregate(l) && j < config_setting_length(l); j++) {
            const config_setting_t *e = config_setting_get_elem(l, (unsigned)j);
            if (config_setting_type(e) == CONFIG_TYPE_STRING && !dnsbl_conf_has(d, config_setting_get_string(e)))
                cfgload_err(&cx->ld, e, "dnsbl_listed: no dnsbl list is named \"%s\"", config_setting_get_string(e));
        }
    }
}

/* Build a conf_t from a parsed config; NULL after errors (collected in cx). */
static conf_t *conf_build(conf_ctx *cx, config_t *cfg, const char *path)
{
    const config_setting_t *root = config_root_setting(cfg);
    const config_setting_t *s;
    conf_t *c = conf_defaults(path);
    char *canon;

    conf_walk(cx, root, conf_top_keys, "", c);
    canon = confcheck_socket_canonical(c->socket);
    free(c->socket);
    c->socket = canon;
    if ((s = config_setting_get_member(root, "socket")) != NULL)
        c->socket_line = (int)config_setting_source_line(s);
    if ((s = config_setting_get_member(root, "pidfile")) != NULL)
        c->pidfile_line = (int)config_setting_source_line(s);
    c->authserv_id_set = config_setting_get_member(root, "authserv_id") != NULL;
    conf_socket_perms(cx, root, c);
    conf_reports(cx, root, c);
    if ((s = config_setting_get_member(root, "trusted_networks")) != NULL)
        conf_trusted(cx, s, c);
    if ((s = config_setting_get_member(root, "dkim")) != NULL && config_setting_is_group(s) &&
        (s = config_setting_get_member(s, "required_headers")) != NULL)
        conf_dkim_headers(cx, s, c);
    c->rules = rules_from_config(config_setting_get_member(root, "rules"),
                                 config_setting_get_member(root, "default_action"), conf_collect, cx);
    c->dnsbl = dnsbl_conf_from_config(config_setting_get_member(root, "dnsbl"),
                                      config_setting_get_member(root, "dnsbl_options"), conf_collect, cx);
    if (c->dnsbl != NULL)
        conf_check_dnsbl_names(cx, config_setting_get_member(root, "rules"), c->dnsbl);
    if (c->rules == NULL || c->dnsbl == NULL || cx->nerrs > 0) {
        conf_free(c);
        return NULL;
    }
    return c;
}

/* The contents of a file (at most 4 MB, NUL-terminated), or NULL. */
static char *conf_read_text(const char *path)
{
    FILE *fp = fopen(path, "r");
    char *buf;
    size_t n;

    if (fp == NULL)
        return NULL;
    buf = xmalloc(4 * 1024 * 1024 + 1);
    n = fread(buf, 1, 4 * 1024 * 1024, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

/* The line where a string literal that runs over a line end starts, if
 * one starts at or before line upto; else 0.  libconfig lets a string span
 * lines, so a missing closing quote shows only at the next quote, maybe many
 * lines further; no mxguard setting can hold a line end, so such a string is
 * the error.  Comments (#, //, slash-star) are skipped like libconfig does. */
static int conf_unterminated_string(const char *text, int upto)
{
    int line = 1;

    for (const char *p = text; *p != '\0' && line <= upto; p++) {
        if (*p == '\n') {
            line++;
        } else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
            while (p[1] != '\0' && p[1] != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            for (p += 2; *p != '\0' && !(p[0] == '*' && p[1] == '/'); p++)
                line += *p == '\n';
            if (*p == '\0')
                break;
            p++;
        } else if (*p == '"') {
            int start = line;
            for (p++; *p != '\0' && *p != '"'; p++) {
                if (*p == '\\' && p[1] != '\0')
                    p++;
                if (*p == '\n')
                    return start;
            }
            if (*p == '\0')
                break;
        }
    }
    return 0;
}

/* Parse errors of libconfig: FILE:LINE: text (FILE may be an included file).
 * text is the loaded string (NULL: read FILE) to look for an unterminated
 * string in. */
static void conf_parse_error(conf_ctx *cx, const config_t *cfg, const char *text)
{
    const char *why = config_error_text(cfg) ? config_error_text(cfg) : "cannot parse";
    const char *file = config_error_file(cfg);
    int line = config_error_line(cfg), start = 0;
    char *contents = NULL, reason[512];

    if (config_error_type(cfg) == CONFIG_ERR_FILE_IO) {
        conf_error_at(cx, file, 0, "cannot read the file (I/O error)");
        return;
    }
    if (text == NULL && file != NULL)
        text = contents = conf_read_text(file);
    if (text != NULL)
        start = conf_unterminated_string(text, line);
    free(contents);
    if (start > 0 && start < line) {
        snprintf(reason, sizeof(reason), "unterminated string starting at line %d (libconfig: %s at line %d)",
                 start, why, line);
        conf_error_at(cx, file, start, reason);
    } else {
        conf_error_at(cx, file, line, why);
    }
}

/* The file must be a readable regular file; false after recording why. */
static bool conf_check_file(conf_ctx *cx, const char *path)
{
    struct stat st;
    FILE *fp = fopen(path, "r");
    char reason[256];

    if (fp == NULL) {
        snprintf(reason, sizeof(reason), "cannot open: %s", strerror(errno));
        conf_error_at(cx, path, 0, reason);
        return false;
    }
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        conf_error_at(cx, path, 0, "not a regular file");
        fclose(fp);
        return false;
    }
    fclose(fp);
    /* Not an error (the file is valid), but whoever can write it decides
     * what mail is accepted. */
    if (st.st_mode & S_IWOTH)
        log_warn("%s is world-writable: any local user can change the mail policy (chmod o-w %s)", path,
                 path);
    return true;
}

conf_t *conf_load(const char *path, conf_error_fn errfn, void *arg)
{
    conf_ctx cx;
    conf_t *c = NULL;
    config_t cfg;

    conf_ctx_init(&cx, path);
    if (conf_check_file(&cx, path)) {
        char *dir = xstrdup(path);

        config_init(&cfg);
        /* @include "x.conf" is relative to the including file's directory. */
        config_set_include_dir(&cfg, dirname(dir));
        if (!config_read_file(&cfg, path))
            conf_parse_error(&cx, &cfg, NULL);
        else
            c = conf_build(&cx, &cfg, path);
        config_destroy(&cfg);
        free(dir);
    }
    if (conf_flush(&cx, errfn, arg) > 0) {
        conf_free(c);
        return NULL;
    }
    return c;
}

/* The directory of path must exist: record why not, for setting name. */
static void conf_check_parent(conf_ctx *cx, int line, const char *name, const char *value, const char *path)
{
    char *copy = xstrdup(path), reason[PATH_MAX + 256];
    const char *dir = dirname(copy);
    struct stat st;

    const char *dflt = line == 0 ? " (the default)" : "";

    if (stat(dir, &st) != 0 && errno == ENOENT)
        snprintf(reason, sizeof(reason), "%s \"%s\"%s: the directory %s does not exist; create it first", name,
                 value, dflt, dir);
    else if (stat(dir, &st) != 0)
        snprintf(reason, sizeof(reason), "%s \"%s\"%s: cannot reach the directory %s: %s", name, value, dflt,
                 dir, strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        snprintf(reason, sizeof(reason), "%s \"%s\"%s: %s is not a directory", name, value, dflt, dir);
    else
        reason[0] = '\0';
    if (reason[0] != '\0')
        conf_error_at(cx, NULL, line, reason);
    free(copy);
}

size_t conf_check_start(const conf_t *c, conf_error_fn errfn, void *arg)
{
    conf_ctx cx;

    conf_ctx_init(&cx, c->path);
    if (strncmp(c->socket, "unix:", 5) == 0 || strncmp(c->socket, "local:", 6) == 0)
        conf_check_parent(&cx, c->socket_line, "socket", c->socket, strchr(c->socket, ':') + 1);
    if (c->pidfile != NULL)
        conf_check_parent(&cx, c->pidfile_line, "pidfile", c->pidfile, c->pidfile);
    return conf_flush(&cx, errfn, arg);
}

conf_t *conf_load_string(const char *text, const char *name, conf_error_fn errfn, void *arg)
{
    conf_ctx cx;
    conf_t *c = NULL;
    config_t cfg;

    conf_ctx_init(&cx, name);
    config_init(&cfg);
    if (!config_read_string(&cfg, text))
        conf_parse_error(&cx, &cfg, text);
    else
        c = conf_build(&cx, &cfg, name);
    config_destroy(&cfg);
    if (conf_flush(&cx, errfn, arg) > 0) {
        conf_free(c);
        return NULL;
    }
    return c;
}
