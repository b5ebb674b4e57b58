// Loading the gateway configuration (load.h): walks the YAML tree with yaml-cpp, checks every key
// and value, and collects every error with its line rather than stopping at the first, so an
// operator fixes a file in one pass. This file reads the top level and the sections without a
// file of their own (listen, admin, http, upstream, admission, backends, logging) and calls the
// *_section.cc readers for the rest; the syntax of single values lives in values.cc, reading
// the file in file.cc.
#include "gateway/config/load.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <exception>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <span>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "gateway/config/sections.h"
#include "gateway/config/values.h"
#include "gateway/config/yaml_reader.h"
#include "security/api_keys.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/yaml.h"

namespace og {
namespace {

using namespace config_internal;  // NOLINT: the reader is this file's vocabulary

constexpr std::array<std::string_view, 18> kTopLevelKeys = {
    "listen",      "admin",    "http",
    "balancer",    "upstream", "admission",
    "backends",    "health",   "outlier_detection",
    "logging",     "auth",     "authorization",
    "rate_limits", "limits",   "redaction",
    "workers",     "fleet",    "rollouts"};
constexpr std::array<std::string_view, 2> kFleetKeys = {"targets", "max_blob_bytes"};
constexpr std::array<std::string_view, 18> kListenKeys = {"address",
                                                          "insecure",
                                                          "cert",
                                                          "key",
                                                          "client_ca",
                                                          "client_auth",
                                                          "reload_interval",
                                                          "drain_timeout",
                                                          "max_concurrent_streams",
                                                          "keepalive_min_ping_interval",
                                                          "keepalive_max_ping_strikes",
                                                          "keepalive_permit_without_calls",
                                                          "keepalive_time",
                                                          "keepalive_timeout",
                                                          "max_connection_idle",
                                                          "max_connection_age",
                                                          "max_connection_age_grace",
                                                          "write_timeout"};
// An API keys file (auth.api_keys_file) holds one list, as auth.api_keys.
constexpr std::array<std::string_view, 1> kApiKeysFileKeys = {"api_keys"};
constexpr std::array<std::string_view, 3> kClientAuthModes = {"none", "optional", "require"};
constexpr std::array<std::string_view, 3> kAdminKeys = {"address", "enabled", "api_key_hash"};
// gRPC takes its HTTP/2 durations as int milliseconds: 596h is the longest that fits.
constexpr std::chrono::milliseconds kMaxGrpcDuration{INT32_MAX};
constexpr std::int64_t kMaxConcurrentStreams = 100000;
constexpr std::int64_t kMaxPingStrikes = 1000;
constexpr std::array<std::string_view, 11> kHttpKeys = {
    "address",         "enabled",         "insecure",      "threads",
    "header_timeout",  "body_timeout",    "write_timeout", "keepalive_timeout",
    "max_connections", "allowed_origins", "allowed_hosts"};
constexpr std::int64_t kMaxHttpConnections = 1000000;
constexpr int kMaxHttpThreads = 64;
constexpr std::array<std::string_view, 11> kUpstreamKeys = {
    "threads",        "connect_timeout",      "request_timeout",        "idle_timeout",
    "max_line_bytes", "stream_buffer_bytes",  "max_unary_answer_bytes", "first_byte_timeout",
    "max_attempts",   "retry_budget_percent", "continue_streams"};
constexpr std::array<std::string_view, 2> kContinueStreams = {"chat", "off"};
constexpr std::array<std::string_view, 4> kAdmissionKeys = {"max_in_flight", "max_embed_in_flight",
                                                            "max_queue", "max_queue_wait"};
constexpr std::array<std::string_view, 9> kBackendKeys = {"name",
                                                          "url",
                                                          "weight",
                                                          "models",
                                                          "hash_id",
                                                          "max_in_flight",
                                                          "max_in_flight_by_model",
                                                          "max_embed_in_flight",
                                                          "tls"};
constexpr std::array<std::string_view, 4> kBackendTlsKeys = {"ca", "cert", "key", "verify"};
constexpr std::array<std::string_view, 3> kLoggingKeys = {"level", "format", "access_log"};
constexpr std::array<std::string_view, 4> kAccessLogKeys = {"path", "max_size_mb", "max_files",
                                                            "log_content"};
constexpr std::array<std::string_view, 2> kLogFormats = {"text", "json"};
constexpr std::int64_t kMaxAccessLogSizeMb = 10240;
constexpr std::int64_t kMaxAccessLogFiles = 100;
constexpr std::array<std::string_view, 7> kLogLevels = {"trace", "debug",    "info", "warn",
                                                        "error", "critical", "off"};

constexpr int kMaxUpstreamThreads = 256;
constexpr std::int64_t kMinLineBytes = std::int64_t{1} << 10;
constexpr std::int64_t kMaxLineBytes = std::int64_t{1} << 30;
constexpr std::int64_t kMaxWeight = 1000;
constexpr std::size_t kMaxBackendNameLength = 64;
constexpr std::int64_t kMaxInFlight = 100000;
constexpr std::int64_t kMaxFleetTargets = 10000;
constexpr std::int64_t kMaxBlobBytes = std::int64_t{1} << 40;
constexpr std::int64_t kMaxQueue = 1000000;
constexpr std::int64_t kMaxAttempts = 10;

// Mutual TLS keys, once the listener is known to use TLS.
void ParseClientAuth(const MapReader& map, ListenConfig* listen) {
  const bool has_ca = map.String("client_ca", &listen->client_ca_file);
  listen->client_auth = has_ca ? "require" : "none";
  if (!map.OneOf("client_auth", kClientAuthModes, &listen->client_auth)) return;
  const Field* mode = map.Find("client_auth");
  if (mode == nullptr || listen->client_auth == "none" || map.Find("client_ca") != nullptr) {
    return;
  }
  map.Error(*mode, fmt::format("{} needs client_ca (the CAs that sign client certificates)",
                               Quoted(listen->client_auth)));
}

// A duration handed to gRPC as a channel argument (int milliseconds).
void GrpcDuration(const MapReader& map, std::string_view name, bool allow_zero,
                  std::chrono::milliseconds* out) {
  std::chrono::milliseconds value = *out;
  if (!map.Duration(name, allow_zero, &value)) return;
  if (value > kMaxGrpcDuration) {
    map.Error(*map.Find(name), "must be at most 596h, got " + Describe(map.Find(name)->value));
    return;
  }
  *out = value;
}

// The HTTP/2 limits of the gRPC listener.
void ParseTransportLimits(const MapReader& map, ListenConfig* listen) {
  std::int64_t number = 0;
  if (map.Integer("max_concurrent_streams", 1, kMaxConcurrentStreams, &number)) {
    listen->max_concurrent_streams = static_cast<int>(number);
  }
  if (map.Integer("keepalive_max_ping_strikes", 0, kMaxPingStrikes, &number)) {
    listen->keepalive_max_ping_strikes = static_cast<int>(number);
  }
  map.Bool("keepalive_permit_without_calls", &listen->keepalive_permit_without_calls);
  GrpcDuration(map, "keepalive_min_ping_interval", /*allow_zero=*/false,
               &listen->keepalive_min_ping_interval);
  GrpcDuration(map, "keepalive_time", /*allow_zero=*/true, &listen->keepalive_time);
  GrpcDuration(map, "keepalive_timeout", /*allow_zero=*/false, &listen->keepalive_timeout);
  GrpcDuration(map, "max_connection_idle", /*allow_zero=*/true, &listen->max_connection_idle);
  GrpcDuration(map, "max_connection_age", /*allow_zero=*/true, &listen->max_connection_age);
  GrpcDuration(map, "max_connection_age_grace", /*allow_zero=*/true,
               &listen->max_connection_age_grace);
  GrpcDuration(map, "write_timeout", /*allow_zero=*/true, &listen->write_timeout);
}

void ParseListen(const MapReader& top, ListenConfig* listen) {
  const MapReader map = top.Child("listen", kListenKeys, &listen->line);
  if (!map.ok()) return;
  map.Address("address", &listen->address);
  ParseTransportLimits(map, listen);
  const bool insecure_valid =
      map.Find("insecure") == nullptr || map.Bool("insecure", &listen->insecure);
  map.String("cert", &listen->cert_file);
  map.String("key", &listen->key_file);
  map.Duration("reload_interval", /*allow_zero=*/true, &listen->reload_interval);
  map.Duration("drain_timeout", /*allow_zero=*/true, &listen->drain_timeout);
  // Whether TLS is on is unknown until insecure is fixed; saying more would only add noise.
  if (!insecure_valid) return;
  const Field* cert = map.Find("cert");
  const Field* key = map.Find("key");
  if (listen->insecure) {
    for (const Field* field : {cert, key, map.Find("client_ca"), map.Find("client_auth")}) {
      if (field != nullptr) map.Error(*field, "must not be set when insecure is true");
    }
    return;
  }
  ParseClientAuth(map, listen);
  if (cert == nullptr || key == nullptr) {
    const std::string_view missing = cert == nullptr && key == nullptr
                                         ? "cert and key are"
                                         : (cert == nullptr ? "cert is" : "key is");
    map.errors()->Add(map.line(), fmt::format("listen: {} required for TLS (or set insecure: "
                                              "true to serve plaintext)",
                                              missing));
  }
}

// Whether two valid listening addresses would bind the same port: the same port, other than 0
// (picked at start, so never shared), on the same host or on a wildcard host on either side.
bool WouldShareSocket(std::string_view a, std::string_view b) {
  const std::size_t a_colon = a.rfind(':');
  const std::size_t b_colon = b.rfind(':');
  const std::string_view port = a.substr(a_colon + 1);
  if (port == "0" || port != b.substr(b_colon + 1)) return false;
  auto wildcard = [](std::string_view host) { return host == "0.0.0.0" || host == "[::]"; };
  const std::string_view a_host = a.substr(0, a_colon);
  const std::string_view b_host = b.substr(0, b_colon);
  return a_host == b_host || wildcard(a_host) || wildcard(b_host);
}

void ParseAdmin(const MapReader& top, const ListenConfig& listen, AdminConfig* admin) {
  const MapReader map = top.Child("admin", kAdminKeys, &admin->line);
  if (!map.ok()) return;
  const bool has_address = map.Address("address", &admin->address);
  map.Bool("enabled", &admin->enabled);
  // A secret's digest: never quoted back.
  if (map.String("api_key_hash", &admin->api_key_hash)) {
    if (absl::StatusOr<security::ApiKeyHash> hash = security::ParseApiKeyHash(admin->api_key_hash);
        !hash.ok()) {
      map.Error(*map.Find("api_key_hash"),
                fmt::format("{} (make one with `ollama-gateway hash-key --generate`)",
                            MessageOf(hash.status())));
      admin->api_key_hash.clear();
    }
  }
  if (has_address && admin->enabled && WouldShareSocket(admin->address, listen.address)) {
    map.Error(*map.Find("address"),
              fmt::format("same port as listen.address {}", Quoted(listen.address)));
  }
}

void ParseHttp(const MapReader& top, const ListenConfig& listen, const AdminConfig& admin,
               HttpConfig* http) {
  if (top.Find("http") == nullptr) return;
  const MapReader map = top.Child("http", kHttpKeys, &http->line);
  if (!map.ok()) return;
  http->enabled = true;
  const bool has_address = map.Address("address", &http->address);
  map.Bool("enabled", &http->enabled);
  std::int64_t number = 0;
  if (map.Integer("threads", 0, kMaxHttpThreads, &number)) http->threads = static_cast<int>(number);
  map.Duration("header_timeout", /*allow_zero=*/false, &http->header_timeout);
  map.Duration("body_timeout", /*allow_zero=*/false, &http->body_timeout);
  map.Duration("write_timeout", /*allow_zero=*/false, &http->write_timeout);
  map.Duration("keepalive_timeout", /*allow_zero=*/false, &http->keepalive_timeout);
  map.Integer("max_connections", 0, kMaxHttpConnections, &http->max_connections);
  ParseBrowserSafety(map, http);
  const bool insecure_valid =
      map.Find("insecure") == nullptr || map.Bool("insecure", &http->insecure);
  if (!http->enabled) return;
  if (has_address && WouldShareSocket(http->address, listen.address)) {
    map.Error(*map.Find("address"),
              fmt::format("same port as listen.address {}", Quoted(listen.address)));
  } else if (has_address && admin.enabled && WouldShareSocket(http->address, admin.address)) {
    map.Error(*map.Find("address"),
              fmt::format("same port as admin.address {}", Quoted(admin.address)));
  }
  if (insecure_valid && !http->insecure && listen.insecure) {
    map.errors()->Add(map.line(),
                      "http: TLS uses listen's cert and key, but listen is insecure; give "
                      "listen a cert and key, or set http.insecure: true to serve plaintext");
  }
}

void ParseWorkers(const MapReader& top, Config* config) {
  std::int64_t number = 0;
  if (top.Integer("workers", 0, kMaxUpstreamThreads, &number)) {
    config->workers = static_cast<int>(number);
    if (config->upstream.threads > 0) {
      top.Error(*top.Find("workers"),
                "upstream.threads is the older name of workers; set only workers");
    }
  } else if (top.Find("workers") == nullptr) {
    config->workers = config->upstream.threads;
  }
}

void ParseUpstream(const MapReader& top, UpstreamConfig* upstream) {
  const MapReader map = top.Child("upstream", kUpstreamKeys, &upstream->line);
  if (!map.ok()) return;
  std::int64_t number = 0;
  if (map.Integer("threads", 0, kMaxUpstreamThreads, &number)) {
    upstream->threads = static_cast<int>(number);
  }
  map.Duration("connect_timeout", /*allow_zero=*/false, &upstream->connect_timeout);
  map.Duration("request_timeout", /*allow_zero=*/true, &upstream->request_timeout);
  map.Duration("idle_timeout", /*allow_zero=*/true, &upstream->idle_timeout);
  map.Duration("first_byte_timeout", /*allow_zero=*/true, &upstream->first_byte_timeout);
  if (map.Integer("max_line_bytes", kMinLineBytes, kMaxLineBytes, &number)) {
    upstream->max_line_bytes = static_cast<std::uint64_t>(number);
  }
  if (map.Integer("stream_buffer_bytes", kMinLineBytes, kMaxLineBytes, &number)) {
    upstream->stream_buffer_bytes = static_cast<std::uint64_t>(number);
  }
  if (map.Integer("max_unary_answer_bytes", kMinLineBytes, kMaxLineBytes, &number)) {
    upstream->max_unary_answer_bytes = static_cast<std::uint64_t>(number);
  }
  if (map.Integer("max_attempts", 1, kMaxAttempts, &number)) {
    upstream->max_attempts = static_cast<int>(number);
  }
  if (map.Integer("retry_budget_percent", 0, 100, &number)) {
    upstream->retry_budget_percent = static_cast<int>(number);
  }
  map.OneOf("continue_streams", kContinueStreams, &upstream->continue_streams);
}

void ParseAdmission(const MapReader& top, AdmissionConfig* admission) {
  const MapReader map = top.Child("admission", kAdmissionKeys, &admission->line);
  if (!map.ok()) return;
  map.Integer("max_in_flight", 0, kMaxInFlight, &admission->max_in_flight);
  map.Integer("max_embed_in_flight", 0, kMaxInFlight, &admission->max_embed_in_flight);
  map.Integer("max_queue", 0, kMaxQueue, &admission->max_queue);
  map.Duration("max_queue_wait", /*allow_zero=*/false, &admission->max_queue_wait);
}

void ParseLogging(const MapReader& top, LoggingConfig* logging) {
  const MapReader map = top.Child("logging", kLoggingKeys, &logging->line);
  if (!map.ok()) return;
  map.OneOf("level", kLogLevels, &logging->level);
  map.OneOf("format", kLogFormats, &logging->format);
  AccessLogConfig& access = logging->access_log;
  const MapReader access_map = map.Child("access_log", kAccessLogKeys, &access.line);
  if (!access_map.ok()) return;
  access_map.String("path", &access.path);
  access_map.Integer("max_size_mb", 1, kMaxAccessLogSizeMb, &access.max_size_mb);
  access_map.Integer("max_files", 0, kMaxAccessLogFiles, &access.max_files);
  access_map.Bool("log_content", &access.log_content);
}

bool IsValidBackendName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxBackendNameLength &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-';
         });
}

// Names are unique across backends; `first_lines` maps each name seen to the line of its key.
void ParseBackendName(const MapReader& map, std::string_view path,
                      std::map<std::string, int, std::less<>>* first_lines,
                      BackendConfig* backend) {
  const Field* field = map.Find("name");
  if (field == nullptr) {
    map.errors()->Add(map.line(), fmt::format("{}: missing required field 'name'", path));
    return;
  }
  if (!map.String("name", &backend->name)) return;
  if (!IsValidBackendName(backend->name)) {
    map.Error(*field, fmt::format("must be 1 to {} characters of A-Z a-z 0-9 _ . -, got {}",
                                  kMaxBackendNameLength, Quoted(backend->name)));
    return;
  }
  const auto [first, inserted] = first_lines->emplace(backend->name, field->line);
  if (!inserted) {
    map.Error(*field, fmt::format("duplicate name {} (first used at line {})",
                                  Quoted(backend->name), first->second));
  }
}

void ParseBackendUrl(const MapReader& map, std::string_view path, BackendConfig* backend) {
  if (map.Find("url") == nullptr) {
    map.errors()->Add(map.line(), fmt::format("{}: missing required field 'url'", path));
    return;
  }
  std::string text;
  if (!map.String("url", &text)) return;
  absl::StatusOr<std::string> url = NormalizeBackendUrl(text);
  if (!url.ok()) {
    map.Error(*map.Find("url"), MessageOf(url.status()));
    return;
  }
  backend->url = *std::move(url);
}

void ParseBackendTls(const MapReader& backend_map, BackendConfig* backend) {
  BackendTlsConfig& tls = backend->tls;
  const MapReader map = backend_map.Child("tls", kBackendTlsKeys, &tls.line);
  const Field* field = backend_map.Find("tls");
  if (!map.ok() || field == nullptr) return;
  map.String("ca", &tls.ca_file);
  map.String("cert", &tls.cert_file);
  map.String("key", &tls.key_file);
  map.Bool("verify", &tls.verify);
  if (!backend->url.empty() && !backend->url.starts_with("https://")) {
    backend_map.Error(*field, "is only for an https:// url");
  }
  const Field* cert = map.Find("cert");
  const Field* key = map.Find("key");
  if ((cert == nullptr) != (key == nullptr)) {
    map.Error(cert != nullptr ? *cert : *key,
              cert != nullptr ? "needs key (the client certificate's private key)"
                              : "needs cert (the client certificate it belongs to)");
  }
}

// backends[].max_in_flight_by_model: model name -> limit, by canonical name.
void ParseModelLimits(const MapReader& map, BackendConfig* backend) {
  for (const MapEntry& entry : map.Entries("max_in_flight_by_model", "model name to a limit")) {
    if (!IsValidModelName(entry.name)) {
      map.errors()->Add(entry.line,
                        fmt::format("{}: '{}' is not a valid model name", entry.path, entry.name));
      continue;
    }
    const std::optional<std::int64_t> limit =
        entry.value.IsScalar() ? ParseInteger(entry.value.Scalar()) : std::nullopt;
    if (!limit || *limit < 1 || *limit > kMaxInFlight) {
      map.errors()->Add(entry.line, fmt::format("{}: must be an integer from 1 to {}, got {}",
                                                entry.path, kMaxInFlight, Describe(entry.value)));
      continue;
    }
    if (!backend->max_in_flight_by_model.emplace(CanonicalModelName(entry.name), *limit).second) {
      map.errors()->Add(entry.line,
                        fmt::format("{}: the model is listed twice (names are read "
                                    "as Ollama reads them: llama3.2 is llama3.2:latest)",
                                    entry.path));
    }
  }
}

void ParseFleet(const MapReader& top, FleetConfig* fleet) {
  const MapReader map = top.Child("fleet", kFleetKeys, &fleet->line);
  if (!map.ok()) return;
  if (const Field* targets = map.Find("targets");
      targets != nullptr && targets->value.IsScalar() && targets->value.Scalar() == "all") {
    fleet->targets = 0;
  } else if (targets != nullptr) {
    const std::optional<std::int64_t> n =
        targets->value.IsScalar() ? ParseInteger(targets->value.Scalar()) : std::nullopt;
    if (!n || *n < 1 || *n > kMaxFleetTargets) {
      map.Error(*targets, fmt::format("must be all or a number of backends from 1 to {}, got {}",
                                      kMaxFleetTargets, Describe(targets->value)));
    } else {
      fleet->targets = *n;
    }
  }
  map.Integer("max_blob_bytes", 1, kMaxBlobBytes, &fleet->max_blob_bytes);
}

void ParseBackends(const MapReader& top, const AdmissionConfig& admission,
                   std::vector<BackendConfig>* backends) {
  constexpr std::string_view kNeedOne = "at least one backend is required";
  ErrorList* errors = top.errors();
  const Field* field = top.Find("backends");
  if (field == nullptr) {
    errors->Add(top.line(), fmt::format("missing required field 'backends': {}", kNeedOne));
    return;
  }
  const YAML::Node& list = field->value;
  if (list.IsNull() || (list.IsSequence() && list.size() == 0)) {
    errors->Add(field->line, fmt::format("backends: {}", kNeedOne));
    return;
  }
  std::map<std::string, int, std::less<>> first_lines;
  for (const ListItem& item : top.List("backends", "backends")) {
    BackendConfig& backend = backends->emplace_back();
    backend.line = item.line;
    if (item.value.IsNull()) {  // A bare "-": an empty map would read as "missing name" and "url".
      errors->Add(backend.line, fmt::format("{}: must be a map, got nothing", item.path));
      continue;
    }
    const MapReader map(item.value, item.path, backend.line, kBackendKeys, errors);
    if (!map.ok()) continue;
    ParseBackendName(map, item.path, &first_lines, &backend);
    ParseBackendUrl(map, item.path, &backend);
    std::int64_t weight = 0;
    if (map.Integer("weight", 1, kMaxWeight, &weight)) {
      backend.weight = static_cast<std::uint32_t>(weight);
    }
    ReadModelList(map, "models", &backend.models, &backend.canonical_models);
    backend.max_in_flight = admission.max_in_flight;
    map.Integer("max_in_flight", 0, kMaxInFlight, &backend.max_in_flight);
    backend.max_embed_in_flight = admission.max_embed_in_flight;
    map.Integer("max_embed_in_flight", 0, kMaxInFlight, &backend.max_embed_in_flight);
    ParseModelLimits(map, &backend);
    ParseBackendTls(map, &backend);
    if (map.String("hash_id", &backend.hash_id) && backend.hash_id.size() > 256) {
      map.Error(*map.Find("hash_id"), "must be at most 256 characters");
    }
  }
}

// Reads parser events without building nodes: the line of the first node of a document.
class FirstNodeLine final : public YAML::EventHandler {
 public:
  int line() const { return line_; }
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Saw(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Saw(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Saw(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Saw(mark);
  }
  void OnMapEnd() override {}

 private:
  void Saw(const YAML::Mark& mark) {
    if (line_ == 0) line_ = mark.line + 1;
  }
  int line_ = 0;
};

// The line of a second, non-empty YAML document in `yaml`, or 0. Not YAML::LoadAll: Debian's
// yaml-cpp 0.7 can produce empty documents from some inputs without end (a lone "," does,
// until memory runs out; jbeder/yaml-cpp#1040), so this looks at two documents at most.
int SecondDocumentLine(const std::string& yaml) {
  std::istringstream in(yaml);
  YAML::Parser parser(in);
  FirstNodeLine first;
  if (!parser.HandleNextDocument(first)) return 0;
  FirstNodeLine second;
  if (!parser.HandleNextDocument(second)) return 0;
  return second.line();
}

void ParseDocument(const std::string& yaml, Config* config, ErrorList* errors) {
  const YAML::Node root = YAML::Load(yaml);
  if (root.IsNull()) {
    errors->Add(1, "the configuration is empty; it needs at least a backends list");
    return;
  }
  if (const int line = SecondDocumentLine(yaml); line > 0) {
    errors->Add(line, "only one YAML document is allowed (remove the '---' before this line)");
  }
  const int root_line = LineOf(root, 1);
  if (!root.IsMap()) {
    errors->Add(root_line, fmt::format("the top level must be a map of sections ({}), got {}",
                                       fmt::join(kTopLevelKeys, ", "), Describe(root)));
    return;
  }
  const MapReader top(root, "", root_line, kTopLevelKeys, errors);
  ParseListen(top, &config->listen);
  ParseAdmin(top, config->listen, &config->admin);
  ParseHttp(top, config->listen, config->admin, &config->http);
  ParseUpstream(top, &config->upstream);
  ParseWorkers(top, config);
  ParseAdmission(top, &config->admission);
  ParseFleet(top, &config->fleet);
  ParseBackends(top, config->admission, &config->backends);
  // After the backends: pools name models that backends must serve.
  ParseBalancer(top, config->backends, &config->balancer);
  // After the backends too: probe models must be in a pool.
  ParseHealth(top, config->backends, &config->health);
  ParseOutlierDetection(top, &config->outlier_detection);
  ParseLogging(top, &config->logging);
  ParseAuth(top, &config->auth);
  ParseAuthorization(top, config->auth, &config->authorization);
  ParseRateLimits(top, &config->rate_limits);
  ParseLimits(top, &config->limits);
  ParseRedaction(top, &config->redaction);
  ParseRollouts(top, config->backends, config->balancer, &config->rollouts);
}

}  // namespace

absl::StatusOr<Config> ParseConfig(std::string_view yaml, std::string_view source_name) {
  Config config;
  config.source = std::string(source_name);
  ErrorList errors;
  try {
    ParseDocument(std::string(yaml), &config, &errors);
  } catch (const YAML::Exception& e) {
    // A null mark (line -1) becomes line 0: "somewhere in the file". yaml-cpp may quote the
    // offending character itself, a newline included.
    errors.Add(e.mark.line + 1, Printable(e.msg));
  } catch (const std::exception& e) {
    errors.Add(0, fmt::format("cannot parse: {}", e.what()));
  }
  if (!errors.empty()) return errors.ToStatus(source_name);
  return config;
}

absl::Status ParseApiKeysFile(std::string_view yaml, std::string_view source_name,
                              AuthConfig* auth) {
  ErrorList errors;
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    if (!root.IsMap()) {
      errors.Add(LineOf(root, 1), "must be a map with an api_keys list, got " + Describe(root));
    } else {
      const MapReader top(root, "", LineOf(root, 1), kApiKeysFileKeys, &errors);
      if (top.ok()) ReadApiKeys(top, source_name, &auth->api_keys);
    }
  } catch (const YAML::Exception& e) {
    errors.Add(e.mark.line + 1, Printable(e.msg));
  }
  if (!errors.empty()) return errors.ToStatus(source_name);
  return absl::OkStatus();
}

}  // namespace og
