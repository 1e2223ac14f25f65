/*
 * version.c - versions of the libraries mxguard links, for mxguard -V.
 */
#include "config.h"

#include <stdio.h>

#include <libconfig.h>
#include <netinet/in.h>
#include <opendkim/dkim.h>
#include <spf2/spf.h>
#include <unbound.h>

#include "version.h"

void version_print_libs(FILE *fp)
{
    int maj, min, pat;
    uint32_t dk = dkim_libversion();

    SPF_get_lib_version(&maj, &min, &pat);
    fprintf(fp, "libspf2 %d.%d.%d\n", maj, min, pat);
    fprintf(fp, "libunbound %s\n", ub_version());
    fprintf(fp, "libopendkim %u.%u.%u\n", (unsigned)(dk >> 24), (unsigned)((dk >> 16) & 0xff),
            (unsigned)((dk >> 8) & 0xff));
    fprintf(fp, "libconfig %d.%d.%d\n", LIBCONFIG_VER_MAJOR, LIBCONFIG_VER_MINOR,
            LIBCONFIG_VER_REVISION);
}
