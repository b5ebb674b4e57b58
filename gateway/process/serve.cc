#include "gateway/process/serve.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "gateway/admin/admin_server.h"
#include "gateway/admin/backends_view.h"
#include "gateway/admin/config_view.h"
#include "gateway/call/call_core.h"
#include "gateway/call/security_gate.h"
#include "gateway/config/config.h"
#include "gateway/config/load.h"
#include "gateway/config/values.h"
#include "gateway/frontdoor/grpc/grpc_frontdoor.h"
#include "gateway/frontdoor/http/http_frontdoor.h"
#include "gateway/process/config_reloader.h"
#include "gateway/routing/health_bridge.h"
#include "gateway/routing/rollout_controller.h"
#include "gateway/routing/router.h"
#include "gateway/telemetry/access_log.h"
#include "gateway/telemetry/metrics.h"
#include "gateway/telemetry/process_log.h"
#include "gateway/upstream/backend_tls.h"
#include "gateway/upstream/upstream_client.h"
#include "health/checker.h"
#include "security/api_keys.h"
#include "spdlog/spdlog.h"
#include "tls/pem.h"
#include "tls/protocol_policy.h"
#include "tls/server_credentials.h"

namespace og {
namespace {

// The transport's ceiling on a request, fixed at start for both front doors: past it the request
// is refused before the gateway reads it. Below it, limits.max_request_bytes and
// limits.max_image_request_bytes (reloadable) answer INVALID_ARGUMENT (HTTP: 413 for a body over
// its endpoint's limit) naming the limit; twice the larger (at least 4 MiB, at most what gRPC
// takes) leaves room for a reload to raise them.
std::int64_t TransportRequestCeiling(const Config& c) {
  const std::int64_t largest =
      std::max(c.limits.max_request_bytes, c.limits.max_image_request_bytes);
  return std::min<std::int64_t>(std::max<std::int64_t>(2 * largest, 4 << 20), INT32_MAX);
}

// The configured listen address with the port actually bound (they differ when it was 0).
std::string BoundAddress(const std::string& configured, int bound_port) {
  std::string host;
  int ignored = 0;
  (void)ParseListenAddress(configured, &host, &ignored);  // validated when the config loaded
  if (host.find(':') != std::string::npos) host = absl::StrCat("[", host, "]");
  return absl::StrCat(host, ":", bound_port);
}

// Logs and counts one look at changed listener TLS files.
void ReportTlsReload(const tls::ReloadResult& result, Metrics& metrics) {
  const tls::CertificateInfo& cert = result.serving;
  switch (result.outcome) {
    case tls::ReloadResult::Outcome::kUnchanged:
      spdlog::info("TLS files unchanged; serving {} serial {}", cert.subject, cert.serial_hex);
      return;
    case tls::ReloadResult::Outcome::kReloaded:
      metrics.RecordTlsReload("ok");
      metrics.SetTlsCertificateExpiry(cert.not_after);
      spdlog::info("TLS files reloaded: new handshakes get {} serial {} (expires {})", cert.subject,
                   cert.serial_hex, tls::FormatUtc(cert.not_after));
      return;
    case tls::ReloadResult::Outcome::kRefused:
      metrics.RecordTlsReload("refused");
      spdlog::error("TLS reload refused, still serving {} serial {}: {}", cert.subject,
                    cert.serial_hex, result.message);
      return;
  }
}

tls::ClientAuth ClientAuthOf(const std::string& mode) {
  if (mode == "require") return tls::ClientAuth::kRequire;
  if (mode == "optional") return tls::ClientAuth::kOptional;
  return tls::ClientAuth::kNone;
}

// One line on how callers are authenticated and limited, at start and after each reload.
void LogSecuritySummary(const Config& c) {
  spdlog::info(
      "auth: {} ({} API keys, client certificates: {}); authorization: {}; redaction rules: {}",
      c.auth.required ? "required" : "optional (callers without credentials run as anonymous)",
      c.auth.api_keys.size(), c.auth.mtls_identity,
      c.authorization.enabled ? absl::StrCat(c.authorization.rules.size(), " rules")
                              : std::string("off (every caller may use every model)"),
      c.redaction.rules.size());
  if (!c.auth.api_keys.empty() && c.listen.insecure) {
    spdlog::warn(
        "API keys are accepted on a plaintext listener (listen.insecure): they cross "
        "the network in clear text");
  }
}

}  // namespace

int Serve(const std::string& path) {
  // Before anything initializes OpenSSL (gRPC, the upstream client): see tls/protocol_policy.h.
  if (absl::Status s = tls::RestrictNewContextsToTls13(); !s.ok()) {
    std::cerr << "cannot enforce TLS 1.3 on the listener: " << s.message() << "\n";
    return kExitFailure;
  }
  const std::optional<std::size_t> loaded_hash = ConfigReloader::ContentHash(path);
  auto loaded = LoadConfigFile(path);
  if (!loaded.ok()) {
    std::cerr << loaded.status().message() << "\n";
    return kExitFailure;
  }
  const Config config = std::move(*loaded);
  ConfigureProcessLog(config.logging);

  // Signals are taken synchronously by this thread; every thread started below inherits the
  // mask, so none of them is interrupted.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (absl::Status s = CheckBackendTlsFiles(config); !s.ok()) {
    spdlog::critical("{}: backend TLS file {}", config.source, std::string(s.message()));
    return kExitFailure;
  }
  WarnAboutUnverifiedBackends(config);

  Router router(SystemClock::Get());
  if (absl::Status s = router.Apply(config); !s.ok()) {
    spdlog::critical("{}", std::string(s.message()));
    return kExitFailure;
  }
  // The workers: one event loop per thread, running HTTP connections and backend requests.
  const int workers = config.workers > 0
                          ? config.workers
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  auto upstream = std::make_unique<UpstreamClient>(workers);
  Metrics metrics;
  // Set once the HTTP front door listens, cleared before it goes: scrapes run on the admin
  // thread, which starts first.
  std::atomic<const HttpFrontDoor*> http_door_for_scrapes{nullptr};
  metrics.SetScrapeHook([&router, &http_door_for_scrapes](Metrics& m) {
    // Mirrors live state into gauges at scrape time: no work on the request path.
    if (const HttpFrontDoor* door = http_door_for_scrapes.load(std::memory_order_acquire)) {
      m.SetOpenConnections("http", door->open_connections());
    }
    MirrorRoutingGauges(router, m);
  });
  metrics.SetQueueLimit(static_cast<std::size_t>(config.admission.max_queue));

  // Active health checks. Serving starts once every backend has a first connect and api
  // result (or the wait runs out), so the first calls are not sent to a backend known dead.
  HealthBridge health_bridge(router, metrics);
  router.SetListener(&health_bridge);
  HealthTransport health_transport(*upstream, router);
  auto checker = std::make_unique<health::Checker>(SystemClock::Get(), health_transport,
                                                   health_bridge, std::random_device{}());
  checker->Configure(CheckerOptionsOf(config), CheckedBackends(config));
  auto checker_thread = std::make_unique<health::CheckerThread>(*checker, SystemClock::Get());
  const auto first_round_until = std::chrono::steady_clock::now() + FirstRoundWait(config);
  while (!checker->FirstRoundDone() && std::chrono::steady_clock::now() < first_round_until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  spdlog::info("first health checks done: {} of {} backends healthy", router.HealthyBackends(),
               config.backends.size());

  auto access_log = AccessLog::Open(config.logging.access_log);
  if (!access_log.ok()) {
    spdlog::critical("{}: logging.access_log: {}", config.source,
                     std::string(access_log.status().message()));
    return kExitFailure;
  }
  if (*access_log != nullptr && config.logging.access_log.log_content) {
    spdlog::warn(
        "logging.access_log.log_content is on: prompts and answers are written to {} (for "
        "debugging only)",
        config.logging.access_log.path);
  }
  SecurityGate security(SystemClock::Get(), metrics);
  if (absl::Status s = security.Apply(config); !s.ok()) {
    spdlog::critical("{}: {}", config.source, std::string(s.message()));
    return kExitFailure;
  }
  LogSecuritySummary(config);
  CallCore core(router, *upstream, metrics, security, RequestPathOptionsFrom(config),
                access_log->get());
  // Rollouts move on the main loop's ticks; PromQL analyses run on the upstream client.
  auto rollouts =
      std::make_unique<RolloutController>(router, *upstream, metrics, SystemClock::Get());
  rollouts->UseStateFile(config.rollouts.state_file);
  rollouts->Tick();

  tls::ServerTlsOptions tls_options{config.listen.insecure, config.listen.cert_file,
                                    config.listen.key_file, config.listen.client_ca_file,
                                    ClientAuthOf(config.listen.client_auth)};
  auto serving = tls::ServingCredentials::Create(tls_options);
  if (!serving.ok()) {
    spdlog::critical("{}: listen: {}", config.source, std::string(serving.status().message()));
    return kExitFailure;
  }
  std::unique_ptr<tls::ServingCredentials> credentials = *std::move(serving);
  if (!config.listen.insecure) {
    const tls::CertificateInfo cert = credentials->serving();
    metrics.SetTlsCertificateExpiry(cert.not_after);
    spdlog::info("TLS 1.3 only; serving {} serial {} (expires {}); client certificates: {}",
                 cert.subject, cert.serial_hex, tls::FormatUtc(cert.not_after),
                 config.listen.client_auth);
    credentials->WatchFiles(config.listen.reload_interval, [&metrics](const tls::ReloadResult& r) {
      ReportTlsReload(r, metrics);
    });
  }
  if (config.listen.insecure) {
    spdlog::warn(
        "listening for gRPC WITHOUT TLS on {} (listen.insecure is true): prompts and "
        "answers cross the network in clear text",
        config.listen.address);
  }
  GrpcFrontDoor grpc_door(core);
  GrpcFrontDoorOptions grpc_options;
  grpc_options.listen = config.listen;
  // Below the ceiling, limits.max_request_bytes (reloadable) answers INVALID_ARGUMENT naming the
  // limit.
  grpc_options.max_message_bytes = TransportRequestCeiling(config);
  grpc_options.max_metadata_bytes = config.limits.max_header_bytes;
  if (absl::Status s = grpc_door.Start(grpc_options, credentials->credentials()); !s.ok()) {
    spdlog::critical("{}", std::string(s.message()));
    return kExitFailure;
  }

  std::unique_ptr<AdminServer> admin;
  std::string admin_where = "off";
  if (config.admin.enabled) {
    admin = std::make_unique<AdminServer>(
        metrics,
        [&router, &core](std::string* why) {
          if (core.draining()) {
            *why = "draining (shutting down)";
            return false;
          }
          *why = NotReadyReason(*router.table());
          return why->empty();
        },
        [&router, &checker] {
          return BackendsJson(*router.table(), checker->Snapshot(), SystemClock::Get());
        },
        [&router] { return ConfigJson(*router.config()); });
    admin->ServeRollouts(
        [&rollouts] { return rollouts->Json(); },
        [&rollouts](std::string_view name, std::string_view action, std::string* body) {
          return rollouts->Act(name, action, body);
        });
    if (!config.admin.api_key_hash.empty()) {
      // The loader refused a malformed hash already.
      admin->RequireApiKey(*security::ParseApiKeyHash(config.admin.api_key_hash));
    } else if (!config.admin.address.starts_with("127.") &&
               !config.admin.address.starts_with("[::1]") &&
               !config.admin.address.starts_with("localhost:")) {
      spdlog::warn(
          "the admin endpoint on {} needs no key (admin.api_key_hash is unset): whoever "
          "reaches it reads the metrics, the backends and the configuration",
          config.admin.address);
    }
    if (*access_log != nullptr) {
      metrics.CountAccessLogDrops([log = access_log->get()] { return log->dropped(); });
    }
    if (absl::Status s = admin->Start(config.admin.address); !s.ok()) {
      spdlog::critical("{}", std::string(s.message()));
      return kExitFailure;
    }
    admin_where = BoundAddress(config.admin.address, admin->port());
  }
  std::unique_ptr<HttpFrontDoor> http_door;
  std::string http_where = "off";
  if (config.http.enabled) {
    HttpFrontDoorOptions http_options;
    http_options.workers = upstream->workers();
    if (config.http.threads > 0) {
      spdlog::warn(
          "{}: http.threads has no effect any more: HTTP connections run on the {} "
          "workers (the workers key)",
          config.source, workers);
    }
    // Past it the server answers 413 before reading the body; below it each endpoint's limit
    // (BodyLimitFor) does.
    http_options.max_body_bytes = static_cast<std::size_t>(
        std::max(TransportRequestCeiling(config), config.fleet.max_blob_bytes));
    http_options.max_header_bytes = static_cast<std::size_t>(config.limits.max_header_bytes);
    http_options.http = config.http;
    if (!config.http.insecure) {
      http_options.tls = [creds = credentials.get()] { return creds->https_context(); };
    } else {
      spdlog::warn(
          "serving the HTTP front door WITHOUT TLS on {} (http.insecure is true): prompts, "
          "answers and API keys cross the network in clear text",
          config.http.address);
    }
    http_door = std::make_unique<HttpFrontDoor>(core, std::move(http_options));
    if (absl::Status s = http_door->Start(config.http.address); !s.ok()) {
      spdlog::critical("{}", std::string(s.message()));
      return kExitFailure;
    }
    http_where = BoundAddress(config.http.address, http_door->port());
    http_door_for_scrapes.store(http_door.get(), std::memory_order_release);
  }
  // Before the "listening" line: a client that checks health at once must see the truth.
  grpc_door.PublishServing(*router.table(), /*draining=*/false);
  const std::string grpc_where = BoundAddress(config.listen.address, grpc_door.port());
  spdlog::info("ollama-gateway {} serving gRPC on {} ({} backends, policy {}); admin {}; http {}",
               kVersion, grpc_where, config.backends.size(), config.balancer.policy, admin_where,
               http_where);
  // A machine-readable line for scripts and tests, useful when a port was 0.
  std::printf("listening grpc=%s admin=%s http=%s\n", grpc_where.c_str(), admin_where.c_str(),
              http_where.c_str());
  std::fflush(stdout);

  const std::chrono::milliseconds drain_timeout = config.listen.drain_timeout;
  ConfigReloader reloader(path, loaded_hash, router, metrics);
  reloader.WatchKeysFile(config.auth.api_keys_file);
  reloader.OnApplied([&checker, &checker_thread, &security, &rollouts](const Config& applied) {
    rollouts->UseStateFile(applied.rollouts.state_file);
    rollouts->Tick();
    checker->Configure(CheckerOptionsOf(applied), CheckedBackends(applied));
    checker_thread->Wake();
    // The loader compiled every redaction rule already; a failure here would be a bug.
    if (absl::Status s = security.Apply(applied); !s.ok()) {
      spdlog::error("security settings not reloaded: {}", std::string(s.message()));
    }
    LogSecuritySummary(applied);
  });
  const timespec poll_interval{1, 0};
  for (;;) {
    const int sig = sigtimedwait(&signals, nullptr, &poll_interval);
    if (sig < 0) {  // a second without a signal: look at the config file
      reloader.ReloadIfChanged();
      rollouts->Tick();
      router.RefreshPanic();  // notices ejections that ended
      grpc_door.PublishServing(*router.table(), /*draining=*/false);
      continue;
    }
    if (sig == SIGHUP) {
      reloader.Reload("SIGHUP");
      if (!config.listen.insecure) ReportTlsReload(credentials->Reload(/*force=*/true), metrics);
      continue;
    }
    spdlog::info("{} received: draining (calls in progress get up to {} s to finish)",
                 strsignal(sig), drain_timeout.count() / 1000.0);
    break;
  }
  // Drain: the gRPC door stops accepting at once (GOAWAY) while calls in progress go on.
  core.StartDraining();
  grpc_door.PublishServing(*router.table(), /*draining=*/true);
  const auto drain_until = std::chrono::system_clock::now() + drain_timeout;
  grpc_door.StartDrain(drain_until);
  while (core.active_calls() > 0 && std::chrono::system_clock::now() < drain_until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (core.active_calls() > 0) {
    spdlog::warn("{} calls still in progress after {} ms: cancelling them", core.active_calls(),
                 drain_timeout.count());
  }
  grpc_door.CancelRemaining();
  // HTTP calls still running see their client gone, which aborts their backend requests.
  if (http_door != nullptr) http_door->Stop();
  grpc_door.Wait();
  // The admin thread (scrapes read the front door) goes first.
  admin.reset();
  http_door_for_scrapes.store(nullptr, std::memory_order_release);
  http_door.reset();
  // The checker stops before the client its probes run on; their late results are dropped.
  checker_thread.reset();
  checker.reset();
  upstream.reset();
  // After the client: a PromQL analysis still out ended with it.
  rollouts.reset();
  spdlog::info("stopped");
  return 0;
}

}  // namespace og
