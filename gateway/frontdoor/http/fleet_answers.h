// The HTTP front door's answers about the fleet as a whole (see docs/http-api.md, "The fleet"):
// the merged listings (/api/tags, /api/ps, /api/version) and the merged progress and results of
// model management (pull, push, create, copy, delete, blobs) run on several backends at once.
// Pure: no I/O, so every shape is unit-tested. The fan-out itself is fleet_ops.h.
//
// What Ollama's clients read keeps Ollama's shape (one entry per model, one `version`, one
// progress stream); what the fleet adds is in extra fields that those clients ignore.
#ifndef OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_FLEET_ANSWERS_H_
#define OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_FLEET_ANSWERS_H_

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace og {

// One backend's answer to a request sent to several.
struct BackendAnswer {
  std::string backend;
  std::string body;
};

// /api/tags of the fleet: one entry per model name (the first backend's, in name order) with
// `backends`, the backends that list it; when their digests differ, also `digest_mismatch`:
// true and `digests`, backend -> digest (a model pulled at different times, or changed on one
// backend). A body that is not JSON, or nests deeper than `max_depth`, is skipped.
nlohmann::json MergeTags(const std::vector<BackendAnswer>& answers, int max_depth);

// A rollout as listings show it: the name callers use, and its targets' models.
struct RolloutListing {
  std::string name;
  std::string baseline;
  std::string candidate;
};

// Adds to the fleet's /api/tags (`tags`, as MergeTags made it) an entry for each rollout's name
// that is not listed already: a copy of its baseline's entry (when listed) named as callers name
// it, with `rollout`: {baseline, candidate}. Names are compared as Ollama reads them.
void AddRolloutEntries(const std::vector<RolloutListing>& rollouts, nlohmann::json* tags);

// /api/ps of the fleet. `models`: one entry per loaded model, as Ollama clients expect (the copy
// that stays loaded longest, with `backends`: every backend holding a copy), latest expiry
// first as Ollama lists them; `copies`: every loaded copy, each with `backend`.
nlohmann::json MergeLoaded(const std::vector<BackendAnswer>& answers, int max_depth);

// /api/version of a mixed fleet: `version` is the lowest any backend reports (what every backend
// can do, as Open WebUI reads several Ollamas), `versions` each backend's.
nlohmann::json MergeVersions(const std::vector<BackendAnswer>& answers, int max_depth);

// Ollama version order: dot-separated numbers compared as numbers ("0.10.0" > "0.9.9"), a
// pre-release ("0.5.0-rc1") before its release; an optional leading "v" is ignored.
bool VersionLess(std::string_view a, std::string_view b);

// The model management endpoints.
enum class FleetOp { kPull, kPush, kCreate, kCopy, kDelete, kHeadBlob, kPostBlob };
// "pull", "push", ... (the `operation` label of gateway_fleet_operations_total).
std::string_view FleetOpName(FleetOp op);
// True for the operations that stream NDJSON progress (pull, push, create).
bool StreamsProgress(FleetOp op);

// Merges one management operation's answers from several backends into one for the caller.
//
// Progress (pull, push, create): each backend's status lines pass on with a `backend` field. A
// line about a layer (`digest`, `total`, `completed`) carries the layer's totals over every
// backend, so a client's progress bar for it (the Ollama CLI keys them by digest) reaches 100%
// once every backend has it. Each backend's own "success" is held back: the stream ends with one
// final line, {"status": "success"} when every backend succeeded, else an {"error"} naming each
// backend that failed and those where it succeeded.
//
// A backend's part fails on an {"error"} line or an HTTP error; for delete and copy a 404 (the
// model is not there) is not a failure as long as some backend had it. Not thread-safe: one
// call's answers are merged by one thread at a time.
class FleetMerge {
 public:
  FleetMerge(FleetOp op, std::vector<std::string> backends, int max_depth);

  // A line of backend `leg`'s answer: the line to pass on to the caller, or "" when there is
  // nothing to pass on (a "success", an error, an empty or unreadable line).
  std::string OnLine(std::size_t leg, std::string_view line);
  // Backend `leg`'s part ended: `http_status` as it answered (0: no answer), `error` the
  // transport's or the answer's error, "" when it ended cleanly.
  void OnEnd(std::size_t leg, int http_status, std::string_view error);

  // Once every part ended: whether the operation succeeded as a whole, the HTTP status to
  // answer a caller that has been sent nothing yet, and the body: the final line of a progress
  // stream, or Ollama's error {"error": "..."} ("" for a success without a body, as Ollama
  // answers copy, delete and blobs).
  bool ok() const;
  int http_status() const;
  std::string FinalLine() const;
  // Each backend's result, for metrics: true when its part succeeded (or it did not have the
  // model, for delete and copy).
  bool LegOk(std::size_t leg) const;

 private:
  struct Leg {
    std::string backend;
    int http_status = 0;
    std::string error;  // "" until it failed
    bool ended = false;
    bool absent = false;  // a 404 for delete or copy
  };
  struct Layer {
    std::map<std::size_t, std::pair<std::int64_t, std::int64_t>> by_leg;  // total, completed
  };

  std::string FailureSummary() const;

  const FleetOp op_;
  const int max_depth_;
  std::vector<Leg> legs_;
  std::map<std::string, Layer> layers_;  // by digest
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_FLEET_ANSWERS_H_
