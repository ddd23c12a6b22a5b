#!/usr/bin/env python3
"""Writes machine.json for a perf/run.sh results directory: what a figure
must be quoted with (commit, CPU model, cores, kernel, KVM kind and its
summary from thawd --doctor, memory, load average, QEMU version, the guest
artefacts used, whether this was a smoke run).
  usage: machine_facts.py OUT_JSON COMMIT DOCTOR_JSON GUEST_DIR SMOKE"""
import json
import os
import platform
import subprocess
import sys
import time


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    out, commit, doctor_path, guest_dir, smoke = sys.argv[1:]
    try:
        doctor = json.load(open(doctor_path))
    except (OSError, json.JSONDecodeError) as e:
        doctor = {"error": f"thawd --doctor --json gave no JSON ({e})"}
    kvm = next((c.get("summary", "") for c in doctor.get("checks", []) if c.get("name") == "kvm"), "")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               "unknown")
    mem_kb = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal:")), 0)
    try:
        qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True,
                              timeout=10).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        qemu = "not installed"
    facts = {
        "commit": commit,
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "kvm_kind": doctor.get("kvm_kind", "unknown"),
        "kvm": kvm,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1048576, 1),
        "kernel": platform.release(),
        "load_avg": os.getloadavg(),
        "qemu": qemu,
        "guest_dir": guest_dir or "none (tools/build-guest.sh --only-if-cached found no build)",
        "smoke": smoke == "true",
    }
    with open(out, "w") as f:
        json.dump(facts, f, indent=2)


if __name__ == "__main__":
    main()
