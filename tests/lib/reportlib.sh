# reportlib.sh - what the DMARC aggregate report tests (tests/e2e/reports.sh,
# reports-pg.sh, reports-fault.sh) share: scraping the metrics endpoint,
# running `mxguard report`, checking the report files it writes (RFC 9990
# names, gzip, the schema) and summing their rows, and a message stream with
# chosen DMARC outcomes (tests/lib/reportstream.py).  Source after rig.sh.
# Every wait is bounded; nothing leaves 127.0.0.1.

RL_PY=/usr/bin/python3
RL_XSD="$TESTS_SRCDIR/data/dmarc/rfc9990/dmarc-xml-0.2.xsd"
RL_RECEIVER=rig.example
RL_EMAIL=dmarc-reports@rig.example

rl_need_tools() {
    rig_need_exec python3 "$RL_PY"
    rig_need_exec xmllint "$(command -v xmllint || echo /usr/bin/xmllint)"
    [ -r "$RL_XSD" ] || rig_die "schema $RL_XSD not readable"
}

# ---- metrics -----------------------------------------------------------------
# rl_scrape PORT: GET /metrics from 127.0.0.1:PORT into $RIG_TMP/scrape.txt
# (body only); false when there is no 200 answer.
rl_scrape() {
    local fd
    : > "$RIG_TMP/scrape.txt"
    exec {fd}<>"/dev/tcp/127.0.0.1/$1" || return 1
    printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&"$fd"
    timeout 10 cat <&"$fd" > "$RIG_TMP/http.raw"
    exec {fd}>&-
    head -1 "$RIG_TMP/http.raw" | grep -q ' 200 ' || return 1
    sed '1,/^\r\?$/d' "$RIG_TMP/http.raw" | tr -d '\r' > "$RIG_TMP/scrape.txt"
}
# rl_metric SERIES: its value in the last scrape ("" if absent).
rl_metric() { awk -v s="$1" 'substr($0, 1, length(s) + 1) == s " " { print $NF; exit }' "$RIG_TMP/scrape.txt"; }

# ---- mxguard report ------------------------------------------------------------
# rl_report NAME ARGS...: run `mxguard report ARGS` (bounded: 60 s), output
# in $RIG_TMP/NAME.out; sets RL_RC and RL_SUMMARY (its closing line,
# "reports: N built, N sent, N failed, N skipped").
rl_report() {
    local name=$1; shift
    timeout 60 "$MXGUARD" report "$@" > "$RIG_TMP/$name.out" 2>&1
    RL_RC=$?
    RL_SUMMARY=$(grep -E '^(mxguard: )?reports: ' "$RIG_TMP/$name.out" | tail -1 | sed 's/^mxguard: //')
}
rl_show() { sed 's/^/#   /' "$RIG_TMP/$1.out" | tail -${2:-30}; }

# rl_files DIR: the report files under DIR as "DEST/FILENAME", sorted.
rl_files() { (cd "$1" && find . -type f ! -name '.*' | sed 's|^\./||' | LC_ALL=C sort); }

# rl_check_file LABEL FILE PD [nomode]: one report file as `mxguard report
# --output-dir` writes it: mode 0644 (unless nomode), RFC 9990 name
# receiver!policy-domain!begin!end!unique-id.xml.gz, gzip, valid against the
# schema, its metadata agreeing with its name.  Sets RL_UID and RL_RID.
rl_check_file() {
    local label=$1 f=$2 pd=$3 base re xml meta pol
    base=${f##*/}
    RL_UID=""; RL_RID=""
    re="^${RL_RECEIVER//./\\.}!${pd//./\\.}!([0-9]+)!([0-9]+)!([0-9a-f]+)\\.xml\\.gz\$"
    if ! [[ $base =~ $re ]]; then
        rig_fail "$label: file name $base is not $RL_RECEIVER!$pd!begin!end!unique-id.xml.gz"
        return
    fi
    local b=${BASH_REMATCH[1]} e=${BASH_REMATCH[2]} uid=${BASH_REMATCH[3]}
    RL_UID=$uid
    rig_eq "$label: one UTC day ($base)" "$((b + 86399)):0" "$e:$((b % 86400))"
    [ "${4:-}" = nomode ] || rig_eq "$label: mode 0644" 644 "$(stat -c %a "$f")"
    xml="$RIG_TMP/xml/${base%.gz}"
    mkdir -p "$RIG_TMP/xml"
    if ! gzip -dc "$f" > "$xml" 2> "$RIG_TMP/gzip.err"; then
        rig_fail "$label: $base is not gzip: $(cat "$RIG_TMP/gzip.err")"
        return
    fi
    if xmllint --noout --schema "$RL_XSD" "$xml" > "$RIG_TMP/xmllint.out" 2>&1; then
        rig_pass "$label: $base validates against the RFC 9990 schema"
    else
        rig_fail "$label: $base does not validate"; sed 's/^/#   /' "$RIG_TMP/xmllint.out" | head -10
    fi
    if ! "$RL_PY" "$TESTS_SRCDIR/lib/dmarcreport.py" xml "$xml" > "$xml.txt" 2>&1; then
        rig_fail "$label: $base does not parse"; sed 's/^/#   /' "$xml.txt" | head -5
        return
    fi
    meta=$(sed -n 's/^meta //p' "$xml.txt")
    pol=$(sed -n 's/^policy //p' "$xml.txt")
    RL_RID=$(sed -n 's/.* report_id=\([^ ]*\) .*/\1/p' <<< "$meta")
    rig_match "$label: metadata (org, email, id, range, generator)" \
        "^org_name=mxguard e2e rig email=$RL_EMAIL report_id=$uid@${RL_RECEIVER//./\\.} begin=$b end=$e generator=mxguard " \
        "$meta"
    rig_match "$label: policy_published domain" "^domain=${pd//./\\.} " "$pol"
}

# rl_rows FILE...: the rows of the reports (dmarcreport.py xml), counts
# summed over the files by the rest of the row: "COUNT|...", sorted.
rl_rows() {
    local f
    for f in "$@"; do
        "$RL_PY" "$TESTS_SRCDIR/lib/dmarcreport.py" xml "$f" | sed -n 's/^row //p'
    done | awk -F'|' '{ c = $1; sub(/^[^|]*\|/, ""); n[$0] += c } END { for (k in n) print n[k] "|" k }' |
        LC_ALL=C sort
}

# ---- the stream ------------------------------------------------------------------
# rl_stream OUT PORT PAUSE_MS SPEC...: tests/lib/reportstream.py in the
# foreground, one message per SPEC (bounded: 120 s).
rl_stream() {
    local out=$1 port=$2 pause=$3; shift 3
    "$RL_PY" "$TESTS_SRCDIR/lib/reportstream.py" "$port" "$out" "$#" "$pause" 120 "$@" \
        >> "$RIG_TMP/stream.err" 2>&1
}
