// The durable queue of asynchronous invocations on disk: one file per event
// under <state>/events/ (written atomically: temp, fsync, rename, fsync of
// the directory), the failure log under <state>/events/failed/, and the
// reload at start. Thread-safe (every call is one file operation). Used by
// the dispatcher and the Event branch of Invoke.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "agent/async/event_record.h"
#include "common/result.h"

namespace thaw::agent {

class EventStore {
 public:
  // Creates <state_dir>/events and events/failed (0700).
  static Result<std::unique_ptr<EventStore>> open(const std::string& state_dir);

  // Durable once this returns Ok: the event survives a crash or power loss.
  Result<void> write(const QueuedEvent& event);
  // Removes the event's file and makes the removal durable.
  Result<void> remove(const std::string& request_id);
  // <state>/events/failed/<request id>.json (a failed event with no
  // OnFailure destination, or a record its destination refused).
  Result<void> write_failure_log(const std::string& request_id, std::string_view record);

  struct Loaded {
    std::vector<QueuedEvent> events;
    std::vector<std::string> warnings;  // damaged files, moved aside
  };
  // Every event file; a damaged one is moved to failed/<name>.damaged (kept
  // for the operator, never run) and named in `warnings`. Stale temp files
  // of an interrupted write are removed.
  Loaded load() const;

  std::string event_path(const std::string& request_id) const;
  const std::string& dir() const { return dir_; }
  std::string failed_dir() const { return dir_ + "/failed"; }

 private:
  explicit EventStore(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

}  // namespace thaw::agent
