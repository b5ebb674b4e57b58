#include "gateway/admin/admin_server.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <optional>

#include "absl/strings/str_cat.h"
#include "gateway/config/values.h"
#include "http/server.h"
#include "security/api_keys.h"

namespace og {
namespace {

constexpr const char* kText = "text/plain; charset=utf-8";

// Probes stay open: kubelet sends no credentials, and they tell only "up" and "ready".
bool IsProbe(std::string_view path) { return path == "/healthz" || path == "/readyz"; }

}  // namespace

AdminServer::AdminServer(Metrics& metrics, ReadyCheck ready, JsonView backends, JsonView config)
    : metrics_(metrics),
      ready_(std::move(ready)),
      backends_(std::move(backends)),
      config_(std::move(config)),
      io_(std::make_unique<boost::asio::io_context>()) {}

AdminServer::~AdminServer() {
  if (server_ != nullptr) server_->Stop();
  io_->stop();
  if (thread_.joinable()) thread_.join();
}

void AdminServer::RequireApiKey(const security::ApiKeyHash& hash) {
  keys_ = std::make_unique<security::ApiKeyStore>(
      std::vector<security::ApiKeyStore::Entry>{{"admin", hash}});
}

// Scrapers and probes hold a few connections each; far fewer than the front doors.
constexpr std::size_t kMaxAdminConnections = 1000;
constexpr std::size_t kMaxAdminBodyBytes = 4096;
constexpr std::string_view kRolloutsPath = "/admin/rollouts/";

absl::Status AdminServer::Start(const std::string& address) {
  std::string host;
  int port = 0;
  if (absl::Status s = ParseListenAddress(address, &host, &port); !s.ok()) return s;
  http::ServerOptions options;
  // Only GETs come here: a body is never needed, and the method and key are checked before one
  // would be read.
  options.max_body_bytes = kMaxAdminBodyBytes;
  options.max_connections = kMaxAdminConnections;
  options.on_connection_refused = [this] { metrics_.RecordConnectionRefused("admin"); };
  options.header_check = [this](const http::Request& req) -> std::optional<http::EarlyResponse> {
    const bool rollout_action = rollout_action_ != nullptr && req.path.starts_with(kRolloutsPath);
    if (req.method == "POST" ? !rollout_action : req.method != "GET" && req.method != "HEAD") {
      return http::EarlyResponse{405,
                                 std::string(kText),
                                 "405 method not allowed\n",
                                 {{"Allow", rollout_action ? "POST" : "GET, HEAD"}}};
    }
    if (keys_ != nullptr && !IsProbe(req.path)) {
      const std::optional<std::string_view> token =
          security::BearerToken(req.Header("authorization"));
      if (!token || keys_->Verify(*token) == nullptr) {
        return http::EarlyResponse{401,
                                   std::string(kText),
                                   "401 unauthorized: send 'Authorization: Bearer <admin key>'\n",
                                   {{"WWW-Authenticate", "Bearer realm=\"ollama-gateway admin\""}}};
      }
    }
    return std::nullopt;
  };
  server_ = std::make_unique<http::Server>(
      *io_,
      [this](std::shared_ptr<http::Exchange> ex) {
        const http::Request& req = ex->request();
        if (req.path == "/metrics") {
          return ex->Respond(200, "text/plain; version=0.0.4; charset=utf-8", metrics_.Serialize());
        }
        if (req.path == "/healthz") return ex->Respond(200, kText, "ok\n");
        if (req.path == "/readyz") {
          std::string why;
          if (ready_(&why)) return ex->Respond(200, kText, "ready\n");
          return ex->Respond(503, kText, absl::StrCat("not ready: ", why, "\n"));
        }
        if (req.path == "/admin/backends") {
          return ex->Respond(200, "application/json", backends_());
        }
        if (req.path == "/admin/config") return ex->Respond(200, "application/json", config_());
        if (rollouts_ != nullptr && req.path == "/admin/rollouts") {
          return ex->Respond(200, "application/json", rollouts_());
        }
        if (rollout_action_ != nullptr && req.path.starts_with(kRolloutsPath)) {
          // /admin/rollouts/NAME/ACTION; a model name may hold a '/' (a namespace).
          const std::string_view rest = std::string_view(req.path).substr(kRolloutsPath.size());
          const std::size_t slash = rest.rfind('/');
          if (req.method != "POST" || slash == std::string_view::npos || slash == 0) {
            return ex->Respond(req.method != "POST" ? 405 : 404, kText,
                               "POST /admin/rollouts/NAME/{pause,resume,promote,abort}\n");
          }
          std::string body;
          const int status = rollout_action_(rest.substr(0, slash), rest.substr(slash + 1), &body);
          return ex->Respond(status, status == 200 ? "application/json" : kText, std::move(body));
        }
        ex->Respond(404, kText,
                    "404 not found (try /metrics, /healthz, /readyz, /admin/backends, "
                    "/admin/config or /admin/rollouts)\n");
      },
      std::move(options));
  if (absl::Status s = server_->Listen(host, static_cast<std::uint16_t>(port)); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("admin endpoint: ", s.message()));
  }
  thread_ = std::thread([io = io_.get()] {
    auto guard = boost::asio::make_work_guard(*io);
    io->run();
  });
  return absl::OkStatus();
}

int AdminServer::port() const { return server_ != nullptr ? server_->port() : 0; }

}  // namespace og
