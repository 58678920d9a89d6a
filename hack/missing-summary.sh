#!/usr/bin/env bash
# Prints, from the file test/prereq's skips were recorded in
# (DECCO_MISSING_LOG), one line per missing component:
#   skipped: 14 tests need stunnel4: apt-get install stunnel4
# Lines are "component<TAB>fix<TAB>test"; a test is counted once.
set -euo pipefail
log=${1:?usage: hack/missing-summary.sh FILE}
[[ -s "$log" ]] || exit 0
sort -u "$log" | awk -F'\t' '
  { key = $1 "\t" $2; n[key]++ }
  END {
    for (key in n) {
      split(key, f, "\t")
      printf "skipped: %d test%s need%s %s: %s\n", n[key], n[key] == 1 ? "" : "s", n[key] == 1 ? "s" : "", f[1], f[2]
    }
  }' | sort
echo "(these tests did not run; CI and DECCO_REQUIRE_ALL=1 make a missing component a failure)"
