#!/usr/bin/env bash
# The whole check, as `npm test` runs it (after scripts/ensure-deps.sh):
#   1. type-check and build everything (npm run build: tsc -p ., dist/);
#   2. the whole tap suite (config: the "tap" section of package.json), or only the files/dirs given
#      as arguments: `bash scripts/test.sh test/unit`.
# Output goes to the terminal and to test-output.log. The very last line is "N passed, N failed"
# (test points, from tap's summary; a failed type-check counts as one failure). Exit status is
# non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."

log=test-output.log
: >"$log"
bin=node_modules/.bin

tsc_failed=0
# The build is the type-check (tsc -p . checks everything it emits), and the package test
# (test/unit/package.test.ts: what npm pack ships) needs dist/ — skipped on a fresh clone otherwise.
echo "== typecheck and build: npm run build" | tee -a "$log"
if npm run --silent build 2>&1 | tee -a "$log"; then
  echo "typecheck and build OK" | tee -a "$log"
else
  tsc_failed=1
  echo "typecheck or build FAILED" | tee -a "$log"
fi

echo "== tests: tap $*" | tee -a "$log"
"$bin/tap" "$@" 2>&1 | tee -a "$log"
tap_rc=${PIPESTATUS[0]}

# tap 21 ends with a summary of test points, e.g. "# { total: 10, pass: 5, fail: 2, todo: 1, skip: 2 }".
summary=$(grep -E '^# \{ total: [0-9]+' "$log" | tail -n 1 || true)
field() {
  local v
  v=$(sed -n "s/.*[{ ,]$1: \([0-9][0-9]*\).*/\1/p" <<<"$summary")
  echo "${v:-0}"
}
pass=$(field pass)
fail=$(field fail)
skip=$(field skip)
todo=$(field todo)

if [ -z "$summary" ]; then
  echo "no tap summary found (tap exit status $tap_rc)" | tee -a "$log"
  # Fall back to counting test points in the TAP stream.
  pass=$(grep -cE '^\s*ok [0-9]+' "$log" || true)
  fail=$(grep -cE '^\s*not ok [0-9]+' "$log" || true)
fi
if [ "$tap_rc" != 0 ] && [ "$fail" = 0 ]; then
  # tap failed without a failing test point (crash, bad option): count failed files, at least one.
  fail=$(grep -cE '^not ok [0-9]+' "$log" || true)
  [ "$fail" -gt 0 ] || fail=1
fi
fail=$((fail + tsc_failed))

{
  [ "$tsc_failed" = 1 ] && echo "typecheck failed (counted as 1 failure)"
  echo "tap exit status $tap_rc; $skip skipped, $todo todo; full output in $log"
  echo "$pass passed, $fail failed"
} | tee -a "$log"

if [ "$fail" -gt 0 ] || [ "$tap_rc" != 0 ]; then exit 1; fi
exit 0
