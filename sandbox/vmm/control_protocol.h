// thaw-vmm's control protocol (CONTRACT.md): one JSON object per line each
// way, {"op":"pause|resume|stats|stop|snapshot|restore"} -> {"ok":true,...} or
// {"ok":false,"error":"..."}. Pure request handling over a ControlTarget so
// the protocol is unit-tested without a VM or a socket.
#pragma once

#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "common/result.h"

namespace thaw::sandbox {

class ControlTarget {
 public:
  virtual ~ControlTarget() = default;
  virtual Result<void> pause() = 0;
  virtual Result<void> resume() = 0;
  virtual void stop() = 0;
  // {"state":..., "exits":{...}, "devices":{...}} (merged into the reply).
  virtual boost::json::object stats() = 0;
  // {"op":"snapshot","dir":DIR[,"kind":"base|function|test"]}: saves the VM
  // into DIR and leaves it paused; the reply is merged like stats. `kind`
  // is empty when the request has none. Targets without snapshot support
  // (the default) refuse it.
  virtual Result<boost::json::object> snapshot(const std::string& dir, std::string_view kind);
  // {"op":"restore","dir":DIR,...}: a standby thaw-vmm (--standby) restores
  // the snapshot in DIR into its ready VM and starts it; the whole request
  // is passed on (snapshot/standby_control.h reads it). Targets that are not
  // standbys (the default) refuse it.
  virtual Result<boost::json::object> restore(const boost::json::object& request);
};

// Longest request line accepted; a longer one is answered with an error and
// the connection is closed (a client cannot make the VMM buffer without end).
inline constexpr size_t kMaxControlLine = 4096;

// Handles one request line (without its newline); returns the reply line
// (without newline). Never throws.
std::string handle_control_request(std::string_view line, ControlTarget& target);

}  // namespace thaw::sandbox
