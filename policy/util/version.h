/*
 * version.h - versions of mxguard and of the libraries it links, for -V.
 */
#ifndef MXG_VERSION_H
#define MXG_VERSION_H

#include <stdio.h>

/* Print one line per library. */
void version_print_libs(FILE *fp);

#endif
