// Integration tests of asynchronous invocations through a real thawd
// (tests/agent/thawd_harness.h): the 202 arrives only once the event is on
// disk, retries are counted exactly, destination records have Lambda's
// shape, old events end as EventAgeExceeded, the 256 KB limit, the
// event-invoke-config API, and SIGKILL/SIGTERM restarts that lose no event
// and run none twice.
#include <filesystem>
#include <set>

#include "tests/agent/thawd_harness.h"

namespace thaw::agent::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

class AsyncThawd : public ThawdHarness {
 protected:
  void restart(std::vector<std::string> extra) {
    stop(SIGTERM);
    start(std::move(extra));
  }
  Response invoke_event(const std::string& name, const std::string& payload) {
    return invoke(name, payload, "X-Amz-Invocation-Type: Event\r\n");
  }
  std::string config_target(const std::string& name) {
    return "/2019-09-25/functions/" + name + "/event-invoke-config";
  }
  Response put_config(const std::string& name, const json::object& config) {
    return request("PUT", config_target(name), json::serialize(config));
  }
  // A destination directory under the test's temporary directory.
  std::string sink(const std::string& name) {
    std::string d = dir_ + "/" + name;
    fs::create_directories(d);
    return d;
  }
  json::object destinations(const std::string& on_success, const std::string& on_failure) {
    json::object dc;
    dc["OnSuccess"] = on_success.empty() ? json::object{} : json::object{{"Destination", on_success}};
    dc["OnFailure"] = on_failure.empty() ? json::object{} : json::object{{"Destination", on_failure}};
    return dc;
  }
  // The record for `request_id` in `dir`, waiting up to `seconds` for it.
  json::value record(const std::string& dir, const std::string& request_id, double seconds = 30) {
    std::string path = dir + "/" + request_id + ".json";
    eventually([&] { return fs::exists(path); }, seconds);
    boost::system::error_code ec;
    json::value v = json::parse(read_text(path), ec);
    return ec ? json::value() : v;
  }
  std::string event_file(const std::string& request_id) {
    return dir_ + "/state/events/" + request_id + ".json";
  }
  // The value of an unlabelled gauge in /agent/v1/metrics; -1 when absent.
  double gauge(const std::string& name) {
    std::string text = request("GET", "/agent/v1/metrics").body;
    size_t at = text.find("\n" + name + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + name.size() + 2));
  }
};

TEST_F(AsyncThawd, EventIsAcceptedOnlyOnceDurableAndTheSuccessRecordHasLambdasShape) {
  restart({"--async-threads", "1"});
  ASSERT_EQ(create_echo("echo").status, 201u);
  std::string ok = sink("ok");
  ASSERT_EQ(put_config("echo", {{"DestinationConfig", destinations("file://" + ok, "")}}).status,
            200u);
  // The one dispatcher thread is busy with the first event, so the second
  // is still queued when its 202 arrives: its file must already be there.
  Response first = invoke_event("echo", R"({"sleep":1})");
  ASSERT_EQ(first.status, 202u) << first.body << log_text();
  Response second = invoke_event("echo", R"({"n":2})");
  ASSERT_EQ(second.status, 202u) << second.body;
  std::string id = second.header("x-amzn-RequestId");
  ASSERT_EQ(id.size(), 36u) << second.headers;
  EXPECT_TRUE(fs::exists(event_file(id))) << "202 before the event was on disk";
  EXPECT_EQ(second.body, "");

  json::value r = record(ok, id);
  ASSERT_TRUE(r.is_object()) << log_text();
  EXPECT_EQ(r.at("version"), "1.0");
  const auto& rc = r.at("requestContext");
  EXPECT_EQ(rc.at("requestId").as_string(), id);
  EXPECT_EQ(rc.at("functionArn"), "arn:aws:lambda:us-east-1:000000000000:function:echo:$LATEST");
  EXPECT_EQ(rc.at("condition"), "Success");
  EXPECT_EQ(rc.at("approximateInvokeCount"), 1);
  EXPECT_EQ(r.at("requestPayload").at("n"), 2);
  EXPECT_EQ(r.at("responseContext").at("statusCode"), 200);
  EXPECT_EQ(r.at("responseContext").at("executedVersion"), "$LATEST");
  EXPECT_EQ(r.at("responsePayload").at("echo").at("n"), 2);
  EXPECT_TRUE(record(ok, first.header("x-amzn-RequestId")).is_object());
  EXPECT_TRUE(eventually([&] { return !fs::exists(event_file(id)); }, 5))
      << "a delivered event leaves the queue";
  EXPECT_EQ(count(function_log("echo"), "START RequestId: " + id), 1u) << function_log("echo");
}

TEST_F(AsyncThawd, AQualifiedEventRunsThatVersionWithThatQualifiersConfig) {
  ASSERT_EQ(create_echo("ver").status, 201u);
  Response v = request("POST", "/2015-03-31/functions/ver/versions", "{}");
  ASSERT_EQ(v.status, 201u) << v.body;
  std::string ok = sink("ok");
  // Only version 1 has a destination: the config is per qualifier.
  Response r = request("PUT", config_target("ver") + "?Qualifier=1",
                       json::serialize(json::object{{"DestinationConfig", destinations(ok, "")}}));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json().at("FunctionArn"), "arn:aws:lambda:us-east-1:000000000000:function:ver:1");
  EXPECT_EQ(request("GET", config_target("ver")).status, 404u) << "$LATEST has none";
  r = invoke("ver", R"({"v":1})", "X-Amz-Invocation-Type: Event\r\n", "1");
  ASSERT_EQ(r.status, 202u) << r.body;
  json::value rec = record(ok, r.header("x-amzn-RequestId"));
  ASSERT_TRUE(rec.is_object()) << log_text();
  EXPECT_EQ(rec.at("requestContext").at("functionArn"),
            "arn:aws:lambda:us-east-1:000000000000:function:ver:1");
  EXPECT_EQ(rec.at("responseContext").at("executedVersion"), "1");
  EXPECT_EQ(invoke("ver", "{}", "X-Amz-Invocation-Type: Event\r\n", "9").status, 404u);
}

TEST_F(AsyncThawd, AFailingFunctionIsTriedOnePlusMaximumRetryAttemptsTimes) {
  restart({"--async-retry-base-ms", "50"});
  ASSERT_EQ(create_echo("fails").status, 201u);
  std::string failed = sink("failed");
  ASSERT_EQ(put_config("fails", {{"MaximumRetryAttempts", 2},
                                 {"DestinationConfig", destinations("", failed)}})
                .status,
            200u);
  Response r = invoke_event("fails", R"({"fail":true})");
  ASSERT_EQ(r.status, 202u) << r.body;
  std::string id = r.header("x-amzn-RequestId");
  json::value rec = record(failed, id);
  ASSERT_TRUE(rec.is_object()) << log_text();
  EXPECT_EQ(rec.at("requestContext").at("condition"), "RetriesExhausted");
  EXPECT_EQ(rec.at("requestContext").at("approximateInvokeCount"), 3);
  EXPECT_EQ(rec.at("responseContext").at("functionError"), "Unhandled");
  EXPECT_EQ(rec.at("responsePayload").at("errorType"), "Oops");
  // Every try logs under the event's request id, as Lambda's do.
  EXPECT_EQ(count(function_log("fails"), "START RequestId: " + id), 3u) << function_log("fails");
  EXPECT_EQ(count(log_text(), id + " fails:$LATEST: attempt "), 2u) << log_text();

  // No OnFailure destination: the failure log under <state>/events/failed.
  ASSERT_EQ(create_echo("once").status, 201u);
  ASSERT_EQ(put_config("once", {{"MaximumRetryAttempts", 0}}).status, 200u);
  r = invoke_event("once", R"({"fail":true})");
  ASSERT_EQ(r.status, 202u);
  rec = record(dir_ + "/state/events/failed", r.header("x-amzn-RequestId"));
  ASSERT_TRUE(rec.is_object()) << log_text();
  EXPECT_EQ(rec.at("requestContext").at("approximateInvokeCount"), 1);
  EXPECT_EQ(count(function_log("once"), "START RequestId"), 1u);
}

TEST_F(AsyncThawd, ARetryPastTheMaximumEventAgeEndsAsEventAgeExceeded) {
  restart({"--async-retry-base-ms", "61000"});  // the first retry would be 61 s later
  ASSERT_EQ(create_echo("old").status, 201u);
  std::string failed = sink("failed");
  ASSERT_EQ(put_config("old", {{"MaximumEventAgeInSeconds", 60},
                               {"DestinationConfig", destinations("", "file://" + failed)}})
                .status,
            200u);
  Response r = invoke_event("old", R"({"fail":true})");
  ASSERT_EQ(r.status, 202u);
  json::value rec = record(failed, r.header("x-amzn-RequestId"));
  ASSERT_TRUE(rec.is_object()) << log_text();
  EXPECT_EQ(rec.at("requestContext").at("condition"), "EventAgeExceeded");
  EXPECT_EQ(rec.at("requestContext").at("approximateInvokeCount"), 1);
}

TEST_F(AsyncThawd, PayloadLimitIs256KBAndBadEventsAreRefused) {
  ASSERT_EQ(create_echo("big").status, 201u);
  std::string fits = "\"" + std::string(262144 - 2, 'a') + "\"";
  Response r = invoke_event("big", fits);
  EXPECT_EQ(r.status, 202u) << r.body;
  r = invoke_event("big", "\"" + std::string(262144 - 1, 'a') + "\"");
  EXPECT_EQ(r.status, 413u);
  EXPECT_EQ(r.header("x-amzn-ErrorType"), "RequestTooLargeException");
  EXPECT_NE(r.body.find("262144 bytes for the InvokeAsync operation"), std::string::npos) << r.body;
  r = invoke_event("missing", "{}");
  EXPECT_EQ(r.status, 404u);
  r = invoke_event("big", "{not json");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.header("x-amzn-ErrorType"), "InvalidRequestContentException");
  // Over the limit and not JSON: the size is checked first (Lambda's 413).
  r = invoke_event("big", std::string(262145, '{'));
  EXPECT_EQ(r.status, 413u) << r.body;
  EXPECT_EQ(r.header("x-amzn-ErrorType"), "RequestTooLargeException");
}

TEST_F(AsyncThawd, EventInvokeConfigApiValidatesPersistsAndDeletes) {
  ASSERT_EQ(create_echo("cfg").status, 201u);
  std::string t = config_target("cfg");
  Response r = request("GET", t);
  EXPECT_EQ(r.status, 404u);
  EXPECT_NE(r.body.find("doesn't have an EventInvokeConfig"), std::string::npos) << r.body;

  r = put_config("cfg", {{"MaximumRetryAttempts", 1}, {"MaximumEventAgeInSeconds", 300}});
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json().at("FunctionArn"), "arn:aws:lambda:us-east-1:000000000000:function:cfg:$LATEST");
  r = request("POST", t, R"({"DestinationConfig":{"OnFailure":{"Destination":"/srv/failed"}}})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json().at("MaximumRetryAttempts"), 1) << "Update keeps what it does not name";
  EXPECT_EQ(r.json().at("DestinationConfig").at("OnFailure").at("Destination"), "/srv/failed");

  struct Bad {
    std::string body, type, words;
  };
  for (const auto& b : std::vector<Bad>{
           {R"({"MaximumRetryAttempts":3})", "InvalidParameterValueException", "less than or equal to 2"},
           {R"({"MaximumEventAgeInSeconds":30})", "InvalidParameterValueException", "greater than or equal to 60"},
           {R"({"MaximumRetryAttempts":"1"})", "InvalidRequestContentException", "must be a JSON integer"},
           {R"({"Retries":1})", "InvalidRequestContentException", "unknown field 'Retries'"},
           {R"({"MaximumRetryAttempts":)", "InvalidRequestContentException", "not valid JSON"},
           {R"({"DestinationConfig":{"OnSuccess":{"Destination":"arn:aws:sns:us-east-1:1:t"}}})",
            "InvalidParameterValueException", "not supported by this agent"},
       }) {
    r = request("PUT", t, b.body);
    EXPECT_EQ(r.status, 400u) << b.body;
    EXPECT_EQ(r.header("x-amzn-ErrorType"), b.type) << b.body;
    EXPECT_NE(r.body.find(b.words), std::string::npos) << b.body << " -> " << r.body;
  }
  EXPECT_EQ(request("PUT", config_target("nobody"), "{}").status, 404u);
  EXPECT_EQ(request("PUT", t + "?Qualifier=7", "{}").status, 404u);

  restart({});
  r = request("GET", t);
  ASSERT_EQ(r.status, 200u) << "configs survive a restart";
  EXPECT_EQ(r.json().at("MaximumEventAgeInSeconds"), 300);
  r = request("GET", t + "/list");
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.json().at("FunctionEventInvokeConfigs").as_array().size(), 1u);
  EXPECT_EQ(request("DELETE", t).status, 204u);
  EXPECT_EQ(request("DELETE", t).status, 404u);
  EXPECT_EQ(request("GET", t).status, 404u);

  // DeleteFunction takes the function's configs with it: a new function of
  // the same name starts with none (as in Lambda).
  ASSERT_EQ(put_config("cfg", {{"MaximumRetryAttempts", 0}}).status, 200u);
  ASSERT_EQ(request("DELETE", "/2015-03-31/functions/cfg").status, 204u);
  ASSERT_EQ(create_echo("cfg").status, 201u);
  EXPECT_TRUE(eventually([&] { return request("GET", t).status == 404; }, 5))
      << "the deleted function's config came back";
}

TEST_F(AsyncThawd, SigkillWithEventsQueuedLosesNoneAndRunsNoneTwice) {
  restart({"--async-threads", "1"});
  ASSERT_EQ(create_echo("slow").status, 201u);
  std::string ok = sink("ok");
  ASSERT_EQ(put_config("slow", {{"DestinationConfig", destinations(ok, "")}}).status, 200u);
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    Response r = invoke_event("slow", R"({"sleep":1,"n":)" + std::to_string(i) + "}");
    ASSERT_EQ(r.status, 202u) << r.body;
    ids.push_back(r.header("x-amzn-RequestId"));
  }
  ASSERT_TRUE(record(ok, ids[0]).is_object()) << log_text();
  stop(SIGKILL);  // events 2..4 are queued or running
  std::set<std::string> done_before;
  for (const auto& id : ids) {
    if (fs::exists(ok + "/" + id + ".json")) done_before.insert(id);
  }
  ASSERT_LT(done_before.size(), ids.size()) << "the kill came too late to test anything";
  start({"--async-threads", "1"});
  EXPECT_NE(log_text().find("left by the previous run are queued again"), std::string::npos);
  for (const auto& id : ids) {
    json::value r = record(ok, id, 60);
    ASSERT_TRUE(r.is_object()) << "event " << id << " was lost\n" << log_text();
    int64_t tries = r.at("requestContext").at("approximateInvokeCount").as_int64();
    if (done_before.contains(id)) {
      EXPECT_EQ(tries, 1) << id;
    }
    EXPECT_LE(tries, 2) << "only the event running at the kill is tried again";
  }
  // START is logged when an invocation finishes: one per event, none twice.
  std::string log = function_log("slow");
  EXPECT_EQ(count(log, "START RequestId"), ids.size()) << log;
  for (const auto& id : ids) EXPECT_EQ(count(log, "START RequestId: " + id), 1u) << id << "\n" << log;
  EXPECT_TRUE(eventually([&] { return fs::is_empty(dir_ + "/state/events/failed") &&
                                      !fs::exists(event_file(ids.back())); }, 10));
}

TEST_F(AsyncThawd, MetricsExportTheQueuedAndInFlightEvents) {
  restart({"--async-threads", "1"});
  EXPECT_EQ(gauge("thaw_async_events_pending"), 0);
  EXPECT_EQ(gauge("thaw_async_events_in_flight"), 0);
  ASSERT_EQ(create_echo("queued").status, 201u);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(invoke_event("queued", R"({"sleep":2})").status, 202u);
  }
  // One dispatcher thread: the first event runs, the other two wait.
  EXPECT_TRUE(eventually([&] { return gauge("thaw_async_events_in_flight") == 1 &&
                                      gauge("thaw_async_events_pending") == 3; }, 10))
      << request("GET", "/agent/v1/metrics").body;
  EXPECT_TRUE(eventually([&] { return gauge("thaw_async_events_in_flight") == 0 &&
                                      gauge("thaw_async_events_pending") == 0; }, 60))
      << request("GET", "/agent/v1/metrics").body << log_text();
}

TEST_F(AsyncThawd, SigtermStopsDispatchingAndLeavesQueuedEventsOnDisk) {
  restart({"--async-retry-base-ms", "600000"});
  ASSERT_EQ(create_echo("later").status, 201u);
  Response r = invoke_event("later", R"({"fail":true})");
  ASSERT_EQ(r.status, 202u);
  std::string id = r.header("x-amzn-RequestId");
  ASSERT_TRUE(eventually([&] { return log_text().find(id + " later:$LATEST: attempt 1 failed") !=
                                      std::string::npos; }, 30))
      << log_text();
  auto t0 = std::chrono::steady_clock::now();
  int status = stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10))
      << "a retry 10 minutes away must not hold the drain";
  ASSERT_TRUE(fs::exists(event_file(id)));
  EXPECT_NE(read_text(event_file(id)).find("\"attempts\":1"), std::string::npos)
      << read_text(event_file(id));
}

}  // namespace
}  // namespace thaw::agent::testing
