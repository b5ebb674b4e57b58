#include "tools/ollama-sim/management.h"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "security/sha256.h"
#include "tools/ollama-sim/request_json.h"
#include "tools/ollama-sim/wire_json.h"

namespace og::sim {
namespace {

using json = nlohmann::ordered_json;
using Exchange = http::Exchange;

constexpr std::string_view kInvalidName = "invalid model name";
constexpr int kTicksPerLayer = 3;

void RespondError(Exchange& exchange, int status, std::string_view message) {
  exchange.Respond(status, kJson, ErrorJson(message));
}

// api.ProgressResponse with its omitempty fields.
std::string ProgressLine(std::string_view status, std::string_view digest = {},
                         std::uint64_t total = 0, std::uint64_t completed = 0) {
  std::string out = "{\"status\":";
  AppendJsonString(out, status);
  if (!digest.empty()) {
    out += ",\"digest\":";
    AppendJsonString(out, digest);
  }
  if (total != 0) absl::StrAppend(&out, ",\"total\":", total);
  if (completed != 0) absl::StrAppend(&out, ",\"completed\":", completed);
  out += '}';
  return out;
}

std::string Sha256Digest(std::string_view data) {
  return absl::StrCat("sha256:", security::Sha256Hex(data));
}

// The body's model name: `model`, else `name` (cmp.Or), after Go's type checks. Empty if the
// body is bad, with the reply already sent.
struct NamedBody {
  json body;
  std::string name;
  std::optional<bool> stream;
};

std::optional<NamedBody> ParseNamedBody(Exchange& exchange, std::string_view go_type,
                                        std::string_view go_struct,
                                        std::initializer_list<const char*> string_fields) {
  auto body = ParseRequestBody(exchange.request().body, go_type);
  if (!body.ok()) {
    RespondError(exchange, HttpStatusOf(body.status()), std::string(body.status().message()));
    return std::nullopt;
  }
  for (const char* field : string_fields) {
    if (auto error = CheckField(*body, field, JsonKind::kString, go_struct, "string")) {
      RespondError(exchange, 400, *error);
      return std::nullopt;
    }
  }
  for (const char* field : {"stream", "insecure"}) {
    if (auto error = CheckField(*body, field, JsonKind::kBool, go_struct, "bool")) {
      RespondError(exchange, 400, *error);
      return std::nullopt;
    }
  }
  NamedBody named;
  named.name = StringField(*body, "model");
  if (named.name.empty()) named.name = StringField(*body, "name");
  if (const auto it = body->find("stream"); it != body->end() && it->is_boolean()) {
    named.stream = it->get<bool>();
  }
  named.body = *std::move(body);
  return named;
}

// Ollama's model.ParseName plus IsValid, after modelref's trimming.
std::optional<ModelName> ParseStoredName(std::string_view raw) {
  std::string trimmed(raw);
  absl::StripAsciiWhitespace(&trimmed);
  auto parsed = ParseModelName(trimmed);
  if (!parsed.ok() || !IsValidStoredName(*parsed)) return std::nullopt;
  return *parsed;
}

// `model` under a new name (copy and create keep what the source's files decide: capabilities,
// family, size).
ModelInfo Renamed(const ModelInfo& model, const ModelName& name) {
  ModelInfo out = model;
  out.name = name;
  out.key = name.Key();
  out.display = name.Display();
  return out;
}

std::string MissingFile(std::string_view kind, std::string_view path) {
  return absl::StrCat("open ", std::string(kModelsDir), "/", std::string(kind), "/",
                      std::string(path), ": no such file or directory");
}

}  // namespace

// One step of a progress answer: after `delay`, run `action` (which may fail the answer, or put
// more steps in front of the rest), then send `line` (if not empty).
struct Management::Step {
  std::chrono::milliseconds delay{0};
  std::string line;
  // A failure: the status to answer if nothing was sent yet (or without streaming) and Ollama's
  // message. Returns nullopt to go on.
  struct Failure {
    int status = 500;
    std::string message;
  };
  std::function<std::optional<Failure>(std::deque<Step>& rest)> action;
};

// Runs the steps of one pull, push or create on the exchange's executor. Streaming, the headers
// go with the first line (so a failure before it is a plain JSON error with its status, as
// Ollama's streamResponse does), and each line waits for the previous one to reach the socket;
// without streaming only the last line is sent, or the failure. A client that leaves cancels the
// rest: a pull cut short installs nothing.
class Management::Progress : public std::enable_shared_from_this<Management::Progress> {
 public:
  Progress(std::shared_ptr<Exchange> exchange, bool stream, std::vector<Step> steps)
      : exchange_(std::move(exchange)),
        stream_(stream),
        steps_(std::make_move_iterator(steps.begin()), std::make_move_iterator(steps.end())),
        timer_(exchange_->executor()) {}

  void Start() {
    auto self = shared_from_this();
    exchange_->OnClientGone([self] {
      self->done_ = true;
      self->timer_.cancel();
    });
    Next();
  }

 private:
  void Next() {
    if (done_) return;
    if (steps_.empty()) return Finish();
    const auto delay = steps_.front().delay;
    if (delay.count() <= 0) return RunStep();
    timer_.expires_after(delay);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->done_) return;
      self->RunStep();
    });
  }

  void RunStep() {
    Step step = std::move(steps_.front());
    steps_.pop_front();
    if (step.action) {
      if (auto failure = step.action(steps_)) return Fail(*failure);
    }
    if (step.line.empty()) return Next();
    if (!stream_) {
      last_ = std::move(step.line);
      return Next();
    }
    if (!started_) {
      exchange_->StartStream(200, kNdjson);
      started_ = true;
    }
    exchange_->Write(step.line + "\n", [self = shared_from_this()](bool ok) {
      if (!ok) {
        self->done_ = true;
        return;
      }
      self->Next();
    });
  }

  void Fail(const Step::Failure& failure) {
    done_ = true;
    if (started_) {
      exchange_->Write(ErrorJson(failure.message) + "\n");
      return exchange_->EndStream();
    }
    exchange_->Respond(failure.status, kPlainJson, ErrorJson(failure.message));
  }

  void Finish() {
    done_ = true;
    if (started_) return exchange_->EndStream();
    exchange_->Respond(200, stream_ ? kNdjson : kPlainJson, std::move(last_));
  }

  std::shared_ptr<Exchange> exchange_;
  const bool stream_;
  std::deque<Step> steps_;
  boost::asio::steady_timer timer_;
  bool started_ = false;
  bool done_ = false;
  std::string last_ = ProgressLine("");
};

Management::Management(ModelStore& store, const std::atomic<int>& pull_delay_ms)
    : store_(store), pull_delay_ms_(pull_delay_ms) {}

void Management::SetPullFail(std::vector<std::string> names) {
  std::lock_guard<std::mutex> lock(pull_fail_mu_);
  pull_fail_ = std::move(names);
}

std::vector<std::string> Management::pull_fail() const {
  std::lock_guard<std::mutex> lock(pull_fail_mu_);
  return pull_fail_;
}

bool Management::PullFails(const ModelInfo& model) const {
  std::lock_guard<std::mutex> lock(pull_fail_mu_);
  for (const std::string& name : pull_fail_) {
    if (name == "*") return true;
    auto parsed = ParseModelName(name);
    if (parsed.ok() && parsed->Key() == model.key) return true;
  }
  return false;
}

void Management::AppendPull(std::vector<Step>& steps, const ModelInfo& model) {
  // pull_delay_ms is spread over the layers' progress ticks; layers already held (the model is
  // installed with the same digest) report complete at once, as Ollama's cache hits do.
  const int delay_ms = pull_delay_ms_.load(std::memory_order_relaxed);
  const int ticks = static_cast<int>(model.layers.size()) * kTicksPerLayer;
  const auto tick = std::chrono::milliseconds(ticks > 0 ? delay_ms / ticks : 0);
  steps.push_back({{}, ProgressLine("pulling manifest"), {}});
  if (PullFails(model)) {
    steps.push_back({tick, "", [this](std::deque<Step>&) {
                       stats_.pull_failures.fetch_add(1, std::memory_order_relaxed);
                       return std::optional<Step::Failure>(
                           Step::Failure{500, "pull model manifest: file does not exist"});
                     }});
    return;
  }
  const std::shared_ptr<const Catalog> catalog = store_.catalog();
  const ModelInfo* installed = catalog->Find(model.display);
  const bool cached = installed != nullptr && installed->digest == model.digest;
  for (const ModelLayer& layer : model.layers) {
    const std::string status = absl::StrCat("pulling ", layer.digest.substr(7, 12));
    if (cached) {
      steps.push_back({{}, ProgressLine(status, layer.digest, layer.size, layer.size), {}});
      continue;
    }
    for (int i = 1; i <= kTicksPerLayer; ++i) {
      steps.push_back(
          {tick,
           ProgressLine(status, layer.digest, layer.size, layer.size * i / kTicksPerLayer),
           {}});
    }
  }
  steps.push_back({{}, ProgressLine("verifying sha256 digest"), {}});
  steps.push_back({{}, ProgressLine("writing manifest"), [this, model](std::deque<Step>&) {
                     if (store_.Install(model)) return std::optional<Step::Failure>();
                     return std::optional<Step::Failure>(
                         Step::Failure{500, "ollama-sim: too many installed models"});
                   }});
  steps.push_back({{}, ProgressLine("success"), {}});
}

void Management::HandlePull(const std::shared_ptr<Exchange>& exchange) {
  auto named = ParseNamedBody(*exchange, "api.PullRequest", "PullRequest",
                              {"model", "name", "username", "password"});
  if (!named) return;
  // parseNormalizePullModelRef: an empty or invalid name are both "invalid model name".
  const std::optional<ModelName> name = ParseStoredName(named->name);
  if (!name) return RespondError(*exchange, 400, kInvalidName);
  const ModelInfo model = DescribeModel(*name, store_.derivation());
  std::vector<Step> steps;
  AppendPull(steps, model);
  steps.push_back({{}, "", [this](std::deque<Step>&) {
                     stats_.pulls.fetch_add(1, std::memory_order_relaxed);
                     return std::optional<Step::Failure>();
                   }});
  std::make_shared<Progress>(exchange, named->stream.value_or(true), std::move(steps))->Start();
}

void Management::HandlePush(const std::shared_ptr<Exchange>& exchange) {
  auto named = ParseNamedBody(*exchange, "api.PushRequest", "PushRequest",
                              {"model", "name", "username", "password"});
  if (!named) return;
  if (named->name.empty()) return RespondError(*exchange, 400, "model is required");
  auto parsed = ParseModelName(named->name);
  const std::shared_ptr<const Catalog> catalog = store_.catalog();
  const ModelInfo* model = parsed.ok() ? catalog->Find(named->name) : nullptr;
  std::vector<Step> steps;
  steps.push_back({{}, ProgressLine("retrieving manifest"), {}});
  if (model == nullptr) {
    const std::string path = parsed.ok() ? absl::StrCat(parsed->host, "/", parsed->name_space, "/",
                                                        parsed->model, "/", parsed->tag)
                                         : named->name;
    steps.push_back({{}, ProgressLine("couldn't retrieve manifest"), {}});
    steps.push_back({{}, "", [message = MissingFile("manifests", path)](std::deque<Step>&) {
                       return std::optional<Step::Failure>(Step::Failure{500, message});
                     }});
  } else {
    const int delay_ms = pull_delay_ms_.load(std::memory_order_relaxed);
    const int ticks = static_cast<int>(model->layers.size()) * kTicksPerLayer;
    const auto tick = std::chrono::milliseconds(ticks > 0 ? delay_ms / ticks : 0);
    for (const ModelLayer& layer : model->layers) {
      const std::string status = absl::StrCat("pushing ", layer.digest.substr(7, 12));
      for (int i = 1; i <= kTicksPerLayer; ++i) {
        steps.push_back(
            {tick,
             ProgressLine(status, layer.digest, layer.size, layer.size * i / kTicksPerLayer),
             {}});
      }
    }
    steps.push_back({{}, ProgressLine("pushing manifest"), {}});
    steps.push_back({{}, ProgressLine("success"), [this](std::deque<Step>&) {
                       stats_.pushes.fetch_add(1, std::memory_order_relaxed);
                       return std::optional<Step::Failure>();
                     }});
  }
  std::make_shared<Progress>(exchange, named->stream.value_or(true), std::move(steps))->Start();
}

namespace {

// Go's fs.ValidPath: slash-separated elements, none empty, "." or "..", no leading or trailing
// slash ("." alone is valid).
bool IsValidFsPath(std::string_view path) {
  if (path == ".") return true;
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = path.find('/', start);
    const std::string_view element = path.substr(start, slash - start);
    if (element.empty() || element == "." || element == "..") return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

// A map[string]string field of CreateRequest, sorted by key; Go's error for a wrong type.
std::optional<std::string> StringMap(const json& body, const char* field,
                                     std::vector<std::pair<std::string, std::string>>& out) {
  if (auto error =
          CheckField(body, field, JsonKind::kObject, "CreateRequest", "map[string]string")) {
    return error;
  }
  const auto it = body.find(field);
  if (it == body.end() || !it->is_object()) return std::nullopt;
  for (const auto& [key, value] : it->items()) {
    if (!value.is_string() && !value.is_null()) {
      return absl::StrCat("json: cannot unmarshal ",
                          value.is_number() ? "number" : value.type_name(),
                          " into Go struct field CreateRequest.", field, " of type string");
    }
    out.emplace_back(key, value.is_string() ? value.get<std::string>() : std::string());
  }
  std::sort(out.begin(), out.end());
  return std::nullopt;
}

// The text layers a create adds (template, system, parameters): real SHA-256 digests of their
// contents, as Ollama's NewLayer computes them.
struct TextLayer {
  std::string kind;  // "template", "system" or "params"
  std::string digest;
  std::uint64_t size = 0;
};

}  // namespace

void Management::HandleCreate(const std::shared_ptr<Exchange>& exchange) {
  auto named = ParseNamedBody(
      *exchange, "api.CreateRequest", "CreateRequest",
      {"model", "name", "from", "template", "system", "quantize", "quantization", "license"});
  if (!named) return;
  const json& body = named->body;
  std::vector<std::pair<std::string, std::string>> files;
  std::vector<std::pair<std::string, std::string>> adapters;
  for (auto [field, out] : {std::pair{"files", &files}, std::pair{"adapters", &adapters}}) {
    if (auto error = StringMap(body, field, *out)) return RespondError(*exchange, 400, *error);
  }
  if (auto error = CheckField(body, "parameters", JsonKind::kObject, "CreateRequest",
                              "map[string]interface {}")) {
    return RespondError(*exchange, 400, *error);
  }
  for (const auto& [path, digest] : files) {
    if (!IsValidFsPath(path)) return RespondError(*exchange, 400, "file path must be relative");
    if (digest.empty()) return RespondError(*exchange, 400, "invalid digest format");
  }
  for (const auto& [path, digest] : adapters) {
    if (digest.empty()) return RespondError(*exchange, 400, "invalid digest format");
  }
  const std::optional<ModelName> name = ParseStoredName(named->name);
  if (!name) return RespondError(*exchange, 400, kInvalidName);

  std::vector<TextLayer> text_layers;
  const auto add_text = [&](std::string kind, const std::string& content) {
    text_layers.push_back({std::move(kind), Sha256Digest(content), content.size()});
  };
  if (const std::string t = StringField(body, "template"); !t.empty()) add_text("template", t);
  if (const std::string s = StringField(body, "system"); !s.empty()) add_text("system", s);
  if (const auto it = body.find("parameters");
      it != body.end() && it->is_object() && !it->empty()) {
    add_text("params", it->dump(-1, ' ', false, json::error_handler_t::replace));
  }
  std::string quantize = StringField(body, "quantize");
  if (quantize.empty()) quantize = StringField(body, "quantization");
  const std::string from = StringField(body, "from");
  const bool has_files = body.contains("files") && body["files"].is_object();

  std::vector<Step> steps;
  if (!from.empty()) {
    const std::optional<ModelName> from_name = ParseStoredName(from);
    if (!from_name) {
      steps.push_back(
          {{}, "", [](std::deque<Step>&) {
             return std::optional<Step::Failure>(Step::Failure{400, "invalid model name"});
           }});
    } else if (store_.catalog()->Find(from) == nullptr) {
      // parseFromModel pulls a base that is not installed, with the pull's own lines.
      AppendPull(steps, DescribeModel(*from_name, store_.derivation()));
    }
  } else if (!has_files) {
    steps.push_back({{}, "", [](std::deque<Step>&) {
                       return std::optional<Step::Failure>(
                           Step::Failure{400, "neither 'from' or 'files' was specified"});
                     }});
  } else {
    // detectModelTypeFromFiles: a ".gguf" name, else the first file's blob must start with the
    // GGUF magic; then each file is parsed in turn.
    const bool named_gguf = std::any_of(files.begin(), files.end(), [](const auto& file) {
      return file.first.size() >= 5 && file.first.substr(file.first.size() - 5) == ".gguf";
    });
    if (!named_gguf) {
      const bool sniffed = !files.empty() && IsValidBlobDigest(files.front().second) &&
                           store_.FindBlob(files.front().second).value_or(BlobInfo{}).gguf;
      if (!sniffed) {
        steps.push_back({{}, "", [](std::deque<Step>&) {
                           return std::optional<Step::Failure>(Step::Failure{400, "unknown type"});
                         }});
      }
    }
    for (const auto& [path, digest] : files) {
      steps.push_back({{}, ProgressLine("parsing GGUF"), {}});
      steps.push_back(
          {{}, "", [this, digest = digest](std::deque<Step>&) {
             using Failure = std::optional<Step::Failure>;
             if (!IsValidBlobDigest(digest)) {
               return Failure(Step::Failure{500, "invalid digest format"});
             }
             const std::optional<BlobInfo> blob = store_.FindBlob(digest);
             if (!blob) {
               std::string file = digest;
               file[6] = '-';
               return Failure(Step::Failure{500, MissingFile("blobs", file)});
             }
             if (!blob->gguf) {
               return Failure(Step::Failure{400, "supplied file was not in GGUF format"});
             }
             return Failure();
           }});
    }
  }
  // The layers are decided once the base is there (after its pull, if it needed one).
  steps.push_back(
      {{}, "", [this, name = *name, from, files, text_layers, quantize](std::deque<Step>& rest) {
         using Failure = std::optional<Step::Failure>;
         const std::shared_ptr<const Catalog> catalog = store_.catalog();
         ModelInfo model;
         std::vector<std::string> existing;  // digests of the layers kept
         std::string seed;
         if (!from.empty()) {
           const ModelInfo* base = catalog->Find(from);
           if (base == nullptr)
             return Failure(Step::Failure{500, "pull model manifest: file does not exist"});
           model = Renamed(*base, name);
           seed = base->seed;
           for (const ModelLayer& layer : base->layers) {
             if (layer.digest != base->layers.back().digest) existing.push_back(layer.digest);
           }
         } else {
           model = DescribeModel(name, store_.derivation());
           model.natural_size = 0;
           seed = "files";
           for (const auto& [path, digest] : files) {
             existing.push_back(NormalizeDigest(digest));
             model.natural_size += store_.FindBlob(digest).value_or(BlobInfo{}).size;
             absl::StrAppend(&seed, "\n", NormalizeDigest(digest));
           }
         }
         if (!quantize.empty()) {
           if (model.quantization != "F16") {
             return Failure(
                 Step::Failure{500, "quantization is only supported for F16, BF16 and F32 models"});
           }
           model.quantization = absl::AsciiStrToUpper(quantize);
         }
         // A new template or parameters layer replaces the base's (which then comes last).
         if (!from.empty() && existing.size() == 3) {
           for (const TextLayer& text : text_layers) {
             if (text.kind == "template" && existing.size() == 3)
               existing.erase(existing.begin() + 1);
           }
           for (const TextLayer& text : text_layers) {
             if (text.kind == "params") existing.pop_back();
           }
         }
         std::vector<Step> lines;
         for (const std::string& digest : existing) {
           lines.push_back({{}, ProgressLine(absl::StrCat("using existing layer ", digest)), {}});
         }
         for (const TextLayer& text : text_layers) {
           const bool held = store_.FindBlob(text.digest).has_value();
           store_.AddBlob({text.digest, text.size, false});
           lines.push_back(
               {{},
                ProgressLine(absl::StrCat(held ? "using existing layer " : "creating new layer ",
                                          text.digest)),
                {}});
           model.natural_size += text.size;
           absl::StrAppend(&seed, "\n", text.kind, "\n", text.digest);
         }
         model.seed = seed;
         lines.push_back(
             {{}, ProgressLine("writing manifest"), [this, model](std::deque<Step>&) {
                if (store_.Install(model)) return Failure();
                return Failure(Step::Failure{500, "ollama-sim: too many installed models"});
              }});
         lines.push_back({{}, ProgressLine("success"), [this](std::deque<Step>&) {
                            stats_.creates.fetch_add(1, std::memory_order_relaxed);
                            return Failure();
                          }});
         rest.insert(rest.begin(), std::make_move_iterator(lines.begin()),
                     std::make_move_iterator(lines.end()));
         return Failure();
       }});
  std::make_shared<Progress>(exchange, named->stream.value_or(true), std::move(steps))->Start();
}

void Management::HandleCopy(Exchange& exchange) {
  auto body = ParseRequestBody(exchange.request().body, "api.CopyRequest");
  if (!body.ok()) {
    return RespondError(exchange, HttpStatusOf(body.status()),
                        std::string(body.status().message()));
  }
  for (const char* field : {"source", "destination"}) {
    if (auto error = CheckField(*body, field, JsonKind::kString, "CopyRequest", "string")) {
      return RespondError(exchange, 400, *error);
    }
  }
  const std::string source = StringField(*body, "source");
  const std::string destination = StringField(*body, "destination");
  const auto quoted = [](std::string_view text) {
    std::string out;
    AppendJsonString(out, text);
    return out;
  };
  const std::optional<ModelName> src = ParseStoredName(source);
  if (!src)
    return RespondError(exchange, 400, absl::StrCat("source ", quoted(source), " is invalid"));
  const std::optional<ModelName> dst = ParseStoredName(destination);
  if (!dst) {
    return RespondError(exchange, 400,
                        absl::StrCat("destination ", quoted(destination), " is invalid"));
  }
  const std::shared_ptr<const Catalog> catalog = store_.catalog();
  const ModelInfo* model = catalog->Find(source);
  if (model == nullptr) {
    return RespondError(exchange, 404, absl::StrCat("model ", quoted(source), " not found"));
  }
  if (model->key != dst->Key() && !store_.Install(Renamed(*model, *dst))) {
    return RespondError(exchange, 500, "ollama-sim: too many installed models");
  }
  stats_.copies.fetch_add(1, std::memory_order_relaxed);
  exchange.Respond(200, "", "");
}

void Management::HandleDelete(Exchange& exchange) {
  auto named = ParseNamedBody(exchange, "api.DeleteRequest", "DeleteRequest", {"model", "name"});
  if (!named) return;
  const std::string& raw = named->name;
  if (raw.find_first_not_of(" \t\r\n\v\f") == std::string::npos) {
    return RespondError(exchange, 400, "model is required");
  }
  const std::optional<ModelName> name = ParseStoredName(raw);
  if (!name) {
    std::string quoted;
    AppendJsonString(quoted, raw);
    return RespondError(exchange, 400, absl::StrCat("name ", quoted, " is invalid"));
  }
  // Ollama's server only removes the manifest: a loaded model stays loaded (the CLI's `ollama rm`
  // unloads it first with keep_alive 0).
  if (!store_.Remove(name->Key())) {
    return RespondError(exchange, 404, absl::StrCat("model '", raw, "' not found"));
  }
  stats_.deletes.fetch_add(1, std::memory_order_relaxed);
  exchange.Respond(200, "", "");
}

void Management::HandleBlob(Exchange& exchange) {
  const http::Request& request = exchange.request();
  const std::string digest = request.path.substr(std::string_view("/api/blobs/").size());
  if (!IsValidBlobDigest(digest)) return RespondError(exchange, 400, "invalid digest format");
  if (request.method == "HEAD") {
    if (store_.FindBlob(digest)) return exchange.Respond(200, "", "");
    std::string quoted;
    AppendJsonString(quoted, digest);
    return RespondError(exchange, 404, absl::StrCat("blob ", quoted, " not found"));
  }
  if (store_.FindBlob(digest)) return exchange.Respond(200, "", "");
  const std::string actual = Sha256Digest(request.body);
  if (actual != digest) {
    std::string expected;
    AppendJsonString(expected, digest);
    std::string got;
    AppendJsonString(got, actual);
    return RespondError(exchange, 400,
                        absl::StrCat("digest mismatch, expected ", expected, ", got ", got));
  }
  store_.AddBlob({actual, request.body.size(), request.body.rfind("GGUF", 0) == 0});
  stats_.blobs_stored.fetch_add(1, std::memory_order_relaxed);
  exchange.Respond(201, "", "");
}

}  // namespace og::sim
