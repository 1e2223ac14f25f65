#!/bin/sh
# run.sh - run the libFuzzer harnesses of a --enable-fuzzing build.
#   tests/fuzz/run.sh BUILDDIR [SECONDS] [NAME...]
# Each harness runs SECONDS (default 60) over a copy of its seed corpus
# tests/fuzz/corpus/NAME (new inputs go to BUILDDIR/fuzz-corpus/NAME, the
# seeds stay as committed), with ASan/UBSan/LSan, a 10 s per-input
# timeout and a 2 GB RSS limit.  A crash, leak or timeout fails the run;
# its input is left in BUILDDIR/fuzz-artifacts/.  FUZZ_SEED (default 0:
# random) and FUZZ_RUNS (default: unlimited) make a run reproducible.  Prints one line per
# harness (executions, seconds, result) and exits non-zero if any failed.
set -u
build=${1:?usage: run.sh BUILDDIR [SECONDS] [NAME...]}
secs=${2:-60}
[ $# -ge 2 ] && shift 2 || shift $#
here=$(cd "$(dirname "$0")" && pwd)
names=${*:-"authres fromhdr rdata conf spf spf_record dkim dmarc dnsbl session engine report"}
failed=0
mkdir -p "$build/fuzz-artifacts"
for n in $names; do
    bin=$build/tests/fuzz/fuzz_$n
    if [ ! -x "$bin" ]; then
        echo "fuzz $n: FAIL (no $bin: configure --enable-fuzzing and make)"
        failed=$((failed + 1)); continue
    fi
    mkdir -p "$build/fuzz-corpus/$n"
    log=$build/fuzz-artifacts/$n.log
    LSAN_OPTIONS=suppressions=$here/lsan.supp UBSAN_OPTIONS=print_stacktrace=1 \
        timeout $((secs + 120)) "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -seed="${FUZZ_SEED:-0}" ${FUZZ_RUNS:+-runs="$FUZZ_RUNS"} \
        -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$n-" \
        "$build/fuzz-corpus/$n" "$here/corpus/$n" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if [ "$rc" -eq 0 ]; then
        echo "fuzz $n: ok, ${execs:-?} executions (at most $secs s)"
    else
        echo "fuzz $n: FAIL (exit $rc after ${execs:-?} executions), see $log"
        grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -n 5
        failed=$((failed + 1))
    fi
done
[ "$failed" -eq 0 ]
