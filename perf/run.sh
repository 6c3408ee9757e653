#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# run.sh: run one benchmark and hold its figures against the reference it is
# compared with, measured in the same run (SPEC.md section 7).
#
#   perf/run.sh NAME [--quick]   install what is missing (tools/install-deps
#                                --perf), build build/perf (release, hot
#                                asserts off; reused when present), run NAME,
#                                print a table of its figures beside the
#                                reference's, append an entry to
#                                perf/RESULTS.md and end with one JSON line:
#     {"bench": NAME, "machine": "...", "figures": {FIGURE: {"value": V,
#      "unit": U, "reference": R, "reference_name": "...", "target": T}}}
#   perf/run.sh --list           the benchmarks and what each measures
#
# A benchmark is a script perf/bench_NAME.sh; files it needs (job files,
# configurations, a C program's source) sit beside it as perf/NAME/ or
# perf/bench_NAME.c built by perf/meson.build. The script's line
# "# summary: ..." is what --list shows. run.sh runs it from the project root
# with SL_PERF_BUILD (the absolute build directory) and SL_SOURCE_ROOT set
# and --quick passed on. It prints, on stdout, tab-separated lines:
#   figure  NAME  VALUE  UNIT  REFERENCE  REFERENCE_NAME   (REFERENCE may be -)
#   target  NAME  VALUE  ISSUE                              (optional)
# Other stdout lines and all of stderr reach the terminal. A non-zero exit
# means no figures: nothing is recorded. perf/README.md says more.
#
# Exit: 0 done, 1 build or benchmark failed, 2 usage or unknown benchmark.
set -euo pipefail
shopt -s nullglob

perf_dir=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$perf_dir/.." && pwd)
build=build/perf
results="$perf_dir/RESULTS.md"

die() {
	echo "perf/run.sh: $*" >&2
	exit 1
}

list_benches() {
	local f name summary

	for f in "$perf_dir"/bench_*.sh; do
		name=${f##*/bench_}
		name=${name%.sh}
		summary=$(awk '/^# summary: /{sub(/^# summary: /, ""); print; exit}' "$f")
		printf '  %-12s %s\n' "$name" "$summary"
	done
}

usage() {
	echo "usage: perf/run.sh NAME [--quick] | --list" >&2
	echo "benchmarks:" >&2
	list_benches >&2
	exit 2
}

# "Intel Xeon Gold 6430, 32 cores/64 threads, 251 GiB": short enough to read
# in a table, enough to tell two machines apart.
machine_desc() {
	local model threads cores mem

	model=$(awk -F': *' '/^model name/{print $2; exit}' /proc/cpuinfo)
	[ -n "$model" ] || model=$(uname -m)
	model=$(echo "$model" | sed -e 's/(R)//g; s/(TM)//g; s/ CPU / /; s/ @ .*//; s/  */ /g; s/ *$//')
	threads=$(grep -c '^processor' /proc/cpuinfo)
	cores=$(awk -F': *' '/^physical id/{p=$2} /^core id/{print p ":" $2}' /proc/cpuinfo |
		sort -u | wc -l)
	[ "$cores" -gt 0 ] || cores=$threads
	mem=$(awk '/^MemTotal:/{printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
	if [ "$cores" -eq "$threads" ]; then
		echo "$model, $cores cores, $mem"
	else
		echo "$model, $cores cores/$threads threads, $mem"
	fi
}

# Reads the benchmark's stdout; MODE=table prints the table, MODE=json the
# JSON line. Fails on a malformed or missing figure.
report() {
	awk -F'\t' -v mode="$1" -v bench="$name" -v machine="$machine" '
	function isnum(s) { return s ~ /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$/ }
	function jstr(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return "\"" s "\"" }
	function bad(why) { print "perf/run.sh: " why ": " $0 > "/dev/stderr"; failed = 1 }
	$1 == "figure" {
		if (NF != 6 || $2 == "" || !isnum($3) || ($5 != "-" && !isnum($5)))
			bad("malformed figure line")
		else if ($2 in idx)
			bad("figure given twice")
		else {
			n++; idx[$2] = n; fig[n] = $2; val[n] = $3; unit[n] = $4
			ref[n] = $5; refname[n] = $6
		}
		next
	}
	$1 == "target" {
		if (NF < 3 || !isnum($3)) bad("malformed target line")
		else tgt[$2] = $3
		next
	}
	mode == "table" { print > "/dev/stderr" }
	END {
		if (failed) exit 1
		if (n == 0) { print "perf/run.sh: the benchmark printed no figures" > "/dev/stderr"; exit 1 }
		for (t in tgt) if (!(t in idx)) {
			print "perf/run.sh: target for unknown figure " t > "/dev/stderr"; exit 1
		}
		if (mode == "json") {
			s = "{\"bench\": " jstr(bench) ", \"machine\": " jstr(machine) ", \"figures\": {"
			for (i = 1; i <= n; i++) {
				s = s (i > 1 ? ", " : "") jstr(fig[i]) ": {\"value\": " val[i]
				s = s ", \"unit\": " jstr(unit[i])
				s = s ", \"reference\": " (ref[i] == "-" ? "null" : ref[i])
				s = s ", \"reference_name\": " (refname[i] == "" ? "null" : jstr(refname[i]))
				s = s ", \"target\": " (fig[i] in tgt ? tgt[fig[i]] : "null") "}"
			}
			print s "}}"
			exit 0
		}
		w = length("figure")
		for (i = 1; i <= n; i++) if (length(fig[i]) > w) w = length(fig[i])
		fmt = "%-" w "s  %14s  %14s  %7s  %10s  %s\n"
		printf fmt, "figure", "sluice", "reference", "ratio", "target", "reference name"
		for (i = 1; i <= n; i++) {
			r = ref[i] == "-" ? "-" : ref[i] " " unit[i]
			q = (ref[i] == "-" || ref[i] + 0 == 0) ? "-" : sprintf("%.2fx", val[i] / ref[i])
			printf fmt, fig[i], val[i] " " unit[i], r, q,
				(fig[i] in tgt ? tgt[fig[i]] : "-"), refname[i]
		}
	}' "$out"
}

# The entry for perf/RESULTS.md, appended under a lock so that two runs
# never interleave their lines.
record() {
	local when rev load

	when=$(date -u '+%Y-%m-%d %H:%M UTC')
	rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || true)
	if [ -n "$rev" ] && ! git -C "$root" diff --quiet HEAD 2>/dev/null; then
		rev="$rev with uncommitted changes"
	fi
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	{
		flock 9
		{
			echo
			echo "## $when: $name${quick:+ (quick)}"
			echo
			echo "- machine: $machine"
			echo "- command: \`perf/run.sh $cmdline\`"
			[ -z "$rev" ] || echo "- tree: $rev"
			echo "- load average before the run: $load"
			echo
			echo '```text'
			echo "$table"
			echo '```'
			echo
			echo '```json'
			echo "$json"
			echo '```'
		} >&9
	} 9>>"$results"
}

[ $# -ge 1 ] || usage
if [ "$1" = "--list" ]; then
	list_benches
	exit 0
fi
case $1 in -h | --help) usage ;; esac
name=$1
cmdline="$*"
shift
quick=
bench_args=()
for a in "$@"; do
	case $a in
	--quick)
		quick=1
		bench_args+=(--quick)
		;;
	*) usage ;;
	esac
done
script="$perf_dir/bench_$name.sh"
if ! [[ $name =~ ^[a-z0-9_]+$ ]] || [ ! -f "$script" ]; then
	echo "perf/run.sh: unknown benchmark '$name'" >&2
	usage
fi

cd "$root"
grep -q "^subdir('perf')" meson.build ||
	die "the root meson.build has no subdir('perf'), so nothing in perf/ is built"
tools/install-deps --perf

# One benchmark at a time on this tree: two would measure each other.
mkdir -p build
exec 8>build/perf.lock
if ! flock -n 8; then
	echo "perf/run.sh: another perf/run.sh is running here; waiting for it" >&2
	flock 8
fi

out=$(mktemp)
log=$(mktemp)
trap 'rm -f "$out" "$log"' EXIT
if [ ! -f "$build/build.ninja" ]; then
	echo "perf/run.sh: meson setup $build (release, hot asserts off)" >&2
	meson setup "$build" --buildtype=release -Dhot_asserts=disabled >"$log" 2>&1 ||
		{ cat "$log" >&2; die "meson setup $build failed"; }
fi
ninja -C "$build" >"$log" 2>&1 || { tail -n 40 "$log" >&2; die "ninja -C $build failed"; }

machine=$(machine_desc)
echo "perf/run.sh: $name on $machine" >&2
if ! SL_PERF_BUILD="$root/$build" SL_SOURCE_ROOT="$root" "$script" ${bench_args[@]+"${bench_args[@]}"} >"$out"; then
	die "benchmark $name failed; nothing recorded"
fi

table=$(report table) || die "benchmark $name gave no usable figures; nothing recorded"
json=$(report json 2>/dev/null)
record
echo "perf/run.sh: recorded in perf/RESULTS.md" >&2
echo
echo "$table"
echo
echo "$json"
