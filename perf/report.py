#!/usr/bin/env python3
"""Assembles report.md for a perf/run.sh results directory: the machine
facts, every micro-benchmark (summary.py's table), the thaw-bench
summaries (process and microvm backends, native baseline and ratios), the
QEMU/thaw-vmm peers, anything that failed, and the suite's wall time.
  usage: report.py RESULTS_DIR [SECONDS]"""
import json
import pathlib
import runpy
import sys


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    d = pathlib.Path(sys.argv[1])
    summary = runpy.run_path(str(pathlib.Path(__file__).with_name("summary.py")))
    lines = ["# thaw perf report", ""]
    machine = d / "machine.json"
    if machine.exists():
        for k, v in json.loads(machine.read_text()).items():
            lines.append(f"- {k}: {v}")
    if len(sys.argv) == 3:
        lines.append(f"- suite wall time: {sys.argv[2]} s")
    rows = summary["load"](d)
    lines += ["", "## Micro-benchmarks (Google Benchmark; time per iteration and counters)", ""]
    if rows:
        lines += ["| benchmark | time | counters |", "|---|---|---|"]
        for name, (t, unit, counters) in rows.items():
            lines.append(f"| {name} | {t:.1f} {unit} | {summary['fmt_counters'](counters)} |")
    else:
        lines.append("(none ran)")
    for stem, title in (("thaw-bench-process", "thawd, process backend (and native baseline)"),
                        ("thaw-bench-microvm", "thawd, microvm backend"),
                        ("vm_peers", "QEMU microvm vs thaw-vmm")):
        md = d / f"{stem}.md"
        lines.append("")
        if md.exists():
            # The file's own title becomes this section's heading.
            lines += [("#" + l if l.startswith("#") else l) for l in md.read_text().strip().splitlines()]
        else:
            lines += [f"## {title}", "", "(not run)"]
    failures = d / "failures.txt"
    if failures.exists() and failures.read_text().strip():
        lines += ["", "## Failures", ""] + [f"- {l.strip()}" for l in failures.read_text().splitlines() if l.strip()]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
