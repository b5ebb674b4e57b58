// The HTTP front door: Ollama's REST API and the OpenAI-compatible endpoints on their own
// listener, so every tool that speaks to Ollama gets balancing, health checks, TLS, keys and
// metrics by changing one URL.
//
// Model calls (/api/generate, /api/chat, /api/embed, /api/show, /v1/chat/completions,
// /v1/completions, /v1/embeddings) run the same CallPath as gRPC calls: the same authentication,
// limits, authorization, rate limits, redaction, routing, retries, admission queue, cancellation
// and backpressure, with `frontend="http"` on their metrics. Listings (/api/tags, /api/ps,
// /v1/models) are the union of what the healthy backends report, filtered to the models the
// caller may use; /api/version is one healthy backend's answer.
//
// Errors come in each API's own shape: {"error": "..."} for Ollama's endpoints, {"error":
// {"message", "type", "param", "code"}} for OpenAI's, with the HTTP status matching the call's
// status code (see docs/http-api.md).
#ifndef OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_HTTP_FRONTDOOR_H_
#define OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_HTTP_FRONTDOOR_H_

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gateway/call/call_core.h"
#include "gateway/config/config.h"

namespace boost::asio {
class io_context;
namespace ssl {
class context;
}  // namespace ssl
}  // namespace boost::asio

namespace og {

namespace http {
class Server;
class Exchange;
struct Request;
struct EarlyResponse;
}  // namespace http

class BrowserPolicy;
class ListingCache;

struct HttpFrontDoorOptions {
  // Where connections run: the gateway's workers (the upstream client's loops), each connection
  // on one of them in turn, so its calls' backend requests, chunks and answers stay on that one
  // thread. The acceptor runs on the first. At least one; each must outlive the front door.
  std::vector<boost::asio::io_context*> workers;
  // Largest request body of any endpoint, fixed at start; larger ones get 413. Each endpoint's
  // own limit, from the policy in force, is below it (BodyLimitFor).
  std::size_t max_body_bytes = 16u << 20;
  // Largest request line and headers (limits.max_header_bytes); larger ones get 431.
  std::size_t max_header_bytes = 16u << 10;
  // The section itself: its connection timeouts and cap (og::http::ServerOptions says what each
  // does) and its browser-safety lists. Whether the listener is on loopback is worked out from
  // the address Start is given.
  HttpConfig http;
  // The TLS context for each new connection (so certificate reloads reach new connections);
  // null for plaintext.
  std::function<std::shared_ptr<boost::asio::ssl::context>()> tls;
};

class HttpFrontDoor {
 public:
  // `core` must outlive the front door.
  HttpFrontDoor(CallCore& core, HttpFrontDoorOptions options);
  // Stops (see Stop), waits (briefly) for calls still running, and returns once no callback of
  // the listener runs any more.
  ~HttpFrontDoor();
  HttpFrontDoor(const HttpFrontDoor&) = delete;
  HttpFrontDoor& operator=(const HttpFrontDoor&) = delete;

  // Listens on `address` ("host:port"; port 0 picks one) on the workers.
  absl::Status Start(const std::string& address);
  // The bound port after Start.
  int port() const;
  // Connections open now (0 before Start). Any thread.
  std::size_t open_connections() const;
  // Stops accepting and closes every connection: calls still running see their client gone and
  // abort their backend requests. Idempotent. The destructor then waits (briefly) for those
  // calls to end before it stops the loop their connections run on.
  void Stop();

 private:
  void Handle(std::shared_ptr<http::Exchange> exchange);
  // Before a request's body is read: browser safety (Origin, Host, CORS preflight) and the
  // caller's key or certificate, so an unauthenticated caller never gets its body read.
  std::optional<http::EarlyResponse> CheckHead(const http::Request& head);
  // A token every call and listing holds while it runs; see the destructor.
  std::shared_ptr<void> Busy();

  CallCore& core_;
  const HttpFrontDoorOptions options_;
  std::shared_ptr<ListingCache> listings_;
  std::unique_ptr<const BrowserPolicy> browser_;  // set by Start
  std::atomic<int> busy_{0};
  std::unique_ptr<http::Server> server_;
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_HTTP_FRONTDOOR_H_
