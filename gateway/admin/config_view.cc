#include "gateway/admin/config_view.h"

#include "gateway/config/balancer_section.h"
#include "nlohmann/json.hpp"

namespace og {
namespace {

using json = nlohmann::ordered_json;

constexpr const char* kRedacted = "(redacted)";

// Durations as the config file writes them.
std::string Duration(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }

std::string RedactedPath(const std::string& path) { return path.empty() ? path : kRedacted; }

json Policy(const std::string& policy, int choice_count, double bounded_load_factor,
            const HashKeySource& hash_key) {
  return {{"policy", policy},
          {"choice_count", choice_count},
          {"bounded_load_factor", bounded_load_factor},
          {"hash_key", HashKeySourceText(hash_key)}};
}

json Tier(const HealthTierConfig& t) {
  return {{"enabled", t.enabled},
          {"interval", Duration(t.interval)},
          {"timeout", Duration(t.timeout)},
          {"jitter", Duration(t.jitter)},
          {"healthy_threshold", t.healthy_threshold},
          {"unhealthy_threshold", t.unhealthy_threshold}};
}

json Backend(const BackendConfig& b) {
  json out = {{"name", b.name},
              {"url", b.url},
              {"weight", b.weight},
              {"models", b.models},
              {"hash_id", b.hash_id},
              {"hash_label", HashLabel(b)},
              {"max_in_flight", b.max_in_flight},
              {"max_in_flight_by_model", b.max_in_flight_by_model},
              {"max_embed_in_flight", b.max_embed_in_flight}};
  if (b.url.starts_with("https://")) {
    out["tls"] = {{"ca", b.tls.ca_file},
                  {"cert", b.tls.cert_file},
                  {"key", RedactedPath(b.tls.key_file)},
                  {"verify", b.tls.verify}};
  }
  return out;
}

json RateLimit(const RateLimitConfig& r) {
  return {{"requests_per_second", r.requests_per_second},
          {"burst", r.burst},
          {"max_concurrent_streams", r.max_concurrent_streams}};
}

// The security sections. API key hashes are left out (only who has keys, and how many).
json Security(const Config& c) {
  std::map<std::string, int> keys_per_identity;
  for (const ApiKeyConfig& key : c.auth.api_keys) ++keys_per_identity[key.identity];
  json rules = json::array();
  for (const AuthorizationRuleConfig& r : c.authorization.rules) {
    json actions = json::array();
    if (r.predict) actions.push_back("predict");
    if (r.stream) actions.push_back("stream");
    rules.push_back({{"identities", r.identities},
                     {"groups", r.groups},
                     {"models", r.models},
                     {"actions", std::move(actions)}});
  }
  json identities = json::object();
  for (const auto& [name, limit] : c.rate_limits.identities) identities[name] = RateLimit(limit);
  json redaction = json::array();
  for (const RedactionRuleConfig& r : c.redaction.rules) {
    redaction.push_back({{"name", r.name}, {"pattern", r.pattern}, {"replacement", r.replacement}});
  }
  const LimitsConfig& l = c.limits;
  return {{"auth",
           {{"required", c.auth.required},
            {"mtls_identity", c.auth.mtls_identity},
            {"api_keys", keys_per_identity},
            {"api_keys_file", c.auth.api_keys_file},
            {"groups", c.auth.groups}}},
          {"authorization", c.authorization.enabled ? json{{"rules", std::move(rules)}} : json()},
          {"rate_limits",
           {{"default", RateLimit(c.rate_limits.default_limit)},
            {"identities", std::move(identities)}}},
          {"limits",
           {{"max_request_bytes", l.max_request_bytes},
            {"max_prompt_bytes", l.max_prompt_bytes},
            {"max_messages", l.max_messages},
            {"max_images", l.max_images},
            {"max_metadata_entries", l.max_metadata_entries},
            {"max_metadata_key_bytes", l.max_metadata_key_bytes},
            {"max_metadata_value_bytes", l.max_metadata_value_bytes},
            {"max_header_bytes", l.max_header_bytes},
            {"max_json_depth", l.max_json_depth}}},
          {"redaction", {{"rules", std::move(redaction)}}}};
}

json Rollouts(const RolloutsConfig& r) {
  json models = json::array();
  auto target = [](const RolloutTargetConfig& t) {
    return json{{"model", t.model}, {"backends", t.backends}};
  };
  for (const RolloutConfig& m : r.models) {
    json rollout = {{"model", m.model},
                    {"hash_key", HashKeySourceText(m.hash_key)},
                    {"baseline", target(m.baseline)},
                    {"candidate", target(m.candidate)}};
    if (m.steps.enabled) {
      rollout["steps"] = {{"start", m.steps.start},
                          {"step", m.steps.step},
                          {"interval", Duration(m.steps.interval)},
                          {"max", m.steps.max},
                          {"then", m.steps.promote ? "promote" : "hold"}};
    } else {
      rollout["weight"] = m.weight;
    }
    if (m.analysis.enabled) {
      const RolloutAnalysisConfig& a = m.analysis;
      json analysis = {
          {"interval", Duration(a.interval)},
          {"min_calls", a.min_calls},
          {"max_error_rate_increase", a.max_error_rate_increase},
          {"max_ttft_p99_ratio", a.max_ttft_p99_ratio},
          {"min_ttft_p99_increase", Duration(a.min_ttft_p99_increase)},
          {"max_token_latency_p99_ratio", a.max_token_latency_p99_ratio},
          {"min_token_latency_p99_increase", Duration(a.min_token_latency_p99_increase)}};
      if (!a.prometheus_url.empty()) {
        analysis["prometheus_url"] = a.prometheus_url;
        analysis["timeout"] = Duration(a.timeout);
        analysis["queries"] = {{"calls", a.calls_query},
                               {"error_rate", a.error_rate_query},
                               {"ttft_p99", a.ttft_p99_query},
                               {"token_latency_p99", a.token_latency_p99_query}};
      }
      rollout["analysis"] = std::move(analysis);
    }
    models.push_back(std::move(rollout));
  }
  return {{"state_file", r.state_file}, {"models", std::move(models)}};
}

}  // namespace

std::string ConfigJson(const Config& c) {
  json balancer = Policy(c.balancer.policy, c.balancer.choice_count, c.balancer.bounded_load_factor,
                         c.balancer.hash_key);
  json pools = json::array();
  for (const PoolConfig& p : c.balancer.pools) {
    json pool = Policy(p.policy.policy, p.policy.choice_count, p.policy.bounded_load_factor,
                       p.policy.hash_key);
    pool["model"] = p.model;
    pools.push_back(std::move(pool));
  }
  balancer["pools"] = std::move(pools);
  json backends = json::array();
  for (const BackendConfig& b : c.backends) backends.push_back(Backend(b));
  json api = Tier(c.health.api);
  api["ps_timeout"] = Duration(c.health.ps_timeout);
  json inference = Tier(c.health.inference);
  inference["models"] = c.health.inference_models;
  inference["prompt"] = c.health.inference_prompt;
  inference["keep_alive"] = c.health.inference_keep_alive;
  const AccessLogConfig& access = c.logging.access_log;
  json out = {{"source", c.source},
              {"listen",
               {{"address", c.listen.address},
                {"insecure", c.listen.insecure},
                {"cert", c.listen.cert_file},
                {"key", RedactedPath(c.listen.key_file)},
                {"client_ca", c.listen.client_ca_file},
                {"client_auth", c.listen.client_auth},
                {"reload_interval", Duration(c.listen.reload_interval)},
                {"drain_timeout", Duration(c.listen.drain_timeout)},
                {"max_concurrent_streams", c.listen.max_concurrent_streams},
                {"keepalive_min_ping_interval", Duration(c.listen.keepalive_min_ping_interval)},
                {"keepalive_max_ping_strikes", c.listen.keepalive_max_ping_strikes},
                {"keepalive_permit_without_calls", c.listen.keepalive_permit_without_calls},
                {"keepalive_time", Duration(c.listen.keepalive_time)},
                {"keepalive_timeout", Duration(c.listen.keepalive_timeout)},
                {"max_connection_idle", Duration(c.listen.max_connection_idle)},
                {"max_connection_age", Duration(c.listen.max_connection_age)},
                {"max_connection_age_grace", Duration(c.listen.max_connection_age_grace)},
                {"write_timeout", Duration(c.listen.write_timeout)}}},
              {"admin",
               {{"address", c.admin.address},
                {"enabled", c.admin.enabled},
                {"api_key_hash", RedactedPath(c.admin.api_key_hash)}}},
              {"balancer", std::move(balancer)},
              {"upstream",
               {{"threads", c.upstream.threads},
                {"connect_timeout", Duration(c.upstream.connect_timeout)},
                {"request_timeout", Duration(c.upstream.request_timeout)},
                {"idle_timeout", Duration(c.upstream.idle_timeout)},
                {"max_line_bytes", c.upstream.max_line_bytes},
                {"first_byte_timeout", Duration(c.upstream.first_byte_timeout)},
                {"stream_buffer_bytes", c.upstream.stream_buffer_bytes},
                {"max_unary_answer_bytes", c.upstream.max_unary_answer_bytes},
                {"max_attempts", c.upstream.max_attempts},
                {"retry_budget_percent", c.upstream.retry_budget_percent},
                {"continue_streams", c.upstream.continue_streams}}},
              {"admission",
               {{"max_in_flight", c.admission.max_in_flight},
                {"max_embed_in_flight", c.admission.max_embed_in_flight},
                {"max_queue", c.admission.max_queue},
                {"max_queue_wait", Duration(c.admission.max_queue_wait)}}},
              {"fleet",
               {{"targets", c.fleet.targets == 0 ? json("all") : json(c.fleet.targets)},
                {"max_blob_bytes", c.fleet.max_blob_bytes}}},
              {"health",
               {{"discovery", c.health.discovery},
                {"panic_threshold", c.health.panic_threshold},
                {"connect", Tier(c.health.connect)},
                {"api", std::move(api)},
                {"inference", std::move(inference)}}},
              {"outlier_detection",
               {{"consecutive_failures", c.outlier_detection.consecutive_failures},
                {"base_ejection_time", Duration(c.outlier_detection.base_ejection_time)},
                {"max_ejection_time", Duration(c.outlier_detection.max_ejection_time)},
                {"max_ejection_percent", c.outlier_detection.max_ejection_percent}}},
              {"backends", std::move(backends)},
              {"logging",
               {{"level", c.logging.level},
                {"format", c.logging.format},
                {"access_log",
                 {{"path", access.path},
                  {"max_size_mb", access.max_size_mb},
                  {"max_files", access.max_files},
                  {"log_content", access.log_content}}}}}};
  out["rollouts"] = Rollouts(c.rollouts);
  out.update(Security(c));
  // A prompt or pattern may hold bytes that are not UTF-8: replaced rather than failing the page.
  return out.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace og
