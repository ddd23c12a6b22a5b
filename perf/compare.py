#!/usr/bin/env python3
"""Compares two perf/run.sh result directories (e.g. two commits):
perf/compare.py perf-results/OLD perf-results/NEW"""
import runpy
import sys

if len(sys.argv) != 3:
    sys.exit("usage: compare.py OLD_RESULTS_DIR NEW_RESULTS_DIR")
runpy.run_path(__file__.replace("compare.py", "summary.py"), run_name="__main__")
