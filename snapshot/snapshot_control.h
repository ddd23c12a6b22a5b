// thaw-vmm's control target with snapshots: the Vmm's pause/resume/stats/
// stop plus the "snapshot" op, which saves the VM into a directory from the
// control socket's thread (the VMM's IO loop) and leaves it paused.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "common/result.h"
#include "sandbox/vmm/vmm.h"
#include "sandbox/vmm/vmm_control.h"
#include "snapshot/snapshot_state.h"

namespace thaw::snapshot {

// "base", "function" or "test"; nullopt for anything else.
std::optional<SnapshotKind> parse_snapshot_kind(std::string_view name);

class SnapshotControl : public sandbox::VmmControl {
 public:
  explicit SnapshotControl(sandbox::Vmm& vmm) : VmmControl(vmm), vmm_(vmm) {}
  // Saves into `dir`; the reply carries the sizes and phase times. Runs on
  // the IO loop thread (ControlSocket serves requests there).
  // `kind` is "base" (when empty), "function" or "test".
  Result<boost::json::object> snapshot(const std::string& dir, std::string_view kind) override;

 private:
  sandbox::Vmm& vmm_;
};

}  // namespace thaw::snapshot
