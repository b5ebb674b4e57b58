// Tests of the TLS keys of gateway/config/config.h: listen.client_ca, listen.client_auth,
// listen.reload_interval and backends[].tls, with the exact `FILE:LINE: reason` messages.
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <string_view>

#include "gateway/config/config.h"
#include "tests/fakes/config_testing.h"

namespace og {
namespace {

using testing::ErrorsOf;
using testing::Valid;

constexpr std::string_view kTlsListen = R"(listen:
  cert: s.crt
  key: s.key
)";
constexpr std::string_view kBackend = R"(backends:
  - name: a
    url: https://ollama.example:443
)";

std::string With(std::string_view listen_extra, std::string_view backend_extra = "") {
  return std::string(kTlsListen) + std::string(listen_extra) + std::string(kBackend) +
         std::string(backend_extra);
}

TEST_CASE("without client_ca no client certificate is asked for", "[config][tls]") {
  const Config c = Valid(With(""));
  CHECK(c.listen.client_auth == "none");
  CHECK(c.listen.client_ca_file.empty());
  CHECK(c.listen.reload_interval == std::chrono::seconds(5));
}

TEST_CASE("client_ca alone requires client certificates", "[config][tls]") {
  const Config c = Valid(With("  client_ca: ca.pem\n"));
  CHECK(c.listen.client_ca_file == "ca.pem");
  CHECK(c.listen.client_auth == "require");
}

TEST_CASE("client_auth optional is read", "[config][tls]") {
  CHECK(Valid(With("  client_ca: ca.pem\n  client_auth: optional\n")).listen.client_auth ==
        "optional");
}

TEST_CASE("client_auth other than none needs client_ca", "[config][tls]") {
  CHECK(ErrorsOf(With("  client_auth: require\n")) ==
        "test.yaml:4: listen.client_auth: \"require\" needs client_ca (the CAs that sign client "
        "certificates)");
}

TEST_CASE("an unknown client_auth mode is refused with a suggestion", "[config][tls]") {
  CHECK(
      ErrorsOf(With("  client_ca: ca.pem\n  client_auth: required\n")) ==
      "test.yaml:5: listen.client_auth: must be one of none, optional, require, got \"required\"; "
      "did you mean \"require\"?");
}

TEST_CASE("client certificate keys are refused on a plaintext listener", "[config][tls]") {
  CHECK(ErrorsOf("listen:\n  insecure: true\n  client_ca: ca.pem\n  client_auth: require\n" +
                 std::string(kBackend)) ==
        "test.yaml:3: listen.client_ca: must not be set when insecure is true\n"
        "test.yaml:4: listen.client_auth: must not be set when insecure is true");
}

TEST_CASE("reload_interval takes a duration and 0 turns polling off", "[config][tls]") {
  CHECK(Valid(With("  reload_interval: 250ms\n")).listen.reload_interval ==
        std::chrono::milliseconds(250));
  CHECK(Valid(With("  reload_interval: 0\n")).listen.reload_interval.count() == 0);
  CHECK(ErrorsOf(With("  reload_interval: soon\n")) ==
        "test.yaml:4: listen.reload_interval: invalid duration \"soon\": expected numbers with "
        "units (ms, s, m, h), as in 250ms, 2s, 1m30s or 1h");
}

TEST_CASE("a backend's tls section is read", "[config][tls]") {
  const Config c = Valid(With("",
                              "    tls:\n      ca: b.pem\n      cert: c.crt\n      key: c.key\n"
                              "      verify: false\n"));
  const BackendTlsConfig& tls = c.backends[0].tls;
  CHECK(tls.ca_file == "b.pem");
  CHECK(tls.cert_file == "c.crt");
  CHECK(tls.key_file == "c.key");
  CHECK_FALSE(tls.verify);
  CHECK(tls.line == 7);
}

TEST_CASE("a backend's tls verifies by default", "[config][tls]") {
  CHECK(Valid(With("", "    tls:\n      ca: b.pem\n")).backends[0].tls.verify);
  CHECK(Valid(With("")).backends[0].tls.verify);
}

TEST_CASE("a backend's tls is refused on an http url", "[config][tls]") {
  CHECK(ErrorsOf(std::string(kTlsListen) +
                 "backends:\n  - name: a\n    url: http://h:1\n    tls:\n      ca: b.pem\n") ==
        "test.yaml:7: backends[0].tls: is only for an https:// url");
}

TEST_CASE("a backend's client cert needs its key and the other way round", "[config][tls]") {
  CHECK(ErrorsOf(With("", "    tls:\n      cert: c.crt\n")) ==
        "test.yaml:8: backends[0].tls.cert: needs key (the client certificate's private key)");
  CHECK(ErrorsOf(With("", "    tls:\n      key: c.key\n")) ==
        "test.yaml:8: backends[0].tls.key: needs cert (the client certificate it belongs to)");
}

TEST_CASE("an unknown key in a backend's tls is refused with a suggestion", "[config][tls]") {
  CHECK(ErrorsOf(With("", "    tls:\n      verfy: false\n")) ==
        "test.yaml:8: unknown field 'verfy' in backends[0].tls (valid: ca, cert, key, verify); "
        "did you mean 'verify'?");
}

TEST_CASE("a backend's tls must be a map", "[config][tls]") {
  CHECK(ErrorsOf(With("", "    tls: true\n")) ==
        "test.yaml:7: backends[0].tls: must be a map, got \"true\"");
}

}  // namespace
}  // namespace og
