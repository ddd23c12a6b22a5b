#include "snapshot/standby_control.h"

#include <time.h>

#include <fmt/format.h>

namespace thaw::snapshot {

namespace json = boost::json;

namespace {

uint64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

Result<std::string> string_field(const json::value& v, std::string_view name) {
  if (!v.is_string() || v.get_string().empty()) {
    return Error::format("restore \"{}\" must be a non-empty string", name);
  }
  return std::string(v.get_string());
}

Result<bool> bool_field(const json::value& v, std::string_view name) {
  if (!v.is_bool()) return Error::format("restore \"{}\" must be true or false", name);
  return v.get_bool();
}

Result<std::vector<sandbox::DiskConfig>> parse_disks(const json::value& v) {
  const json::array* list = v.if_array();
  if (list == nullptr) {
    return Error::format("restore \"disks\" must be an array of {{\"path\":...,\"read_only\":...}}");
  }
  std::vector<sandbox::DiskConfig> disks;
  for (size_t i = 0; i < list->size(); ++i) {
    const json::object* o = (*list)[i].if_object();
    if (o == nullptr) return Error::format("restore \"disks\"[{}] must be an object", i);
    sandbox::DiskConfig disk;
    for (const auto& kv : *o) {
      std::string name = fmt::format("disks[{}].{}", i, std::string_view(kv.key()));
      if (kv.key() == "path") {
        auto path = string_field(kv.value(), name);
        if (!path) return std::move(path).error();
        disk.path = std::move(*path);
      } else if (kv.key() == "read_only") {
        auto ro = bool_field(kv.value(), name);
        if (!ro) return std::move(ro).error();
        disk.read_only = *ro;
      } else {
        return Error::format("restore \"{}\" is not a disk field (path, read_only)", name);
      }
    }
    if (disk.path.empty()) return Error::format("restore \"disks\"[{}] needs a \"path\"", i);
    disks.push_back(std::move(disk));
  }
  return disks;
}

json::object report_json(const RestoreReport& r, uint64_t start_ns, uint64_t total_ns) {
  json::object reply;
  reply["state"] = "running";
  reply["read_state_us"] = r.timings.read_state_ns / 1000;
  reply["map_memory_us"] = r.timings.map_memory_ns / 1000;
  reply["prefetch_us"] = r.timings.prefetch_ns / 1000;
  reply["devices_us"] = r.timings.devices_ns / 1000;
  reply["set_state_us"] = r.timings.set_state_ns / 1000;
  reply["pre_fault_us"] = r.timings.pre_fault_ns / 1000;
  reply["start_us"] = start_ns / 1000;  // the vCPU threads
  reply["total_us"] = total_ns / 1000;
  reply["prefetched_pages"] = r.prefetched.pages_read + r.prefetched.pages_written;
  reply["pre_faulted_pages"] = r.pre_faulted_pages;
  if (!r.pre_fault_skipped.empty()) reply["pre_fault_skipped"] = r.pre_fault_skipped;
  return reply;
}

}  // namespace

Result<StandbyRestoreRequest> parse_restore_request(const json::object& request,
                                                    const sandbox::VmmConfig& standby) {
  StandbyRestoreRequest out;
  out.bindings = standby;
  for (const auto& kv : request) {
    std::string_view key = kv.key();
    const json::value& v = kv.value();
    if (key == "op") continue;
    if (key == "dir") {
      auto dir = string_field(v, key);
      if (!dir) return std::move(dir).error();
      out.dir = std::move(*dir);
    } else if (key == "disks") {
      auto disks = parse_disks(v);
      if (!disks) return std::move(disks).error();
      out.bindings.disks = std::move(*disks);
    } else if (key == "vsock_uds" || key == "serial") {
      auto s = string_field(v, key);
      if (!s) return std::move(s).error();
      (key == "serial" ? out.bindings.serial_path : out.bindings.vsock_uds) = std::move(*s);
    } else if (key == "vsock_cid") {
      uint64_t cid = 0;
      if (v.is_uint64()) {
        cid = v.get_uint64();
      } else if (v.is_int64() && v.get_int64() >= 0) {
        cid = static_cast<uint64_t>(v.get_int64());
      } else {
        return Error::format("restore \"vsock_cid\" must be an integer from 3 to 4294967294");
      }
      if (cid < 3 || cid > 0xFFFFFFFEu) {
        return Error::format("restore \"vsock_cid\" {} is outside 3..4294967294", cid);
      }
      out.bindings.vsock_cid = static_cast<uint32_t>(cid);
    } else if (key == "prefetch" || key == "pre_fault") {
      auto b = bool_field(v, key);
      if (!b) return std::move(b).error();
      (key == "prefetch" ? out.options.prefetch_working_set : out.options.pre_fault) = *b;
    } else {
      return Error::format("restore has unknown field \"{}\" (known: dir, disks, vsock_uds, "
                           "vsock_cid, serial, prefetch, pre_fault)",
                           key);
    }
  }
  if (out.dir.empty()) {
    return Error::format("restore needs a \"dir\" string: the snapshot directory to restore");
  }
  return out;
}

Result<json::object> StandbyControl::restore(const json::object& request) {
  uint64_t t0 = now_ns();
  auto parsed = parse_restore_request(request, vmm_.config());
  if (!parsed) return std::move(parsed).error();
  bool spent = false;
  auto report = restore_into_standby(vmm_, parsed->bindings, parsed->dir, parsed->options, spent);
  uint64_t t1 = now_ns();
  if (report) {
    if (auto r = vmm_.start(); !r) {
      report = std::move(r).error();
      spent = true;
    }
  }
  if (!report) {
    Error e = std::move(report).error().context(fmt::format("restore {}", parsed->dir));
    // A VM holding half a snapshot must not take another or run.
    if (spent) vmm_.request_stop(sandbox::kExitUsage, e.message);
    return e;
  }
  uint64_t t2 = now_ns();
  return report_json(*report, t2 - t1, t2 - t0);
}

}  // namespace thaw::snapshot
