/*
 * fuzz_spf_record.c - the path from a sender-published SPF record to
 * libspf2's compiler, directly (no DNS): spfrecord_bounds_ok() (the bounds
 * that contain CVE-2023-42118), spfrecord_normalize(), then
 * SPF_record_compile(); and spfrecord_exp_macro() of an exp= text, then
 * SPF_record_compile_macro(); under ASan/UBSan.
 */
#include "config.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <spf2/spf.h>

#include "fuzz.h"
#include "spfrecord.h"
#include "xalloc.h"

static SPF_server_t *fuzz_spf_server;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    fuzz_spf_server = SPF_server_new(SPF_DNS_ZONE, 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *rec = xstrndup((const char *)data, size);
    size_t len = strlen(rec);
    char why[160];
    char *norm = NULL, *exp;
    SPF_response_t *resp;
    SPF_record_t *r = NULL;
    SPF_macro_t *m = NULL;

    /* the record as selected by get_spf: "v=spf1" then SP or end */
    if (spfrecord_is_spf1(rec, len) && spfrecord_bounds_ok(rec, len, why, sizeof(why)) &&
        spfrecord_normalize(rec, len, size % 2, "._mxguard-cidr0-x", &norm, why, sizeof(why))) {
        resp = SPF_response_new(NULL);
        if (SPF_record_compile(fuzz_spf_server, resp, &r, norm) == SPF_E_SUCCESS && r == NULL)
            abort();
        SPF_record_free(r);
        SPF_response_free(resp);
        free(norm);
    }
    /* an explanation text, as get_exp hands it to libspf2 */
    if ((exp = spfrecord_exp_macro(rec, len)) != NULL) {
        if (strlen(exp) > 2 * SPFRECORD_MAX_EXP)
            abort();
        resp = SPF_response_new(NULL);
        (void)SPF_record_compile_macro(fuzz_spf_server, resp, &m, exp);
        if (m)
            SPF_macro_free(m);
        SPF_response_free(resp);
        free(exp);
    }
    free(rec);
    return 0;
}
