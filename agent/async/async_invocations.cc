#include "agent/async/async_invocations.h"

#include <cstdio>

#include <fmt/format.h>

#include "agent/invoke/invoke_log.h"

namespace thaw::agent {

Result<std::unique_ptr<AsyncInvocations>> AsyncInvocations::open(const AsyncOptions& options,
                                                                 IoLoop& loop, WorkerPool& workers,
                                                                 FunctionRegistry& registry,
                                                                 EventInvoker invoker) {
  std::unique_ptr<AsyncInvocations> a(new AsyncInvocations(options, loop, workers, registry));
  auto store = EventStore::open(options.state_dir);
  if (!store) return std::move(store).error();
  auto configs = EventConfigStore::open(options.state_dir);
  if (!configs) return std::move(configs).error();
  a->store_ = std::move(*store);
  a->configs_ = std::move(*configs);
  a->warnings_ = a->configs_->load_warnings();
  a->dispatcher_ = std::make_unique<EventDispatcher>(
      DispatcherOptions{options.dispatcher_threads, options.timing}, *a->store_, *a->configs_,
      std::move(invoker));
  return a;
}

void AsyncInvocations::start() {
  EventStore::Loaded loaded = store_->load();
  for (const auto& w : loaded.warnings) {
    std::fprintf(stderr, "thawd: %s\n", w.c_str());
    warnings_.push_back(w);
  }
  if (!loaded.events.empty()) {
    std::fprintf(stderr, "thawd: async: %zu event(s) left by the previous run are queued again\n",
                 loaded.events.size());
  }
  for (auto& e : loaded.events) dispatcher_->schedule(std::move(e));
  dispatcher_->start();
}

void AsyncInvocations::drain() { dispatcher_->stop(); }

void AsyncInvocations::run_blocking(std::function<HttpResponse()> work, HttpReply reply) {
  workers_.submit([this, work = std::move(work), reply = std::move(reply)]() mutable {
    HttpResponse r = work();
    loop_.post([reply = std::move(reply), r = std::move(r)]() mutable { reply(std::move(r)); });
  });
}

std::optional<ApiError> AsyncInvocations::payload_too_large(size_t bytes) {
  if (bytes <= kMaxAsyncPayloadBytes) return std::nullopt;
  return ApiError{ApiErrorKind::kRequestTooLarge,
                  fmt::format("Request must be smaller than {} bytes for the InvokeAsync operation "
                              "(this payload is {} bytes); pass large data by reference, or "
                              "invoke RequestResponse (6 MB)",
                              kMaxAsyncPayloadBytes, bytes)};
}

void AsyncInvocations::enqueue(const std::string& function, const std::string& qualifier,
                               std::string payload, HttpReply reply) {
  if (auto too_large = payload_too_large(payload.size())) {
    return reply(render_api_error(*too_large));
  }
  if (dispatcher_->pending() >= options_.max_queued_events) {
    return reply(render_api_error(
        {ApiErrorKind::kTooManyRequests,
         fmt::format("Rate Exceeded: {} asynchronous events are already queued on this agent (the "
                     "limit); retry later",
                     options_.max_queued_events)}));
  }
  QueuedEvent e;
  e.request_id = new_request_id();
  e.function = function;
  e.qualifier = qualifier.empty() ? "$LATEST" : qualifier;
  e.payload = std::move(payload);
  e.enqueued_ms = wall_clock_ms();
  // fsync takes milliseconds: off the loop thread.
  run_blocking(
      [this, e = std::move(e)]() mutable -> HttpResponse {
        if (auto w = store_->write(e); !w) {
          return render_api_error({ApiErrorKind::kService,
                                   fmt::format("the event was not queued: {}; check the disk "
                                               "holding the state directory",
                                               w.error().message)});
        }
        HttpResponse r{202, {{"x-amzn-RequestId", e.request_id}}, {}};
        dispatcher_->schedule(std::move(e));
        return r;
      },
      std::move(reply));
}

void AsyncInvocations::forget_function(const std::string& function, const std::string& qualifier) {
  workers_.submit([this, function, qualifier] {
    std::lock_guard lock(config_mu_);
    Result<void> done = Ok();
    if (qualifier.empty()) {
      done = configs_->remove_function(function);
    } else if (auto removed = configs_->remove(function, qualifier); !removed) {
      done = std::move(removed).error();
    }
    if (!done) {
      std::fprintf(stderr, "thawd: removing the event invoke configs of %s: %s\n",
                   function.c_str(), done.error().message.c_str());
    }
  });
}

}  // namespace thaw::agent
