// What the HTTP front door asks of several backends at once (docs/http-api.md, "The fleet"):
// the listings and the version, merged from every healthy backend (and cached briefly); model
// management (pull, push, create, copy, delete, blobs) run on a set of backends in parallel with
// one merged answer; and the unload of a model from every backend of its pool. The merged
// shapes are fleet_answers.h.
//
// Each backend's request runs on the upstream client's loops, started from the caller's worker
// (so, as a model call, from its thread); each backend's answer is read line by line and bounded
// by upstream.max_line_bytes per line, so no answer grows the gateway's memory without bound.
#ifndef OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_FLEET_OPS_H_
#define OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_FLEET_OPS_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/call/call_core.h"
#include "gateway/frontdoor/http/fleet_answers.h"

namespace og {

namespace http {
class Exchange;
}  // namespace http

// GETs `path` from the healthy backends (every one, or the first `limit`), and calls `done`
// with each answer that came (2xx), or with none and the first failure.
void FetchFromFleet(CallCore& core, std::string_view path, std::size_t limit,
                    std::function<void(std::vector<BackendAnswer>, std::string error)> done);

// The merged listings (/api/tags, /api/ps) of the last couple of seconds, so that callers
// polling them (Open WebUI does, per page) cost one fan-out to the fleet per interval, not one
// each. Requests that arrive while a fan-out runs wait for it. Failures are kept as long, which
// bounds the fan-outs a caller can cause when backends are down. Thread-safe.
class ListingCache : public std::enable_shared_from_this<ListingCache> {
 public:
  struct Result {
    std::shared_ptr<const nlohmann::json> merged;  // {"models": [...], ...}; null on failure
    std::string error;
  };
  using Done = std::function<void(const Result&)>;

  // `path` is "/api/tags" or "/api/ps".
  void Get(CallCore& core, const std::string& path, int max_depth, Done done);
  // Forgets what is cached: the fleet's models changed (a pull, a delete).
  void Invalidate();

 private:
  struct Entry {
    std::chrono::steady_clock::time_point fetched_at;
    Result result;
    std::vector<Done> waiters;
  };
  void Store(const std::string& path, Result result);

  std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

// The backends a management operation on `canonical_model` goes to ("" for blobs, which belong
// to no model): those named in `named` (comma-separated, from ?backends= or the
// x-gateway-backends header), else the healthy backends that may serve the model (its
// configured `models` list names it, or it has none), all of them or the fleet.targets least
// loaded. INVALID_ARGUMENT for an unknown name, UNAVAILABLE for an unhealthy named backend or
// when none is healthy.
absl::StatusOr<std::vector<const PoolMember*>> FleetTargets(const RoutingTable& table,
                                                            const Config& config,
                                                            std::string_view canonical_model,
                                                            std::string_view named);

// One management operation, authorized: `body` sent to `targets` with the caller's method and
// path; the caller gets one answer (FleetMerge) on `exchange`.
// `model` and `destination` (copy's) are canonical names whose routing follows the result on
// each backend; `listings` is invalidated once it ends. `busy` is held until then.
struct FleetOpRequest {
  FleetOp op = FleetOp::kPull;
  // What each backend is sent: the caller's body (names in Ollama's spelling; a blob as it came).
  std::string body;
  std::string model;
  std::string destination;
  std::vector<const PoolMember*> targets;
  // The table the targets belong to, held while the operation runs.
  std::shared_ptr<const RoutingTable> table;
};
void RunFleetOp(CallCore& core, std::shared_ptr<http::Exchange> exchange, FleetOpRequest request,
                std::shared_ptr<ListingCache> listings, std::shared_ptr<void> busy);

// An unload (`keep_alive` 0 with no prompt or messages) of `canonical_model`, sent to every
// healthy member of its pool, so every loaded copy goes (Ollama's answer for a backend without
// the model loaded is the same "unload" line). The caller gets the first backend's answer, or
// an error when none succeeded.
void RunUnload(CallCore& core, std::shared_ptr<http::Exchange> exchange, const Pool& pool,
               std::string path, std::string body, std::shared_ptr<ListingCache> listings,
               std::shared_ptr<void> busy);

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_FLEET_OPS_H_
