# explain.sh - compare "mxguard explain" with the daemon: for a message the
# daemon decided (its decision line from the rig's log), run explain on the
# same message and envelope with the same config and DNS server, and check
# that explain's decision line has the same values.  Source after rig.sh.

# Keys that depend on the MTA or the clock, not on the checks and the policy.
RIG_EXPLAIN_IGNORE=" queue_id client_name elapsed_ms "

# rig_explain LABEL CONF CLIENT HELO FROM RCPTS EML [EXPLAIN-OPTION...]: run
# explain (RCPTS: one address or several, comma-separated); its output
# goes to $RIG_TMP/explain-LABEL.out, its decision line to RIG_EXPLAIN_LINE
# and its A-R header (unfolded, blanks squeezed) to RIG_EXPLAIN_AR.
# MXGUARD_WRAPPER (e.g. valgrind --error-exitcode=1) runs in front of it.
rig_explain() {
    local label=$1 conf=$2 client=$3 helo=$4 from=$5 rcpts=$6 eml=$7 r
    local out="$RIG_TMP/explain-$label.out" args=()
    shift 7
    IFS=, read -r -a r <<< "$rcpts"
    for rcpts in "${r[@]}"; do args+=(--rcpt "$rcpts"); done
    RIG_EXPLAIN_LINE=""
    RIG_EXPLAIN_AR=""
    # shellcheck disable=SC2086 # the wrapper (valgrind) is a command line
    if ! timeout 120 ${MXGUARD_WRAPPER:-} "$MXGUARD" explain -c "$conf" --client "$client" --helo "$helo" \
        --mail-from "$from" "${args[@]}" "$@" "$eml" > "$out" 2>&1; then
        rig_fail "explain $label: exit status not 0: $(tail -3 "$out" | tr '\n' ' ')"
        return 1
    fi
    RIG_EXPLAIN_LINE=$(grep '^decision ' "$out")
    RIG_EXPLAIN_AR=$(awk '/^Authentication-Results:/ { h = $0; on = 1; next }
                          on && /^[ \t]/ { h = h " " $0; next } { on = 0 }
                          END { print h }' "$out" | sed 's/[ \t][ \t]*/ /g')
    return 0
}

# rig_explain_compare LABEL DAEMON_LINE CONF CLIENT HELO FROM RCPTS EML [OPTION...]:
# explain's decision line must equal the daemon's, key by key (except
# RIG_EXPLAIN_IGNORE), and have the same keys in the same order.
rig_explain_compare() {
    local label=$1 dline=$2 k diffs=""; shift 2
    local -A want
    rig_explain "$label" "$@" || return 1
    if [ -z "$dline" ]; then
        rig_fail "explain $label: no daemon decision line to compare with"
        return 1
    fi
    rig_parse_decision "$dline" || { rig_fail "explain $label: daemon line does not parse"; return 1; }
    for k in $RIG_D_KEYS; do want[$k]=${RIG_D[$k]}; done
    local dkeys=$RIG_D_KEYS
    if ! rig_parse_decision "$RIG_EXPLAIN_LINE"; then
        rig_fail "explain $label: explain printed no parsable decision line: [$RIG_EXPLAIN_LINE]"
        return 1
    fi
    rig_eq "explain $label: same decision keys as the daemon" "$dkeys" "$RIG_D_KEYS"
    for k in $dkeys; do
        case "$RIG_EXPLAIN_IGNORE" in *" $k "*) continue ;; esac
        [ "${want[$k]}" = "${RIG_D[$k]-<absent>}" ] || diffs="$diffs $k: daemon [${want[$k]}] explain [${RIG_D[$k]-<absent>}];"
    done
    rig_eq "explain $label: verdict and evidence equal the daemon's (action=${want[action]} rule=${want[rule]})" "" "$diffs"
}
