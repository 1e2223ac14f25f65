/*
 * report.h - "mxguard report": send the DMARC aggregate reports (RFC 9990)
 * of closed periods that the daemons stored (rstore.h), one mail per
 * report and rua destination through the local MTA's sendmail, or as files
 * with --output-dir.  mxguard(8), REPORT, has the behaviour; report.c the
 * steps.
 */
#ifndef MXG_REPORT_H
#define MXG_REPORT_H

#include <stddef.h>
#include <stdint.h>

#define REPORT_UNIQUE_ID_SZ 17u   /* 16 hex digits and the NUL */
#define REPORT_LEASE 600u         /* seconds a claim is held */
#define REPORT_CLOSE_MARGIN 60u   /* seconds past a flush interval before a period counts as closed */
#define REPORT_RETRY_MAX 86400u   /* the longest wait before a failed report is tried again */
#define REPORT_SENDMAIL_TIMEOUT 120u /* seconds sendmail may take for one mail */

/* The report's unique-id: lower-case hex of a 64-bit hash (FNV-1a) of
 * "policy_domain!begin!end!receiver", so a re-send has the same file name
 * and Report-ID ("<unique-id>@<receiver>"). */
void report_unique_id(const char *policy_domain, int64_t begin, int64_t end, const char *receiver,
                      char out[REPORT_UNIQUE_ID_SZ]);

/* Seconds before the next try of a report that failed after `attempts`
 * earlier failures: 3600 * 2^attempts, at most REPORT_RETRY_MAX. */
unsigned report_retry_delay(unsigned attempts);

/* The subcommand: mxguard report [-c FILE] [--output-dir DIR] [--dry-run]
 * [--now EPOCH] [--verbose]; returns the exit status: 0 nothing failed, 1
 * a send (or a DNS lookup) failed and will be retried, 2 a usage, config
 * or store error. */
int report_main(int argc, char **argv);

#endif
