#!/usr/bin/env python3
"""Prints a table of every benchmark in a perf/run.sh results directory:
time per iteration and the counters each benchmark reports (p50/p99,
phases, bytes/s), thaw-bench's series (p50 plus the other percentiles,
invocations/s, CPU per invocation) and the VM peers' boot/restore times.
With two directories, prints the ratio new/old."""
import json
import pathlib
import sys


def load(directory):
    rows = {}
    for path in sorted(pathlib.Path(directory).glob("*.json")):
        if path.name == "machine.json":
            continue
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            print(f"{path}: not valid JSON ({e})", file=sys.stderr)
            continue
        # thaw-bench: each series by its p50, with the other percentiles,
        # rates and CPU as counters; cold-start phases likewise.
        for group in ("series", "cold_phases"):
            for name, v in (data.get(group) or {}).items():
                counters = {k: x for k, x in v.items()
                            if isinstance(x, (int, float)) and k not in ("p50_us", "count", "min_us")}
                prefix = "cold phase " if group == "cold_phases" else ""
                rows[f"{path.stem}/{prefix}{name}"] = (v.get("p50_us", 0.0), "us", counters)
        # vm_peers.py: boot seconds and restore p50.
        for name, v in data.items() if path.stem == "vm_peers" else ():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                rows[f"{path.stem}/{name}"] = (float(v) * 1e3, "ms", {})
            elif isinstance(v, dict) and "p50_ms" in v:
                rows[f"{path.stem}/{name}"] = (v["p50_ms"], "ms", {k: x for k, x in v.items() if k != "p50_ms"})
        for b in data.get("benchmarks", []) if isinstance(data, dict) else ():
            if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
                continue
            counters = {k: v for k, v in b.items() if isinstance(v, (int, float)) and k not in (
                "family_index", "per_family_instance_index", "repetitions", "repetition_index",
                "threads", "iterations", "real_time", "cpu_time")}
            rows[f"{path.stem}/{b['name']}"] = (b.get("real_time", 0.0), b.get("time_unit", "ns"), counters)
    return rows


def fmt_counters(counters):
    return " ".join(f"{k}={v:.4g}" for k, v in sorted(counters.items()))


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: summary.py RESULTS_DIR [NEW_RESULTS_DIR]")
    old = load(sys.argv[1])
    machine = pathlib.Path(sys.argv[1]) / "machine.json"
    if machine.exists():
        print("machine:", machine.read_text().replace("\n", " "))
    if len(sys.argv) == 2:
        for name, (t, unit, counters) in old.items():
            print(f"{name:70s} {t:12.1f} {unit:2s}  {fmt_counters(counters)}")
        return
    new = load(sys.argv[2])
    for name in sorted(set(old) & set(new)):
        t0, unit, _ = old[name]
        t1, _, _ = new[name]
        ratio = t1 / t0 if t0 else float("nan")
        print(f"{name:70s} {t0:12.1f} -> {t1:12.1f} {unit:2s}  x{ratio:.3f}")


if __name__ == "__main__":
    main()
