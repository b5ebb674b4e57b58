#include "tools/ollama-sim/simulator.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/str_cat.h"
#include "tools/ollama-sim/generation.h"
#include "tools/ollama-sim/request_json.h"
#include "tools/ollama-sim/text.h"
#include "tools/ollama-sim/wire_json.h"

namespace og::sim {
namespace {

// Replies keep Ollama's field order, so ordered_json.
using json = nlohmann::ordered_json;
using Exchange = http::Exchange;

constexpr std::string_view kText = "text/plain; charset=utf-8";
constexpr std::string_view kBusy =
    "server busy, please try again.  maximum pending requests exceeded";

std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

void RespondError(Exchange& exchange, int status, std::string_view message) {
  exchange.Respond(status, kJson, ErrorJson(message));
}

// Answers a failed parse with the status its code maps to and its message.
void RespondStatus(Exchange& exchange, const absl::Status& status) {
  RespondError(exchange, HttpStatusOf(status), std::string(status.message()));
}

json Details(const ModelInfo& model) {
  return {{"parent_model", ""},
          {"format", "gguf"},
          {"family", model.family},
          {"families", json::array({model.family})},
          {"parameter_size", model.parameter_size},
          {"quantization_level", model.quantization}};
}

// In Ollama's order: completion, tools, then thinking.
json Capabilities(const ModelInfo& model) {
  if (model.embedding_only) return json::array({"embedding"});
  json capabilities = json::array({"completion"});
  if (model.tools) capabilities.push_back("tools");
  if (model.insert) capabilities.push_back("insert");
  if (model.thinking) capabilities.push_back("thinking");
  return capabilities;
}

// /api/show's 404 names the model in its shortest form (Ollama 0.33 shows the name it looked
// for): "nope" -> model 'nope:latest' not found.
std::string ShowNotFound(std::string_view name) {
  auto parsed = ParseModelName(name);
  return absl::StrCat("model '", parsed.ok() ? parsed->Display() : std::string(name),
                      "' not found");
}

// The (status, message) to answer for the `fail_status` knob.
std::string InjectedFailureMessage(int status) {
  if (status == 503) return std::string(kBusy);
  return absl::StrCat("simulated failure (fail_status ", status, ")");
}

}  // namespace

Simulator::Simulator(boost::asio::io_context& io_context, SimOptions options)
    : options_(std::move(options)),
      store_(options_.models, Derivation{options_.digest_salt, options_.model_sizes}),
      first_token_(FirstToken(options_.name)),
      started_at_(Timestamp(std::chrono::system_clock::now())),
      scheduler_(
          io_context,
          Scheduler::Options{options_.parallel, options_.max_queue, options_.keep_alive},
          [this] {
            return std::chrono::milliseconds(knobs_.load_delay_ms.load(std::memory_order_relaxed));
          }),
      management_(store_, knobs_.pull_delay_ms) {
  knobs_.pull_delay_ms = options_.pull_delay_ms;
  knobs_.memory_bytes = options_.memory_bytes;
  knobs_.tokens = options_.tokens;
  knobs_.token_delay_ms = options_.token_delay_ms;
  knobs_.load_delay_ms = options_.load_delay_ms;
}

Simulator::~Simulator() = default;

void Simulator::Handle(std::shared_ptr<Exchange> exchange) {
  const http::Request& request = exchange->request();
  const std::string& path = request.path;
  const std::string& method = request.method;
  const bool sim_endpoint = path.rfind("/sim/", 0) == 0;
  const bool v1 = path.rfind("/v1/", 0) == 0;
  if (!sim_endpoint && method == "POST" && (path.rfind("/api/", 0) == 0 || v1)) {
    std::lock_guard<std::mutex> lock(recent_mu_);
    if (recent_.size() == kRecentRequests) recent_.pop_front();
    recent_.emplace_back(path, request.body.substr(0, kRecentBodyBytes));
  }
  if (!sim_endpoint) {
    stats_.requests.fetch_add(1, std::memory_order_relaxed);
    const std::string_view counted = path.rfind("/v1/models/", 0) == 0   ? "/v1/models"
                                     : path.rfind("/api/blobs/", 0) == 0 ? "/api/blobs"
                                                                         : std::string_view(path);
    for (std::size_t i = 0; i < Stats::kCountedPaths.size(); ++i) {
      if (counted == Stats::kCountedPaths[i]) {
        stats_.requests_by_path[i].fetch_add(1, std::memory_order_relaxed);
        break;
      }
    }
  }

  // Answers 405 unless the method is one of `allowed`.
  auto allow = [&](std::initializer_list<std::string_view> allowed) {
    if (std::find(allowed.begin(), allowed.end(), method) != allowed.end()) return true;
    exchange->Respond(405, kText, "405 method not allowed");
    return false;
  };
  if (path == "/") {
    if (allow({"GET", "HEAD"})) exchange->Respond(200, kText, "Ollama is running");
  } else if (path == "/api/version") {
    if (allow({"GET", "HEAD"})) {
      AnswerAfter(exchange, knobs_.api_delay_ms.load(std::memory_order_relaxed),
                  [this](Exchange& e) { HandleVersion(e); });
    }
  } else if (path == "/api/tags") {
    if (allow({"GET", "HEAD"})) {
      AnswerAfter(exchange, knobs_.api_delay_ms.load(std::memory_order_relaxed),
                  [this](Exchange& e) { HandleTags(e); });
    }
  } else if (path == "/api/ps") {
    if (allow({"GET"})) {
      AnswerAfter(exchange, knobs_.ps_delay_ms.load(std::memory_order_relaxed),
                  [this](Exchange& e) { HandlePs(e); });
    }
  } else if (path == "/api/show") {
    if (allow({"POST"})) HandleShow(*exchange);
  } else if (path == "/api/generate") {
    if (allow({"POST"})) HandleGenerate(exchange, /*chat=*/false);
  } else if (path == "/api/chat") {
    if (allow({"POST"})) HandleGenerate(exchange, /*chat=*/true);
  } else if (path == "/api/embed") {
    if (allow({"POST"})) HandleEmbed(exchange, /*legacy=*/false);
  } else if (path == "/api/embeddings") {
    if (allow({"POST"})) HandleEmbed(exchange, /*legacy=*/true);
  } else if (path == "/api/pull") {
    if (allow({"POST"})) management_.HandlePull(exchange);
  } else if (path == "/api/push") {
    if (allow({"POST"})) management_.HandlePush(exchange);
  } else if (path == "/api/create") {
    if (allow({"POST"})) management_.HandleCreate(exchange);
  } else if (path == "/api/copy") {
    if (allow({"POST"})) management_.HandleCopy(*exchange);
  } else if (path == "/api/delete") {
    if (allow({"DELETE"})) management_.HandleDelete(*exchange);
  } else if (path.rfind("/api/blobs/", 0) == 0 &&
             path.size() > std::string_view("/api/blobs/").size() &&
             path.find('/', std::string_view("/api/blobs/").size()) == std::string::npos) {
    if (allow({"HEAD", "POST"})) management_.HandleBlob(*exchange);
  } else if (path == "/v1/chat/completions") {
    if (allow({"POST"})) HandleCompat(exchange, TranslateChatCompletion(request.body));
  } else if (path == "/v1/completions") {
    if (allow({"POST"})) HandleCompat(exchange, TranslateCompletion(request.body));
  } else if (path == "/v1/responses") {
    if (allow({"POST"})) HandleCompat(exchange, TranslateResponses(request.body));
  } else if (path == "/v1/messages") {
    if (allow({"POST"})) {
      HandleCompat(exchange, TranslateAnthropicMessages(request.body, *catalog()));
    }
  } else if (path == "/v1/embeddings") {
    if (allow({"POST"})) HandleOpenAIEmbeddings(exchange);
  } else if (path == "/v1/models" || path.rfind("/v1/models/", 0) == 0) {
    if (allow({"GET"})) HandleOpenAIModels(*exchange);
  } else if (path == "/sim/stats") {
    if (allow({"GET"})) exchange->Respond(200, kJson, StatsJson());
  } else if (path == "/sim/config") {
    if (allow({"GET", "POST"})) HandleSimConfig(*exchange);
  } else if (path == "/sim/requests") {
    if (allow({"GET"})) {
      json recent = json::array();
      {
        std::lock_guard<std::mutex> lock(recent_mu_);
        for (const auto& [at, body] : recent_) recent.push_back({{"path", at}, {"body", body}});
      }
      exchange->Respond(200, kJson, recent.dump(-1, ' ', false, json::error_handler_t::replace));
    }
  } else {
    exchange->Respond(404, kText, "404 page not found");
  }
}

std::shared_ptr<const Catalog> Simulator::catalog() const { return store_.catalog(); }

std::optional<std::string> Simulator::MemoryError(const ModelInfo& model) {
  const std::int64_t memory = knobs_.memory_bytes.load(std::memory_order_relaxed);
  if (memory <= 0 || model.size_bytes <= static_cast<std::uint64_t>(memory)) return std::nullopt;
  if (scheduler_.IsLoaded(model)) return std::nullopt;
  stats_.memory_failures.fetch_add(1, std::memory_order_relaxed);
  return absl::StrCat("model requires more system memory (", HumanBytes2(model.size_bytes),
                      ") than is available (", HumanBytes2(static_cast<std::uint64_t>(memory)),
                      ")");
}

void Simulator::AnswerAfter(const std::shared_ptr<Exchange>& exchange, int delay_ms,
                            std::function<void(Exchange&)> respond) {
  if (delay_ms <= 0) return respond(*exchange);
  // The timer lives on the exchange's strand; leaving (or the server stopping) cancels it. The
  // exchange's gone-callback is released when the exchange ends, which breaks the cycle.
  auto timer = std::make_shared<boost::asio::steady_timer>(exchange->executor(),
                                                           std::chrono::milliseconds(delay_ms));
  exchange->OnClientGone([timer] { timer->cancel(); });
  timer->async_wait(
      [exchange, timer, respond = std::move(respond)](const boost::system::error_code& ec) {
        if (ec || exchange->client_gone()) return;
        respond(*exchange);
      });
}

bool Simulator::RespondApiFailure(Exchange& exchange) {
  const int status = knobs_.api_status.load(std::memory_order_relaxed);
  if (status == 0) return false;
  RespondError(exchange, status, absl::StrCat("simulated failure (api_status ", status, ")"));
  return true;
}

void Simulator::HandleVersion(Exchange& exchange) {
  if (RespondApiFailure(exchange)) return;
  exchange.Respond(200, kJson, Dump(json{{"version", options_.version}}));
}

void Simulator::HandleTags(Exchange& exchange) {
  if (RespondApiFailure(exchange)) return;
  const std::shared_ptr<const Catalog> catalog = this->catalog();
  json models = json::array();
  for (const ModelInfo& model : catalog->models()) {
    json details = Details(model);
    models.push_back({{"name", model.display},
                      {"model", model.display},
                      {"modified_at", json::parse(started_at_)},
                      {"size", model.size_bytes},
                      {"digest", model.digest},
                      {"details", std::move(details)},
                      {"capabilities", Capabilities(model)}});
  }
  exchange.Respond(200, kJson, Dump(json{{"models", std::move(models)}}));
}

void Simulator::HandlePs(Exchange& exchange) {
  json models = json::array();
  for (const Scheduler::LoadedModel& loaded : scheduler_.Loaded()) {
    const ModelInfo& model = *loaded.model;
    std::string expires;
    AppendUnixTimestamp(expires, loaded.expires_at_seconds, loaded.expires_at_nanos);
    models.push_back({{"name", model.display},
                      {"model", model.display},
                      {"size", model.size_bytes},
                      {"digest", model.digest},
                      {"details", Details(model)},
                      {"expires_at", json::parse(expires)},
                      {"size_vram", model.size_bytes},
                      {"context_length", 4096}});
  }
  exchange.Respond(200, kJson, Dump(json{{"models", std::move(models)}}));
}

void Simulator::HandleShow(Exchange& exchange) {
  auto body = ParseRequestBody(exchange.request().body, "api.ShowRequest");
  if (!body.ok()) return RespondStatus(exchange, body.status());
  for (const char* field : {"model", "name"}) {
    if (auto error = CheckField(*body, field, JsonKind::kString, "ShowRequest", "string")) {
      return RespondError(exchange, 400, *error);
    }
  }
  std::string name = StringField(*body, "model");
  if (name.empty()) name = StringField(*body, "name");
  if (name.empty()) return RespondError(exchange, 400, "model is required");
  const std::shared_ptr<const Catalog> catalog = this->catalog();
  const ModelInfo* model = catalog->Find(name);
  if (model == nullptr) return RespondError(exchange, 404, ShowNotFound(name));
  const std::string arch = model->family;
  json info = {{"general.architecture", arch},
               {"general.basename", model->name.model},
               {"general.file_type", 15},
               {"general.parameter_count", model->parameter_count},
               {"general.quantization_version", 2},
               {arch + ".context_length", model->context_length},
               {arch + ".embedding_length", model->embedding_length},
               {arch + ".block_count", 28},
               {arch + ".attention.head_count", 24}};
  json reply = {{"license", "Simulated model: no license terms."},
                {"modelfile", absl::StrCat("# Modelfile generated by \"ollama show\"\nFROM ",
                                           model->display, "\nTEMPLATE \"{{ .Prompt }}\"\n")},
                {"parameters", "stop                           \"<|eot_id|>\""},
                {"template", "{{ .Prompt }}"},
                {"details", Details(*model)},
                {"model_info", std::move(info)},
                {"capabilities", Capabilities(*model)},
                {"modified_at", json::parse(started_at_)}};
  exchange.Respond(200, kJson, Dump(reply));
}

void Simulator::HandleGenerate(const std::shared_ptr<Exchange>& exchange, bool chat) {
  StartGeneration(exchange, exchange->request().body,
                  chat ? ReplyKind::kChat : ReplyKind::kGenerate, nullptr);
}

void Simulator::HandleCompat(const std::shared_ptr<Exchange>& exchange, CompatRequest compat) {
  if (compat.error_status != 0) {
    return exchange->Respond(compat.error_status, kJson, std::move(compat.error_body));
  }
  StartGeneration(exchange, compat.native_body, compat.kind, std::move(compat.adapter));
}

void Simulator::StartGeneration(const std::shared_ptr<Exchange>& exchange, std::string_view body,
                                ReplyKind kind, std::unique_ptr<ReplyAdapter> adapter) {
  // Errors of the native handler, in the adapter's shape when there is one (Ollama's writers
  // rewrite them: same status, application/json).
  const auto fail = [&](int status, std::string_view message) {
    if (adapter != nullptr) {
      return exchange->Respond(status, "application/json", adapter->ErrorBody(status, message));
    }
    RespondError(*exchange, status, message);
  };
  std::shared_ptr<const Catalog> catalog = this->catalog();
  auto parsed = ParseGenerationRequest(body, kind, *catalog);
  if (!parsed.ok()) {
    return fail(HttpStatusOf(parsed.status()), std::string(parsed.status().message()));
  }
  GenerationRequest& request = *parsed;
  request.catalog = std::move(catalog);
  if (kind == ReplyKind::kGenerate && adapter == nullptr && request.num_predict == 1) {
    stats_.probe_generations.fetch_add(1, std::memory_order_relaxed);
  }
  if (const int status = knobs_.fail_status.load(std::memory_order_relaxed); status != 0) {
    stats_.injected_failures.fetch_add(1, std::memory_order_relaxed);
    return fail(status, InjectedFailureMessage(status));
  }
  if (request.load_only && request.keep_alive == std::chrono::nanoseconds(0) &&
      adapter == nullptr) {
    // Unload: answered at once; the model goes when its in-flight requests are done.
    scheduler_.Unload(*request.model);
    return exchange->Respond(
        200, ReplyContentType(kJson),
        LoadReply(kind, request.model_echo, std::chrono::system_clock::now(), "unload"));
  }
  if (auto error = MemoryError(*request.model)) return fail(500, *error);
  std::make_shared<Generation>(*this, exchange, std::move(request), std::move(adapter))->Start();
}

void Simulator::HandleEmbed(const std::shared_ptr<Exchange>& exchange, bool legacy) {
  std::shared_ptr<const Catalog> catalog = this->catalog();
  auto parsed = ParseEmbedRequest(exchange->request().body, legacy, *catalog);
  if (!parsed.ok()) return RespondStatus(*exchange, parsed.status());
  if (auto error = MemoryError(*parsed->model)) return RespondError(*exchange, 500, *error);
  parsed->catalog = std::move(catalog);
  RunEmbed(exchange, *std::move(parsed), EmbedReply, kJson, ErrorJson(kBusy));
}

void Simulator::HandleOpenAIEmbeddings(const std::shared_ptr<Exchange>& exchange) {
  std::string encoding;
  CompatRequest compat = TranslateEmbeddings(exchange->request().body, encoding);
  if (compat.error_status != 0) {
    return exchange->Respond(compat.error_status, kJson, std::move(compat.error_body));
  }
  std::shared_ptr<const Catalog> catalog = this->catalog();
  auto parsed = ParseEmbedRequest(compat.native_body, /*legacy=*/false, *catalog);
  if (!parsed.ok()) {
    const int status = HttpStatusOf(parsed.status());
    return exchange->Respond(
        status, "application/json",
        OpenAIErrorJson(status, std::string(parsed.status().message())) + "\n");
  }
  if (auto error = MemoryError(*parsed->model)) {
    return exchange->Respond(500, "application/json", OpenAIErrorJson(500, *error) + "\n");
  }
  parsed->catalog = std::move(catalog);
  RunEmbed(
      exchange, *std::move(parsed),
      [encoding](const EmbedRequest& request, auto, auto) {
        return OpenAIEmbeddingList(request, encoding);
      },
      "application/json", OpenAIErrorJson(503, kBusy) + "\n");
}

void Simulator::HandleOpenAIModels(Exchange& exchange) {
  const std::string& path = exchange.request().path;
  const std::shared_ptr<const Catalog> catalog = this->catalog();
  if (path == "/v1/models") {
    return exchange.Respond(200, "application/json", OpenAIModelList(*catalog, started_unix_));
  }
  const std::string id = path.substr(std::string_view("/v1/models/").size());
  if (catalog->Find(id) == nullptr) {
    return exchange.Respond(404, "application/json", OpenAIErrorJson(404, ShowNotFound(id)) + "\n");
  }
  exchange.Respond(200, "application/json", OpenAIModel(id, started_unix_));
}

void Simulator::RunEmbed(
    const std::shared_ptr<Exchange>& exchange, EmbedRequest request,
    std::function<std::string(const EmbedRequest&, std::chrono::steady_clock::time_point,
                              std::chrono::steady_clock::time_point)>
        reply,
    std::string_view content_type, std::string busy_body) {
  // Embeddings wait for the model like any request, but need no decode slot.
  struct Job {
    EmbedRequest request;
    std::shared_ptr<Exchange> exchange;
    std::shared_ptr<Scheduler::Claim> claim;
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    bool done = false;
  };
  auto job = std::make_shared<Job>();
  job->request = std::move(request);
  job->exchange = exchange;
  Scheduler& scheduler = scheduler_;
  auto on_loaded = [job, &scheduler, reply = std::move(reply),
                    content_type = std::string(content_type)] {
    if (job->done) return;
    job->done = true;
    scheduler.Release(job->claim);
    const auto loaded = std::chrono::steady_clock::now();
    job->exchange->Respond(200, content_type, reply(job->request, job->start, loaded));
  };
  exchange->OnClientGone([job, &scheduler] {
    if (job->done) return;
    job->done = true;
    scheduler.Release(job->claim);
  });
  job->claim =
      scheduler_.Acquire(*job->request.model, job->request.keep_alive,
                         /*wants_slot=*/false, exchange->executor(), std::move(on_loaded), {});
  if (job->claim == nullptr) {
    job->done = true;
    stats_.busy_rejections.fetch_add(1, std::memory_order_relaxed);
    exchange->Respond(503, std::string(content_type), std::move(busy_body));
  }
}

std::string Simulator::ReplyContentType(std::string_view normal) const {
  std::lock_guard<std::mutex> lock(content_type_mu_);
  return content_type_.empty() ? std::string(normal) : content_type_;
}

bool Simulator::Park(const std::shared_ptr<Generation>& generation) {
  std::lock_guard<std::mutex> lock(parked_mu_);
  if (!knobs_.hang.load()) return false;
  // Generations that ended while parked leave expired entries; sweep them now and then.
  if (parked_.size() >= 64 && parked_.size() % 64 == 0) {
    parked_.erase(std::remove_if(parked_.begin(), parked_.end(),
                                 [](const std::weak_ptr<Generation>& g) { return g.expired(); }),
                  parked_.end());
  }
  parked_.push_back(generation);
  return true;
}

void Simulator::ResumeParked() {
  std::vector<std::weak_ptr<Generation>> parked;
  {
    std::lock_guard<std::mutex> lock(parked_mu_);
    parked.swap(parked_);
  }
  for (const auto& weak : parked) {
    if (auto generation = weak.lock()) {
      boost::asio::post(generation->executor(), [generation] { generation->Resume(); });
    }
  }
}

void Simulator::CountStart() {
  stats_.generations_started.fetch_add(1, std::memory_order_relaxed);
  const std::int64_t now = stats_.in_flight.fetch_add(1, std::memory_order_relaxed) + 1;
  std::int64_t seen = stats_.max_in_flight_seen.load(std::memory_order_relaxed);
  while (now > seen &&
         !stats_.max_in_flight_seen.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
  }
}

void Simulator::CountEnd(std::atomic<std::uint64_t>& outcome) {
  outcome.fetch_add(1, std::memory_order_relaxed);
  stats_.in_flight.fetch_sub(1, std::memory_order_relaxed);
}

std::string Simulator::StatsJson() const {
  const auto get = [](const auto& counter) { return counter.load(std::memory_order_relaxed); };
  json stats = {{"requests", get(stats_.requests)},
                {"generations_started", get(stats_.generations_started)},
                {"generations_completed", get(stats_.generations_completed)},
                {"generations_aborted", get(stats_.generations_aborted)},
                {"generations_failed", get(stats_.generations_failed)},
                {"in_flight", get(stats_.in_flight)},
                {"max_in_flight_seen", get(stats_.max_in_flight_seen)},
                {"busy_rejections", get(stats_.busy_rejections)},
                {"injected_failures", get(stats_.injected_failures)},
                {"loads", scheduler_.loads()},
                {"unloads", scheduler_.unloads()}};
  json by_path = json::object();
  for (std::size_t i = 0; i < Stats::kCountedPaths.size(); ++i) {
    by_path[std::string(Stats::kCountedPaths[i])] = get(stats_.requests_by_path[i]);
  }
  stats["requests_by_path"] = std::move(by_path);
  stats["probe_generations"] = get(stats_.probe_generations);
  stats["memory_failures"] = get(stats_.memory_failures);
  const ManagementStats& managed = management_.stats();
  stats["pulls"] = get(managed.pulls);
  stats["pull_failures"] = get(managed.pull_failures);
  stats["pushes"] = get(managed.pushes);
  stats["creates"] = get(managed.creates);
  stats["copies"] = get(managed.copies);
  stats["deletes"] = get(managed.deletes);
  stats["blobs_stored"] = get(managed.blobs_stored);
  stats["installed_models"] = catalog()->models().size();
  return Dump(stats);
}

std::string Simulator::KnobsJson() const {
  const auto get = [](const auto& knob) { return knob.load(std::memory_order_relaxed); };
  json knobs = {{"token_delay_ms", get(knobs_.token_delay_ms)},
                {"tokens", get(knobs_.tokens)},
                {"load_delay_ms", get(knobs_.load_delay_ms)},
                {"fail_status", get(knobs_.fail_status)},
                {"fail_after_tokens", get(knobs_.fail_after_tokens)},
                {"hang", get(knobs_.hang)},
                {"reset_after_tokens", get(knobs_.reset_after_tokens)},
                {"api_status", get(knobs_.api_status)},
                {"api_delay_ms", get(knobs_.api_delay_ms)},
                {"ps_delay_ms", get(knobs_.ps_delay_ms)},
                {"garbage_after_tokens", get(knobs_.garbage_after_tokens)},
                {"truncate_after_tokens", get(knobs_.truncate_after_tokens)},
                {"huge_line_bytes", get(knobs_.huge_line_bytes)},
                {"close_mid_chunk_after_tokens", get(knobs_.close_mid_chunk_after_tokens)},
                {"ignore_num_predict", get(knobs_.ignore_num_predict)}};
  {
    std::lock_guard<std::mutex> lock(content_type_mu_);
    knobs["content_type"] = content_type_;
  }
  const auto models = store_.override_names();
  knobs["models"] = models ? json(*models) : json(nullptr);
  knobs["pull_delay_ms"] = get(knobs_.pull_delay_ms);
  knobs["pull_fail"] = management_.pull_fail();
  knobs["memory_bytes"] = get(knobs_.memory_bytes);
  const Derivation derivation = store_.derivation();
  knobs["digest_salt"] = derivation.salt;
  json sizes = json::object();
  for (const auto& [key, bytes] : derivation.sizes) sizes[key] = bytes;
  knobs["model_sizes"] = std::move(sizes);
  return Dump(knobs);
}

absl::Status Simulator::ApplyConfig(std::string_view body) {
  auto knobs = ParseKnobs(body);
  if (!knobs.ok()) return knobs.status();
  const KnobUpdate& update = *knobs;
  if (update.token_delay_ms) knobs_.token_delay_ms = *update.token_delay_ms;
  if (update.tokens) knobs_.tokens = *update.tokens;
  if (update.load_delay_ms) knobs_.load_delay_ms = *update.load_delay_ms;
  if (update.fail_status) knobs_.fail_status = *update.fail_status;
  if (update.fail_after_tokens) knobs_.fail_after_tokens = *update.fail_after_tokens;
  if (update.reset_after_tokens) knobs_.reset_after_tokens = *update.reset_after_tokens;
  if (update.api_status) knobs_.api_status = *update.api_status;
  if (update.api_delay_ms) knobs_.api_delay_ms = *update.api_delay_ms;
  if (update.ps_delay_ms) knobs_.ps_delay_ms = *update.ps_delay_ms;
  if (update.garbage_after_tokens) knobs_.garbage_after_tokens = *update.garbage_after_tokens;
  if (update.truncate_after_tokens) knobs_.truncate_after_tokens = *update.truncate_after_tokens;
  if (update.huge_line_bytes) knobs_.huge_line_bytes = *update.huge_line_bytes;
  if (update.close_mid_chunk_after_tokens) {
    knobs_.close_mid_chunk_after_tokens = *update.close_mid_chunk_after_tokens;
  }
  if (update.ignore_num_predict) knobs_.ignore_num_predict = *update.ignore_num_predict;
  if (update.content_type) {
    std::lock_guard<std::mutex> lock(content_type_mu_);
    content_type_ = *update.content_type;
  }
  if (update.pull_delay_ms) knobs_.pull_delay_ms = *update.pull_delay_ms;
  if (update.memory_bytes) knobs_.memory_bytes = *update.memory_bytes;
  if (update.pull_fail) management_.SetPullFail(*update.pull_fail);
  // Requests that took the old catalog keep it until they end.
  if (update.digest_salt || update.model_sizes) {
    store_.SetDerivation(update.digest_salt, update.model_sizes);
  }
  if (update.models) store_.Reset(*update.models);
  if (update.hang) {
    knobs_.hang = *update.hang;
    if (!*update.hang) ResumeParked();
  }
  return absl::OkStatus();
}

void Simulator::HandleSimConfig(Exchange& exchange) {
  if (exchange.request().method == "POST") {
    if (absl::Status s = ApplyConfig(exchange.request().body); !s.ok()) {
      return RespondStatus(exchange, s);
    }
  }
  exchange.Respond(200, kJson, KnobsJson());
}

void Simulator::Shutdown() {
  knobs_.hang = false;
  ResumeParked();
  scheduler_.Shutdown();
}

}  // namespace og::sim
