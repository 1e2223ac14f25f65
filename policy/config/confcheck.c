/*
 * confcheck.c - the syntax of mxguard.conf's string values (confcheck.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf.h"
#include "confcheck.h"
#include "dmarccheck.h"
#include "dname.h"
#include "dns.h"
#include "log.h"
#include "metrics.h"
#include "rstore.h"
#include "xalloc.h"

/* The port of an inet socket: 1..65535 in at most 5 digits; 0 if not. */
static unsigned long confcheck_port(const char *p, size_t n)
{
    unsigned long port = 0;

    if (n == 0 || n > 5)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        port = port * 10 + (unsigned long)(p[i] - '0');
    }
    return port <= 65535 ? port : 0;
}

/* Parse an inet socket after "inet:" / "inet6:" in either form:
 * PORT@HOST (libmilter's) or, for inet: only, HOST:PORT and [IPV6]:PORT
 * (Postfix's).  host and hostlen point into rest; six is set for an IPv6
 * socket.  False with a message in err. */
static bool confcheck_parse_inet(const char *v, const char *rest, bool *six, const char **host, size_t *hostlen,
                            unsigned long *port, char *err, size_t errlen)
{
    const char *at = strchr(rest, '@'), *colon = strrchr(rest, ':');
    const char *portp;
    size_t portlen;
    unsigned char addr[16];
    char name[256];
    bool bracketed = false;

    if (at == NULL && colon != NULL && !*six) {
        /* Postfix's inet:HOST:PORT or inet:[IPV6]:PORT */
        *host = rest;
        *hostlen = (size_t)(colon - rest);
        portp = colon + 1;
        portlen = strlen(portp);
        if (*hostlen >= 2 && rest[0] == '[' && colon[-1] == ']') {
            *six = bracketed = true;
            (*host)++;
            *hostlen -= 2;
        }
    } else {
        portp = rest;
        portlen = at ? (size_t)(at - rest) : strlen(rest);
        *host = at ? at + 1 : NULL;
        *hostlen = at ? strlen(at + 1) : 0;
    }
    if ((*port = confcheck_port(portp, portlen)) == 0) {
        snprintf(err, errlen, "bad socket \"%s\": the port must be a number 1..65535", v);
        return false;
    }
    if (*host == NULL || *hostlen == 0) {
        snprintf(err, errlen, "bad socket \"%s\": missing the host (e.g. %s:%lu@%s%s%lu)", v,
                 *six ? "inet6" : "inet", *port, *six ? "::1" : "127.0.0.1",
                 *six ? " or inet:[::1]:" : " or inet:127.0.0.1:", *port);
        return false;
    }
    snprintf(name, sizeof(name), "%.*s", (int)(*hostlen < sizeof(name) ? *hostlen : sizeof(name) - 1), *host);
    if (*hostlen >= sizeof(name) ||
        (inet_pton(*six ? AF_INET6 : AF_INET, name, addr) != 1 && (bracketed || !dname_valid(name, strlen(name))))) {
        snprintf(err, errlen, "bad socket \"%s\": \"%s\" is not an %s address or host name", v, name,
                 *six ? "IPv6" : "IPv4");
        return false;
    }
    return true;
}

/* Socket syntax (as libmilter's, so MTA-side habits carry over): unix:/path,
 * local:/path, inet:PORT@HOST, inet6:PORT@HOST; also Postfix's inet:HOST:PORT
 * and inet:[IPV6]:PORT, which confcheck_socket_canonical() rewrites. */
bool confcheck_socket(const char *v, char *err, size_t errlen)
{
    static const char usage[] = "expected unix:/path, local:/path, inet:PORT@HOST, inet:HOST:PORT or inet6:PORT@HOST";
    const char *rest;
    struct sockaddr_un sun;

    if ((rest = strchr(v, ':')) == NULL) {
        snprintf(err, errlen, "bad socket \"%s\": %s", v, usage);
        return false;
    }
    rest++;
    if (strncmp(v, "unix:", 5) == 0 || strncmp(v, "local:", 6) == 0) {
        if (rest[0] != '/') {
            snprintf(err, errlen, "bad socket \"%s\": the path must be absolute", v);
            return false;
        }
        if (strlen(rest) >= sizeof(sun.sun_path)) {
            snprintf(err, errlen, "bad socket \"%s\": the path is longer than %zu bytes", v,
                     sizeof(sun.sun_path) - 1);
            return false;
        }
        return true;
    }
    if (strncmp(v, "inet:", 5) == 0 || strncmp(v, "inet6:", 6) == 0) {
        bool six = v[4] == '6';
        const char *host;
        size_t hostlen;
        unsigned long port;

        return confcheck_parse_inet(v, rest, &six, &host, &hostlen, &port, err, errlen);
    }
    snprintf(err, errlen, "bad socket \"%s\": %s", v, usage);
    return false;
}

/* The engine's form of a valid socket (engine.h): inet:HOST:PORT becomes
 * inet:PORT@HOST, inet:[IPV6]:PORT inet6:PORT@IPV6; anything else a copy.
 * One spelling per socket also lets a reload see that it is the same. */
char *confcheck_socket_canonical(const char *v)
{
    char err[256];
    const char *host;
    size_t hostlen;
    unsigned long port;
    bool six = false;

    if (strncmp(v, "inet:", 5) != 0 || strchr(v, '@') != NULL ||
        !confcheck_parse_inet(v, v + 5, &six, &host, &hostlen, &port, err, sizeof(err)))
        return xstrdup(v);
    return xasprintf("%s:%lu@%.*s", six ? "inet6" : "inet", port, (int)hostlen, host);
}

bool confcheck_user(const char *v, char *err, size_t errlen)
{
    if (*v == '\0' || getpwnam(v) == NULL) {
        snprintf(err, errlen, "unknown user \"%s\"", v);
        return false;
    }
    return true;
}

bool confcheck_group(const char *v, char *err, size_t errlen)
{
    if (*v == '\0' || getgrnam(v) == NULL) {
        snprintf(err, errlen, "unknown socket_group \"%s\"", v);
        return false;
    }
    return true;
}

/* An absolute path that fits PATH_MAX; key names it in the message. */
static bool confcheck_abs_path(const char *v, const char *key, char *err, size_t errlen)
{
    if (v[0] != '/' || strlen(v) >= PATH_MAX) {
        snprintf(err, errlen, "%s \"%s\" must be an absolute path", key, v);
        return false;
    }
    return true;
}

bool confcheck_path(const char *v, char *err, size_t errlen)
{
    return confcheck_abs_path(v, "pidfile", err, errlen);
}

/* log_file: an absolute path in a directory that exists, not a directory. */
bool confcheck_log_file(const char *v, char *err, size_t errlen)
{
    char *copy;
    const char *dir;
    struct stat st;
    bool ok;

    if (v[0] != '/' || strlen(v) >= PATH_MAX) {
        snprintf(err, errlen, "log_file \"%s\" must be an absolute path", v);
        return false;
    }
    if (stat(v, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "log_file \"%s\" is a directory", v);
        return false;
    }
    copy = xstrdup(v);
    dir = dirname(copy);
    ok = stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
    if (!ok)
        snprintf(err, errlen, "log_file \"%s\": the directory %s does not exist", v, dir);
    free(copy);
    return ok;
}

bool confcheck_facility(const char *v, char *err, size_t errlen)
{
    if (log_facility_value(v) < 0) {
        snprintf(err, errlen, "unknown syslog_facility \"%s\" (mail, daemon, user, local0 .. local7)", v);
        return false;
    }
    return true;
}

bool confcheck_authserv_id(const char *v, char *err, size_t errlen)
{
    if (!dname_valid(v, strlen(v))) {
        snprintf(err, errlen, "authserv_id \"%s\" is not a valid host name", v);
        return false;
    }
    return true;
}

bool confcheck_upstream(const char *v, char *err, size_t errlen)
{
    char why[256];

    if (strcmp(v, "system") == 0)
        return true;
    why[0] = '\0';
    if (!dns_upstream_valid(v, why, sizeof(why))) {
        snprintf(err, errlen, "bad dns.upstream \"%s\"%s%s (\"system\", ADDR or ADDR@PORT)", v,
                 why[0] ? ": " : "", why);
        return false;
    }
    return true;
}

bool confcheck_metrics(const char *v, char *err, size_t errlen)
{
    return metrics_parse_listen(v, NULL, NULL, err, errlen);
}

bool confcheck_dmarc_mode(const char *v, char *err, size_t errlen)
{
    dmarccheck_mode m;

    if (!dmarccheck_mode_parse(v, &m)) {
        snprintf(err, errlen, "unknown dmarc.mode \"%s\" (rfc9989, rfc7489)", v);
        return false;
    }
    return true;
}

/* dmarc.psl_file: an absolute path to a readable file. */
bool confcheck_psl(const char *v, char *err, size_t errlen)
{
    if (v[0] != '/' || access(v, R_OK) != 0) {
        snprintf(err, errlen, "dmarc.psl_file \"%s\" is not a readable absolute path (Debian: "
                 "/usr/share/publicsuffix/public_suffix_list.dat from the publicsuffix package)", v);
        return false;
    }
    return true;
}

bool confcheck_report_store(const char *v, char *err, size_t errlen)
{
    char why[256];

    why[0] = '\0';
    if (!rstore_uri_valid(v, why, sizeof(why))) {
        char *shown = rstore_uri_shown(v); /* never a password in a log line */
        snprintf(err, errlen, "bad reports.store \"%s\": %s (sqlite:/PATH or postgresql://...)", shown, why);
        free(shown);
        return false;
    }
    return true;
}

bool confcheck_report_email(const char *v, char *err, size_t errlen)
{
    const char *at = strrchr(v, '@');
    bool ok = at != NULL && at > v && dname_valid(at + 1, strlen(at + 1));

    for (const char *p = v; ok && p < at; p++)
        ok = *p > ' ' && *p < 0x7f && strchr("\"<>()[]\\,;:@", *p) == NULL;
    if (!ok)
        snprintf(err, errlen, "bad reports.email \"%s\": expected an address local@domain", v);
    return ok;
}

bool confcheck_report_receiver(const char *v, char *err, size_t errlen)
{
    if (!dname_valid(v, strlen(v))) {
        snprintf(err, errlen, "bad reports.receiver \"%s\": expected a domain name", v);
        return false;
    }
    if (strlen(v) > REPORTS_RECEIVER_MAX) {
        snprintf(err, errlen,
                 "bad reports.receiver \"%.64s...\": longer than %u characters (the Report-ID "
                 "\"<16 hex digits>@<receiver>\" must fit in 128)",
                 v, REPORTS_RECEIVER_MAX);
        return false;
    }
    return true;
}

bool confcheck_report_text(const char *v, char *err, size_t errlen)
{
    size_t n = strlen(v);
    bool ok = n >= 1 && n <= 1024;

    for (const char *p = v; ok && *p; p++)
        ok = (unsigned char)*p >= ' ' && *p != 0x7f;
    if (!ok)
        snprintf(err, errlen, "\"%.64s\": expected 1 to 1024 characters without control characters", v);
    return ok;
}

bool confcheck_report_sendmail(const char *v, char *err, size_t errlen)
{
    return confcheck_abs_path(v, "reports.sendmail", err, errlen);
}
