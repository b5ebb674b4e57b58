// libFuzzer target: the configuration loader, og::ParseConfig (gateway/config/load.h), on arbitrary
// bytes as YAML text. It must never crash, throw, hang or leak; refusing the text is fine.
//
// Invariants: a refused text gives INVALID_ARGUMENT with one error per line, each
// `fuzz.yaml:LINE: reason`, ordered by line, as load.h promises. An accepted one satisfies what
// load.cc checks and the rest of the gateway relies on without checking again: at least one
// backend, unique valid names, normalized URLs, values within their documented ranges, ordered
// health timings, pools and probe models that some backend serves, unique ketama labels when a
// pool hashes.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "fuzz/fuzz_check.h"
#include "gateway/config/balancer_section.h"
#include "gateway/config/load.h"
#include "gateway/config/values.h"

namespace {

bool IsValidBackendName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

bool IsServed(const std::vector<og::BackendConfig>& backends, const std::string& canonical) {
  for (const og::BackendConfig& b : backends) {
    if (b.canonical_models.empty()) return true;
    for (const std::string& m : b.canonical_models) {
      if (m == canonical) return true;
    }
  }
  return false;
}

void CheckModels(const std::vector<std::string>& models,
                 const std::vector<std::string>& canonical) {
  OG_FUZZ_CHECK(models.size() == canonical.size());
  std::set<std::string> seen;
  for (std::size_t i = 0; i < models.size(); ++i) {
    OG_FUZZ_CHECK(og::IsValidModelName(models[i]));
    OG_FUZZ_CHECK(canonical[i] == og::CanonicalModelName(models[i]));
    OG_FUZZ_CHECK(seen.insert(canonical[i]).second);
  }
}

void CheckBackends(const og::Config& config) {
  OG_FUZZ_CHECK(!config.backends.empty());
  std::set<std::string> names;
  for (const og::BackendConfig& b : config.backends) {
    OG_FUZZ_CHECK(IsValidBackendName(b.name));
    OG_FUZZ_CHECK(names.insert(b.name).second);
    OG_FUZZ_CHECK(b.url.starts_with("http://") || b.url.starts_with("https://"));
    OG_FUZZ_CHECK(!b.url.ends_with("/"));
    const absl::StatusOr<std::string> again = og::NormalizeBackendUrl(b.url);
    OG_FUZZ_CHECK(again.ok() && *again == b.url);
    OG_FUZZ_CHECK(b.weight >= 1 && b.weight <= 1000);
    OG_FUZZ_CHECK(b.max_in_flight >= 0 && b.max_in_flight <= 100000);
    OG_FUZZ_CHECK(b.hash_id.size() <= 256);
    OG_FUZZ_CHECK(b.tls.cert_file.empty() == b.tls.key_file.empty());
    if (b.tls.line != 0) OG_FUZZ_CHECK(b.url.starts_with("https://"));
    CheckModels(b.models, b.canonical_models);
  }
}

void CheckListen(const og::Config& config) {
  const og::ListenConfig& listen = config.listen;
  OG_FUZZ_CHECK(og::ValidateListenAddress(listen.address).ok());
  OG_FUZZ_CHECK(og::ValidateListenAddress(config.admin.address).ok());
  OG_FUZZ_CHECK(listen.reload_interval.count() >= 0 && listen.drain_timeout.count() >= 0);
  if (listen.insecure) {
    OG_FUZZ_CHECK(listen.cert_file.empty() && listen.key_file.empty());
    OG_FUZZ_CHECK(listen.client_ca_file.empty() && listen.client_auth == "none");
    return;
  }
  OG_FUZZ_CHECK(!listen.cert_file.empty() && !listen.key_file.empty());
  OG_FUZZ_CHECK(listen.client_auth == "none" || listen.client_auth == "optional" ||
                listen.client_auth == "require");
  if (listen.client_auth != "none") OG_FUZZ_CHECK(!listen.client_ca_file.empty());
}

void CheckUpstream(const og::Config& config) {
  const og::UpstreamConfig& u = config.upstream;
  OG_FUZZ_CHECK(u.threads >= 0 && u.threads <= 256);
  OG_FUZZ_CHECK(u.connect_timeout.count() > 0);
  OG_FUZZ_CHECK(u.request_timeout.count() >= 0 && u.first_byte_timeout.count() >= 0);
  for (std::uint64_t bytes : {u.max_line_bytes, u.stream_buffer_bytes, u.max_unary_answer_bytes}) {
    OG_FUZZ_CHECK(bytes >= 1024 && bytes <= (std::uint64_t{1} << 30));
  }
  OG_FUZZ_CHECK(u.max_attempts >= 1 && u.max_attempts <= 10);
  OG_FUZZ_CHECK(u.retry_budget_percent >= 0 && u.retry_budget_percent <= 100);
  const og::AdmissionConfig& a = config.admission;
  OG_FUZZ_CHECK(a.max_in_flight >= 0 && a.max_queue >= 0 && a.max_queue_wait.count() > 0);
}

void CheckTier(const og::HealthTierConfig& tier) {
  OG_FUZZ_CHECK(tier.interval.count() > 0 && tier.timeout.count() > 0);
  OG_FUZZ_CHECK(tier.timeout < tier.interval);
  OG_FUZZ_CHECK(tier.jitter.count() >= 0 && tier.jitter < tier.interval);
  OG_FUZZ_CHECK(tier.healthy_threshold >= 1 && tier.healthy_threshold <= 100);
  OG_FUZZ_CHECK(tier.unhealthy_threshold >= 1 && tier.unhealthy_threshold <= 100);
}

void CheckHealth(const og::Config& config) {
  const og::HealthConfig& h = config.health;
  CheckTier(h.connect);
  CheckTier(h.api);
  CheckTier(h.inference);
  OG_FUZZ_CHECK(h.ps_timeout.count() > 0);
  OG_FUZZ_CHECK(h.panic_threshold >= 0 && h.panic_threshold <= 100);
  OG_FUZZ_CHECK(!h.inference_prompt.empty() && h.inference_prompt.size() <= 4096);
  CheckModels(h.inference_models, h.canonical_inference_models);
  for (const std::string& m : h.canonical_inference_models) {
    OG_FUZZ_CHECK(IsServed(config.backends, m));
  }
  const og::OutlierDetectionConfig& o = config.outlier_detection;
  OG_FUZZ_CHECK(o.consecutive_failures >= 0 && o.consecutive_failures <= 1000);
  OG_FUZZ_CHECK(o.max_ejection_percent >= 0 && o.max_ejection_percent <= 100);
  OG_FUZZ_CHECK(o.base_ejection_time.count() > 0);
  OG_FUZZ_CHECK(o.max_ejection_time >= o.base_ejection_time);
}

bool IsKnownPolicy(const std::string& policy) {
  for (const std::string& known : og::KnownPolicies()) {
    if (known == policy) return true;
  }
  return false;
}

void CheckBalancer(const og::Config& config) {
  const og::BalancerConfig& balancer = config.balancer;
  OG_FUZZ_CHECK(IsKnownPolicy(balancer.policy));
  bool any_ketama = balancer.policy == "ketama";
  std::set<std::string> pool_models;
  for (const og::PoolConfig& pool : balancer.pools) {
    OG_FUZZ_CHECK(og::IsValidModelName(pool.model));
    OG_FUZZ_CHECK(pool.canonical_model == og::CanonicalModelName(pool.model));
    OG_FUZZ_CHECK(pool_models.insert(pool.canonical_model).second);
    OG_FUZZ_CHECK(IsServed(config.backends, pool.canonical_model));
    OG_FUZZ_CHECK(IsKnownPolicy(pool.policy.policy));
    any_ketama |= pool.policy.policy == "ketama";
  }
  if (!any_ketama) return;
  std::set<std::string> labels;
  for (const og::BackendConfig& b : config.backends) {
    OG_FUZZ_CHECK(labels.insert(og::HashLabel(b)).second);
  }
}

void CheckAccepted(const og::Config& config) {
  OG_FUZZ_CHECK(config.source == "fuzz.yaml");
  CheckBackends(config);
  CheckListen(config);
  CheckUpstream(config);
  CheckHealth(config);
  CheckBalancer(config);
  const og::AccessLogConfig& log = config.logging.access_log;
  OG_FUZZ_CHECK(log.max_size_mb >= 1 && log.max_size_mb <= 10240);
  OG_FUZZ_CHECK(log.max_files >= 0 && log.max_files <= 100);
}

// config.h: "its message holds every error found, one per line, each `FILE:LINE: reason`,
// ordered by line". --check-config prints it as is and a refused reload logs it, so a line that
// does not start so (a value or key quoted with its newline) would pass for a line of its own.
void CheckErrorLines(absl::string_view message) {
  OG_FUZZ_CHECK(!message.empty());
  constexpr absl::string_view kSource = "fuzz.yaml:";
  long previous_line = -1;
  for (absl::string_view line : absl::StrSplit(message, '\n')) {
    OG_FUZZ_CHECK(absl::StartsWith(line, kSource));
    line.remove_prefix(kSource.size());
    const std::size_t digits = line.find_first_not_of("0123456789");
    OG_FUZZ_CHECK(digits != 0 && digits != absl::string_view::npos && line[digits] == ':');
    long number = 0;
    OG_FUZZ_CHECK(absl::SimpleAtoi(line.substr(0, digits), &number));
    OG_FUZZ_CHECK(number >= previous_line);
    previous_line = number;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<og::Config> config = og::ParseConfig(text, "fuzz.yaml");
  if (!config.ok()) {
    OG_FUZZ_CHECK(config.status().code() == absl::StatusCode::kInvalidArgument);
    CheckErrorLines(config.status().message());
    return 0;
  }
  CheckAccepted(*config);
  return 0;
}
