/*
 * main.c - the mxguard daemon: command line, config snapshot, milter
 * socket, privileges, pidfile, signals.
 *
 *   mxguard -c FILE [-f] [-n] [-V]
 *   mxguard explain ... / mxguard summary ... / mxguard report ...
 *   (explain.c, summary.c, report.c)
 *
 * Signals: SIGTERM and SIGINT stop accepting (in-flight connections get a
 * grace period, then the MTA's milter_default_action applies to what is
 * left).  SIGHUP reloads the config: loads and validates a complete new
 * snapshot and swaps it in only if it is good.  SIGUSR1 (and SIGHUP)
 * reopen the log_file for logrotate.  One thread waits for all four;
 * every other thread has them blocked.
 *
 * DMARC reports (reports.enabled): the daemon owns the flusher
 * (dmarcflush.h), started after the privilege drop and lent to every
 * snapshot; SIGHUP also flushes its rows, SIGTERM/SIGINT end with a final
 * flush bounded in time after the connections' grace period.
 *
 * SECURITY: runs as root only until the socket is open, then drops to the
 * configured user; refuses root without one unless allow_root (privs.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "dmarcflush.h"
#include "engine.h"
#include "explain.h"
#include "glue.h"
#include "log.h"
#include "metricsrv.h"
#include "privs.h"
#include "snapshot.h"
#include "report.h"
#include "rstore.h"
#include "summary.h"
#include "version.h"
#include "xalloc.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONF SYSCONFDIR "/mxguard.conf"
#define STOP_GRACE_SECONDS 10

static const char *conf_path = DEFAULT_CONF;

/* The usage: on stdout with status 0 when asked for (-h, --help), else on
 * stderr with status 2. */
static void usage(int status)
{
    fprintf(status == 0 ? stdout : stderr, "usage: mxguard [-c FILE] [-f] [-n] [-V] [-h]\n"
                    "       mxguard explain -c FILE [--client IP] [--helo NAME] [--mail-from ADDR]\n"
                    "                       [--rcpt ADDR]... MESSAGE.eml\n"
                    "       mxguard summary [--since TIME] [--rule NAME] [--format text|json] [FILE...]\n"
                    "       mxguard report [-c FILE] [--output-dir DIR] [--dry-run] [--now EPOCH] [--verbose]\n"
                    "  -c FILE  configuration file (default " DEFAULT_CONF ")\n"
                    "  -f       stay in the foreground, log to stderr too\n"
                    "  -n       check the configuration and exit\n"
                    "  -V       print versions and exit\n"
                    "  -h, --help  print this and exit\n");
    exit(status);
}

static void print_error(const char *msg, void *arg)
{
    (void)arg;
    fprintf(stderr, "%s\n", msg);
}

static void log_conf_error(const char *msg, void *arg)
{
    (void)arg;
    log_error("%s", msg);
}

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* The settings that only a restart changes, as the process serves them
 * since it started (a reload compares the new config with these, not with
 * the config of the previous reload). */
typedef struct started {
    char *socket;
    char *user;             /* or NULL */
    char *pidfile;          /* or NULL */
    char *metrics;          /* or NULL */
    char *socket_group;     /* or NULL */
    unsigned socket_mode;
    unsigned milter_timeout;
    /* reports { }: the daemon's keys (the reporter reads the file itself) */
    bool reports_enabled;
    char *reports_store;    /* or NULL */
    char *reports_email;    /* or NULL */
    unsigned reports_flush_interval;
    unsigned reports_max_rows;
} started_t;

struct signal_arg {
    metrics_t *metrics; /* the daemon's, or NULL */
    dmarcflush_t *reports; /* the daemon's, or NULL */
    engine_t *engine;
    started_t started;  /* copies, kept for the life of the process */
};

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void started_set(started_t *st, const conf_t *c)
{
    st->socket = xstrdup(c->socket);
    st->user = dup_or_null(c->user);
    st->pidfile = dup_or_null(c->pidfile);
    st->metrics = dup_or_null(c->metrics);
    st->socket_group = dup_or_null(c->socket_group);
    st->socket_mode = c->socket_mode;
    st->milter_timeout = c->milter_timeout;
    st->reports_enabled = c->reports_enabled;
    st->reports_store = dup_or_null(c->reports_store);
    st->reports_email = dup_or_null(c->reports_email);
    st->reports_flush_interval = c->reports_flush_interval;
    st->reports_max_rows = c->reports_max_rows;
}

/* Warn about each reports key the daemon uses that differs from what runs. */
static void started_compare_reports(const started_t *st, const conf_t *c)
{
    if (st->reports_enabled != c->reports_enabled)
        log_warn("reload: reports.enabled changes need a restart (still %s)",
                 st->reports_enabled ? "true" : "false");
    if (!same_str(st->reports_store, c->reports_store)) {
        char *shown = st->reports_store ? rstore_uri_shown(st->reports_store) : xstrdup("(none)");
        log_warn("reload: reports.store changes need a restart (still %s)", shown);
        free(shown);
    }
    if (!same_str(st->reports_email, c->reports_email))
        log_warn("reload: reports.email changes need a restart (still %s)",
                 st->reports_email ? st->reports_email : "(none)");
    if (st->reports_flush_interval != c->reports_flush_interval)
        log_warn("reload: reports.flush_interval changes need a restart (still %u)", st->reports_flush_interval);
    if (st->reports_max_rows != c->reports_max_rows)
        log_warn("reload: reports.max_rows changes need a restart (still %u)", st->reports_max_rows);
}

/* Warn about each restart-only setting of c that differs from what runs. */
static void started_compare(const started_t *st, const conf_t *c)
{
#define OR_NONE(s) ((s) ? (s) : "(none)")
    if (strcmp(st->socket, c->socket) != 0)
        log_warn("reload: socket changes need a restart (still serving %s)", st->socket);
    if (!same_str(st->user, c->user))
        log_warn("reload: user changes need a restart (still running as %s)", OR_NONE(st->user));
    if (!same_str(st->pidfile, c->pidfile))
        log_warn("reload: pidfile changes need a restart (still %s)", OR_NONE(st->pidfile));
    if (st->milter_timeout != c->milter_timeout)
        log_warn("reload: milter_timeout changes need a restart (still %u)", st->milter_timeout);
    if (!same_str(st->metrics, c->metrics))
        log_warn("reload: metrics changes need a restart (still %s)", OR_NONE(st->metrics));
    if (st->socket_mode != c->socket_mode || !same_str(st->socket_group, c->socket_group))
        log_warn("reload: socket_mode and socket_group changes need a restart");
    started_compare_reports(st, c);
#undef OR_NONE
}

/* The log file again by its name, after logrotate renamed it; a failure
 * is logged (to the old file, which stays in use). */
static void reopen_log_file(const char *sig)
{
    char err[512];

    if (!log_reopen_file(err, sizeof(err)))
        log_error("%s: %s (still writing to the old file)", sig, err);
    else if (log_file_path() != NULL)
        log_info("%s: reopened the log file %s", sig, log_file_path());
}

/* Waits for SIGHUP (reopen the log file, reload), SIGUSR1 (reopen the log
 * file), SIGTERM and SIGINT (stop). */
static void *signal_thread(void *arg)
{
    const struct signal_arg *sa = arg;
    metrics_t *metrics = sa->metrics;
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    for (;;) {
        snapshot_t *s, *old;
        int sig = sigwaitinfo(&set, NULL);
        if (sig == SIGTERM || sig == SIGINT) {
            log_info("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            engine_stop(sa->engine);
            return NULL;
        }
        if (sig == SIGUSR1 || sig == SIGHUP)
            reopen_log_file(sig == SIGUSR1 ? "SIGUSR1" : "SIGHUP");
        if (sig != SIGHUP)
            continue;
        if (sa->reports) {
            log_info("SIGHUP: flushing the DMARC report rows");
            dmarcflush_kick(sa->reports);
        }
        log_info("SIGHUP: reloading %s", conf_path);
        s = snapshot_load(conf_path, log_conf_error, NULL);
        if (s == NULL) {
            log_error("reload of %s failed: keeping the running configuration", conf_path);
            metrics_reload(metrics, false);
            continue;
        }
        started_compare(&sa->started, s->conf);
        old = snapshot_acquire();
        if (old) {
            if (!same_str(old->conf->syslog_facility, s->conf->syslog_facility))
                log_open_syslog(s->conf->syslog_facility);
            snapshot_release(old);
        }
        if (!same_str(log_file_path(), s->conf->log_file)) {
            char err[512];
            if (log_open_file(s->conf->log_file, err, sizeof(err)))
                log_info("reload: log_file is now %s", s->conf->log_file ? s->conf->log_file : "(none)");
            else
                log_error("reload: %s (log_file stays %s)", err, log_file_path() ? log_file_path() : "(none)");
        }
        snapshot_attach_metrics(s, metrics);
        snapshot_attach_reports(s, sa->reports);
        metrics_set_config(metrics, conf_path);
        metrics_reload(metrics, true);
        snapshot_install(s);
        log_info("configuration reloaded from %s", conf_path);
    }
    return NULL;
}

/* Is stderr the journal (systemd sets JOURNAL_STREAM=DEV:INODE of it)?
 * Then syslog already reaches the journal, and a second copy of each line
 * on stderr would only duplicate it. */
static bool stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    return js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
           (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* Mode 0644 whatever the umask (007 for the socket): the user mxguard
 * changes to must read it back to remove it at exit. */
static void write_pidfile(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    FILE *fp = fd >= 0 && fchmod(fd, 0644) == 0 ? fdopen(fd, "w") : NULL;
    if (fp == NULL)
        log_fatal("cannot write pidfile %s: %s", path, strerror(errno));
    fprintf(fp, "%ld\n", (long)getpid());
    if (fclose(fp) != 0)
        log_fatal("cannot write pidfile %s: %s", path, strerror(errno));
}

/* Remove the pidfile if it is still ours (another instance may have
 * started since); needs a directory writable by the configured user. */
static void remove_pidfile(const char *path)
{
    FILE *fp = fopen(path, "r");
    long pid = 0;

    if (fp == NULL)
        return;
    if (fscanf(fp, "%ld", &pid) != 1)
        pid = 0;
    fclose(fp);
    if (pid == (long)getpid() && unlink(path) != 0)
        log_warn("cannot remove pidfile %s: %s", path, strerror(errno));
}

/* The daemon's options (the tools explain and summary are dispatched before). */
static void parse_args(int argc, char **argv, bool *foreground, bool *check_only)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;

    while ((c = getopt_long(argc, argv, "c:fnVh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': conf_path = optarg; break;
        case 'f': *foreground = true; break;
        case 'n': *check_only = true; break;
        case 'V':
            printf("mxguard %s\n", PACKAGE_VERSION);
            printf("milter protocol 6 (mxguard's own engine)\n");
            version_print_libs(stdout);
            exit(0);
        case 'h': usage(0); break;
        default: usage(2);
        }
    }
    if (optind != argc)
        usage(2);
}

/* -n: check the configuration, print the verdict; the exit status. */
static int check_config(void)
{
    const struct passwd *pw;
    char err[256];
    conf_t *conf = conf_load(conf_path, print_error, NULL);

    if (conf == NULL)
        return 1;
    /* Valid, but the daemon could not start with it. */
    if (conf_check_start(conf, print_error, NULL) > 0) {
        conf_free(conf);
        return 1;
    }
    /* The config is valid; say so, but also that this daemon would not
     * start as root with it. */
    pw = conf->user ? getpwnam(conf->user) : NULL;
    if (!privs_check_root(conf, pw, geteuid(), err, sizeof(err)))
        fprintf(stderr, "mxguard: warning: %s\n", err);
    conf_free(conf);
    printf("mxguard: configuration %s OK\n", conf_path);
    return 0;
}

/* Block the signals we wait for before any thread (libunbound's, the
 * engine's, ours) exists, so all of them inherit the mask: the signal
 * thread alone waits for them. */
static void block_signals(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Load the config the daemon starts with and open its logs; exits on any
 * error.  *pw: the configured user, or NULL. */
static conf_t *load_start_conf(const struct passwd **pw)
{
    char err[256];
    conf_t *conf = conf_load(conf_path, log_conf_error, NULL);

    if (conf == NULL || conf_check_start(conf, log_conf_error, NULL) > 0)
        log_fatal("%s: configuration errors, not starting", conf_path);
    *pw = NULL;
    if (conf->user) {
        *pw = getpwnam(conf->user);
        if (*pw == NULL)
            log_fatal("unknown user %s", conf->user);
    }
    /* Before syslog is open, so that the refusal reaches stderr too. */
    if (!privs_check_root(conf, *pw, geteuid(), err, sizeof(err)))
        log_fatal("%s", err);
    if (!log_open_syslog(conf->syslog_facility))
        log_fatal("%s: unknown syslog facility %s", conf_path, conf->syslog_facility);
    /* Opened by whoever starts mxguard (root: before the drop); reopened
     * on SIGUSR1/SIGHUP as the configured user, who then needs to create
     * it (or logrotate's "create" does). */
    if (conf->log_file && !log_open_file(conf->log_file, err, sizeof(err)))
        log_fatal("%s", err);
    return conf;
}

/* The DMARC report rows, when reports.enabled: the flusher and its thread
 * (after the privilege drop: the thread opens the store as the configured
 * user, lazily, so the daemon starts even if the store is down); else NULL. */
static dmarcflush_t *start_reports(const conf_t *conf)
{
    dmarcflush_options o = {
        .store = conf->reports_store,
        .own_email = conf->reports_email,
        .flush_interval = conf->reports_flush_interval,
        .max_rows = conf->reports_max_rows,
    };
    dmarcflush_t *fl;
    char err[256], *shown;

    if (!conf->reports_enabled)
        return NULL;
    fl = dmarcflush_new(&o);
    if (!dmarcflush_start(fl, err, sizeof(err)))
        log_fatal("reports: %s", err);
    shown = rstore_uri_shown(conf->reports_store);
    log_info("reports: recording DMARC report rows (store %s, flushed every %u s, at most %u rows held)", shown,
             conf->reports_flush_interval, conf->reports_max_rows);
    free(shown);
    return fl;
}

/* SIGTERM: the last flush of the report rows, bounded in time.  False when
 * a store write still hangs (the flusher must not be freed then). */
static bool stop_reports(dmarcflush_t *fl)
{
    dmarcflush_stats st;
    bool ended;

    if (fl == NULL)
        return true;
    ended = dmarcflush_stop(fl);
    dmarcflush_stats_get(fl, &st);
    log_info("reports: stopped: %lu row(s) of %lu message(s) written since the start, %lu message(s) dropped",
             st.rows_flushed, st.messages_flushed, st.messages_dropped);
    return ended;
}

/* The metrics endpoint, when configured: *metrics and *srv, else both stay
 * NULL.  reports: the DMARC report figures to serve too, or NULL. */
static void start_metrics(const conf_t *conf, dmarcflush_t *reports, metrics_t **metrics, metricsrv_t **srv)
{
    char err[256];

    if (!conf->metrics)
        return;
    /* After daemon() (a thread) and after dropping privileges: use a
     * port above 1023. */
    *metrics = metrics_new();
    metrics_set_config(*metrics, conf_path);
    *srv = metricsrv_start(conf->metrics, *metrics, reports, err, sizeof(err));
    if (*srv == NULL)
        log_fatal("metrics: %s", err);
    log_info("metrics on http://%s/metrics", conf->metrics);
}

/* Stopped: give connections in flight a bounded grace period, flush the
 * report rows a last time, then clean up what no open connection still
 * uses. */
static void stop_daemon(engine_t *engine, const char *pidfile, metricsrv_t *metricsrv, metrics_t *metrics,
                        dmarcflush_t *reports)
{
    bool reports_ended;

    for (int i = 0; i < STOP_GRACE_SECONDS * 10 && engine_active(engine) > 0; i++) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (engine_active(engine) > 0)
        log_warn("stopping with %d connection(s) still open: the MTA's milter_default_action applies",
                 engine_active(engine));
    reports_ended = stop_reports(reports);
    log_info("mxguard stopped");
    if (pidfile)
        remove_pidfile(pidfile);
    metricsrv_stop(metricsrv);
    if (engine_active(engine) == 0) {
        engine_free(engine);
        snapshot_shutdown();
        metrics_free(metrics); /* sessions still open would count into it */
        if (reports_ended)
            dmarcflush_free(reports); /* idem: they add to it */
    }
}

int main(int argc, char **argv)
{
    bool foreground = false, check_only = false;
    const struct passwd *pw = NULL;
    char *abs_path = NULL, *pidfile = NULL;
    char err[256];
    conf_t *conf;
    snapshot_t *snap;
    metrics_t *metrics = NULL; /* counters, when the metrics endpoint is on */
    metricsrv_t *metricsrv = NULL;
    dmarcflush_t *reports;     /* the DMARC report rows, when reports.enabled */
    engine_t *engine;
    static struct signal_arg sig_arg; /* the signal thread may outlive main's frame */
    pthread_t tid;
    int rc;

    /* Tools of the same binary: the same config loader, checks and
     * policy table as the daemon (explain.h, summary.h, report.h). */
    if (argc > 1 && strcmp(argv[1], "explain") == 0)
        return explain_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "summary") == 0)
        return summary_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "report") == 0)
        return report_main(argc - 1, argv + 1);

    parse_args(argc, argv, &foreground, &check_only);
    if (check_only)
        return check_config();

    block_signals();
    /* -f logs to stderr too, unless stderr is the journal (systemd unit),
     * which gets the syslog copy; before syslog is open, stderr it is. */
    log_set_stderr(foreground && !stderr_is_journal());
    /* Reloads happen after daemon() has changed to "/": keep an absolute path. */
    if ((abs_path = realpath(conf_path, NULL)) != NULL)
        conf_path = abs_path;
    conf = load_start_conf(&pw);

    umask(007);
    engine = engine_new(conf->socket, conf->milter_timeout, glue_callbacks_get(), err, sizeof(err));
    if (engine == NULL)
        log_fatal("cannot open the milter socket %s: %s", conf->socket, err);
    if (!privs_socket(conf, pw, err, sizeof(err)))
        log_fatal("%s", err);

    /* No thread may exist before daemon(): a forked child keeps only the
     * calling thread, so the resolver is started after it. */
    if (!foreground && daemon(0, 0) != 0)
        log_fatal("cannot become a daemon: %s", strerror(errno));
    if (conf->pidfile) {
        pidfile = xstrdup(conf->pidfile);
        write_pidfile(pidfile);
    }
    if (pw)
        privs_drop(pw);

    log_info("mxguard %s started on %s", PACKAGE_VERSION, conf->socket);
    reports = start_reports(conf);
    start_metrics(conf, reports, &metrics, &metricsrv);
    started_set(&sig_arg.started, conf); /* before conf goes into the snapshot */
    snap = snapshot_from_conf(conf, NULL, err, sizeof(err));
    if (snap == NULL)
        log_fatal("%s", err);
    snapshot_attach_metrics(snap, metrics);
    snapshot_attach_reports(snap, reports);
    snapshot_install(snap); /* from here on, snap may be freed by a reload */
    sig_arg.metrics = metrics;
    sig_arg.reports = reports;
    sig_arg.engine = engine;
    rc = pthread_create(&tid, NULL, signal_thread, &sig_arg);
    if (rc != 0)
        log_fatal("cannot start the signal thread: %s", strerror(rc));
    pthread_detach(tid);

    rc = engine_run(engine);
    stop_daemon(engine, pidfile, metricsrv, metrics, reports);
    free(pidfile);
    free(abs_path);
    return rc == 0 ? 0 : 1;
}
