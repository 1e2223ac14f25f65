/*
 * log.c - syslog and stderr logging, with a capture hook for tests.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "log.h"

static struct {
    bool syslog_open;
    bool to_stderr;
    log_capture_fn capture;
    void *capture_arg;
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

void log_vmsg(int level, const char *fmt, va_list ap)
{
    char buf[8192];

    vsnprintf(buf, sizeof(buf), fmt, ap);
    pthread_mutex_lock(&log_lock);
    if (log_state.capture)
        log_state.capture(level, buf, log_state.capture_arg);
    if (log_state.syslog_open)
        syslog(level, "%s%s", level_prefix(level), buf);
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
