#!/bin/sh
# quickstart.sh - set up, build, run or test varve on Debian 12 (run as root).
#
#   ./quickstart.sh run    install what is missing, build, start varve on ./data
#   ./quickstart.sh test   install what is missing, build, run every test
#
# "test" is exactly what CI runs: a -Werror build with make check (unit
# suites, PromQL conformance, fuzz corpora), make distcheck, the same
# checks under AddressSanitizer + UndefinedBehaviorSanitizer, and the
# end-to-end tests against real peers (Debian's prometheus and promtool).
set -eu

cd "$(dirname "$0")"
top=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

BUILD_PKGS="build-essential autoconf automake autoconf-archive libtool pkg-config
 libmicrohttpd-dev libprotobuf-c-dev protobuf-c-compiler libsnappy-dev
 libjansson-dev check libpcre2-dev libxxhash-dev zlib1g-dev"
TEST_PKGS="prometheus python3 curl python3-influxdb victoria-metrics"

install_missing() {
	missing=""
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "quickstart: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing
}

# configure_build DIR [configure flags...]: out-of-tree build in DIR
configure_build() {
	dir=$1
	shift
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" -q "$@")
}

# summary DIR...: one closing line counting every test case run in the builds:
# Check cases (from each suite's log), conformance evals and end-to-end tests.
summary() {
	passed=0
	failed=0
	for d in "$@"; do
		for log in "$d"/tests/unit/*.log; do
			[ -f "$log" ] || continue
			line=$(grep -Eo 'Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' "$log" | tail -n 1)
			[ -n "$line" ] || continue
			set -- $line
			c=${2%,}; f=${4%,}; e=$6
			passed=$((passed + c - f - e))
			failed=$((failed + f + e))
		done
		for log in "$d"/tests/promqltest/*.log "$d"/e2e.log; do
			[ -f "$log" ] || continue
			line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
			[ -n "$line" ] || continue
			set -- $line
			passed=$((passed + $1))
			failed=$((failed + $3))
		done
	done
	echo "total: $passed passed, $failed failed"
}

# run_e2e DIR: the end-to-end tests of one build, output kept for summary
run_e2e() {
	if make -C "$1" check-e2e >"$1/e2e.log" 2>&1; then rc=0; else rc=$?; fi
	cat "$1/e2e.log"
	return $rc
}

bootstrap() {
	[ -x configure ] && [ configure -nt configure.ac ] && [ Makefile.in -nt Makefile.am ] ||
		autoreconf -fi
}

cmd=${1:-}
case "$cmd" in
run)
	install_missing $BUILD_PKGS
	bootstrap
	[ -f build/Makefile ] || configure_build build
	make -C build -j"$jobs"
	mkdir -p data
	echo "quickstart: starting varve on :9201 with data in $top/data (Ctrl-C stops it)"
	exec build/varve --listen=:9201 --data-dir="$top/data"
	;;
test)
	# shellcheck disable=SC2086
	install_missing $BUILD_PKGS $TEST_PKGS
	bootstrap
	PROMQL_TEST_DIR=${PROMQL_TEST_DIR:-$top/../shared/conformance/promql}
	export PROMQL_TEST_DIR
	rm -rf build/ci build/san
	echo "== -Werror build, unit tests, conformance, fuzz corpora"
	configure_build build/ci --enable-werror
	make -C build/ci -j"$jobs"
	make -C build/ci -j"$jobs" check || { cat build/ci/test-suite.log; exit 1; }
	echo "== end-to-end tests against real peers"
	run_e2e build/ci
	echo "== ASan + UBSan build, unit tests, conformance, fuzz corpora"
	configure_build build/san --enable-werror --enable-sanitizers
	make -C build/san -j"$jobs"
	make -C build/san -j"$jobs" check || { cat build/san/test-suite.log; exit 1; }
	echo "== end-to-end tests against the sanitized server"
	run_e2e build/san
	echo "== make distcheck"
	make -C build/ci -j"$jobs" distcheck DISTCHECK_CONFIGURE_FLAGS=--enable-werror
	echo "quickstart: every test passed"
	summary build/ci build/san
	;;
*)
	echo "usage: $0 run|test" >&2
	exit 2
	;;
esac
