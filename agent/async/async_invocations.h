// thawd's asynchronous invocations (InvocationType Event) in one place: the
// durable event queue, the dispatcher, the per-function event invoke
// configs and their API routes (/2019-09-25/functions/NAME/event-invoke-config).
// ApiRouter calls enqueue() from Invoke's Event branch and handle_config()
// for the config routes; service.cc opens it, starts it and drains it.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/api/api_router.h"
#include "agent/async/event_dispatcher.h"

namespace thaw::agent {

struct AsyncOptions {
  std::string state_dir;
  unsigned dispatcher_threads = 4;
  RetryTiming timing;
  // Events queued at once; beyond, Event invokes get 429 (the disk is finite).
  size_t max_queued_events = 100000;
};

class AsyncInvocations {
 public:
  // Opens <state>/events and <state>/event-invoke-config; nothing runs yet.
  static Result<std::unique_ptr<AsyncInvocations>> open(const AsyncOptions& options, IoLoop& loop,
                                                        WorkerPool& workers,
                                                        FunctionRegistry& registry,
                                                        EventInvoker invoker);
  // Reloads the events a previous thawd left on disk and starts dispatching.
  void start();
  // SIGTERM: no new attempts; queued events stay on disk for the next start.
  void drain();
  // Tries still running (the service's drain waits for them while its loop runs).
  size_t in_flight() const { return dispatcher_->in_flight(); }
  // After drain(), once the loop is done: false when tries were still
  // running (drain timeout); then this object must be leaked, not destroyed.
  bool finish_drain() { return dispatcher_->join_or_detach(); }

  // The 413 for an Event payload over 256 KB, or nullopt when it fits. Invoke
  // checks this before parsing the body, as Lambda does (size, then JSON).
  static std::optional<ApiError> payload_too_large(size_t bytes);
  // Invoke's Event branch, on the loop thread: 413 over 256 KB; otherwise
  // the 202 (x-amzn-RequestId) is sent only once the event is on disk.
  void enqueue(const std::string& function, const std::string& qualifier, std::string payload,
               HttpReply reply);

  // DeleteFunction: drops the function's event invoke configs (all of them,
  // or the one qualifier's), as Lambda does, so a function re-created under
  // the name starts with none. Any thread; the file work runs on a worker.
  void forget_function(const std::string& function, const std::string& qualifier = "");

  static bool is_config_path(const ApiPath& path);
  // Put/Get/Update/Delete/ListFunctionEventInvokeConfig(s).
  void handle_config(const HttpRequest& request, const ApiPath& path, HttpReply reply);

  const std::vector<std::string>& load_warnings() const { return warnings_; }
  size_t pending() const { return dispatcher_->pending(); }

 private:
  AsyncInvocations(const AsyncOptions& options, IoLoop& loop, WorkerPool& workers,
                   FunctionRegistry& registry)
      : options_(options), loop_(loop), workers_(workers), registry_(registry) {}
  HttpResponse config_operation(boost::beast::http::verb method, const std::string& name,
                                const std::string& qualifier, bool list, const std::string& body);
  void run_blocking(std::function<HttpResponse()> work, HttpReply reply);

  AsyncOptions options_;
  IoLoop& loop_;
  WorkerPool& workers_;
  FunctionRegistry& registry_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<EventConfigStore> configs_;
  std::unique_ptr<EventDispatcher> dispatcher_;
  std::mutex config_mu_;  // Update is read-modify-write
  std::vector<std::string> warnings_;
};

}  // namespace thaw::agent
