#include "gateway/frontdoor/http/fleet_ops.h"

#include <algorithm>
#include <atomic>

#include "absl/strings/str_join.h"
#include "fmt/format.h"
#include "gateway/upstream/ollama_protocol.h"
#include "http/server.h"
#include "spdlog/spdlog.h"

namespace og {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kJson = "application/json; charset=utf-8";
constexpr std::string_view kNdjson = "application/x-ndjson";
// Listings and the version are small answers from healthy backends; past this they failed.
constexpr std::chrono::seconds kListingTimeout{10};
// How long a merged listing is served from ListingCache.
constexpr std::chrono::seconds kListingTtl{2};

// The error a backend's failed request says: Ollama's {"error": "..."} text, else the body, else
// what the transport said.
std::string ErrorText(const UpstreamResult& result) {
  if (result.outcome != UpstreamOutcome::kHttpError) {
    return result.message.empty() ? std::string(UpstreamOutcomeName(result.outcome))
                                  : result.message;
  }
  std::string message = OllamaErrorMessage(result.body);
  return message.empty() ? fmt::format("HTTP {}", result.http_status) : message;
}

int HttpStatusOf(const UpstreamResult& result) {
  if (result.outcome == UpstreamOutcome::kOk) {
    return result.http_status != 0 ? static_cast<int>(result.http_status) : 200;
  }
  return result.outcome == UpstreamOutcome::kHttpError ? static_cast<int>(result.http_status) : 0;
}

// One request sent to several backends at once. Each backend's lines and its end reach the
// callbacks one at a time (under the fan-out's lock), then `all_done` once, after the last end.
class Fanout : public std::enable_shared_from_this<Fanout> {
 public:
  struct Callbacks {
    // A line of leg `leg`'s answer; false aborts that leg.
    std::function<bool(std::size_t leg, std::string_view line)> line;
    std::function<void(std::size_t leg, const UpstreamResult& result)> end;
    std::function<void()> all_done;
  };

  // Sends `prototype` (its url set per target: the backend's URL and `path`) to every target.
  static std::shared_ptr<Fanout> Start(CallCore& core,
                                       const std::vector<const PoolMember*>& targets,
                                       const UpstreamRequest& prototype, std::string_view path,
                                       Callbacks callbacks) {
    auto fanout = std::make_shared<Fanout>(std::move(callbacks), targets.size());
    for (std::size_t i = 0; i < targets.size(); ++i) {
      UpstreamRequest request = prototype;
      request.url = fmt::format("{}{}", targets[i]->url, path);
      request.tls = targets[i]->tls;
      // Not under the lock: a request may complete inline.
      UpstreamCall call = core.upstream().Start(std::move(request), new Leg(fanout, i));
      std::lock_guard<std::mutex> lock(fanout->mu_);
      fanout->calls_[i] = std::move(call);
    }
    return fanout;
  }

  Fanout(Callbacks callbacks, std::size_t legs)
      : callbacks_(std::move(callbacks)), left_(legs), calls_(legs) {}

  // The caller went away: every backend request ends (Ollama stops a pull whose client left).
  void Cancel() {
    std::vector<UpstreamCall> calls;
    {
      std::lock_guard<std::mutex> lock(mu_);
      calls = calls_;
    }
    for (const UpstreamCall& call : calls) call.Cancel();
  }

 private:
  struct Leg final : UpstreamHandler {
    Leg(std::shared_ptr<Fanout> f, std::size_t i) : fanout(std::move(f)), index(i) {}
    bool OnLine(std::string_view line) override {
      std::lock_guard<std::mutex> lock(fanout->mu_);
      return fanout->callbacks_.line(index, line);
    }
    void OnComplete(UpstreamResult result) override {
      fanout->End(index, result);
      delete this;
    }
    const std::shared_ptr<Fanout> fanout;
    const std::size_t index;
  };

  void End(std::size_t leg, const UpstreamResult& result) {
    bool last = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      callbacks_.end(leg, result);
      last = --left_ == 0;
    }
    if (last) callbacks_.all_done();
  }

  const Callbacks callbacks_;
  std::mutex mu_;
  std::size_t left_;
  std::vector<UpstreamCall> calls_;
};

UpstreamRequest BaseRequest(CallCore& core) {
  UpstreamRequest request;
  request.connect_timeout = core.options().connect_timeout;
  request.max_line_bytes = core.options().max_line_bytes;
  return request;
}

// The healthy backends of the table, the first `limit` (0: all).
std::vector<const PoolMember*> HealthyBackends(const RoutingTable& table, std::size_t limit) {
  std::vector<const PoolMember*> targets;
  for (const PoolMember& member : table.backends()) {
    if (!member.state->Healthy()) continue;
    targets.push_back(&member);
    if (limit > 0 && targets.size() == limit) break;
  }
  return targets;
}

// The non-empty, trimmed items of a comma-separated list.
std::vector<std::string_view> SplitList(std::string_view list) {
  std::vector<std::string_view> items;
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

// One backend's whole answer to a request sent to several (Gather).
struct Gathered {
  std::string backend;
  std::string body;  // its lines, joined (Ollama answers these on one line)
  UpstreamResult result;
};

// Sends `request` to `targets` and calls `done` with every backend's answer, in target order, once
// all ended. A body past upstream.max_line_bytes aborts that backend's request.
void Gather(CallCore& core, const std::vector<const PoolMember*>& targets,
            const UpstreamRequest& request, std::string_view path,
            std::function<void(std::vector<Gathered>)> done) {
  auto gathered = std::make_shared<std::vector<Gathered>>(targets.size());
  for (std::size_t i = 0; i < targets.size(); ++i)
    (*gathered)[i].backend = targets[i]->state->name();
  const std::size_t max_bytes = core.options().max_line_bytes;
  Fanout::Callbacks callbacks;
  callbacks.line = [gathered, max_bytes](std::size_t leg, std::string_view line) {
    std::string& body = (*gathered)[leg].body;
    if (body.size() + line.size() > max_bytes) return false;  // aborted: counted as failed
    body.append(line);
    return true;
  };
  callbacks.end = [gathered](std::size_t leg, const UpstreamResult& result) {
    (*gathered)[leg].result = result;
  };
  callbacks.all_done = [gathered, done = std::move(done)] { done(std::move(*gathered)); };
  Fanout::Start(core, targets, request, path, std::move(callbacks));
}

bool MayServe(const BackendConfig& backend, std::string_view canonical_model) {
  return canonical_model.empty() || backend.canonical_models.empty() ||
         std::find(backend.canonical_models.begin(), backend.canonical_models.end(),
                   canonical_model) != backend.canonical_models.end();
}

}  // namespace

void FetchFromFleet(CallCore& core, std::string_view path, std::size_t limit,
                    std::function<void(std::vector<BackendAnswer>, std::string error)> done) {
  const std::shared_ptr<const RoutingTable> table = core.router().table();
  std::vector<const PoolMember*> targets = HealthyBackends(*table, limit);
  if (targets.empty()) {
    return done({}, fmt::format("no healthy backend to answer {} ({} configured)", path,
                                table->backends().size()));
  }
  UpstreamRequest request = BaseRequest(core);
  request.method = UpstreamRequest::Method::kGet;
  request.timeout = kListingTimeout;
  Gather(core, targets, request, path, [done = std::move(done)](std::vector<Gathered> gathered) {
    std::vector<BackendAnswer> answers;
    std::string error;
    for (Gathered& g : gathered) {
      if (g.result.outcome == UpstreamOutcome::kOk) {
        answers.push_back({std::move(g.backend), std::move(g.body)});
      } else if (error.empty()) {
        error = fmt::format("backend '{}': {}", g.backend,
                            g.result.outcome == UpstreamOutcome::kHttpError
                                ? fmt::format("HTTP {}", g.result.http_status)
                                : g.result.message);
      }
    }
    done(std::move(answers), std::move(error));
  });
}

void ListingCache::Get(CallCore& core, const std::string& path, int max_depth, Done done) {
  const auto now = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  Entry& entry = entries_[path];
  if (entry.fetched_at != std::chrono::steady_clock::time_point{} &&
      now - entry.fetched_at < kListingTtl) {
    const Result result = entry.result;
    lock.unlock();
    return done(result);
  }
  entry.waiters.push_back(std::move(done));
  if (entry.waiters.size() > 1) return;  // a fan-out is under way
  lock.unlock();
  FetchFromFleet(
      core, path, 0,
      [self = shared_from_this(), path, max_depth](std::vector<BackendAnswer> answers,
                                                   std::string error) {
        Result result;
        if (!answers.empty()) {
          result.merged = std::make_shared<const Json>(
              path == "/api/ps" ? MergeLoaded(answers, max_depth) : MergeTags(answers, max_depth));
        } else {
          result.error = std::move(error);
        }
        self->Store(path, std::move(result));
      });
}

void ListingCache::Invalidate() {
  std::lock_guard<std::mutex> lock(mu_);
  // Fan-outs under way keep their waiters; they store what they fetched, which may predate
  // the change by a moment.
  for (auto& [path, entry] : entries_) entry.fetched_at = {};
}

void ListingCache::Store(const std::string& path, Result result) {
  std::vector<Done> waiters;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Entry& entry = entries_[path];
    entry.fetched_at = std::chrono::steady_clock::now();
    entry.result = result;
    waiters.swap(entry.waiters);
  }
  for (const Done& done : waiters) done(result);
}

absl::StatusOr<std::vector<const PoolMember*>> FleetTargets(const RoutingTable& table,
                                                            const Config& config,
                                                            std::string_view canonical_model,
                                                            std::string_view named) {
  std::vector<const PoolMember*> targets;
  if (!named.empty()) {
    for (std::string_view name : SplitList(named)) {
      const PoolMember* member = table.FindBackend(name);
      if (member == nullptr) {
        std::vector<std::string> names;
        for (const PoolMember& m : table.backends()) names.push_back(m.state->name());
        return absl::InvalidArgumentError(fmt::format("backends: no backend is named '{}' ({})",
                                                      name, absl::StrJoin(names, ", ")));
      }
      if (!member->state->Healthy()) {
        return absl::UnavailableError(fmt::format("backends: backend '{}' is unhealthy", name));
      }
      if (std::find(targets.begin(), targets.end(), member) == targets.end()) {
        targets.push_back(member);
      }
    }
    if (targets.empty()) return absl::InvalidArgumentError("backends: names no backend");
    return targets;
  }
  for (const BackendConfig& backend : config.backends) {
    const PoolMember* member = table.FindBackend(backend.name);
    if (member == nullptr || !member->state->Healthy() || !MayServe(backend, canonical_model)) {
      continue;
    }
    targets.push_back(member);
  }
  if (targets.empty()) {
    return absl::UnavailableError(
        canonical_model.empty()
            ? std::string("no healthy backend")
            : fmt::format("no healthy backend may serve model '{}'", canonical_model));
  }
  if (config.fleet.targets > 0 && targets.size() > static_cast<std::size_t>(config.fleet.targets)) {
    std::stable_sort(targets.begin(), targets.end(), [](const PoolMember* a, const PoolMember* b) {
      return a->state->in_flight().load(std::memory_order_relaxed) <
             b->state->in_flight().load(std::memory_order_relaxed);
    });
    targets.resize(static_cast<std::size_t>(config.fleet.targets));
  }
  return targets;
}

namespace {

// One management operation in progress: the merge, and what has gone to the caller.
struct FleetOpState : std::enable_shared_from_this<FleetOpState> {
  FleetOpState(CallCore& c, std::shared_ptr<http::Exchange> e, FleetOpRequest r,
               std::vector<std::string> backends, std::shared_ptr<ListingCache> l,
               std::shared_ptr<void> b, int max_depth)
      : core(c),
        exchange(std::move(e)),
        request(std::move(r)),
        merge(request.op, std::move(backends), max_depth),
        listings(std::move(l)),
        busy(std::move(b)),
        buffer_limit(c.options().stream_buffer_bytes) {}

  // A progress line for the caller. Past the stream buffer (a caller that does not read) the
  // progress is dropped rather than queued: the next line says the same and more.
  void Send(std::string line) {
    if (queued.load(std::memory_order_relaxed) > buffer_limit) return;
    if (!started) {
      started = true;
      http::Headers headers = {{"x-gateway-backends", BackendList()}};
      exchange->StartStream(200, kNdjson, std::move(headers));
    }
    line += '\n';
    const std::size_t size = line.size();
    queued.fetch_add(size, std::memory_order_relaxed);
    exchange->Write(std::move(line), [self = shared_from_this(), size](bool) {
      self->queued.fetch_sub(size, std::memory_order_relaxed);
    });
  }

  std::string BackendList() const {
    std::vector<std::string> names;
    for (const PoolMember* m : request.targets) names.push_back(m->state->name());
    return absl::StrJoin(names, ",");
  }

  // Routing follows what each backend now has, without waiting for the next tier-2 check.
  void NoteResult(const PoolMember& member) {
    const std::string& backend = member.state->name();
    Router& router = core.router();
    switch (request.op) {
      case FleetOp::kPull:
      case FleetOp::kCreate:
        return router.NoteModelInstalled(backend, request.model);
      case FleetOp::kCopy:
        return router.NoteModelInstalled(backend, request.destination);
      case FleetOp::kDelete:
        return router.NoteModelRemoved(backend, request.model);
      default:
        return;
    }
  }

  void Finish() {
    listings->Invalidate();
    const std::string final_line = merge.FinalLine();
    if (!merge.ok()) {
      spdlog::warn("fleet {} of '{}': {}", FleetOpName(request.op), request.model, final_line);
    }
    if (started) {
      // Sent whatever the buffer holds: the outcome is the line the caller must not miss.
      exchange->Write(final_line + "\n");
      exchange->EndStream();
      return;
    }
    http::Headers headers = {{"x-gateway-backends", BackendList()}};
    exchange->Respond(merge.http_status(), kJson, final_line, std::move(headers));
  }

  CallCore& core;
  const std::shared_ptr<http::Exchange> exchange;
  const FleetOpRequest request;
  FleetMerge merge;
  const std::shared_ptr<ListingCache> listings;
  const std::shared_ptr<void> busy;
  const std::size_t buffer_limit;
  bool started = false;
  // Bytes written and not yet sent.
  std::atomic<std::size_t> queued{0};
};

}  // namespace

void RunFleetOp(CallCore& core, std::shared_ptr<http::Exchange> exchange, FleetOpRequest request,
                std::shared_ptr<ListingCache> listings, std::shared_ptr<void> busy) {
  const int max_depth = static_cast<int>(core.security().policy()->limits().max_json_depth);
  std::vector<std::string> backends;
  for (const PoolMember* m : request.targets) backends.push_back(m->state->name());
  auto state =
      std::make_shared<FleetOpState>(core, exchange, std::move(request), std::move(backends),
                                     std::move(listings), std::move(busy), max_depth);
  const http::Request& caller = exchange->request();
  UpstreamRequest upstream = BaseRequest(core);
  upstream.body = state->request.body;
  upstream.any_answer_type = true;
  // A pull of a large model runs for as long as it takes; it is bounded by its silence only.
  upstream.idle_timeout = core.options().idle_timeout;
  switch (state->request.op) {
    case FleetOp::kDelete:
      upstream.method = UpstreamRequest::Method::kDelete;
      break;
    case FleetOp::kHeadBlob:
      upstream.method = UpstreamRequest::Method::kHead;
      upstream.body.clear();
      break;
    case FleetOp::kPostBlob:
      upstream.body_type = "application/octet-stream";
      break;
    default:
      break;
  }
  Fanout::Callbacks callbacks;
  callbacks.line = [state](std::size_t leg, std::string_view line) {
    std::string out = state->merge.OnLine(leg, line);
    if (!out.empty() && StreamsProgress(state->request.op)) state->Send(std::move(out));
    return true;
  };
  callbacks.end = [state](std::size_t leg, const UpstreamResult& result) {
    const bool answered =
        result.outcome == UpstreamOutcome::kOk || result.outcome == UpstreamOutcome::kHttpError;
    state->merge.OnEnd(leg, HttpStatusOf(result),
                       result.outcome == UpstreamOutcome::kOk
                           ? std::string_view()
                           : std::string_view(ErrorText(result)));
    const PoolMember& member = *state->request.targets[leg];
    const bool ok = state->merge.LegOk(leg);
    state->core.metrics().RecordFleetOperation(FleetOpName(state->request.op), member.state->name(),
                                               ok ? "ok" : "failed");
    if (ok && answered && result.http_status != 404) state->NoteResult(member);
  };
  callbacks.all_done = [state] { state->Finish(); };
  std::weak_ptr<Fanout> fanout =
      Fanout::Start(core, state->request.targets, upstream, caller.target, std::move(callbacks));
  exchange->OnClientGone([fanout] {
    if (auto f = fanout.lock()) f->Cancel();
  });
}

void RunUnload(CallCore& core, std::shared_ptr<http::Exchange> exchange, const Pool& pool,
               std::string path, std::string body, std::shared_ptr<ListingCache> listings,
               std::shared_ptr<void> busy) {
  std::vector<const PoolMember*> targets;
  for (std::size_t i = 0; i < pool.members.size(); ++i) {
    if (pool.members[i].state->Healthy()) targets.push_back(&pool.members[i]);
  }
  if (targets.empty()) {
    return exchange->Respond(
        503, kJson,
        Json{{"error", fmt::format("no healthy backend to unload '{}' from", pool.model_label)}}
            .dump());
  }
  UpstreamRequest upstream = BaseRequest(core);
  upstream.body = std::move(body);
  upstream.timeout = kListingTimeout;
  Gather(core, targets, upstream, path,
         [exchange, listings, busy, model = pool.model_label](std::vector<Gathered> gathered) {
           listings->Invalidate();
           std::vector<std::string> backends;
           std::vector<std::string> errors;
           bool all_not_found = true;
           for (const Gathered& g : gathered) backends.push_back(g.backend);
           http::Headers headers = {{"x-gateway-backends", absl::StrJoin(backends, ",")}};
           for (Gathered& g : gathered) {
             // Ollama answers an unload with one JSON object, streamed or not: the first
             // backend's is the caller's.
             if (g.result.outcome == UpstreamOutcome::kOk) {
               return exchange->Respond(200, kJson, std::move(g.body), std::move(headers));
             }
             if (g.result.http_status != 404) all_not_found = false;
             errors.push_back(fmt::format("backend '{}': {}", g.backend, ErrorText(g.result)));
           }
           exchange->Respond(
               all_not_found ? 404 : 502, kJson,
               Json{{"error", fmt::format("unloading '{}' failed on every backend: {}", model,
                                          absl::StrJoin(errors, "; "))}}
                   .dump(),
               std::move(headers));
         });
}

}  // namespace og
