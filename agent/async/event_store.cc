#include "agent/async/event_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "common/file_util.h"

namespace thaw::agent {
namespace fs = std::filesystem;

namespace {

Result<void> fsync_dir(const std::string& dir) {
  auto fd = open_file(dir, O_RDONLY | O_DIRECTORY);
  if (!fd) return std::move(fd).error();
  if (::fsync(fd->get()) != 0) return Error::from_errno("fsync directory {}", dir);
  return Ok();
}

std::span<const uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

Result<std::unique_ptr<EventStore>> EventStore::open(const std::string& state_dir) {
  std::string dir = state_dir + "/events";
  for (const auto& d : {dir, dir + "/failed"}) {
    std::error_code ec;
    fs::create_directories(d, ec);
    if (ec) return Error::format("creating the event queue directory {}: {}", d, ec.message());
    if (::chmod(d.c_str(), 0700) != 0) return Error::from_errno("chmod {}", d);
  }
  return std::unique_ptr<EventStore>(new EventStore(dir));
}

std::string EventStore::event_path(const std::string& request_id) const {
  return dir_ + "/" + request_id + ".json";
}

Result<void> EventStore::write(const QueuedEvent& e) {
  auto w = write_file_atomic(event_path(e.request_id), bytes_of(encode_event(e)), 0600);
  if (!w) return w.error().context("queueing event " + e.request_id);
  return Ok();
}

Result<void> EventStore::remove(const std::string& request_id) {
  std::string path = event_path(request_id);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Error::from_errno("unlink {}", path);
  return fsync_dir(dir_);
}

Result<void> EventStore::write_failure_log(const std::string& request_id, std::string_view record) {
  return write_file_atomic(failed_dir() + "/" + request_id + ".json", bytes_of(record), 0600);
}

EventStore::Loaded EventStore::load() const {
  Loaded out;
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    if (entry.is_regular_file(ec)) files.push_back(entry.path());
  }
  if (ec) out.warnings.push_back("listing " + dir_ + ": " + ec.message());
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    std::string name = path.filename();
    if (name.find(".json.tmp.") != std::string::npos) {  // write_file_atomic's temp file
      fs::remove(path, ec);
      continue;
    }
    std::string why;
    if (!name.ends_with(".json") || !is_request_id(name.substr(0, name.size() - 5))) {
      why = "its name is not <request id>.json";
    } else if (auto bytes = read_file(path, kMaxEventFileBytes); !bytes) {
      why = bytes.error().message;
    } else if (auto e = decode_event(*bytes); !e) {
      why = e.error().message;
    } else if (e->request_id + ".json" != name) {
      why = "its request_id " + e->request_id + " does not match the file name";
    } else {
      out.events.push_back(std::move(*e));
      continue;
    }
    std::string aside = failed_dir() + "/" + name + ".damaged";
    fs::rename(path, aside, ec);
    out.warnings.push_back("skipped event file " + path.string() + " (" + why + "); moved to " +
                           aside);
  }
  return out;
}

}  // namespace thaw::agent
