/*
 * fuzz_rdata.c - the rdata helpers of dns.c (dns_rdata_txt, dns_rdata_name)
 * on hostile wire rdata, as every check uses them on DNS answers.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "dns.h"
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
    unsigned char *rd = xmalloc(size ? size : 1); /* exact size: ASan sees overreads */
    char *txt = NULL;
    size_t tl = 0;
    char name[1025];

    memcpy(rd, data, size);
    if (dns_rdata_txt(rd, size, &txt, &tl)) {
        if (txt == NULL || tl >= size || txt[tl] != '\0')
            abort();
        free(txt);
    }
    for (size_t off = 0; off < size && off < 4; off++)
        if (dns_rdata_name(rd, size, off, name, sizeof(name)) && strlen(name) > 1024)
            abort();
    (void)dns_rdata_name(rd, size, 2, name, 16); /* a small buffer (MX, after the preference) */
    free(rd);
    return 0;
}
