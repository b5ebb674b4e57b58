// The probes of the three tiers: each performs one check of one backend through a Transport and
// reports what it saw. They own no timing and no state; health/checker.h decides when to run
// them and what their results mean.
#ifndef OLLAMA_GATEWAY_HEALTH_PROBES_H_
#define OLLAMA_GATEWAY_HEALTH_PROBES_H_

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace og::health {

// One exchange with a backend, as a probe asks for it.
struct ProbeRequest {
  enum class Method { kConnect, kGet, kPost };
  // kConnect only opens a connection (TCP, plus the TLS handshake for https://) and closes it.
  Method method = Method::kGet;
  // Path below the backend's base URL, e.g. "/api/version".
  std::string path;
  // JSON body of a kPost.
  std::string body;
  std::chrono::milliseconds timeout{1000};
};

struct ProbeResponse {
  // False when no connection was made or the exchange broke or timed out; `error` says why.
  bool completed = false;
  long status = 0;
  std::string body;
  std::string error;
};

// Network I/O for probes: the one virtual method a test replaces to check health logic without
// sockets. The gateway implements it over its upstream HTTP client.
class Transport {
 public:
  using Done = std::function<void(ProbeResponse)>;
  virtual ~Transport() = default;
  // Sends `request` to the backend named `backend`; `done` runs exactly once, on any thread
  // (possibly before Send returns), and must not be called after the transport is destroyed.
  virtual void Send(const std::string& backend, ProbeRequest request, Done done) = 0;
};

// What one check found.
struct CheckResult {
  bool ok = false;
  // Why the check failed, for logs and the admin view.
  std::string error;
  // Tier 2: the version the backend reported and the model names of /api/tags, as it spells them.
  std::string version;
  std::vector<std::string> models;
};

using CheckDone = std::function<void(CheckResult)>;

// Tier 1: a connection is made within the timeout.
void RunConnectProbe(Transport& transport, const std::string& backend,
                     std::chrono::milliseconds timeout, CheckDone done);

// Tier 2: GET /api/version answers 200 with a non-empty "version", then GET /api/tags lists the
// models, both within `timeout` in all. (GET / proves nothing: Ollama answers it with no model
// ready.)
void RunApiProbe(Transport& transport, const std::string& backend,
                 std::chrono::milliseconds timeout, CheckDone done);

// GET /api/ps: the names of the loaded models, or nullopt when the poll failed. It
// may block while a model loads, so its failure never counts against the backend.
void RunLoadedPoll(Transport& transport, const std::string& backend,
                   std::chrono::milliseconds timeout,
                   std::function<void(std::optional<std::vector<std::string>>)> done);

// Tier 3: a one-token generation of `model` ends, within the timeout, with a well-formed final
// object (done: true and a response string).
struct InferenceProbeOptions {
  std::string prompt = "Say OK.";
  std::string keep_alive = "5m";
};
void RunInferenceProbe(Transport& transport, const std::string& backend, const std::string& model,
                       const InferenceProbeOptions& options, std::chrono::milliseconds timeout,
                       CheckDone done);

// The parsers behind the probes, exposed for unit tests. Each returns an error text, empty when
// the body is well-formed.
std::string ParseVersion(std::string_view body, std::string* version);
std::string ParseModelList(std::string_view body, std::vector<std::string>* models);
std::string CheckGenerateReply(std::string_view body);

}  // namespace og::health

#endif  // OLLAMA_GATEWAY_HEALTH_PROBES_H_
