#include "health/probes.h"

#include <memory>
#include <utility>

#include "nlohmann/json.hpp"

namespace og::health {
namespace {

using json = nlohmann::json;

// "503: server busy", with the start of the body when it says something.
std::string StatusError(std::string_view what, const ProbeResponse& response) {
  std::string error = std::string(what) + " answered HTTP " + std::to_string(response.status);
  if (!response.body.empty()) {
    constexpr std::size_t kMaxQuoted = 200;
    error += ": " + response.body.substr(0, kMaxQuoted);
  }
  return error;
}

// Ollama reads keep_alive as a Go duration string or as a number of seconds, and only the
// number form takes a bare "-1" (forever) or "300".
json KeepAliveValue(const std::string& text) {
  const bool integer = !text.empty() && text.find_first_not_of("-0123456789") == std::string::npos;
  if (integer) {
    const json number = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (number.is_number_integer()) return number;
  }
  return text;
}

CheckResult Failed(std::string error) {
  CheckResult result;
  result.error = std::move(error);
  return result;
}

}  // namespace

std::string ParseVersion(std::string_view body, std::string* version) {
  const json reply = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!reply.is_object()) return "/api/version did not answer a JSON object";
  auto it = reply.find("version");
  if (it == reply.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
    return "/api/version answered no version";
  }
  *version = it->get<std::string>();
  return {};
}

std::string ParseModelList(std::string_view body, std::vector<std::string>* models) {
  const json reply = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!reply.is_object()) return "did not answer a JSON object";
  auto list = reply.find("models");
  // Ollama answers "models": [] when nothing is installed or loaded; null is seen too.
  if (list == reply.end() || list->is_null()) return {};
  if (!list->is_array()) return "\"models\" is not a list";
  models->clear();
  for (const json& entry : *list) {
    if (!entry.is_object()) return "a \"models\" entry is not an object";
    // "name" and "model" are the same for local models; older servers send only "name".
    for (const char* key : {"name", "model"}) {
      auto name = entry.find(key);
      if (name != entry.end() && name->is_string() &&
          !name->get_ref<const std::string&>().empty()) {
        models->push_back(name->get<std::string>());
        break;
      }
    }
  }
  return {};
}

std::string CheckGenerateReply(std::string_view body) {
  const json reply = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!reply.is_object()) return "the generation's reply is not a JSON object";
  if (auto error = reply.find("error"); error != reply.end() && error->is_string()) {
    return "the generation failed: " + error->get<std::string>();
  }
  auto done = reply.find("done");
  if (done == reply.end() || !done->is_boolean() || !done->get<bool>()) {
    return "the generation's final object lacks \"done\": true";
  }
  auto response = reply.find("response");
  if (response == reply.end() || !response->is_string()) {
    return "the generation's final object lacks a \"response\" string";
  }
  return {};
}

void RunConnectProbe(Transport& transport, const std::string& backend,
                     std::chrono::milliseconds timeout, CheckDone done) {
  ProbeRequest request;
  request.method = ProbeRequest::Method::kConnect;
  request.timeout = timeout;
  transport.Send(backend, std::move(request), [done = std::move(done)](ProbeResponse response) {
    if (!response.completed) return done(Failed("connect failed: " + response.error));
    CheckResult result;
    result.ok = true;
    done(std::move(result));
  });
}

void RunApiProbe(Transport& transport, const std::string& backend,
                 std::chrono::milliseconds timeout, CheckDone done) {
  ProbeRequest version{ProbeRequest::Method::kGet, "/api/version", "", timeout};
  // The second request is sent from the first one's completion; the transport outlives both.
  // Each has the whole timeout: the checker bounds the check as a whole.
  transport.Send(
      backend, std::move(version),
      [&transport, backend, timeout, done = std::move(done)](ProbeResponse response) {
        if (!response.completed) return done(Failed("GET /api/version: " + response.error));
        if (response.status != 200) return done(Failed(StatusError("GET /api/version", response)));
        CheckResult result;
        if (std::string error = ParseVersion(response.body, &result.version); !error.empty()) {
          return done(Failed(std::move(error)));
        }
        ProbeRequest tags{ProbeRequest::Method::kGet, "/api/tags", "", timeout};
        transport.Send(backend, std::move(tags),
                       [result = std::move(result), done](ProbeResponse response) mutable {
                         if (!response.completed) {
                           return done(Failed("GET /api/tags: " + response.error));
                         }
                         if (response.status != 200) {
                           return done(Failed(StatusError("GET /api/tags", response)));
                         }
                         if (std::string error = ParseModelList(response.body, &result.models);
                             !error.empty()) {
                           return done(Failed("GET /api/tags " + error));
                         }
                         result.ok = true;
                         done(std::move(result));
                       });
      });
}

void RunLoadedPoll(Transport& transport, const std::string& backend,
                   std::chrono::milliseconds timeout,
                   std::function<void(std::optional<std::vector<std::string>>)> done) {
  ProbeRequest ps{ProbeRequest::Method::kGet, "/api/ps", "", timeout};
  transport.Send(backend, std::move(ps), [done = std::move(done)](ProbeResponse response) {
    std::vector<std::string> loaded;
    if (!response.completed || response.status != 200 ||
        !ParseModelList(response.body, &loaded).empty()) {
      return done(std::nullopt);
    }
    done(std::move(loaded));
  });
}

void RunInferenceProbe(Transport& transport, const std::string& backend, const std::string& model,
                       const InferenceProbeOptions& options, std::chrono::milliseconds timeout,
                       CheckDone done) {
  // One token, no streaming: the reply is the final object alone. keep_alive decides whether
  // the probe leaves the model loaded (warm for the next caller) or unloads it.
  json body = {{"model", model},
               {"prompt", options.prompt},
               {"stream", false},
               {"options", {{"num_predict", 1}}}};
  body["keep_alive"] = KeepAliveValue(options.keep_alive);
  ProbeRequest request{ProbeRequest::Method::kPost, "/api/generate", body.dump(), timeout};
  transport.Send(backend, std::move(request), [done = std::move(done)](ProbeResponse response) {
    if (!response.completed) return done(Failed("generation: " + response.error));
    if (response.status != 200) return done(Failed(StatusError("generation", response)));
    if (std::string error = CheckGenerateReply(response.body); !error.empty()) {
      return done(Failed(std::move(error)));
    }
    CheckResult result;
    result.ok = true;
    done(std::move(result));
  });
}

}  // namespace og::health
