#include "snapshot/snapshot_control.h"

#include "snapshot/vm_snapshot.h"

namespace thaw::snapshot {

std::optional<SnapshotKind> parse_snapshot_kind(std::string_view name) {
  if (name == "base") return SnapshotKind::kBase;
  if (name == "function") return SnapshotKind::kFunction;
  if (name == "test") return SnapshotKind::kTest;
  return std::nullopt;
}

Result<boost::json::object> SnapshotControl::snapshot(const std::string& dir,
                                                      std::string_view kind_name) {
  auto kind = parse_snapshot_kind(kind_name.empty() ? "base" : kind_name);
  if (!kind) {
    return Error::format("snapshot kind \"{}\" is not one of base, function, test", kind_name);
  }
  auto stats = save_snapshot(vmm_, dir, *kind, SaveCaller::kIoLoopThread);
  if (!stats) return std::move(stats).error();
  boost::json::object reply;
  reply["dir"] = dir;
  reply["state"] = "paused";  // the client resumes or stops the VM
  reply["memory_bytes"] = stats->memory_bytes;
  reply["memory_bytes_written"] = stats->memory_bytes_written;
  reply["state_bytes"] = stats->state_bytes;
  reply["pause_us"] = stats->pause_ns / 1000;
  reply["capture_us"] = stats->capture_ns / 1000;
  reply["write_us"] = stats->write_ns / 1000;
  return reply;
}

}  // namespace thaw::snapshot
