#!/bin/sh
# Runs the ZIP intake fuzzer for a bounded time from a freshly generated seed
# corpus. A crashing input is kept in the build directory
# (zip_intake_fuzz-crash-*) for the unit test that should follow it.
# Usage: run_fuzz.sh SEED_GENERATOR FUZZER SECONDS
set -eu
gen=$1 fuzz=$2 secs=$3
# Each input is unpacked to disk; tmpfs keeps that from dominating the run.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  TMPDIR=/dev/shm
  export TMPDIR
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
"$gen" "$work/corpus"
# The target keeps its scratch directory under TMPDIR; inside $work it goes
# away with the rest.
TMPDIR=$work "$fuzz" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -timeout=10 \
  -print_final_stats=1 -artifact_prefix=./zip_intake_fuzz- "$work/corpus"
