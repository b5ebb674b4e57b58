#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/frontdoor/http/browser_policy.h"

namespace og {
namespace {

using Verdict = BrowserDecision::Verdict;

BrowserPolicy Policy(BrowserPolicyOptions options = {}) {
  absl::StatusOr<BrowserPolicy> policy = BrowserPolicy::Create(std::move(options));
  REQUIRE(policy.ok());
  return *std::move(policy);
}

// A browser's POST from `origin` to a gateway reached as localhost:11434.
BrowserDecision Post(const BrowserPolicy& policy, std::string_view origin,
                     std::string_view host = "localhost:11434") {
  return policy.Check({.method = "POST", .origin = origin, .host = host});
}

// A request without Origin (curl, an SDK) carrying this Host.
BrowserDecision WithHost(const BrowserPolicy& policy, std::string_view host) {
  return policy.Check({.method = "POST", .host = host});
}

// The value of the header `name` in `decision`, or "<absent>".
std::string HeaderValue(const BrowserDecision& decision, std::string_view name) {
  for (const auto& [key, value] : decision.headers) {
    if (key == name) return value;
  }
  return "<absent>";
}

// ---- Origins ----

TEST_CASE("by default, pages on localhost, 127.0.0.1 and 0.0.0.0 on any port are let in",
          "[browser_policy]") {
  const BrowserPolicy policy = Policy();
  for (std::string_view origin :
       {"http://localhost:3000", "http://127.0.0.1:8080", "https://0.0.0.0", "http://localhost",
        "https://localhost:5173", "https://127.0.0.1"}) {
    INFO(origin);
    const BrowserDecision decision = Post(policy, origin);
    CHECK(decision.verdict == Verdict::kServe);
    CHECK(HeaderValue(decision, "Access-Control-Allow-Origin") == origin);
  }
}

TEST_CASE("by default, desktop apps, local files and VS Code webviews are let in",
          "[browser_policy]") {
  const BrowserPolicy policy = Policy();
  for (std::string_view origin : {"app://-", "file://", "tauri://localhost",
                                  "vscode-webview://1a2b3c", "vscode-file://vscode-app"}) {
    INFO(origin);
    CHECK(Post(policy, origin).verdict == Verdict::kServe);
  }
}

TEST_CASE("a page on another site is refused with 403 and told to set http.allowed_origins",
          "[browser_policy]") {
  const BrowserDecision decision = Post(Policy(), "https://evil.example");
  CHECK(decision.verdict == Verdict::kRefuse);
  CHECK(decision.status == 403);
  CHECK_THAT(decision.message,
             Catch::Contains("'https://evil.example'") && Catch::Contains("http.allowed_origins"));
  CHECK(decision.headers.empty());
}

TEST_CASE("a local name in another site's origin does not pass for a local origin",
          "[browser_policy]") {
  const BrowserPolicy policy = Policy();
  for (std::string_view origin : {"http://localhost.evil.example", "https://127.0.0.1.nip.io",
                                  "http://evil.example:3000", "null"}) {
    INFO(origin);
    CHECK(Post(policy, origin).verdict == Verdict::kRefuse);
  }
}

TEST_CASE("a wildcard entry lets in the subdomains it names and not a look-alike domain",
          "[browser_policy]") {
  const BrowserPolicy policy = Policy({.allowed_origins = {"https://*.corp.example"}});
  CHECK(Post(policy, "https://a.corp.example").verdict == Verdict::kServe);
  CHECK(Post(policy, "https://b.a.corp.example").verdict == Verdict::kServe);
  CHECK(Post(policy, "https://corp.example.evil").verdict == Verdict::kRefuse);
  CHECK(Post(policy, "https://evilcorp.example").verdict == Verdict::kRefuse);
  CHECK(Post(policy, "http://a.corp.example").verdict == Verdict::kRefuse);
}

TEST_CASE("an exact entry lets in that origin only, whatever the case of either",
          "[browser_policy]") {
  const BrowserPolicy policy = Policy({.allowed_origins = {"https://App.Example.com"}});
  CHECK(Post(policy, "https://app.example.com").verdict == Verdict::kServe);
  CHECK(Post(policy, "HTTPS://APP.EXAMPLE.COM").verdict == Verdict::kServe);
  CHECK(Post(policy, "https://app.example.com:8443").verdict == Verdict::kRefuse);
  CHECK(Post(policy, "https://other.example.com").verdict == Verdict::kRefuse);
}

TEST_CASE("the entry '*' lets in any origin, still echoing it", "[browser_policy]") {
  const BrowserPolicy policy = Policy({.allowed_origins = {"*"}});
  const BrowserDecision decision = Post(policy, "https://anything.example");
  CHECK(decision.verdict == Verdict::kServe);
  CHECK(HeaderValue(decision, "Access-Control-Allow-Origin") == "https://anything.example");
}

TEST_CASE("a request without Origin is served with no CORS headers", "[browser_policy]") {
  const BrowserDecision decision = WithHost(Policy(), "localhost:11434");
  CHECK(decision.verdict == Verdict::kServe);
  CHECK(decision.status == 0);
  CHECK(decision.message.empty());
  CHECK(decision.headers.empty());
}

TEST_CASE("a request whose Origin is its own Host is not cross-origin and gets no CORS headers",
          "[browser_policy]") {
  const BrowserPolicy policy = Policy({.allowed_hosts = {"gateway.example"}});
  const BrowserDecision decision =
      Post(policy, "https://gateway.example:11434", "gateway.example:11434");
  CHECK(decision.verdict == Verdict::kServe);
  CHECK(decision.headers.empty());
}

TEST_CASE("an allowed cross-origin answer varies on Origin and exposes the gateway's headers",
          "[browser_policy]") {
  const BrowserDecision decision = Post(Policy(), "http://localhost:3000");
  CHECK(decision.headers == std::vector<std::pair<std::string, std::string>>{
                                {"Access-Control-Allow-Origin", "http://localhost:3000"},
                                {"Vary", "Origin"},
                                {"Access-Control-Expose-Headers",
                                 "x-request-id, x-gateway-backend, x-gateway-attempts, "
                                 "Retry-After"},
                            });
}

// ---- Preflight ----

TEST_CASE("a preflight from an allowed origin is answered 204 with the methods and headers",
          "[browser_policy]") {
  const BrowserDecision decision =
      Policy().Check({.method = "OPTIONS",
                      .origin = "http://localhost:3000",
                      .host = "localhost:11434",
                      .request_method = "POST",
                      .request_headers = "authorization, content-type, x-stainless-os"});
  CHECK(decision.verdict == Verdict::kPreflight);
  CHECK(decision.status == 204);
  CHECK(HeaderValue(decision, "Access-Control-Allow-Origin") == "http://localhost:3000");
  CHECK(HeaderValue(decision, "Access-Control-Allow-Methods") ==
        "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS");
  const std::string headers = HeaderValue(decision, "Access-Control-Allow-Headers");
  for (std::string_view name :
       {"Authorization", "Content-Type", "User-Agent", "Accept", "X-Requested-With", "OpenAI-Beta",
        "x-stainless-arch", "x-stainless-retry-count", "x-stainless-timeout"}) {
    CHECK_THAT(headers, Catch::Contains(std::string(name)));
  }
  CHECK(HeaderValue(decision, "Access-Control-Max-Age") == "43200");
  CHECK_THAT(HeaderValue(decision, "Vary"), Catch::StartsWith("Origin"));
}

TEST_CASE("a preflight from an origin that is not allowed is refused with 403",
          "[browser_policy]") {
  const BrowserDecision decision = Policy().Check({.method = "OPTIONS",
                                                   .origin = "https://evil.example",
                                                   .host = "localhost:11434",
                                                   .request_method = "POST"});
  CHECK(decision.verdict == Verdict::kRefuse);
  CHECK(decision.status == 403);
}

TEST_CASE("a preflight asking for a header the gateway does not allow is refused naming it",
          "[browser_policy]") {
  const BrowserDecision decision = Policy().Check({.method = "OPTIONS",
                                                   .origin = "http://localhost:3000",
                                                   .host = "localhost:11434",
                                                   .request_method = "POST",
                                                   .request_headers = "content-type, x-secret"});
  CHECK(decision.verdict == Verdict::kRefuse);
  CHECK(decision.status == 403);
  CHECK_THAT(decision.message, Catch::Contains("'x-secret'"));
}

TEST_CASE("a preflight asking for a method the gateway does not allow is refused naming it",
          "[browser_policy]") {
  const BrowserDecision decision = Policy().Check({.method = "OPTIONS",
                                                   .origin = "http://localhost:3000",
                                                   .host = "localhost:11434",
                                                   .request_method = "PROPFIND"});
  CHECK(decision.verdict == Verdict::kRefuse);
  CHECK_THAT(decision.message, Catch::Contains("'PROPFIND'"));
}

// ---- Host ----

TEST_CASE("on a loopback listener, local host names and addresses pass the Host check",
          "[browser_policy]") {
  const BrowserPolicy policy = Policy();
  for (std::string_view host : {"localhost:11434",
                                "localhost",
                                "LOCALHOST",
                                "localhost.",
                                "127.0.0.1",
                                "127.0.0.1:11434",
                                "127.1.2.3",
                                "[::1]:11434",
                                "[::1]",
                                "::1",
                                "0.0.0.0",
                                "10.1.2.3",
                                "172.16.0.1",
                                "192.168.1.5:11434",
                                "[fd00::1]:11434",
                                "[::ffff:127.0.0.1]",
                                "foo.localhost",
                                "myhost.local",
                                "x.internal:11434",
                                "host.docker.internal",
                                ""}) {
    INFO(host);
    CHECK(WithHost(policy, host).verdict == Verdict::kServe);
  }
}

TEST_CASE("on a loopback listener, another site's name is refused as DNS rebinding",
          "[browser_policy]") {
  const BrowserDecision decision = WithHost(Policy(), "evil.example:11434");
  CHECK(decision.verdict == Verdict::kRefuse);
  CHECK(decision.status == 403);
  CHECK_THAT(decision.message,
             Catch::Contains("'evil.example:11434'") && Catch::Contains("http.allowed_hosts"));
}

TEST_CASE("on a loopback listener, public addresses and look-alike names are refused",
          "[browser_policy]") {
  const BrowserPolicy policy = Policy();
  for (std::string_view host :
       {"8.8.8.8", "172.32.0.1", "169.254.169.254", "[2001:db8::1]:11434", "localhost.evil.example",
        "evil-localhost", "local", "[::1", "[::1]x", "127.0.0.1.nip.io"}) {
    INFO(host);
    CHECK(WithHost(policy, host).verdict == Verdict::kRefuse);
  }
}

TEST_CASE("the Host check refuses a rebinding page even when its Origin is its own Host",
          "[browser_policy]") {
  const BrowserDecision decision =
      Post(Policy(), "http://evil.example:11434", "evil.example:11434");
  CHECK(decision.verdict == Verdict::kRefuse);
  CHECK_THAT(decision.message, Catch::Contains("http.allowed_hosts"));
}

TEST_CASE("a name listed in allowed_hosts passes the Host check, with any port and any case",
          "[browser_policy]") {
  const BrowserPolicy policy = Policy({.allowed_hosts = {"gateway.example"}});
  CHECK(WithHost(policy, "gateway.example").verdict == Verdict::kServe);
  CHECK(WithHost(policy, "Gateway.Example:11434").verdict == Verdict::kServe);
  CHECK(WithHost(policy, "evil.example").verdict == Verdict::kRefuse);
  CHECK(WithHost(policy, "sub.gateway.example").verdict == Verdict::kRefuse);
}

TEST_CASE("a '*.' entry in allowed_hosts passes the names under a domain but not the domain",
          "[browser_policy]") {
  const BrowserPolicy policy = Policy({.allowed_hosts = {"*.corp.example"}});
  CHECK(WithHost(policy, "gw.corp.example:11434").verdict == Verdict::kServe);
  CHECK(WithHost(policy, "corp.example").verdict == Verdict::kRefuse);
  CHECK(WithHost(policy, "evilcorp.example").verdict == Verdict::kRefuse);
}

TEST_CASE("the entry '*' in allowed_hosts passes every Host", "[browser_policy]") {
  CHECK(WithHost(Policy({.allowed_hosts = {"*"}}), "evil.example").verdict == Verdict::kServe);
}

TEST_CASE("this machine's own name passes the Host check", "[browser_policy]") {
  const BrowserPolicy policy = Policy({.machine_hostname = "Workstation7"});
  CHECK(WithHost(policy, "workstation7:11434").verdict == Verdict::kServe);
  CHECK(WithHost(policy, "workstation8:11434").verdict == Verdict::kRefuse);
}

TEST_CASE("on a listener that is not loopback, every Host passes", "[browser_policy]") {
  const BrowserPolicy policy = Policy({.loopback_listener = false});
  CHECK(WithHost(policy, "evil.example:11434").verdict == Verdict::kServe);
  CHECK(WithHost(policy, "10.0.0.7").verdict == Verdict::kServe);
}

TEST_CASE("on a listener that is not loopback, the Origin is still checked", "[browser_policy]") {
  const BrowserPolicy policy = Policy({.loopback_listener = false});
  CHECK(Post(policy, "https://evil.example", "10.0.0.7:11434").verdict == Verdict::kRefuse);
}

TEST_CASE("IsLoopbackHost tells loopback bind addresses from the others", "[browser_policy]") {
  for (std::string_view host :
       {"127.0.0.1", "127.0.0.53", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"}) {
    INFO(host);
    CHECK(IsLoopbackHost(host));
  }
  for (std::string_view host :
       {"0.0.0.0", "::", "10.0.0.7", "192.168.1.5", "gateway.example", "", "::2"}) {
    INFO(host);
    CHECK_FALSE(IsLoopbackHost(host));
  }
}

// ---- Validation ----

// Checks that Validate refuses `options` as INVALID_ARGUMENT with a message that starts with
// `starts` (the key, index and entry) and contains `says` (what is wrong).
void CheckRefused(const BrowserPolicyOptions& options, const std::string& starts,
                  std::string_view says) {
  const absl::Status status = BrowserPolicy::Validate(options);
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(status.message()),
             Catch::StartsWith(starts) && Catch::Contains(std::string(says)));
}

TEST_CASE("Validate accepts well-formed origins and hosts", "[browser_policy]") {
  const absl::Status status = BrowserPolicy::Validate(
      {.allowed_origins = {"*", "https://app.example.com", "https://*.corp.example",
                           "http://intranet:*", "chrome-extension://abcdef", "app://*"},
       .allowed_hosts = {"*", "gateway.example", "*.corp.example", "192.0.2.10", "[2001:db8::1]",
                         "2001:db8::2", "my_host"}});
  CHECK(status.ok());
}

TEST_CASE("Validate refuses malformed origins, naming the entry and what is wrong",
          "[browser_policy]") {
  struct Row {
    std::string entry;
    std::string_view says;
  };
  const Row rows[] = {
      {"", "is empty"},
      {"app.example.com", "expected scheme://host[:port]"},
      {"://app.example.com", "expected scheme://host[:port]"},
      {"https://app.example.com/", "drop the trailing '/'"},
      {"https://app.example.com/chat", "has a path"},
      {"*://app.example.com", "malformed scheme"},
      {"1http://app.example.com", "malformed scheme"},
      {"https://app.example.com?x", "contains '?'"},
      {"https://user@app.example.com", "contains '@'"},
      {" https://app.example.com", "whitespace"},
      {"null", "expected scheme://host[:port]"},
  };
  for (const Row& row : rows) {
    INFO(row.entry);
    const absl::Status status =
        BrowserPolicy::Validate({.allowed_origins = {"https://fine.example", row.entry}});
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(status.message()),
               Catch::StartsWith("http.allowed_origins[1]: '" + row.entry + "'") &&
                   Catch::Contains(std::string(row.says)));
  }
}

TEST_CASE("Validate refuses malformed hosts, naming the entry and what is wrong",
          "[browser_policy]") {
  struct Row {
    std::string entry;
    std::string_view says;
  };
  const Row rows[] = {
      {"", "is empty"},
      {"gateway.example:11434", "has a port"},
      {"https://gateway.example", "is a URL"},
      {"gw.*.example", "leading '*.'"},
      {"*gateway.example", "leading '*.'"},
      {"*.", "no domain"},
      {"[gateway.example]", "IPv6 literal"},
      {"gate/way", "contains '/'"},
      {"gate way", "whitespace"},
  };
  for (const Row& row : rows) {
    INFO(row.entry);
    CheckRefused({.allowed_hosts = {row.entry}}, "http.allowed_hosts[0]: '" + row.entry + "'",
                 row.says);
  }
}

TEST_CASE("Create refuses the options Validate refuses", "[browser_policy]") {
  const absl::StatusOr<BrowserPolicy> policy =
      BrowserPolicy::Create({.allowed_origins = {"https://app.example.com/"}});
  REQUIRE_FALSE(policy.ok());
  CHECK(policy.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(policy.status().message()), Catch::Contains("http.allowed_origins[0]"));
}

}  // namespace
}  // namespace og
