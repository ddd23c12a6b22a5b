// The shared half of thawctl's verbs (see verbs.h): calling the API,
// printing results and errors the AWS CLI's way, building request bodies.
#include <cstdio>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "agent/api/base64.h"
#include "agent/thawctl/shorthand.h"
#include "agent/thawctl/verbs.h"

namespace thaw::thawctl {
namespace json = boost::json;

namespace {

// The message of an error body: Lambda's {"Type":..,"message":..} (or
// "Message", or a function's "errorMessage"); the raw text otherwise.
std::string error_message(const ApiResponse& r) {
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (!ec && v.is_object()) {
    for (const char* key : {"message", "Message", "errorMessage"}) {
      if (auto* m = v.as_object().if_contains(key); m && m->is_string()) {
        return std::string(m->as_string());
      }
    }
  }
  return r.body.empty() ? fmt::format("HTTP status {}", r.status) : r.body;
}

std::string error_type(const ApiResponse& r) {
  std::string t = r.header("x-amzn-ErrorType");
  if (size_t colon = t.find(':'); colon != std::string::npos) t.resize(colon);
  if (!t.empty()) return t;
  return r.status >= 500 ? "ServiceException" : fmt::format("HTTP{}", r.status);
}

}  // namespace

int print_body(Context& ctx, const std::string& operation, const std::string& body) {
  if (body.empty()) return 0;
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) {
    std::fwrite(body.data(), 1, body.size(), stdout);
    return 0;
  }
  std::string out = render(ctx.format, operation, v);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

int perform(Context& ctx, const Call& call, const std::function<int(const ApiResponse&)>& done) {
  auto r = ctx.client->call(call.method, call.target, call.body, call.headers);
  if (!r) {
    std::fprintf(stderr, "\n%s\n", r.error().message.c_str());
    return kExitNoAnswer;
  }
  if (r->status >= 300) {
    std::fprintf(stderr, "\nAn error occurred (%s) when calling the %s operation: %s\n",
                 error_type(*r).c_str(), call.operation.c_str(), error_message(*r).c_str());
    return kExitServiceError;
  }
  if (done) return done(*r);
  return print_body(ctx, call.operation, r->body);
}

std::string function_path(std::string_view api_version, const std::string& name,
                           std::string_view suffix, const std::string& qualifier) {
  std::string p = fmt::format("/{}/functions/{}{}", api_version, url_encode(name), suffix);
  if (!qualifier.empty()) p += "?Qualifier=" + url_encode(qualifier);
  return p;
}

BodyFlags& BodyFlags::add(CLI::App* app, const std::string& flag, const std::string& key,
                          Kind kind, const std::string& help, bool required) {
  Field f{flag, key, kind};
  f.option = kind == Kind::kStringList ? app->add_option(flag, *f.list, help)
                                       : app->add_option(flag, *f.text, help);
  if (required) f.option->required();
  fields_.push_back(std::move(f));
  return *this;
}

json::object BodyFlags::build() const {
  json::object o;
  for (const auto& f : fields_) {
    if (f.option->count() == 0) continue;
    switch (f.kind) {
      case Kind::kString:
        o[f.key] = *f.text;
        break;
      case Kind::kInt: {
        char* end = nullptr;
        errno = 0;
        long long n = std::strtoll(f.text->c_str(), &end, 10);
        if (f.text->empty() || *end != '\0' || errno != 0) {
          throw UsageError{fmt::format("argument {}: '{}' is not an integer", f.flag, *f.text)};
        }
        o[f.key] = n;
        break;
      }
      case Kind::kStringList: {
        json::array a;
        for (const auto& s : *f.list) a.push_back(json::string(s));
        o[f.key] = std::move(a);
        break;
      }
      case Kind::kStructured:
      case Kind::kNumberMap: {
        auto v = parse_structured("argument " + f.flag, *f.text);
        if (!v) throw UsageError{v.error().message};
        if (f.kind == Kind::kNumberMap) {
          // {"AdditionalVersionWeights": {"2": "0.1"}} -> numbers one level down.
          if (!v->is_object()) throw UsageError{fmt::format("argument {}: expected a map", f.flag)};
          for (auto& [k, inner] : v->as_object()) {
            auto& target = inner.is_object() ? inner : *v;
            if (auto n = to_number_values(target, "argument " + f.flag); !n) {
              throw UsageError{n.error().message};
            }
            if (&target == &*v) break;
          }
        }
        o[f.key] = std::move(*v);
        break;
      }
    }
  }
  return o;
}

CLI::App* add_verb(CLI::App& app, Context& ctx, const VerbSpec& spec, const BodySetup& setup,
                   BodyFinish finish) {
  CLI::App* sub = app.add_subcommand(spec.name, spec.help);
  auto function = std::make_shared<std::string>();
  auto path_value = std::make_shared<std::string>();
  auto query = std::make_shared<std::vector<std::string>>(spec.query.size());
  sub->add_option("--function-name", *function, "the function's name")->required();
  if (!spec.path_flag.empty()) sub->add_option(spec.path_flag, *path_value, spec.path_help)->required();
  for (size_t i = 0; i < spec.query.size(); ++i) {
    auto* o = sub->add_option(spec.query[i].flag, (*query)[i], spec.query[i].help);
    if (spec.query[i].required) o->required();
  }
  auto body = std::make_shared<BodyFlags>();
  if (setup) setup(sub, *body);
  sub->callback([&ctx, spec, function, path_value, query, body, finish] {
    ctx.run = [&ctx, spec, function, path_value, query, body, finish] {
      std::string suffix = spec.suffix;
      if (size_t at = suffix.find("{}"); at != std::string::npos) {
        suffix.replace(at, 2, url_encode(*path_value));
      }
      std::string target = function_path(spec.api_version, *function, suffix);
      char sep = '?';
      for (size_t i = 0; i < spec.query.size(); ++i) {
        if ((*query)[i].empty()) continue;
        target += fmt::format("{}{}={}", sep, spec.query[i].param, url_encode((*query)[i]));
        sep = '&';
      }
      Call call{spec.operation, spec.method, target};
      if (spec.has_body) {
        json::object o = body->build();
        if (finish) finish(o);
        call.body = json::serialize(o);
      }
      return perform(ctx, call);
    };
  });
  return sub;
}

std::string zip_file_base64(const std::string& flag, const std::string& value) {
  auto data = read_blob_argument("argument " + flag, value, false);
  if (!data) throw UsageError{data.error().message};
  return agent::base64_encode({reinterpret_cast<const uint8_t*>(data->data()), data->size()});
}

}  // namespace thaw::thawctl
