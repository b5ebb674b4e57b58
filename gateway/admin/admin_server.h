// The admin HTTP endpoint: /metrics (Prometheus text format), /healthz (the process is up),
// /readyz (the gateway can route calls), /admin/backends (JSON: each backend's health and why
// it is in or out of rotation), /admin/config (JSON: the configuration in force) and
// /admin/rollouts (their state; POST /admin/rollouts/NAME/ACTION acts on one). It runs on its
// own thread so a slow scrape never touches the request path. Bind it to loopback unless the
// network is trusted, or require a key (RequireApiKey): then /metrics and /admin/* answer 401
// without `Authorization: Bearer KEY`, while /healthz and /readyz stay open for probes (kubelet
// sends no credentials, and they reveal only whether the process is up and ready).
#ifndef OLLAMA_GATEWAY_GATEWAY_ADMIN_ADMIN_SERVER_H_
#define OLLAMA_GATEWAY_GATEWAY_ADMIN_ADMIN_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/status.h"
#include "gateway/telemetry/metrics.h"
#include "security/api_keys.h"

namespace boost::asio {
class io_context;
}

namespace og {

namespace http {
class Server;
}

class AdminServer {
 public:
  // `ready` says whether the gateway can route calls now; it may return a reason when not.
  // Called on the admin thread; must be thread-safe.
  using ReadyCheck = std::function<bool(std::string* why_not)>;

  // A JSON document (/admin/backends, /admin/config). Called on the admin thread; must be
  // thread-safe.
  using JsonView = std::function<std::string()>;

  AdminServer(Metrics& metrics, ReadyCheck ready, JsonView backends, JsonView config);
  ~AdminServer();

  // The rollouts (gateway/routing/rollout_controller.h): GET /admin/rollouts answers `list`;
  // POST /admin/rollouts/NAME/ACTION answers what `act` returns (an HTTP status, and a body:
  // JSON on 200, a reason in words otherwise). Call before Start.
  using RolloutAction =
      std::function<int(std::string_view name, std::string_view action, std::string* body)>;
  void ServeRollouts(JsonView list, RolloutAction act) {
    rollouts_ = std::move(list);
    rollout_action_ = std::move(act);
  }

  // /metrics and /admin/* then require the key whose salted hash this is (admin.api_key_hash),
  // checked in constant time. Call before Start.
  void RequireApiKey(const security::ApiKeyHash& hash);

  // Listens on `address` ("host:port", port 0 picks one) and starts the admin thread.
  absl::Status Start(const std::string& address);
  // The bound port after Start.
  int port() const;

 private:
  Metrics& metrics_;
  ReadyCheck ready_;
  JsonView backends_;
  JsonView config_;
  JsonView rollouts_;
  RolloutAction rollout_action_;
  // Null: no key required.
  std::unique_ptr<security::ApiKeyStore> keys_;
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_ADMIN_ADMIN_SERVER_H_
