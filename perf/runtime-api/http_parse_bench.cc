// HTTP/1.1 request parsing as thaw's two servers do it (Boost.Beast
// request_parser<string_body>, fed the bytes of one request): the Runtime
// API requests a runtime sends thaw-init (GET /next, POST /response at
// several body sizes) and the scheduler requests thawd receives (Invoke with
// Lambda's headers, a small GetFunction). ns/op and bytes/s.
#include <benchmark/benchmark.h>

#include <string>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#pragma GCC diagnostic pop

namespace thaw {
namespace {

namespace http = boost::beast::http;

constexpr char kId[] = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

std::string runtime_next() {
  return "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: 127.0.0.1:9001\r\n"
         "User-Agent: Python/3.11 awslambdaric/2.0\r\nAccept-Encoding: identity\r\n\r\n";
}

std::string runtime_response(size_t body) {
  return std::string("POST /2018-06-01/runtime/invocation/") + kId +
         "/response HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nContent-Type: application/json\r\n"
         "Content-Length: " + std::to_string(body) + "\r\n\r\n" + std::string(body, 'x');
}

std::string scheduler_invoke(size_t body) {
  return "POST /2015-03-31/functions/my-function/invocations?Qualifier=live HTTP/1.1\r\n"
         "Host: thaw\r\nX-Amz-Invocation-Type: RequestResponse\r\nX-Amz-Log-Type: Tail\r\n"
         "X-Amz-Client-Context: eyJjdXN0b20iOnt9fQ==\r\nContent-Type: application/json\r\n"
         "User-Agent: aws-sdk-go-v2/1.30\r\nContent-Length: " + std::to_string(body) + "\r\n\r\n" +
         std::string(body, 'x');
}

std::string scheduler_get_function() {
  return "GET /2015-03-31/functions/my-function HTTP/1.1\r\nHost: thaw\r\n"
         "User-Agent: aws-cli/2.15\r\nAccept: application/json\r\n\r\n";
}

void parse(benchmark::State& state, const std::string& bytes) {
  for (auto _ : state) {
    http::request_parser<http::string_body> p;
    p.header_limit(64u << 10);
    p.body_limit(6291556);
    p.eager(true);  // header and body in one put(), as the servers do once the header is seen
    boost::beast::error_code ec;
    size_t used = p.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
    if (ec || !p.is_done() || used != bytes.size()) {
      return state.SkipWithError(("the request did not parse whole: " + ec.message()).c_str());
    }
    benchmark::DoNotOptimize(p.get().body().data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}

void BM_RuntimeApiNext(benchmark::State& state) { parse(state, runtime_next()); }
BENCHMARK(BM_RuntimeApiNext);

void BM_RuntimeApiResponse(benchmark::State& state) {
  parse(state, runtime_response(static_cast<size_t>(state.range(0))));
}
BENCHMARK(BM_RuntimeApiResponse)->Arg(64)->Arg(4096)->Arg(1 << 20);

void BM_SchedulerInvoke(benchmark::State& state) {
  parse(state, scheduler_invoke(static_cast<size_t>(state.range(0))));
}
BENCHMARK(BM_SchedulerInvoke)->Arg(64)->Arg(4096)->Arg(1 << 20);

void BM_SchedulerGetFunction(benchmark::State& state) { parse(state, scheduler_get_function()); }
BENCHMARK(BM_SchedulerGetFunction);

}  // namespace
}  // namespace thaw

BENCHMARK_MAIN();
