#!/bin/sh
# recording-cpu.sh: CPU time per recording (begin, finish, store; file
# backend, spool and store under $TMPDIR) of two builds of recording/,
# run alternately so that a busy machine disturbs both alike.
#
#   go test -c -o /tmp/base.test ./recording   # on the base commit
#   go test -c -o /tmp/new.test ./recording    # on the new one
#   bench/recording-cpu.sh /tmp/base.test /tmp/new.test [rounds] [recordings]
#
# Prints each run's CPU ns per recording (getrusage user+system, from
# BenchmarkRecordingLifecycle), the medians, and for each build the
# system calls per recording counted by strace -c -f and, when perf is
# allowed, its task-clock.
#
# GAP=65 waits 65 s before each run: on an ext4 without a journal (this
# VM's root), allocating an inode skips the inodes freed in the last 60 s
# (300 s while their inode-table block is dirty; recently_deleted in
# fs/ext4/ialloc.c), one inode-table lookup each, so a run's creates cost
# more right after the previous run removed its files. With a gap each run
# measures its own file work only.
set -eu
base=$1 new=$2 rounds=${3:-7} n=${4:-1000}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run() { # build label
	[ "${GAP:-0}" -gt 0 ] && sleep "$GAP"
	"$1" -test.run '^$' -test.bench '^BenchmarkRecordingLifecycle$' -test.benchtime "${n}x" -test.count 1 |
		awk -v l="$2" '/^BenchmarkRecordingLifecycle/ {for (i = 1; i < NF; i++) { if ($(i+1) == "cpu-ns/op") c = $i; if ($(i+1) == "sys-ns/op") s = $i; if ($(i+1) == "user-ns/op") u = $i }; print l, c, s, u}'
}
i=0
while [ "$i" -lt "$rounds" ]; do
	if [ $((i % 2)) -eq 0 ]; then run "$base" base; run "$new" new; else run "$new" new; run "$base" base; fi
	i=$((i + 1))
done >"$out/runs"
echo "runs (build, cpu ns/recording, sys, user):"
cat "$out/runs"
for l in base new; do
	for col in 2 3 4; do
		awk -v l="$l" -v c="$col" '$1 == l {print $c}' "$out/runs" | sort -n >"$out/col"
		k=$(wc -l <"$out/col")
		printf '%s ' "$(sed -n "$(((k + 1) / 2))p" "$out/col")"
	done | awk -v l="$l" '{printf "median %s: cpu %.0f µs, sys %.0f µs, user %.0f µs per recording\n", l, $1/1000, $2/1000, $3/1000}'
done
for l in base new; do
	eval bin=\$$l
	strace -c -f -o "$out/strace" "$bin" -test.run '^$' -test.bench '^BenchmarkRecordingLifecycle$' -test.benchtime "${n}x" -test.count 1 >/dev/null
	awk -v l="$l" -v n="$n" '$NF == "total" {printf "strace %s: %.1f system calls per recording\n", l, $4/n}' "$out/strace"
	grep -E ' (openat|fsync|rename|renameat|unlink|unlinkat|write|pwrite64|read|fcntl|epoll_ctl|link|linkat|utimensat|ftruncate|newfstatat|fstat|close|lseek)$' "$out/strace" |
		awk -v l="$l" -v n="$n" '{printf "  %s %s %.2f", l, $NF, $4/n} END {print ""}'
	if perf stat -e task-clock -x, -o "$out/perf" "$bin" -test.run '^$' -test.bench '^BenchmarkRecordingLifecycle$' -test.benchtime "${n}x" -test.count 1 >/dev/null 2>&1; then
		awk -F, -v l="$l" -v n="$n" '$3 == "task-clock" {printf "perf %s: task-clock %.0f µs per recording (whole process, setup included)\n", l, $1*1000/n}' "$out/perf"
	fi
done
