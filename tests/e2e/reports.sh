#!/bin/bash
# reports.sh - end-to-end test of DMARC aggregate reports (RFC 9990) with the
# SQLite store: a private Postfix on 127.0.0.1 with the built mxguard as its
# milter (reports enabled, store sqlite: in the test's directory, flushed
# every second), a private DNS server and smtp-sink.
#   1. A stream of 50 messages with known SPF/DKIM/DMARC outcomes for
#      several policy domains (tests/e2e/reports-zone.conf): DMARC pass by
#      SPF and by DKIM, p=reject failures refused (550), p=quarantine held,
#      p=none delivered, t=y applied as quarantine, a rule that accepts a
#      failure (local_policy), the null sender, mail from reports.email
#      itself (never recorded), a domain without rua (no rows at all).
#      Every SMTP reply is the expected one.
#   2. The rows reach the store (metrics: nothing buffered, nothing
#      dropped, no flush error), mxguard stops with a final flush.
#   3. `mxguard report --output-dir` before the day is closed: nothing;
#      --dry-run: nothing written; then the real run: one file per
#      destination (own-domain rua, external rua verified by its
#      _report._dmarc record and by a wildcard), none for the external rua
#      without a verification record; each file gzip, valid against the
#      RFC 9990 schema, named receiver!policy-domain!begin!end!unique-id,
#      its rows and counts equal to what was sent, dispositions and reasons
#      as applied, testing=y for t=y.  A second run writes nothing.
#   4. Two `mxguard report` runs at once on a copy of the store: every
#      report written exactly once across the two.
#   5. `mxguard report` without --output-dir on another copy, through
#      Postfix's sendmail (reports.sendmail: a wrapper that adds -C for the
#      private instance) to the sink: each report arrives once, as a
#      multipart mail with the same gzip attachment name, the RFC 9990
#      Subject and Auto-Submitted; a second run sends nothing.
#
# Environment (TESTS_ENVIRONMENT in Makefile.am): MXGUARD, TESTS_SRCDIR,
# POSTFIX, UNBOUND_SERVER.  Needs root (a private Postfix instance), xmllint,
# sqlite3.  RIG_KEEP=1 keeps the temporary files.  Exit 0 pass, 1 fail.

TESTS_SRCDIR=${TESTS_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$TESTS_SRCDIR/lib/rig.sh"
. "$TESTS_SRCDIR/lib/postfix.sh"
. "$TESTS_SRCDIR/lib/reportlib.sh"
rig_init reports
HERE="$TESTS_SRCDIR/e2e"
DKIMDATA="$TESTS_SRCDIR/data/dkim"
SQLITE3=$(command -v sqlite3 || echo /usr/bin/sqlite3)

rig_need_exec mxguard "${MXGUARD:-}"
rig_need_exec postfix "${POSTFIX:-}"
rig_need_exec sqlite3 "$SQLITE3"
rig_need_exec sendmail /usr/sbin/sendmail
rl_need_tools

rig_start_dns "$HERE/reports-zone.conf"
rig_start_sink

# The store: a directory the daemon's user (nobody when run as root) owns.
STOREDIR="$RIG_TMP/store"
mkdir -p "$STOREDIR"
[ "$(id -u)" -eq 0 ] && chown nobody "$STOREDIR"
DB="$STOREDIR/reports.db"
# reports.sendmail takes no arguments: a wrapper hands the report mail to
# the private Postfix (its config directory, as rig_start_postfix makes it).
SENDMAIL="$RIG_TMP/sendmail"
cat > "$SENDMAIL" <<EOF
#!/bin/sh
# the private Postfix of the test, for mxguard report
printf '%s\n' "\$*" >> "$RIG_TMP/sendmail.calls"
exec /usr/sbin/sendmail -C "$RIG_TMP/pf/etc" "\$@"
EOF
chmod 0755 "$SENDMAIL"

SOCKPATH="$RIG_TMP/mxguard.sock"
# shellcheck disable=SC2034 # used through RIG_SUBST_VARS
{ SOCKET="unix:$SOCKPATH"; DNS_PORT=$RIG_DNS_PORT; STORE="sqlite:$DB"; FLUSH=1; MAX_ROWS=1000; }
METRICS_PORT=$(rig_free_port)
RIG_SUBST_VARS="SOCKET DNS_PORT STORE FLUSH MAX_ROWS SENDMAIL METRICS_PORT"
CONF="$RIG_TMP/mxguard.conf"
rig_subst "$HERE/reports.conf.in" "$CONF"
rig_start_mxguard "$CONF" "$SOCKPATH"
rig_start_postfix "$SOCKPATH"

# ---- 1. the stream ---------------------------------------------------------------
# Each kind: the reportstream.py SPEC (name,client,mailfrom,from,rcpt[,file]),
# how many, the reply after the final dot, its policy domain ("-": no row)
# and its row in the report as dmarcreport.py prints it after the count:
# source_ip|disposition|reasons|pe_dkim|pe_spf|header_from|envelope_from|dkim|spf
SP=192.0.2.99
declare -A K_SPEC K_N K_CODE K_PD K_ROW
kind() { K_SPEC[$1]=$2; K_N[$1]=$3; K_CODE[$1]=$4; K_PD[$1]=$5; K_ROW[$1]=${6:-}; KINDS="${KINDS:-} $1"; }
kind own_pass "own_pass,192.0.2.10,a@own.example,a@own.example,bob@dest.example" 8 250 own.example \
    "192.0.2.10|pass||fail|pass|own.example|own.example||own.example/pass"
kind own_spoof "own_spoof,$SP,x@spoofer.example,ceo@own.example,bob@dest.example" 5 550 own.example \
    "$SP|reject||fail|fail|own.example|spoofer.example||spoofer.example/none"
# RFC 7208 2.4: for the null sender SPF checks postmaster@<HELO name>.
kind own_null "own_null,192.0.2.10,,ceo@own.example,bob@dest.example" 2 550 own.example \
    "192.0.2.10|reject||fail|fail|own.example|||mx.client.example/fail"
kind own_pm "own_pm,$SP,x@spoofer.example,ceo@own.example,postmaster@dest.example" 2 250 own.example \
    "$SP|none|local_policy:postmaster|fail|fail|own.example|spoofer.example||spoofer.example/none"
kind ext_pass "ext_pass,192.0.2.20,a@ext.example,a@ext.example,bob@dest.example" 6 250 ext.example \
    "192.0.2.20|pass||fail|pass|ext.example|ext.example||ext.example/pass"
kind ext_fail "ext_fail,$SP,x@spoofer.example,a@ext.example,bob@dest.example" 3 250 ext.example \
    "$SP|quarantine||fail|fail|ext.example|spoofer.example||spoofer.example/none"
kind weak_pass "weak_pass,192.0.2.30,a@weak.example,a@weak.example,bob@dest.example" 1 250 weak.example \
    "192.0.2.30|none||fail|pass|weak.example|weak.example||weak.example/pass"
kind weak_fail "weak_fail,$SP,x@spoofer.example,a@weak.example,bob@dest.example" 4 250 weak.example \
    "$SP|none||fail|fail|weak.example|spoofer.example||spoofer.example/none"
kind test_fail "test_fail,$SP,x@spoofer.example,a@testing.example,bob@dest.example" 3 250 testing.example \
    "$SP|quarantine|policy_test_mode:|fail|fail|testing.example|spoofer.example||spoofer.example/none"
kind dkim_pass "dkim_pass,$SP,bounce@spoofer.example,-,bob@rcpt.example,$DKIMDATA/pass-relaxed.eml" 2 250 \
    signer.example "$SP|pass||pass|fail|signer.example|spoofer.example|signer.example/sel2048/pass|spoofer.example/none"
kind dkim_bad "dkim_bad,$SP,bounce@spoofer.example,-,bob@rcpt.example,$DKIMDATA/header-altered.eml" 1 550 \
    signer.example "$SP|reject||fail|fail|signer.example|spoofer.example|signer.example/sel2048/fail|spoofer.example/none"
kind lost_pass "lost_pass,192.0.2.50,a@lost.example,a@lost.example,bob@dest.example" 3 250 lost.example \
    "192.0.2.50|pass||fail|pass|lost.example|lost.example||lost.example/pass"
kind wild_pass "wild_pass,192.0.2.60,a@wildext.example,a@wildext.example,bob@dest.example" 2 250 wildext.example \
    "192.0.2.60|pass||fail|pass|wildext.example|wildext.example||wildext.example/pass"
# Mail from reports.email itself (a report mail coming back) is never
# recorded; another address of the same domain is.
kind self_rep "self_rep,192.0.2.70,dmarc-reports@rig.example,dmarc-reports@rig.example,bob@dest.example" 2 250 -
kind self_other "self_other,192.0.2.70,noc@rig.example,noc@rig.example,bob@dest.example" 1 250 rig.example \
    "192.0.2.70|none||fail|pass|rig.example|rig.example||rig.example/pass"
kind norua_pass "norua_pass,192.0.2.10,a@norua.example,a@norua.example,bob@dest.example" 3 250 -
kind norua_fail "norua_fail,$SP,x@spoofer.example,a@norua.example,bob@dest.example" 2 550 -
# Where each policy domain's report goes ("" none: not verified).
declare -A DEST=([own.example]=agg@own.example [ext.example]=dmarc@collector.example
    [weak.example]=dmarc@weak.example [testing.example]=dmarc@testing.example
    [signer.example]=dmarc@signer.example [wildext.example]=r@wild.example
    [rig.example]=dmarc@rig.example [lost.example]="")
declare -A PUBLISHED=([own.example]="p=reject sp= np= testing=n" [ext.example]="p=quarantine sp= np= testing=n"
    [weak.example]="p=none sp= np= testing=n" [testing.example]="p=reject sp= np= testing=y"
    [signer.example]="p=reject sp= np= testing=n" [wildext.example]="p=reject sp= np= testing=n"
    [rig.example]="p=none sp= np= testing=n" [lost.example]="p=reject sp= np= testing=n")

# The specs interleaved: round r takes every kind that has more than r left.
SPECS=()
NMSG=0
for r in $(seq 0 9); do
    for k in $KINDS; do
        [ "${K_N[$k]}" -gt "$r" ] || continue
        SPECS+=("${K_SPEC[$k]}")
        NMSG=$((NMSG + 1))
    done
done
OUT="$RIG_TMP/stream.out"
T_START=$(date +%s)
rl_stream "$OUT" "$RIG_SMTP_PORT" 0 "${SPECS[@]}"
T_END=$(date +%s)
rig_eq "stream: $NMSG messages sent" "$NMSG" "$(wc -l < "$OUT")"
for k in $KINDS; do
    rig_eq "stream: $k: ${K_N[$k]} x ${K_CODE[$k]} after the final dot" "${K_N[$k]}" \
        "$(awk -v k="$k" -v c="${K_CODE[$k]}" '$2 == k && $4 == c && $5 == "dot"' "$OUT" | wc -l)"
done
rig_wait_for 10 bash -c "[ \$(grep -c 'mxguard: decision ' '$RIG_MX_LOG') -ge $NMSG ]"
rig_eq "one decision line per message" "$NMSG" "$(rig_decisions | wc -l)"

# ---- 2. flushed to the store ----------------------------------------------------
_flushed() {
    rl_scrape "$METRICS_PORT" && [ "$(rl_metric mxguard_report_rows_buffered)" = 0 ] &&
        [ "${RL_EXPECT_ROWS:-0}" -le "$(rl_metric mxguard_report_rows_flushed_total || echo 0)" ]
}
RL_EXPECT_ROWS=0
for k in $KINDS; do [ "${K_PD[$k]}" = - ] || RL_EXPECT_ROWS=$((RL_EXPECT_ROWS + 1)); done
rig_check "metrics: nothing buffered, >= $RL_EXPECT_ROWS rows flushed (within 10 s)" rig_wait_for 10 _flushed
rig_eq "metrics: no message dropped" 0 "$(rl_metric mxguard_report_messages_dropped_total)"
rig_eq "metrics: no flush error" 0 "$(rl_metric mxguard_report_flush_errors_total)"
rig_check "mxguard exits 0 on SIGTERM (final flush)" rig_stop_mxguard
rig_check_mxguard_log
rig_check "store file exists" test -s "$DB"
rig_eq "store: nothing about norua.example (no rua, no rows)" 0 \
    "$("$SQLITE3" "$DB" .dump | grep -c 'norua\.example')"
rig_check "store: lost.example's rows are stored" bash -c "'$SQLITE3' '$DB' .dump | grep -q 'lost\.example'"
# Copies for the concurrent runs (4.) and the mail path (5.).
"$SQLITE3" "$DB" ".backup '$RIG_TMP/race.db'" || rig_die "sqlite3 .backup failed"
"$SQLITE3" "$DB" ".backup '$RIG_TMP/mail.db'" || rig_die "sqlite3 .backup failed"

# ---- 3. mxguard report --output-dir -------------------------------------------------
DAY0=$((T_START - T_START % 86400))
DAY1=$((T_END - T_END % 86400))
NPERIODS=$(( (DAY1 - DAY0) / 86400 + 1 ))
[ "$NPERIODS" -eq 1 ] || rig_log "the stream crossed midnight UTC: $NPERIODS periods"
NOW=$((DAY1 + 86400 + 3600))    # the last period closed: end < now - (flush_interval + 60)

rl_report early -c "$CONF" --output-dir "$RIG_TMP/early" --now "$(date +%s)"
rig_eq "report before the day ends: exit 0" 0 "$RL_RC"
rig_eq "report before the day ends: nothing" "reports: 0 built, 0 sent, 0 failed, 0 skipped" "$RL_SUMMARY"
rig_eq "report before the day ends: no file" "" "$(rl_files "$RIG_TMP/early" 2>/dev/null)"

rl_report dry -c "$CONF" --output-dir "$RIG_TMP/dry" --now "$NOW" --dry-run
rig_eq "--dry-run: exit 0" 0 "$RL_RC"
rig_eq "--dry-run: no file" "" "$(rl_files "$RIG_TMP/dry" 2>/dev/null)"
for pd in "${!DEST[@]}"; do
    rig_check "--dry-run names $pd" grep -q "$pd" "$RIG_TMP/dry.out"
done

R1="$RIG_TMP/out1"
rl_report run1 -c "$CONF" --output-dir "$R1" --now "$NOW"
rig_eq "report: exit 0" 0 "$RL_RC"
NDEST=0
for pd in "${!DEST[@]}"; do [ -n "${DEST[$pd]}" ] && NDEST=$((NDEST + 1)); done
rig_match "report: $NDEST sent, none failed" "^reports: [0-9]+ built, $((NDEST * NPERIODS)) sent, 0 failed, [0-9]+ skipped$" \
    "$RL_SUMMARY"
rig_check "report: says why lost.example is not sent" grep -q 'lost\.example' "$RIG_TMP/run1.out"
FILES1=$(rl_files "$R1")
rig_eq "report: destination directories" \
    "$(for pd in "${!DEST[@]}"; do [ -n "${DEST[$pd]}" ] && echo "${DEST[$pd]}"; done | LC_ALL=C sort)" \
    "$(cd "$R1" && find . -mindepth 1 -maxdepth 1 -type d | sed 's|^\./||' | LC_ALL=C sort)"
rig_eq "report: $((NDEST * NPERIODS)) files" "$((NDEST * NPERIODS))" "$(printf '%s\n' "$FILES1" | grep -c .)"
rig_eq "report: nothing for the unverified destination" "" "$(printf '%s\n' "$FILES1" | grep nowhere)"

declare -A UID_OF
for pd in "${!DEST[@]}"; do
    d=${DEST[$pd]}
    [ -n "$d" ] || continue
    for f in "$R1/$d"/*; do
        rl_check_file "$pd" "$f" "$pd"
        UID_OF["$d/${f##*/}"]=$RL_UID
        rig_match "$pd: policy_published" "^domain=${pd//./\\.} ${PUBLISHED[$pd]} discovery=treewalk$" \
            "$(sed -n 's/^policy //p' "$RIG_TMP/xml/$(basename "${f%.gz}").txt")"
    done
    want=$(for k in $KINDS; do
        [ "${K_PD[$k]}" = "$pd" ] && echo "${K_N[$k]}|${K_ROW[$k]}"; done | LC_ALL=C sort)
    got=$(rl_rows "$R1/$d"/*)
    if [ "$want" = "$got" ]; then
        rig_pass "$pd: rows and counts equal what was sent ($(echo "$want" | wc -l) rows)"
    else
        rig_fail "$pd: rows and counts differ from what was sent"
        diff <(echo "$want") <(echo "$got") | sed 's/^/#   /'
    fi
done

rl_report run2 -c "$CONF" --output-dir "$R1" --now "$NOW"
rig_eq "second report run: exit 0" 0 "$RL_RC"
rig_eq "second report run: nothing" "reports: 0 built, 0 sent, 0 failed, 0 skipped" "$RL_SUMMARY"
rig_eq "second report run: no new file" "$FILES1" "$(rl_files "$R1")"

# ---- 4. two report runs at once (SQLite) -------------------------------------------
sed "s|sqlite:$DB|sqlite:$RIG_TMP/race.db|" "$CONF" > "$RIG_TMP/race.conf"
timeout 60 "$MXGUARD" report -c "$RIG_TMP/race.conf" --output-dir "$RIG_TMP/raceA" --now "$NOW" \
    > "$RIG_TMP/raceA.out" 2>&1 &
PA=$!
timeout 60 "$MXGUARD" report -c "$RIG_TMP/race.conf" --output-dir "$RIG_TMP/raceB" --now "$NOW" \
    > "$RIG_TMP/raceB.out" 2>&1 &
PB=$!
wait "$PA"; RA=$?
wait "$PB"; RB=$?
rig_eq "two runs at once: both exit 0" "0 0" "$RA $RB"
FA=$(rl_files "$RIG_TMP/raceA" 2>/dev/null)
FB=$(rl_files "$RIG_TMP/raceB" 2>/dev/null)
rig_eq "two runs at once: every report written exactly once across the two" "$FILES1" \
    "$(printf '%s\n%s\n' "$FA" "$FB" | grep . | LC_ALL=C sort)"
rig_log "two runs at once: $(printf '%s\n' "$FA" | grep -c .) + $(printf '%s\n' "$FB" | grep -c .) files"

# ---- 5. through Postfix's sendmail to the sink -------------------------------------
sed "s|sqlite:$DB|sqlite:$RIG_TMP/mail.db|" "$CONF" > "$RIG_TMP/mail.conf"
# smtp-sink writes the envelope first: "X-Mail-Args: <sender> ...".  The
# stream's own mail from that address (self_rep) has a Message-ID <rs-...>.
_report_mails() {
    grep -l "^X-Mail-Args: <$RL_EMAIL>" "$RIG_SINK_DIR"/msg.* 2>/dev/null |
        while read -r f; do grep -q '^Message-ID: <rs-' "$f" || echo "$f"; done
}
_nreport_mails() { _report_mails | wc -l; }
_queue_empty() { [ -z "$(postqueue -c "$RIG_PF_CONF" -j 2>/dev/null | grep -v '"queue_name": *"hold"')" ]; }
_mails_in() { [ "$(_nreport_mails)" -ge "$1" ] && _queue_empty; }
rl_report mail1 -c "$RIG_TMP/mail.conf" --now "$NOW"
rig_eq "mail: exit 0" 0 "$RL_RC"
rig_match "mail: $NDEST sent, none failed" "^reports: [0-9]+ built, $((NDEST * NPERIODS)) sent, 0 failed, [0-9]+ skipped$" \
    "$RL_SUMMARY"
rig_check "mail: $((NDEST * NPERIODS)) report mails at the sink within 30 s" \
    rig_wait_for 30 _mails_in "$((NDEST * NPERIODS))"
rig_eq "mail: sendmail called as sendmail -i -f $RL_EMAIL -- DEST" \
    "$(for pd in "${!DEST[@]}"; do [ -n "${DEST[$pd]}" ] && echo "-i -f $RL_EMAIL -- ${DEST[$pd]}"; done | LC_ALL=C sort)" \
    "$(LC_ALL=C sort "$RIG_TMP/sendmail.calls" 2>/dev/null | uniq)"
mkdir -p "$RIG_TMP/att"
SEEN=""
for m in $(_report_mails); do
    if ! "$RL_PY" "$TESTS_SRCDIR/lib/dmarcreport.py" mail "$m" "$RIG_TMP/att" > "$m.txt" 2>&1; then
        rig_fail "mail: $m: $(tail -1 "$m.txt")"
        continue
    fi
    rcpt=$(sed -n 's/^rcpt=//p' "$m.txt")
    name=$(sed -n 's/^filename=//p' "$m.txt")
    SEEN="$SEEN$rcpt/$name"$'\n'
    pd=$(cut -d'!' -f2 <<< "$name")
    rig_eq "mail to $rcpt: the destination of $pd" "${DEST[$pd]-?}" "$rcpt"
    rig_eq "mail to $rcpt: To" "$rcpt" "$(sed -n 's/^to=//p' "$m.txt" | sed 's/.*<\(.*\)>.*/\1/')"
    rig_match "mail to $rcpt: From" "$RL_EMAIL" "$(sed -n 's/^from=//p' "$m.txt")"
    rig_eq "mail to $rcpt: Auto-Submitted" auto-generated "$(sed -n 's/^auto_submitted=//p' "$m.txt")"
    rig_match "mail to $rcpt: multipart with the gzip attached" '^multipart/mixed,text/plain,application/(x-)?gzip$' \
        "$(sed -n 's/^parts=//p' "$m.txt")"
    uid=${UID_OF["$rcpt/$name"]-}
    rig_check "mail to $rcpt: attachment $name has the name of the --output-dir file" test -n "$uid"
    rig_eq "mail to $rcpt: Subject" "Report Domain: $pd Submitter: $RL_RECEIVER Report-ID: <$uid@$RL_RECEIVER>" \
        "$(sed -n 's/^subject=//p' "$m.txt")"
    rl_check_file "mail to $rcpt" "$RIG_TMP/att/$name" "$pd" nomode
    if [ -n "$uid" ] && [ -f "$R1/$rcpt/$name" ]; then
        rig_eq "mail to $rcpt: the same rows as the --output-dir file" "$(rl_rows "$R1/$rcpt/$name")" \
            "$(rl_rows "$RIG_TMP/att/$name")"
    fi
done
rig_eq "mail: each report arrived exactly once" "$FILES1" "$(printf '%s' "$SEEN" | LC_ALL=C sort)"
rl_report mail2 -c "$RIG_TMP/mail.conf" --now "$NOW"
rig_eq "mail, second run: exit 0" 0 "$RL_RC"
rig_eq "mail, second run: nothing" "reports: 0 built, 0 sent, 0 failed, 0 skipped" "$RL_SUMMARY"
sleep 1
rig_wait_for 10 _queue_empty
rig_eq "mail, second run: no new mail at the sink" "$((NDEST * NPERIODS))" "$(_nreport_mails)"

if [ "$RIG_FAILS" -ne 0 ]; then
    for n in early dry run1 run2 mail1 mail2; do
        [ -f "$RIG_TMP/$n.out" ] && { echo "# mxguard report ($n):"; rl_show "$n" 15; }
    done
    echo "# stream:"; sed 's/^/#   /' "$OUT" | head -60
    echo "# mxguard log:"; sed 's/^/#   /' "$RIG_MX_LOG" | grep -v ' decision ' | tail -20
    echo "# Postfix log:"; sed 's/^/#   /' "$RIG_PF_DIR/maillog" | tail -15
fi
rig_finish
