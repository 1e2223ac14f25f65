/*
 * testutil.c - helpers shared by the Check unit tests.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "testutil.h"
#include "xalloc.h"

#ifndef TESTS_SRCDIR
#define TESTS_SRCDIR "tests"
#endif

const char *tu_path(const char *rel)
{
    static char buf[4096];
    const char *dir = getenv("TESTS_SRCDIR");
    snprintf(buf, sizeof(buf), "%s/%s", dir && *dir ? dir : TESTS_SRCDIR, rel);
    return buf;
}

static char **temps;
static size_t ntemps;

char *tu_write_temp(const char *text)
{
    char tmpl[] = "/tmp/mxguard-test-XXXXXX";
    int fd = mkstemp(tmpl);
    size_t len = strlen(text);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq((long)write(fd, text, len), (long)len);
    close(fd);
    temps = xreallocarray(temps, ntemps + 1, sizeof(char *));
    temps[ntemps++] = xstrdup(tmpl);
    return xstrdup(tmpl);
}

void tu_cleanup(void)
{
    for (size_t i = 0; i < ntemps; i++) {
        unlink(temps[i]);
        free(temps[i]);
    }
    free(temps);
    temps = NULL;
    ntemps = 0;
}

static char *logbuf;
static size_t loglen;

static void capture(int level, const char *msg, void *arg)
{
    size_t n = strlen(msg);
    (void)level;
    (void)arg;
    logbuf = xrealloc(logbuf, loglen + n + 2);
    memcpy(logbuf + loglen, msg, n);
    loglen += n;
    logbuf[loglen++] = '\n';
    logbuf[loglen] = '\0';
}

void tu_log_start(void)
{
    free(logbuf);
    logbuf = NULL;
    loglen = 0;
    log_capture(capture, NULL);
}

const char *tu_log_text(void)
{
    return logbuf ? logbuf : "";
}

void tu_log_stop(void)
{
    log_capture(NULL, NULL);
}

int tu_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    tu_cleanup();
    return failed == 0 ? 0 : 1;
}
