/*
 * fuzz_fromhdr.c - the From-header parser (fromhdr.c): one value, and a
 * message of several From fields (NUL-separated parts of the input).  The
 * verdict must be consistent: a domain only with status ok, and then a
 * bounded, NUL-terminated, lower-case LDH name.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fromhdr.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size);
    fromhdr_value v;
    fromhdr_msg m;
    const char *d;
    size_t off = 0;

    fromhdr_parse(s, &v);
    if (memchr(v.domain, '\0', sizeof(v.domain)) == NULL)
        abort();
    fromhdr_msg_reset(&m);
    while (off <= size && m.nfields < 8) {
        fromhdr_msg_add(&m, s + off);
        off += strlen(s + off) + 1;
    }
    d = fromhdr_msg_domain(&m);
    if ((d != NULL) != (fromhdr_msg_status(&m) == FROMHDR_OK))
        abort();
    if (d != NULL) {
        if (*d == '\0' || strlen(d) >= FROMHDR_DOMAIN_MAX)
            abort();
        for (const char *p = d; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_'))
                abort();
    }
    free(s);
    return 0;
}
