#include "gateway/process/config_reloader.h"

#include <fstream>
#include <functional>
#include <sstream>

#include "gateway/config/load.h"
#include "gateway/telemetry/process_log.h"
#include "gateway/upstream/backend_tls.h"
#include "spdlog/spdlog.h"

namespace og {

ConfigReloader::ConfigReloader(std::string path, std::optional<std::size_t> loaded_hash,
                               Router& router, Metrics& metrics)
    : path_(std::move(path)), router_(router), metrics_(metrics), last_hash_(loaded_hash) {}

std::optional<std::size_t> ConfigReloader::ContentHash(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream content;
  content << in.rdbuf();
  return std::hash<std::string>{}(content.str());
}

void ConfigReloader::WatchKeysFile(std::string path) {
  if (path == keys_path_) return;
  keys_path_ = std::move(path);
  last_hash_ = CurrentHash();
}

std::optional<std::size_t> ConfigReloader::CurrentHash() const {
  const std::optional<std::size_t> config = ContentHash(path_);
  if (!config || keys_path_.empty()) return config;
  const std::optional<std::size_t> keys = ContentHash(keys_path_);
  if (!keys) return std::nullopt;
  return *config ^ (*keys * 0x9e3779b97f4a7c15ULL);
}

bool ConfigReloader::ReloadIfChanged() {
  const std::optional<std::size_t> hash = CurrentHash();
  // A file that cannot be read now is usually mid-replacement; the next poll sees it.
  if (!hash || hash == last_hash_) return false;
  return Reload("file change");
}

// Only the routing part (backends, models, policies, backend TLS, health checks, outlier
// detection) and the log level apply
// without a restart; listener addresses and the listener's TLS settings need one (the TLS
// files themselves are reloaded by their own watcher).
bool ConfigReloader::Reload(std::string_view trigger) {
  last_hash_ = CurrentHash();
  auto refuse = [&](const std::string& why) {
    spdlog::error("config reload ({}) refused, keeping the running config:\n{}", trigger, why);
    metrics_.RecordConfigReload("invalid");
    return false;
  };
  auto config = LoadConfigFile(path_);
  if (!config.ok()) return refuse(std::string(config.status().message()));
  if (absl::Status s = CheckBackendTlsFiles(*config); !s.ok()) {
    return refuse("backend TLS file " + std::string(s.message()));
  }
  if (absl::Status s = router_.Apply(*config); !s.ok()) return refuse(std::string(s.message()));
  WarnAboutUnverifiedBackends(*config);
  WatchKeysFile(config->auth.api_keys_file);
  if (on_applied_) on_applied_(*config);
  ConfigureProcessLog(config->logging);
  metrics_.RecordConfigReload("ok");
  spdlog::info("config reloaded from {} ({}): {} backends", path_, trigger,
               config->backends.size());
  return true;
}

}  // namespace og
