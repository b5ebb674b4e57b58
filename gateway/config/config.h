// Gateway configuration: the typed form of the YAML file an operator writes. Types only: the
// loader's entry points are in gateway/config/load.h, the syntax of single values (model names,
// durations, addresses, backend URLs) in gateway/config/values.h, and the balancer section's
// helpers (policy names, ring labels, hash key sources) in gateway/config/balancer_section.h.
// Every key is documented with its default in docs/configuration.md.
#ifndef OLLAMA_GATEWAY_GATEWAY_CONFIG_CONFIG_H_
#define OLLAMA_GATEWAY_GATEWAY_CONFIG_CONFIG_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "health/tier.h"

namespace og {

// Where the gRPC service listens and how callers are authenticated at the transport.
struct ListenConfig {
  // host:port; an IPv6 host is written in brackets ("[::1]:50051").
  std::string address = "0.0.0.0:50051";
  // Plaintext gRPC. Must be set explicitly; the gateway logs a warning at start.
  bool insecure = false;
  // PEM files of the serving certificate chain and its private key; required unless insecure.
  std::string cert_file;
  std::string key_file;
  // PEM bundle of the CAs whose client certificates are accepted (mutual TLS).
  std::string client_ca_file;
  // "none", "optional" or "require". Defaults to "require" when client_ca is set, else "none".
  std::string client_auth = "none";
  // How often the TLS files are checked for changes (SIGHUP checks at once); 0 turns the
  // periodic check off.
  std::chrono::milliseconds reload_interval{5000};
  // On SIGTERM: how long calls in progress may run on before they are cancelled. New calls
  // are turned away at once (GOAWAY) and /readyz answers 503 meanwhile.
  std::chrono::milliseconds drain_timeout{std::chrono::seconds(30)};
  // HTTP/2 limits of the gRPC listener, fixed at start (a reload does not change them). The
  // streams one connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
  int max_concurrent_streams = 100;
  // Ping abuse: a client ping less than keepalive_min_ping_interval after the previous one
  // (with no data between) is a strike; past keepalive_max_ping_strikes strikes the connection
  // gets GOAWAY (ENHANCE_YOUR_CALM). 0 strikes means never. Pings on a connection without calls
  // count as strikes too unless keepalive_permit_without_calls.
  std::chrono::milliseconds keepalive_min_ping_interval{std::chrono::minutes(5)};
  int keepalive_max_ping_strikes = 2;
  bool keepalive_permit_without_calls = false;
  // The server's own pings on a connection with calls, so a vanished peer is noticed: one every
  // keepalive_time of silence, and the connection closes when its ack takes longer than
  // keepalive_timeout. 0 keepalive_time turns them off.
  std::chrono::milliseconds keepalive_time{std::chrono::minutes(1)};
  std::chrono::milliseconds keepalive_timeout{std::chrono::seconds(20)};
  // A connection without calls for this long is closed (GOAWAY); 0 never.
  std::chrono::milliseconds max_connection_idle{std::chrono::minutes(5)};
  // 0 (the default) or the age after which a connection gets GOAWAY (no new calls; the client
  // reconnects, say, to a new replica); its calls in progress then have max_connection_age_grace
  // before they are cut. Off by default: a generation may stream for as long as the model writes.
  std::chrono::milliseconds max_connection_age{0};
  std::chrono::milliseconds max_connection_age_grace{std::chrono::minutes(10)};
  // PredictStream: how long one message may wait for the caller to take it (a caller that
  // stopped reading) before the call is cancelled and its backend request aborted; 0 never.
  std::chrono::milliseconds write_timeout{std::chrono::seconds(60)};
  int line = 0;
};

// The admin HTTP endpoint (/metrics, /healthz, /readyz, /admin/*). Loopback by default.
struct AdminConfig {
  std::string address = "127.0.0.1:9090";
  // false turns the admin endpoint off.
  bool enabled = true;
  // Empty, or the salted hash ("sha256:SALT:DIGEST", as in auth.api_keys) of the key that
  // /metrics and /admin/* require as `Authorization: Bearer KEY`. /healthz and /readyz stay
  // open for probes.
  std::string api_key_hash;
  int line = 0;
};

// The HTTP front door: Ollama's REST API and the OpenAI-compatible endpoints on a second
// listener. Off unless the section is present. Its TLS uses the listen section's certificate,
// key and client CA (and reloads with them).
struct HttpConfig {
  bool enabled = false;
  std::string address = "0.0.0.0:11434";
  // Plaintext HTTP. Must be set explicitly, as for listen.
  bool insecure = false;
  // No longer used: HTTP connections run on the workers (Config::workers). Read so existing
  // files load; the gateway warns when it is set.
  int threads = 0;
  // Each phase of a connection is timed out, with nginx's defaults: the request line and
  // headers, the body (idle between two reads), a write to a client that stopped reading, and
  // the idle time between two requests of a kept-alive connection.
  std::chrono::milliseconds header_timeout{60000};
  std::chrono::milliseconds body_timeout{60000};
  std::chrono::milliseconds write_timeout{60000};
  std::chrono::milliseconds keepalive_timeout{75000};
  // Open connections at once; beyond it new ones are closed at once (and counted). 0: no cap.
  std::int64_t max_connections = 10000;
  // Browser safety as Ollama's (OLLAMA_ORIGINS): origins allowed besides the loopback ones and
  // local app schemes ("*" wildcards allowed), and Host names allowed on a loopback listener
  // besides the local ones (a defence against DNS rebinding).
  std::vector<std::string> allowed_origins;
  std::vector<std::string> allowed_hosts;
  int line = 0;
};

// Where a hashing policy takes each request's affinity key from. Written "hash_key", "model",
// "metadata:NAME" or "header:NAME" (ParseHashKeySource in balancer_section.h).
struct HashKeySource {
  enum class Kind {
    kRequestField,  // InferenceRequest.hash_key ("hash_key")
    kModel,         // the model name ("model")
    kMetadata,      // an entry of InferenceRequest.metadata ("metadata:NAME")
    kHeader,        // a gRPC request header ("header:NAME", matched lower-case)
  };
  Kind kind = Kind::kRequestField;
  // The metadata key or header name for kMetadata and kHeader.
  std::string name;
};

// How one pool chooses among its backends.
struct PolicyConfig {
  // One of KnownPolicies() (balancer_section.h).
  std::string policy = "round_robin";
  // least_connections only: 0 compares every backend, 2 samples two (power of two choices).
  int choice_count = 0;
  // ketama only: 0 is off; above 1 (e.g. 1.25), a backend with that multiple of the pool's mean
  // in-flight count passes the key onward along the ring.
  double bounded_load_factor = 0;
  // ketama only: where each request's key comes from. A request without one is balanced
  // round-robin instead (and counted).
  HashKeySource hash_key;
};

// A per-model override of the balancer defaults.
struct PoolConfig {
  std::string model;
  std::string canonical_model;
  PolicyConfig policy;
  int line = 0;
};

// The load-balancing policy applied to every model pool unless `pools` overrides it.
struct BalancerConfig {
  // One of KnownPolicies().
  std::string policy = "round_robin";
  int choice_count = 0;
  double bounded_load_factor = 0;
  HashKeySource hash_key;
  std::vector<PoolConfig> pools;
  int line = 0;

  // The policy of the pool serving `canonical_model`: its override if any, else the defaults.
  PolicyConfig ForModel(std::string_view canonical_model) const;
};

// The HTTP client toward Ollama backends.
struct UpstreamConfig {
  // The older name of Config::workers (read into it); kept so existing files load.
  int threads = 0;
  // TCP (and TLS) connect timeout to a backend.
  std::chrono::milliseconds connect_timeout{2000};
  // Optional cap on a whole backend request when the caller sets no deadline; 0 (the default)
  // means none: an answer that keeps coming is never cut, however long it thinks or streams
  // (Ollama itself has no such cut). idle_timeout bounds a backend that went quiet.
  std::chrono::milliseconds request_timeout{0};
  // Longest the backend may send nothing, before its first byte (queue wait + model load +
  // prompt evaluation) or between two chunks, before the attempt is abandoned (and retried, or
  // the stream continued, when allowed). Ollama's own load timeout (OLLAMA_LOAD_TIMEOUT) is 5
  // minutes. 0 means none.
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
  // Longest NDJSON line accepted from a backend before the call fails.
  std::uint64_t max_line_bytes = 8u << 20;
  // Zero (off), or how long an attempt may wait for the backend's first byte before it is
  // abandoned and, when retries allow, sent to another backend. Ollama sends nothing until the
  // first token is ready, model load included: keep it above the slowest cold load.
  std::chrono::milliseconds first_byte_timeout{0};
  // PredictStream: answer bytes the gateway queues for a caller that reads slower than the
  // backend generates, before it pauses reading from the backend.
  std::uint64_t stream_buffer_bytes = 1u << 20;
  // Predict: the largest answer (text and thinking) returned in one reply. A longer answer ends
  // the call with RESOURCE_EXHAUSTED and aborts the backend request. gRPC clients refuse
  // messages over 4 MiB unless told otherwise.
  std::uint64_t max_unary_answer_bytes = 4u << 20;
  // Attempts per call, the first included, 1..10. A later attempt, on another backend, follows
  // a failure before the caller saw any byte of the answer (the call runs again from the
  // start), or a backend failure part-way through a stream that continue_streams continues.
  int max_attempts = 2;
  // Retries in progress at once are limited to this share of the calls in progress (with a
  // floor of 3), so retries cannot amplify an outage; 0..100.
  int retry_budget_percent = 20;
  // "chat" (the default): a chat stream (and a raw generate stream) whose backend fails after
  // part of the answer reached the caller continues on another backend from the text delivered
  // so far. "off": such a stream ends UNAVAILABLE.
  std::string continue_streams = "chat";
  int line = 0;
};

// Admission control: per-backend concurrency limits and the gateway queue in front of them.
struct AdmissionConfig {
  // Default of backends[].max_in_flight; 0 means unlimited.
  std::int64_t max_in_flight = 0;
  // Default of backends[].max_embed_in_flight; 0 means unlimited.
  std::int64_t max_embed_in_flight = 0;
  // Calls that may wait for a backend slot at once, across every model; 0 turns queueing off
  // (a call finding every backend full is refused at once).
  std::int64_t max_queue = 1000;
  // Longest a call waits in the queue before RESOURCE_EXHAUSTED.
  std::chrono::milliseconds max_queue_wait{30000};
  int line = 0;
};

// TLS toward an https:// backend.
struct BackendTlsConfig {
  // PEM bundle of the CAs that sign the backend's certificate; empty means the system store.
  std::string ca_file;
  // Client certificate chain and key presented to the backend; both or neither.
  std::string cert_file;
  std::string key_file;
  // false skips verifying the backend's certificate and host name (logged as a warning).
  bool verify = true;
  int line = 0;
};

struct BackendConfig {
  // Unique name, [A-Za-z0-9_.-]+; used in metrics, logs and the x-gateway-backend trailer.
  std::string name;
  // Base URL of the Ollama server: http://host:port or https://host:port, optionally with a
  // path prefix (no query or fragment). Stored without a trailing slash.
  std::string url;
  // Relative share of traffic, 1..1000.
  std::uint32_t weight = 1;
  // Models this backend serves, as configured (canonical form in canonical_models). Empty means
  // the backend is offered every model.
  std::vector<std::string> models;
  // CanonicalModelName() of each entry of models, in the same order.
  std::vector<std::string> canonical_models;
  // The backend's label on a ketama ring; empty means its URL's host:port (libketama's
  // convention). Set it to keep a backend's ring position when its address changes.
  std::string hash_id;
  // Generations (generate, chat and the /v1 equivalents) the gateway sends this backend at
  // once, 0..100000; 0 means unlimited. Defaults to admission.max_in_flight. /api/show and the
  // listings take no slot; embeddings take max_embed_in_flight's.
  std::int64_t max_in_flight = 0;
  // Generations of one model at once here (Ollama's OLLAMA_NUM_PARALLEL is per loaded model),
  // by canonical model name; within max_in_flight.
  std::map<std::string, std::int64_t> max_in_flight_by_model;
  // Embedding calls at once, 0..100000; 0 means unlimited. Defaults to
  // admission.max_embed_in_flight.
  std::int64_t max_embed_in_flight = 0;
  // Only for https:// URLs.
  BackendTlsConfig tls;
  int line = 0;
};

// One tier of active health checks. A backend's tier turns unhealthy after
// `unhealthy_threshold` failed checks in a row and healthy again after `healthy_threshold`
// passed ones; its first result after start (or after the backend appears) decides at once.
// The fields and their meaning are health::TierOptions'; defaults differ by tier (HealthConfig).
struct HealthTierConfig : health::TierOptions {
  int line = 0;
};

// Active health checks of every backend, in three tiers.
struct HealthConfig {
  // Tier 1: a TCP connect (and TLS handshake for https:// backends).
  HealthTierConfig connect = {
      {true, std::chrono::milliseconds(5000), std::chrono::milliseconds(1000),
       std::chrono::milliseconds(500), 2, 3},
      0};
  // Tier 2: GET /api/version must answer 200 with a version, and GET /api/tags lists the models
  // the backend serves.
  HealthTierConfig api = {{true, std::chrono::milliseconds(10000), std::chrono::milliseconds(2000),
                           std::chrono::milliseconds(1000), 2, 3},
                          0};
  // Tier 2 also polls GET /api/ps (which models are loaded now) with this timeout; /api/ps may
  // block while a model loads, so its failures never fail the tier.
  std::chrono::milliseconds ps_timeout{2000};
  // Tier 3: a one-token generation of each probe model on each backend that may serve it. Off
  // unless `inference_models` is set.
  HealthTierConfig inference = {
      {true, std::chrono::milliseconds(60000), std::chrono::milliseconds(30000),
       std::chrono::milliseconds(5000), 1, 2},
      0};
  // Probe models of tier 3, as written, and in canonical form (CanonicalModelName).
  std::vector<std::string> inference_models;
  std::vector<std::string> canonical_inference_models;
  // The tier 3 generation's prompt and keep_alive (a Go duration such as "5m"; "0" unloads the
  // model right after the probe, "-1" keeps it loaded).
  std::string inference_prompt = "Say OK.";
  std::string inference_keep_alive = "5m";
  // Models a backend reports in /api/tags are routable without being listed in the config.
  // Off: a backend serves exactly its configured `models` (or every model when it lists none).
  bool discovery = true;
  // 0..100: when fewer than this percent of a model's backends are healthy, the gateway routes
  // across all of them, healthy or not, rather than failing every call (and says so).
  int panic_threshold = 50;
  int line = 0;
};

// Passive outlier detection from live traffic.
struct OutlierDetectionConfig {
  // Failures in a row (connect errors, timeouts, 5xx, broken streams) that eject a backend;
  // 0 turns outlier detection off. Any successful answer resets the count.
  int consecutive_failures = 5;
  // An ejection lasts base_ejection_time * (times ejected), at most max_ejection_time.
  std::chrono::milliseconds base_ejection_time{30000};
  std::chrono::milliseconds max_ejection_time{300000};
  // Never eject a backend if more than this percent of a pool it is in would then be ejected
  // (but one backend of a pool may always be ejected, unless this is 0).
  int max_ejection_percent = 50;
  int line = 0;
};

// One JSON line per finished call, for operators and auditors.
struct AccessLogConfig {
  // The file to append to; "-" is stderr; empty turns the access log off.
  std::string path;
  // The file is rotated when it reaches this size (path.1, path.2, ...), 1..10240 MiB.
  std::int64_t max_size_mb = 100;
  // Rotated files kept, 0..100.
  std::int64_t max_files = 5;
  // DEBUGGING ONLY: adds each call's prompt and answer to its line. Off, the line carries a
  // SHA-256 of the input and never the text.
  bool log_content = false;
  int line = 0;
};

struct LoggingConfig {
  // trace, debug, info, warn, error, critical or off.
  std::string level = "info";
  // The gateway's own log lines on stderr: "text" or "json" (one JSON object per line).
  std::string format = "text";
  AccessLogConfig access_log;
  int line = 0;
};

// One API key: the identity it authenticates and its salted hash (security/api_keys.h).
struct ApiKeyConfig {
  std::string identity;
  // "sha256:SALT:DIGEST", as `ollama-gateway hash-key` prints it.
  std::string hash;
  // The file the entry was written in (the config, or auth.api_keys_file) and its line.
  std::string source;
  int line = 0;
};

// Who may call: API keys (`authorization: Bearer KEY` metadata) and verified client
// certificates (mutual TLS).
// One entry of auth.networks: callers from `cidr` that send no key and no certificate run as
// `identity`.
struct NetworkIdentityConfig {
  std::string cidr;
  std::string identity;
  int line = 0;
};

struct AuthConfig {
  // true: a call with no valid API key and no verified client certificate gets UNAUTHENTICATED.
  // false: such calls run as the identity "anonymous" (an invalid key is refused either way).
  bool required = false;
  // Which part of a verified client certificate names its caller: "common_name", "subject"
  // (RFC 2253), "spiffe_id" (a spiffe:// URI SAN) or "dns_san" (the first DNS SAN); "none"
  // does not authenticate by certificate.
  std::string mtls_identity = "common_name";
  std::vector<ApiKeyConfig> api_keys;
  // A YAML file with more keys (`api_keys:` as here), read with the config and reloaded with it
  // (a change to it alone is seen too); relative to the config file's directory, and resolved by
  // LoadConfigFile. Keeps secrets out of a config kept in git.
  std::string api_keys_file;
  // Group name -> member identities, for authorization rules and rate limits.
  std::map<std::string, std::vector<std::string>> groups;
  // Source-address identities (security/networks.h), for callers that cannot send a key; the
  // weakest method, used only when no key and no certificate gave an identity. Empty: off.
  std::vector<NetworkIdentityConfig> networks;
  // What a bearer key that matches no configured key does: "refuse" (UNAUTHENTICATED) or
  // "anonymous" (the key is ignored, as if none was sent: a certificate or network may still
  // name the caller, else it runs as "anonymous", which auth.required refuses). For clients that
  // always send a placeholder such as "ollama". A malformed header is refused either way.
  std::string unknown_keys = "refuse";
  int line = 0;
};

struct AuthorizationRuleConfig {
  // Identity names ("*": every authenticated caller; "anonymous": unauthenticated callers).
  std::vector<std::string> identities;
  // Names of auth.groups.
  std::vector<std::string> groups;
  // Model patterns as written, and canonical (lower-case; ":latest" added to a name without a
  // tag or wildcard) for matching against canonical model names.
  std::vector<std::string> models;
  std::vector<std::string> canonical_models;
  // The actions granted: without an `actions` list, predict and stream; manage (pull, push,
  // create, copy, delete, blobs) only when the list names it.
  bool predict = true;
  bool stream = true;
  bool manage = false;
  int line = 0;
};

// Which callers may use which models. Absent: every caller may use every model.
struct AuthorizationConfig {
  // The section is present: calls no rule allows are denied.
  bool enabled = false;
  std::vector<AuthorizationRuleConfig> rules;
  int line = 0;
};

struct RateLimitConfig {
  // Sustained calls per second (0: no rate limit) and the burst above it (0: the rate, rounded
  // up, at least 1).
  double requests_per_second = 0;
  std::int64_t burst = 0;
  // PredictStream calls in progress at once (0: no cap).
  std::int64_t max_concurrent_streams = 0;
  int line = 0;
};

// Per-identity limits: `identities` by name, else `default`. Each identity (and "anonymous") has
// its own bucket.
struct RateLimitsConfig {
  RateLimitConfig default_limit;
  std::map<std::string, RateLimitConfig> identities;
  int line = 0;
};

// The most limits.max_json_depth may be set to, and so the deepest JSON any reader in the gateway
// has to take (gateway/upstream/json_reading.h).
inline constexpr int kMaxJsonDepthCeiling = 1024;

// Bounds on what a caller may send; a call past one gets INVALID_ARGUMENT naming it.
struct LimitsConfig {
  // A request's size (a gRPC message's serialized size, an HTTP body's length) when it carries
  // no image. gRPC itself refuses messages over twice the larger of this and
  // max_image_request_bytes (at least 4 MiB) before reading them; that ceiling is fixed at
  // start. The HTTP endpoints without images refuse bodies over twice this (at least 4 MiB)
  // with 413 before reading them.
  std::int64_t max_request_bytes = 4 << 20;
  // The same for a request that carries images (gRPC's images are bytes fields; HTTP's are
  // base64 in the body), and the body limit (413) of the HTTP endpoints that take images:
  // /api/generate, /api/chat, /v1/chat/completions, /v1/responses and /v1/messages.
  std::int64_t max_image_request_bytes = 64 << 20;
  // Prompt text: input_data, system and every message's content, added up.
  std::int64_t max_prompt_bytes = 1 << 20;
  std::int64_t max_messages = 1000;
  // Inputs of an embedding call (/api/embed, /v1/embeddings, gRPC Embed), which are not
  // messages and do not count against max_messages.
  std::int64_t max_embed_inputs = 2048;
  std::int64_t max_images = 16;
  // The request's `metadata` map.
  std::int64_t max_metadata_entries = 64;
  std::int64_t max_metadata_key_bytes = 256;
  std::int64_t max_metadata_value_bytes = 4096;
  // All gRPC request headers together (gRPC refuses more at the transport), and an HTTP
  // request's line and headers; fixed at start.
  std::int64_t max_header_bytes = 16 << 10;
  // Nesting of any JSON the gateway reads from a caller (an HTTP body, gRPC's `format`) or a
  // backend; deeper documents are refused before anything walks them. 1..1024.
  std::int64_t max_json_depth = 64;
  int line = 0;
};

struct RedactionRuleConfig {
  std::string name;
  std::string pattern;
  std::string replacement = "[REDACTED]";
  int line = 0;
};

// Model management across the fleet (pull, push, create, copy, delete, blobs).
struct FleetConfig {
  // Which healthy backends of the model's pool an operation goes to when the caller names none:
  // 0, every one ("all"), or N, the N with the fewest calls in flight.
  std::int64_t targets = 0;
  // Largest blob (POST /api/blobs/:digest) the gateway takes, to be held in memory while it is
  // sent to each backend.
  std::int64_t max_blob_bytes = std::int64_t{256} << 20;
  int line = 0;
};

// One side of a rollout: a model name on a pool.
struct RolloutTargetConfig {
  // The model the backends get, as written and canonical.
  std::string model;
  std::string canonical_model;
  // The backends (names) of the target's pool; empty: every backend of the model's own pool.
  std::vector<std::string> backends;
};

// A rollout's schedule: the candidate's weight rises from `start` by `step` every `interval`
// up to `max`, then the candidate is promoted or held there.
struct RolloutStepsConfig {
  bool enabled = false;
  int start = 10;
  int step = 10;
  int max = 100;
  std::chrono::milliseconds interval{300000};
  bool promote = false;  // `then: promote`; else `hold`
  int line = 0;
};

// How a rollout's candidate is compared with its baseline.
struct RolloutAnalysisConfig {
  bool enabled = false;
  std::chrono::milliseconds interval{60000};
  // Candidate calls a verdict needs; fewer keep the window open.
  std::int64_t min_calls = 20;
  // Past these margins the rollout aborts: the candidate's error rate above the baseline's by
  // more than this fraction; its p99 time to first token (or per output token) above the
  // baseline's by both the ratio and the absolute increase.
  double max_error_rate_increase = 0.05;
  double max_ttft_p99_ratio = 1.5;
  std::chrono::milliseconds min_ttft_p99_increase{100};
  double max_token_latency_p99_ratio = 1.5;
  std::chrono::milliseconds min_token_latency_p99_increase{10};
  // PromQL mode: the numbers come from this Prometheus (its /api/v1/query), so that every
  // replica decides on the fleet's numbers; "" reads this gateway's own counters.
  std::string prometheus_url;
  std::chrono::milliseconds timeout{5000};
  // The queries, with $rollout, $target and $window substituted; defaults read the
  // gateway_rollout_* series.
  std::string calls_query;
  std::string error_rate_query;
  std::string ttft_p99_query;
  std::string token_latency_p99_query;
  int line = 0;
};

// A weighted split of one model name callers use between a baseline and a candidate target.
struct RolloutConfig {
  // The name callers use (and the rollout's name), as written and canonical.
  std::string model;
  std::string canonical_model;
  // Where a call's affinity key comes from (a call without one is assigned at random).
  HashKeySource hash_key;
  RolloutTargetConfig baseline;
  RolloutTargetConfig candidate;
  // The candidate's percentage without steps.
  int weight = 0;
  RolloutStepsConfig steps;
  RolloutAnalysisConfig analysis;
  int line = 0;
};

struct RolloutsConfig {
  // Where rollout state is kept across restarts; "" keeps none.
  std::string state_file;
  std::vector<RolloutConfig> models;
  int line = 0;
};

// Rules applied to prompts before they are forwarded (security/redactor.h).
struct RedactionConfig {
  std::vector<RedactionRuleConfig> rules;
  int line = 0;
};

struct Config {
  // The path the configuration was loaded from (or the source name given to ParseConfig).
  std::string source;
  // Worker threads, each one event loop that runs HTTP connections and backend requests; 0
  // means one per CPU core. Set by `workers`, or by its older name `upstream.threads`.
  int workers = 0;
  ListenConfig listen;
  AdminConfig admin;
  FleetConfig fleet;
  HttpConfig http;
  BalancerConfig balancer;
  UpstreamConfig upstream;
  AdmissionConfig admission;
  std::vector<BackendConfig> backends;
  HealthConfig health;
  OutlierDetectionConfig outlier_detection;
  LoggingConfig logging;
  AuthConfig auth;
  AuthorizationConfig authorization;
  RateLimitsConfig rate_limits;
  LimitsConfig limits;
  RedactionConfig redaction;
  RolloutsConfig rollouts;
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_CONFIG_CONFIG_H_
