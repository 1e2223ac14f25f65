/*
 * fuzz_spf_record.c - the path from a sender-published SPF record to
 * libspf2's compiler, directly (no DNS): spfcheck_record_ok() (the bounds
 * that contain CVE-2023-42118), spfcheck_normalize(), then
 * SPF_record_compile() and SPF_record_compile_macro() of an exp= text,
 * under ASan/UBSan.  Includes spfcheck.c for its static functions.
 */
#include "../../policy/spfcheck.c"

#include "fuzz.h"

static SPF_server_t *fuzz_spf_server;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    spfcheck_init();
    fuzz_spf_server = SPF_server_new(SPF_DNS_ZONE, 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *rec = xstrndup((const char *)data, size);
    size_t len = strlen(rec);
    char why[160];
    char *norm = NULL;
    SPF_response_t *resp;
    SPF_record_t *r = NULL;
    SPF_macro_t *m = NULL;

    /* the record as selected by get_spf: "v=spf1" then SP or end */
    if (spfcheck_is_spf1(rec, len) && spfcheck_record_ok(rec, len, why, sizeof(why)) &&
        spfcheck_normalize(rec, len, size % 2, "._mxguard-cidr0-x", &norm, why, sizeof(why))) {
        resp = SPF_response_new(NULL);
        if (SPF_record_compile(fuzz_spf_server, resp, &r, norm) == SPF_E_SUCCESS && r == NULL)
            abort();
        SPF_record_free(r);
        SPF_response_free(resp);
        free(norm);
    }
    /* an explanation text: the checks of spfcheck_get_exp, spaces as "%_" */
    if (len <= SPFCHECK_MAX_EXP && spfcheck_printable(rec, len)) {
        size_t pct = 0, spaces = 0;
        bool syntax = true, em;
        for (size_t i = 0; i < len; i++) {
            pct += rec[i] == '%';
            spaces += rec[i] == ' ';
        }
        for (size_t i = 0; i < len && syntax;) {
            size_t j = i;
            while (j < len && rec[j] != ' ')
                j++;
            syntax = spfcheck_macro_string(rec + i, j - i, true, &em);
            i = j + 1;
        }
        if (pct <= SPFCHECK_MAX_EXP_MACROS && len + spaces <= SPFCHECK_MAX_TERM && syntax) {
            char *sp = xmalloc(len * 2 + 1), *q = sp;
            for (size_t i = 0; i < len; i++) {
                if (rec[i] == ' ') {
                    *q++ = '%';
                    *q++ = '_';
                } else {
                    *q++ = rec[i];
                }
            }
            *q = '\0';
            resp = SPF_response_new(NULL);
            (void)SPF_record_compile_macro(fuzz_spf_server, resp, &m, sp);
            if (m)
                SPF_macro_free(m);
            SPF_response_free(resp);
            free(sp);
        }
    }
    free(rec);
    return 0;
}
