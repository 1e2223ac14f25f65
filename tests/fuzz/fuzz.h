/*
 * fuzz.h - shared bits of the libFuzzer harnesses (tests/fuzz/fuzz_*.c).
 * Each harness defines LLVMFuzzerTestOneInput; libFuzzer supplies main().
 */
#ifndef MXG_FUZZ_H
#define MXG_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The input, all of it (NUL bytes included), with a NUL after it, in a
 * buffer of exactly that size (caller frees). */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
    char *s = xmalloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Logs go nowhere: the harnesses look for crashes, leaks and hangs. */
static inline void fuzz_quiet_log(int level, const char *msg, void *arg)
{
    (void)level;
    (void)msg;
    (void)arg;
}

static inline void fuzz_quiet(void)
{
    log_set_stderr(false);
    log_capture(fuzz_quiet_log, NULL);
}

#endif
