#!/usr/bin/env bash
# Runs every test registered with CTest (GoogleTest unit tests and the integration tests that
# start the real kiln binary), then prints one summary line: "N passed, N failed".
set -uo pipefail
BUILD_DIR=${1:-build}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
log=$(mktemp)
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" --timeout 900 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
total=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2/p' "$log" | tail -1)
failed=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -1)
rm -f "$log"
if [ -z "$total" ]; then
  echo "Summary: 0 passed, 1 failed (ctest did not run)"
  exit 1
fi
echo "Summary: $((total - failed)) passed, $failed failed"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
