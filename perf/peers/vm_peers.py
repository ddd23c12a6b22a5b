#!/usr/bin/env python3
"""QEMU microvm beside thaw-vmm, same guest kernel, initramfs and command
line: boot time (process start to the test initramfs's userspace marker on
the serial console) and snapshot restore time (process start to the
restored VM running: QEMU's RESUME event after -incoming, thaw-vmm's
control socket answering after --restore). Each VM is snapshotted right
after its marker (QEMU: QMP stop + migrate to a file; thaw-vmm: the
control socket's snapshot op), before the initramfs reboots: QEMU cannot
reboot on PVM hosts (its firmware's 32-bit code is not emulated) and hangs,
so the script kills each VM once it has what it measures.

  usage: vm_peers.py --thaw-vmm PATH --guest-dir DIR --out DIR [--restores N]
                     [--vmlinux] [--boot-timeout S] [--no-boot] [--cache DIR] [--check]
Each boot's snapshot is kept under --cache (per guest build), so a run whose
boots are skipped (--no-boot) or too slow still compares restores.
Writes OUT/vm_peers.json and OUT/vm_peers.md. --check only verifies that
the peers can run here (and says why not) without booting anything.
"""
import argparse
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

MARKER = b"THAW-GUEST-USERSPACE-OK"
BOOT_TIMEOUT_S = 300
boot_timeout = BOOT_TIMEOUT_S  # --boot-timeout


def qemu_cpu():
    # PVM: -cpu host fails (MSR 0x10a); qemu64 with an Intel vendor and no
    # POPCNT is what guest/PLATFORM.md found to boot.
    return "qemu64,vendor=GenuineIntel,-popcnt"


def wait_for_marker(path, proc, timeout):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if MARKER in pathlib.Path(path).read_bytes():
                return True
        except FileNotFoundError:
            pass
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def store_in_cache(src, dst):
    """Replaces dst with a copy of src (a file or a directory)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (shutil.copytree if src.is_dir() else shutil.copy2)(src, tmp)
    if dst.is_dir():
        shutil.rmtree(dst)
    os.replace(tmp, dst)


def guest_progress(path):
    """The last kernel timestamp on a serial log: how far a slow boot got."""
    stamps = re.findall(rb"^\[\s*([0-9]+\.[0-9]+)\]", pathlib.Path(path).read_bytes(), re.M) \
        if pathlib.Path(path).exists() else []
    return f"guest clock at {float(stamps[-1]):.0f} s" if stamps else "no kernel output"


def kill(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


def tail(path, n=400):
    try:
        return pathlib.Path(path).read_bytes()[-n:].decode(errors="replace")
    except FileNotFoundError:
        return "(no output)"


class Qmp:
    def __init__(self, path, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"QMP socket {path} did not appear within {timeout} s")
                time.sleep(0.005)
        self.buf = b""
        self.events = []
        self.read()  # greeting
        self.execute("qmp_capabilities")

    def read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def execute(self, cmd, **args):
        self.sock.sendall(json.dumps({"execute": cmd, "arguments": args}).encode() + b"\n")
        while True:
            msg = self.read()
            if "event" in msg:
                self.events.append(msg)
                continue
            if "error" in msg:
                raise RuntimeError(f"QMP {cmd}: {msg['error']}")
            return msg.get("return")

    def wait_event(self, name, timeout, data=None):
        deadline = time.monotonic() + timeout
        self.sock.settimeout(timeout)
        match = lambda e: e["event"] == name and (data is None or all(
            e.get("data", {}).get(k) == v for k, v in data.items()))
        while not any(match(e) for e in self.events):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no QMP {name} event within {timeout} s")
            msg = self.read()
            if "event" in msg:
                self.events.append(msg)


def qemu_base(g, work, serial, qmp):
    return ["qemu-system-x86_64", "-M", "microvm", "-enable-kvm", "-cpu", qemu_cpu(), "-m", "256",
            "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none",
            "-serial", f"file:{serial}", "-qmp", f"unix:{qmp},server=on,wait=off",
            "-kernel", str(g / "bzImage"), "-initrd", str(g / "initramfs-test.cpio"),
            "-append", (g / "cmdline").read_text().strip()]


def qemu_boot_and_save(g, work):
    serial, qmp_path, state = work / "qemu-boot.log", work / "qemu-boot.qmp", work / "qemu.state"
    start = time.monotonic()
    proc = subprocess.Popen(qemu_base(g, work, serial, qmp_path), stdout=subprocess.DEVNULL,
                            stderr=open(work / "qemu-boot.err", "wb"))
    try:
        qmp = Qmp(str(qmp_path))
        if not wait_for_marker(serial, proc, boot_timeout):
            raise RuntimeError(f"QEMU did not reach the marker within {boot_timeout} s "
                               f"({guest_progress(serial)}, load {os.getloadavg()[0]:.1f}); "
                               f"stderr: {tail(work / 'qemu-boot.err', 200)}")
        boot = time.monotonic() - start
        qmp.execute("stop")
        qmp.execute("migrate", uri=f"exec:cat > {state}")
        while qmp.execute("query-migrate").get("status") not in ("completed", "failed"):
            time.sleep(0.01)
        status = qmp.execute("query-migrate").get("status")
        if status != "completed":
            raise RuntimeError(f"QEMU migrate to file: {status}")
        return boot, state
    finally:
        kill(proc)


def qemu_restore(g, work, state, i):
    serial, qmp_path = work / f"qemu-restore{i}.log", work / f"qemu-restore{i}.qmp"
    args = qemu_base(g, work, serial, qmp_path) + ["-incoming", "defer"]
    start = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(work / f"qemu-restore{i}.err", "wb"))
    try:
        qmp = Qmp(str(qmp_path))
        qmp.execute("migrate-set-capabilities", capabilities=[{"capability": "events", "state": True}])
        qmp.execute("migrate-incoming", uri=f"exec:cat {state}")
        qmp.wait_event("MIGRATION", 60, {"status": "completed"})
        # The source was stopped for the save, so the destination stays
        # paused (QEMU keeps the source's run state): resume it, as a
        # restore-and-run would.
        qmp.execute("cont")
        qmp.wait_event("RESUME", 60)
        return time.monotonic() - start
    finally:
        kill(proc)


def vmm_control(path, request, timeout=60):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(str(path))
    s.sendall(json.dumps(request).encode() + b"\n")
    buf = b""
    while b"\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    reply = json.loads(buf.split(b"\n", 1)[0] or b"{}")
    if not reply.get("ok"):
        raise RuntimeError(f"thaw-vmm {request['op']}: {reply}")
    return reply


def vmm_boot(vmm, g, work, kernel, snapshot_dir=None):
    serial, api = work / f"vmm-boot-{kernel}.log", work / f"vmm-{kernel}.sock"
    args = [vmm, "--kernel", str(g / kernel), "--initrd", str(g / "initramfs-test.cpio"),
            "--cpu-model", (g / "cpu-model").read_text().strip(), "--cmdline",
            (g / "cmdline").read_text().strip(), "--mem", "256", "--vcpus", "1", "--serial", str(serial),
            "--api-sock", str(api)]
    start = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(work / f"vmm-boot-{kernel}.err", "wb"))
    try:
        if not wait_for_marker(serial, proc, boot_timeout):
            raise RuntimeError(f"thaw-vmm ({kernel}) did not reach the marker within {boot_timeout} s "
                               f"({guest_progress(serial)}, load {os.getloadavg()[0]:.1f}); "
                               f"stderr: {tail(work / f'vmm-boot-{kernel}.err', 200)}")
        boot = time.monotonic() - start
        if snapshot_dir:
            vmm_control(api, {"op": "snapshot", "dir": str(snapshot_dir)})
        return boot
    finally:
        kill(proc)


def vmm_restore(vmm, work, snapshot_dir, i):
    api = work / f"vmm-restore{i}.sock"
    args = [vmm, "--restore", str(snapshot_dir), "--serial", str(work / f"vmm-restore{i}.log"),
            "--api-sock", str(api)]
    start = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(work / f"vmm-restore{i}.err", "wb"))
    try:
        # The control socket is created once the state is set, right before
        # the vCPUs start: the same point as QEMU's RESUME.
        while not api.exists():
            if proc.poll() is not None:
                raise RuntimeError("thaw-vmm --restore exited: " + tail(work / f"vmm-restore{i}.err"))
            if time.monotonic() - start > 60:
                raise RuntimeError("thaw-vmm --restore: no control socket within 60 s")
            time.sleep(0.0005)
        vmm_control(api, {"op": "stats"})
        return time.monotonic() - start
    finally:
        kill(proc)


def check(args):
    """Reasons the peers cannot run here; empty when they can."""
    why = []
    g = pathlib.Path(args.guest_dir) if args.guest_dir else None
    if not g or not (g / "complete").exists():
        why.append("no built guest (THAW_GUEST_DIR / tools/build-guest.sh --only-if-cached --print-dir)")
    else:
        for f in ("bzImage", "vmlinux", "initramfs-test.cpio", "cmdline", "cpu-model"):
            if not (g / f).exists():
                why.append(f"guest dir {g} lacks {f}")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        why.append("/dev/kvm is missing or not accessible")
    if not shutil.which("qemu-system-x86_64"):
        why.append("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)")
    if not args.thaw_vmm or not os.access(args.thaw_vmm, os.X_OK):
        why.append(f"thaw-vmm '{args.thaw_vmm}' is not executable")
    return why


def summarize(samples):
    s = sorted(samples)
    return {"n": len(s), "min_ms": s[0] * 1e3, "p50_ms": s[len(s) // 2] * 1e3, "max_ms": s[-1] * 1e3} if s else None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--thaw-vmm", required=True)
    p.add_argument("--guest-dir", default=os.environ.get("THAW_GUEST_DIR", ""))
    p.add_argument("--out", required=True)
    p.add_argument("--restores", type=int, default=3)
    p.add_argument("--vmlinux", action="store_true",
                   help="also boot thaw-vmm from vmlinux (what it boots on PVM: no decompressor)")
    p.add_argument("--boot-timeout", type=int, default=BOOT_TIMEOUT_S, help="seconds per boot")
    p.add_argument("--check", action="store_true", help="only check the peers can run")
    p.add_argument("--no-boot", action="store_true", help="skip the boots; restore cached snapshots")
    p.add_argument("--cache", default=os.path.join(os.environ.get("THAW_CACHE", os.path.expanduser("~/.cache/thaw")),
                                                   "perf-peers"),
                   help="where each boot's snapshot is kept for later restores (per guest build)")
    args = p.parse_args()
    global boot_timeout
    boot_timeout = args.boot_timeout
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"guest_dir": args.guest_dir, "skipped": check(args), "errors": []}
    qemu_version = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout \
        if shutil.which("qemu-system-x86_64") else ""
    result["qemu"] = qemu_version.splitlines()[0] if qemu_version else ""
    if not result["skipped"] and not args.check:
        g = pathlib.Path(args.guest_dir)
        with tempfile.TemporaryDirectory(prefix="thaw-peers-") as tmp:
            work = pathlib.Path(tmp)
            # Both boots run at once: on a shared host whose load swings by
            # 2x within minutes (PLATFORM.md), side by side is the fair way
            # for two boots whose every guest instruction is host CPU time.
            boots = {}

            def boot(name, fn):
                try:
                    boots[name] = fn()
                except Exception as e:  # one peer failing must not hide the other's figures
                    result["errors"].append(f"{name} boot: {e}")

            threads = [] if args.no_boot else [
                threading.Thread(target=boot, args=("qemu", lambda: qemu_boot_and_save(g, work))),
                threading.Thread(target=boot, args=("thaw-vmm", lambda: (vmm_boot(
                    args.thaw_vmm, g, work, "bzImage", work / "vmm-snap"), work / "vmm-snap")))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            result["boots ran concurrently"] = not args.no_boot
            cache = pathlib.Path(args.cache) / g.name
            for name in ("qemu", "thaw-vmm"):
                cached = cache / ("qemu.state" if name == "qemu" else "vmm-snap")
                if name in boots:
                    seconds, state = boots[name]
                    result[f"{name} boot bzImage (s)"] = seconds
                    store_in_cache(state, cached)
                elif cached.exists():
                    # No boot this run (skipped or too slow): restore the
                    # snapshot an earlier run saved; restore is host-side work.
                    state = cached
                    result[f"{name} restore source"] = f"cached snapshot {cached} ({time.ctime(cached.stat().st_mtime)})"
                else:
                    continue
                try:
                    restores = [qemu_restore(g, work, state, i) if name == "qemu"
                                else vmm_restore(args.thaw_vmm, work, state, i) for i in range(args.restores)]
                    result[f"{name} restore"] = summarize(restores)
                except Exception as e:
                    result["errors"].append(f"{name} restore: {e}")
            if args.vmlinux:
                try:
                    result["thaw-vmm boot vmlinux (s)"] = vmm_boot(args.thaw_vmm, g, work, "vmlinux")
                except Exception as e:
                    result["errors"].append(f"thaw-vmm vmlinux: {e}")
    (out / "vm_peers.json").write_text(json.dumps(result, indent=2))
    md = ["# VM peers: QEMU microvm vs thaw-vmm (same kernel, initramfs, command line)", ""]
    if result["skipped"]:
        md.append("Skipped: " + "; ".join(result["skipped"]))
    elif args.check:
        md.append("Check only: QEMU, /dev/kvm, the guest and thaw-vmm are present.")
    else:
        md += ["| figure | QEMU microvm | thaw-vmm |", "|---|---|---|"]
        fmt_s = lambda v: f"{v:.1f} s" if isinstance(v, float) else "n/a"
        md.append(f"| boot to userspace marker, bzImage (both at once) | {fmt_s(result.get('qemu boot bzImage (s)'))} | "
                  f"{fmt_s(result.get('thaw-vmm boot bzImage (s)'))} |")
        if "thaw-vmm boot vmlinux (s)" in result:
            md.append(f"| boot to marker, vmlinux (no decompressor) | n/a (QEMU needs PVH for an ELF) | "
                      f"{fmt_s(result['thaw-vmm boot vmlinux (s)'])} |")
        rs = lambda r: f"p50 {r['p50_ms']:.1f} ms (min {r['min_ms']:.1f}, max {r['max_ms']:.1f}, n={r['n']})" if r else "n/a"
        md.append(f"| restore to running | {rs(result.get('qemu restore'))} | {rs(result.get('thaw-vmm restore'))} |")
        for name in ("qemu", "thaw-vmm"):
            if f"{name} restore source" in result:
                md.append(f"\n{name}: no boot this run; restored the {result[name + ' restore source']}")
        md += ["", "Boot time on PVM is emulated guest-kernel time (not representative of hardware KVM); "
               "restore is host-side work. " + result["qemu"]]
    for e in result["errors"]:
        md.append(f"\nError: {e}")
    (out / "vm_peers.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
