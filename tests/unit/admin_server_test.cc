// The admin endpoint with admin.api_key_hash: /metrics and /admin/* need the bearer key,
// /healthz and /readyz stay open for probes.
#include "gateway/admin/admin_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

#include "gateway/telemetry/metrics.h"
#include "security/api_keys.h"
#include "tests/fakes/http_testing.h"

namespace og {
namespace {

struct Reply {
  int status = 0;
  std::string text;  // status line, headers and body
};

// One GET over a fresh connection, read until the server closes it.
Reply Get(int port, std::string_view path, std::string_view authorization = "") {
  const int fd = http::testing::ConnectLoopback(static_cast<std::uint16_t>(port));
  std::string request = "GET " + std::string(path) + " HTTP/1.1\r\nHost: admin\r\n";
  if (!authorization.empty()) request += "Authorization: " + std::string(authorization) + "\r\n";
  request += "Connection: close\r\n\r\n";
  REQUIRE(::send(fd, request.data(), request.size(), 0) == ssize_t(request.size()));
  Reply reply;
  char buffer[4096];
  for (ssize_t n; (n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0;) reply.text.append(buffer, n);
  ::close(fd);
  if (reply.text.starts_with("HTTP/1.1 ")) reply.status = std::stoi(reply.text.substr(9, 3));
  return reply;
}

class KeyedAdmin {
 public:
  explicit KeyedAdmin(const std::string& key)
      : admin_(
            metrics_, [](std::string*) { return true; }, [] { return std::string("{}"); },
            [] { return std::string("{}"); }) {
    admin_.RequireApiKey(security::HashApiKeyWithRandomSalt(key));
    REQUIRE(admin_.Start("127.0.0.1:0").ok());
  }
  int port() const { return admin_.port(); }

 private:
  Metrics metrics_;
  AdminServer admin_;
};

TEST_CASE("with an admin key, /metrics answers 401 without it and 200 with it", "[admin]") {
  const std::string key = security::GenerateApiKey();
  KeyedAdmin admin(key);
  const Reply none = Get(admin.port(), "/metrics");
  CHECK(none.status == 401);
  CHECK(none.text.find("WWW-Authenticate: Bearer") != std::string::npos);
  CHECK(none.text.find("gateway_") == std::string::npos);
  CHECK(Get(admin.port(), "/metrics", "Bearer og_wrong").status == 401);
  CHECK(Get(admin.port(), "/metrics", "Basic " + key).status == 401);
  const Reply keyed = Get(admin.port(), "/metrics", "Bearer " + key);
  CHECK(keyed.status == 200);
  CHECK(keyed.text.find("gateway_queue_depth 0") != std::string::npos);
  CHECK(Get(admin.port(), "/metrics", "bearer  " + key).status == 200);
}

TEST_CASE("with an admin key, /admin/* needs it and the probes do not", "[admin]") {
  const std::string key = security::GenerateApiKey();
  KeyedAdmin admin(key);
  CHECK(Get(admin.port(), "/admin/config").status == 401);
  CHECK(Get(admin.port(), "/admin/backends").status == 401);
  CHECK(Get(admin.port(), "/admin/config", "Bearer " + key).status == 200);
  CHECK(Get(admin.port(), "/healthz").status == 200);
  CHECK(Get(admin.port(), "/readyz").status == 200);
  // An unknown path says nothing about what exists without the key.
  CHECK(Get(admin.port(), "/nope").status == 401);
}

TEST_CASE("without an admin key, /metrics is open", "[admin]") {
  Metrics metrics;
  AdminServer admin(
      metrics, [](std::string*) { return true; }, [] { return std::string("{}"); },
      [] { return std::string("{}"); });
  REQUIRE(admin.Start("127.0.0.1:0").ok());
  CHECK(Get(admin.port(), "/metrics").status == 200);
}

}  // namespace
}  // namespace og
