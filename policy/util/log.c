/*
 * log.c - syslog, log file and stderr logging, with a capture hook for tests.
 *
 * The log file gets whole lines through one write() each on an O_APPEND
 * descriptor, so lines of concurrent threads (and of a second process on
 * the same file) never interleave.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static struct {
    bool syslog_open;
    bool to_stderr;
    log_capture_fn capture;
    void *capture_arg;
    int file_fd;         /* the log file, while file_open */
    bool file_open;
    char file_path[PATH_MAX]; /* its path while open, else "" (no allocation:
                                * xalloc.c reports through this module) */
    char host[256];      /* host name in the file's lines */
} log_state;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const struct {
    const char *name;
    int value;
} facilities[] = {
    {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},
    {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
    {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
    {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
};

int log_facility_value(const char *name)
{
    for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
        if (strcasecmp(name, facilities[i].name) == 0)
            return facilities[i].value;
    return -1;
}

bool log_open_syslog(const char *facility)
{
    int f = log_facility_value(facility);
    if (f < 0)
        return false;
    pthread_mutex_lock(&log_lock);
    if (log_state.syslog_open)
        closelog();
    openlog("mxguard", LOG_PID | LOG_NDELAY, f);
    log_state.syslog_open = true;
    pthread_mutex_unlock(&log_lock);
    return true;
}

void log_set_stderr(bool on)
{
    log_state.to_stderr = on;
}

void log_capture(log_capture_fn fn, void *arg)
{
    pthread_mutex_lock(&log_lock);
    log_state.capture = fn;
    log_state.capture_arg = arg;
    pthread_mutex_unlock(&log_lock);
}

static const char *level_prefix(int level)
{
    switch (level) {
    case LOG_WARNING: return "warning: ";
    case LOG_ERR: return "error: ";
    case LOG_CRIT: return "fatal: ";
    default: return "";
    }
}

size_t log_format_line(char *buf, size_t len, long sec, long usec, const char *host, long pid, int level,
                       const char *msg)
{
    time_t t = (time_t)sec;
    struct tm tm;
    char stamp[64];
    long off;
    int n;

    localtime_r(&t, &tm);
    off = tm.tm_gmtoff;
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    n = snprintf(buf, len, "%s.%06ld%c%02ld:%02ld %s mxguard[%ld]: %s%s\n", stamp, usec, off < 0 ? '-' : '+',
                 labs(off) / 3600, labs(off) % 3600 / 60, host, pid, level_prefix(level), msg);
    if (n < 0)
        n = 0;
    if ((size_t)n >= len && len > 0) {
        n = (int)len - 1;
        if (n > 0)
            buf[n - 1] = '\n';
    }
    return (size_t)n;
}

/* Open path for appending; -1 with err set on failure. */
static int log_file_fd(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);

    if (fd < 0)
        snprintf(err, errlen, "cannot open the log file %s: %s", path, strerror(errno));
    return fd;
}

bool log_open_file(const char *path, char *err, size_t errlen)
{
    int fd = -1, old;

    if (path != NULL && strlen(path) >= sizeof(log_state.file_path)) {
        snprintf(err, errlen, "the log file's path is too long");
        return false;
    }
    if (path != NULL && (fd = log_file_fd(path, err, errlen)) < 0)
        return false;
    pthread_mutex_lock(&log_lock);
    if (log_state.host[0] == '\0' && gethostname(log_state.host, sizeof(log_state.host) - 1) != 0)
        strcpy(log_state.host, "localhost");
    old = log_state.file_open ? log_state.file_fd : -1;
    log_state.file_fd = fd;
    log_state.file_open = fd >= 0;
    snprintf(log_state.file_path, sizeof(log_state.file_path), "%s", path ? path : "");
    pthread_mutex_unlock(&log_lock);
    if (old >= 0)
        close(old);
    return true;
}

bool log_reopen_file(char *err, size_t errlen)
{
    char path[sizeof(log_state.file_path)];

    pthread_mutex_lock(&log_lock);
    memcpy(path, log_state.file_path, sizeof(path));
    pthread_mutex_unlock(&log_lock);
    return path[0] == '\0' || log_open_file(path, err, errlen);
}

const char *log_file_path(void)
{
    return log_state.file_path[0] ? log_state.file_path : NULL;
}

void log_vmsg(int level, const char *fmt, va_list ap)
{
    char buf[8192];

    vsnprintf(buf, sizeof(buf), fmt, ap);
    pthread_mutex_lock(&log_lock);
    if (log_state.capture)
        log_state.capture(level, buf, log_state.capture_arg);
    if (log_state.syslog_open)
        syslog(level, "%s%s", level_prefix(level), buf);
    if (log_state.file_open) {
        char line[sizeof(buf) + 512];
        struct timeval tv;
        size_t n;

        gettimeofday(&tv, NULL);
        n = log_format_line(line, sizeof(line), (long)tv.tv_sec, (long)tv.tv_usec, log_state.host,
                            (long)getpid(), level, buf);
        if (write(log_state.file_fd, line, n) < 0) {
            /* nowhere better to say it: syslog and stderr have the line */
        }
    }
    if (log_state.to_stderr || (!log_state.syslog_open && !log_state.capture))
        fprintf(stderr, "mxguard: %s%s\n", level_prefix(level), buf);
    pthread_mutex_unlock(&log_lock);
}

#define LOG_FN(name, level)                  \
    void name(const char *fmt, ...)          \
    {                                        \
        va_list ap;                          \
        va_start(ap, fmt);                   \
        log_vmsg(level, fmt, ap);            \
        va_end(ap);                          \
    }

LOG_FN(log_info, LOG_INFO)
LOG_FN(log_warn, LOG_WARNING)
LOG_FN(log_error, LOG_ERR)

void log_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(LOG_CRIT, fmt, ap);
    va_end(ap);
    exit(1);
}
