// Stand-in for libFuzzer's main() on compilers without -fsanitize=fuzzer:
// runs the control-request fuzz target over valid bodies and records with
// bytes flipped, cut, duplicated and spliced, from a fixed seed.
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "agent/api/alias_config.h"
#include "agent/api/function_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  long iterations = argc > 1 ? std::atol(argv[1]) : 200000;
  using namespace thaw::agent;
  FunctionConfig record;
  record.name = "f";
  record.runtime = "provided";
  record.version = "2";
  record.code_digest = std::string(64, 'a');
  record.revision_id = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";
  record.environment = {{"KEY", "value"}};
  record.layers = {{"arn:aws:lambda:us-east-1:000000000000:layer:base:1", std::string(64, 'b'), 10}};
  std::vector<std::string> seeds = {
      encode_function_record(record),
      encode_alias_record({"f", "live", "1", "d", "rev", AliasRouting{"2", 0.25}}),
      R"({"FunctionName":"f","Runtime":"python3.11","Handler":"a.b","Code":{"ZipFile":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="},"Layers":["arn:aws:lambda:us-east-1:000000000000:layer:x:1"],"Publish":true,"EphemeralStorage":{"Size":1024}})",
      R"({"ZipFile":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==","Publish":true,"RevisionId":"r"})",
      R"({"MemorySize":256,"Timeout":9,"Environment":{"Variables":{"AB":"c"}},"Layers":[]})",
      R"({"Name":"live","FunctionVersion":"1","Description":"d","RoutingConfig":{"AdditionalVersionWeights":{"2":0.1}}})",
      R"({"FunctionVersion":"3","RoutingConfig":{"AdditionalVersionWeights":{}},"RevisionId":"x"})",
      R"({"CodeSha256":"abc=","Description":"v"})",
      R"({"Content":{"ZipFile":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="},"CompatibleRuntimes":["provided"]})",
      "arn:aws:lambda:us-east-1:000000000000:layer:base:12",
  };
  const std::string tokens[] = {"{", "}", "[", "]", ",", ":", "\"", "null", "true", "-1",
                                "1e999", "0.5", "\"$LATEST\"", "4294967296", "\\u0000"};
  std::mt19937_64 rng(0x616c696173ull);
  std::string buf;
  for (long i = 0; i < iterations; ++i) {
    buf = seeds[rng() % seeds.size()];
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !buf.empty(); ++e) {
      size_t at = rng() % buf.size();
      switch (rng() % 5) {
        case 0: buf[at] = static_cast<char>(rng()); break;
        case 1: buf.resize(at); break;
        case 2: buf.insert(at, tokens[rng() % std::size(tokens)]); break;
        case 3: buf.erase(at, 1 + rng() % 8); break;
        case 4: buf.insert(at, buf.substr(rng() % buf.size(), 1 + rng() % 16)); break;
      }
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(buf.data()), buf.size());
  }
  std::printf("control_request_fuzz: %ld inputs, no crash\n", iterations);
  return 0;
}
