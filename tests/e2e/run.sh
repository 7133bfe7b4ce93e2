#!/bin/sh
# Run every end-to-end test (tests/e2e/test_*.py) against a built varve.
#
#   tests/e2e/run.sh [BUILD_DIR]        (or BUILD_DIR=... in the environment)
#
# Each test is an executable script taking the build directory and the path
# of prometheus; it prints PASS:/FAIL: lines per case and a closing
# "RESULT: N passed, M failed" line, and exits non-zero on any failure.
# This script adds up the cases of all tests and ends with one line
# "N passed, M failed"; it exits non-zero if any test failed or crashed.
#
# Environment: PROMETHEUS (default /usr/bin/prometheus), PROMTOOL (default
# beside it), PYTHON (default /usr/bin/python3), E2E_TESTS (space-separated
# test names to run instead of all, e.g. "test_server"), E2E_TIMEOUT
# (seconds per test, default 150), E2E_KEEP=1 to keep temporary directories.
set -u

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-${BUILD_DIR:-.}}
build=$(cd "$build" && pwd) || { echo "run.sh: no build directory $build" >&2; exit 2; }
PROMETHEUS=${PROMETHEUS:-/usr/bin/prometheus}
PYTHON=${PYTHON:-/usr/bin/python3}
timeout_s=${E2E_TIMEOUT:-150}
export PROMETHEUS
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE

if [ ! -x "$build/varve" ]; then
	echo "run.sh: $build/varve is missing or not executable" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
for tool in "$PYTHON" "$PROMETHEUS"; do
	if [ ! -x "$tool" ]; then
		echo "run.sh: $tool not found (Debian: apt-get install python3 prometheus)" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
done

tests=
if [ -n "${E2E_TESTS:-}" ]; then
	for t in $E2E_TESTS; do
		tests="$tests $here/${t%.py}.py"
	done
else
	tests=$(ls "$here"/test_*.py)
fi

passed=0
failed=0
bad_tests=
out=$(mktemp "${TMPDIR:-/tmp}/varve-e2e-out.XXXXXX")
trap 'rm -f "$out"' EXIT INT TERM

for t in $tests; do
	name=$(basename "$t" .py)
	echo "== $name"
	start=$(date +%s)
	# timeout(1) sends SIGTERM first; the tests stop their servers on it.
	timeout -k 20 "$timeout_s" "$PYTHON" "$t" "$build" "$PROMETHEUS" >"$out" 2>&1
	rc=$?
	cat "$out"
	line=$(grep -E '^RESULT: [0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
	if [ -n "$line" ]; then
		set -- $line
		p=$2
		f=$4
	else
		p=0
		f=0
	fi
	if [ $rc -eq 77 ]; then
		# the test's own "skip" status (automake convention)
		echo "== $name: skipped"
		continue
	fi
	if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
		# crashed, timed out or exited non-zero without a failed case
		f=1
	fi
	if [ $rc -eq 124 ]; then
		echo "$name: timed out after ${timeout_s}s"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	if [ $rc -ne 0 ]; then
		bad_tests="$bad_tests $name"
	fi
	echo "== $name: exit $rc, $p passed, $f failed, $(( $(date +%s) - start ))s"
done

if [ -n "$bad_tests" ]; then
	echo "failed tests:$bad_tests"
fi
echo "$passed passed, $failed failed"
[ -z "$bad_tests" ] && [ $failed -eq 0 ] && [ $passed -gt 0 ]
