#!/bin/sh
# Replay every committed fuzz corpus through its target (standalone driver).
# Each target fuzz_<name> reads tests/fuzz/corpus/<name>/*; a target with an
# empty or missing corpus fails the run, so a corpus cannot silently vanish.
set -eu
: "${top_srcdir:=.}" "${top_builddir:=.}"
status=0
for target in remote_write remote_write_v2 text_import line_proto chunk_roundtrip promql_parse promql_eval; do
	dir="$top_srcdir/tests/fuzz/corpus/$target"
	bin="$top_builddir/tests/fuzz/fuzz_$target"
	set -- "$dir"/*
	if [ ! -e "$1" ]; then
		echo "replay: no corpus for $target in $dir" >&2
		status=1
		continue
	fi
	"$bin" "$@" || status=1
done
exit $status
