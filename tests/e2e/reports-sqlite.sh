#!/bin/bash
# reports-sqlite.sh - the fleet test of tests/e2e/reports-pg.sh (three
# daemons at once, two report runs at once, exact totals) on one SQLite
# file the three daemons share.
FLEET_STORE=sqlite exec bash "$(dirname "$0")/reports-pg.sh" "$@"
