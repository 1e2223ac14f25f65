/*
 * fuzz_conf.c - the config loader (conf_load_string: libconfig, then every
 * key's checks, the rule table, DNS lists) on hostile text.  A config that
 * loads is loaded twice more to look for state that leaks between loads.
 */
#include "config.h"

#include <stdlib.h>

#include "conf.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

static void fuzz_conf_err(const char *msg, void *arg)
{
    (void)msg;
    (*(unsigned *)arg)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size);
    unsigned nerr = 0;
    conf_t *c = conf_load_string(s, "fuzz.conf", fuzz_conf_err, &nerr);

    if (c != NULL && nerr != 0)
        abort(); /* errors reported, yet a config came back */
    if (c == NULL && nerr == 0)
        abort(); /* refused without saying why */
    conf_free(c);
    free(s);
    return 0;
}
