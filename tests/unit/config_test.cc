// Tests of gateway/config/load.h: loading, validation and the exact `FILE:LINE: reason` errors an
// operator sees from `--check-config`, plus the value parsers of gateway/config/values.h
// (durations, addresses, URLs, model names).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "gateway/config/balancer_section.h"
#include "gateway/config/load.h"
#include "gateway/config/values.h"
#include "tests/fakes/config_testing.h"

namespace og {
namespace {

using std::chrono::milliseconds;

// The smallest valid file: plaintext and one backend. Lines 1-5.
constexpr std::string_view kMinimal = R"(listen:
  insecure: true
backends:
  - name: gpu-a
    url: http://127.0.0.1:11434
)";

std::string Message(const absl::Status& status) {
  return std::string(status.message().data(), status.message().size());
}

using testing::ErrorsOf;

// kMinimal followed by `extra`, which starts at line 6. Indented lines there extend the
// backend gpu-a; unindented ones add top-level sections.
std::string MinimalPlus(std::string_view extra) {
  return std::string(kMinimal) + std::string(extra);
}

TEST_CASE("a full configuration parses with every field", "[config]") {
  const Config config = testing::Valid(R"(listen:
  address: "[::1]:50052"
  cert: /etc/gateway/tls.crt
  key: /etc/gateway/tls.key
admin:
  address: 0.0.0.0:9191
  enabled: false
balancer:
  policy: round_robin
upstream:
  threads: 8
  connect_timeout: 1500ms
  request_timeout: 2m30s
  max_line_bytes: 1048576
backends:
  - name: gpu-a
    url: HTTP://10.0.0.1:11434/
    weight: 3
    models: [Llama3.2, "qwen2.5:7B", library/mistral]
  - name: gpu_b.2
    url: https://ollama.internal/prefix/
logging:
  level: debug
)");
  CHECK(config.source == "test.yaml");
  CHECK(config.listen.address == "[::1]:50052");
  CHECK_FALSE(config.listen.insecure);
  CHECK(config.listen.cert_file == "/etc/gateway/tls.crt");
  CHECK(config.listen.key_file == "/etc/gateway/tls.key");
  CHECK(config.listen.line == 1);
  CHECK(config.admin.address == "0.0.0.0:9191");
  CHECK_FALSE(config.admin.enabled);
  CHECK(config.admin.line == 5);
  CHECK(config.balancer.policy == "round_robin");
  CHECK(config.balancer.line == 8);
  CHECK(config.upstream.threads == 8);
  CHECK(config.upstream.connect_timeout == milliseconds(1500));
  CHECK(config.upstream.request_timeout == milliseconds(150000));
  CHECK(config.upstream.max_line_bytes == 1048576u);
  CHECK(config.upstream.line == 10);
  REQUIRE(config.backends.size() == 2);
  const BackendConfig& a = config.backends[0];
  CHECK(a.name == "gpu-a");
  CHECK(a.url == "http://10.0.0.1:11434");
  CHECK(a.weight == 3u);
  CHECK(a.models == std::vector<std::string>{"Llama3.2", "qwen2.5:7B", "library/mistral"});
  CHECK(a.canonical_models ==
        std::vector<std::string>{"llama3.2:latest", "qwen2.5:7b", "mistral:latest"});
  CHECK(a.line == 16);
  const BackendConfig& b = config.backends[1];
  CHECK(b.name == "gpu_b.2");
  CHECK(b.url == "https://ollama.internal/prefix");
  CHECK(b.weight == 1u);
  CHECK(b.models.empty());
  CHECK(b.canonical_models.empty());
  CHECK(b.line == 20);
  CHECK(config.logging.level == "debug");
  CHECK(config.logging.line == 22);
}

TEST_CASE("sections left out take the documented defaults", "[config]") {
  const Config config = testing::Valid(kMinimal);
  CHECK(config.listen.address == "0.0.0.0:50051");
  CHECK(config.listen.insecure);
  CHECK(config.listen.cert_file.empty());
  CHECK(config.admin.address == "127.0.0.1:9090");
  CHECK(config.admin.enabled);
  CHECK(config.admin.line == 0);
  CHECK(config.balancer.policy == "round_robin");
  CHECK(config.upstream.threads == 0);
  CHECK(config.upstream.connect_timeout == milliseconds(2000));
  CHECK(config.upstream.request_timeout == milliseconds(0));  // no total cap
  CHECK(config.upstream.idle_timeout == std::chrono::minutes(5));
  CHECK(config.fleet.targets == 0);  // all
  CHECK(config.upstream.max_line_bytes == 8u << 20);
  CHECK(config.upstream.stream_buffer_bytes == 1u << 20);
  CHECK(config.upstream.max_attempts == 2);
  CHECK(config.upstream.retry_budget_percent == 20);
  CHECK(config.admission.max_in_flight == 0);
  CHECK(config.admission.max_queue == 1000);
  CHECK(config.admission.max_queue_wait == milliseconds(30000));
  CHECK(config.backends[0].max_in_flight == 0);
  CHECK(config.logging.level == "info");
  CHECK(config.logging.line == 0);
}

TEST_CASE("slots per model and for embeddings, the fleet section and idle_timeout parse",
          "[config]") {
  const Config config = testing::Valid(
      "listen:\n  insecure: true\n"
      "upstream:\n  idle_timeout: 90s\n  request_timeout: 1h\n"
      "admission:\n  max_embed_in_flight: 3\n"
      "fleet:\n  targets: 2\n  max_blob_bytes: 1048576\n"
      "backends:\n"
      "  - name: a\n    url: http://127.0.0.1:1\n"
      "    max_in_flight_by_model: {Llama3.2: 1, 'qwen3:8b': 2}\n"
      "  - name: b\n    url: http://127.0.0.1:2\n    max_embed_in_flight: 0\n");
  CHECK(config.upstream.idle_timeout == std::chrono::seconds(90));
  CHECK(config.upstream.request_timeout == std::chrono::hours(1));
  CHECK(config.fleet.targets == 2);
  CHECK(config.fleet.max_blob_bytes == 1048576);
  CHECK(config.backends[0].max_in_flight_by_model ==
        std::map<std::string, std::int64_t>{{"llama3.2:latest", 1}, {"qwen3:8b", 2}});
  CHECK(config.backends[0].max_embed_in_flight == 3);
  CHECK(config.backends[1].max_embed_in_flight == 0);
  CHECK(testing::Valid(MinimalPlus("fleet:\n  targets: all\n")).fleet.targets == 0);
}

TEST_CASE("bad fleet and per-model slot settings are refused with line and reason", "[config]") {
  CHECK(ErrorsOf(MinimalPlus("fleet:\n  targets: some\n")) ==
        "test.yaml:7: fleet.targets: must be all or a number of backends from 1 to 10000, got "
        "\"some\"");
  CHECK(ErrorsOf(MinimalPlus("    max_in_flight_by_model: {llama3.2: 0}\n")) ==
        "test.yaml:6: backends[0].max_in_flight_by_model.llama3.2: must be an integer from 1 to "
        "100000, got \"0\"");
  CHECK(ErrorsOf(MinimalPlus("    max_in_flight_by_model: {llama3.2: 1, LLAMA3.2:latest: 2}\n")) ==
        "test.yaml:6: backends[0].max_in_flight_by_model.LLAMA3.2:latest: the model is listed "
        "twice (names are read as Ollama reads them: llama3.2 is llama3.2:latest)");
}

TEST_CASE("admission limits and retry settings parse; a backend's max_in_flight overrides",
          "[config]") {
  const Config config = testing::Valid(
      "listen:\n  insecure: true\n"
      "upstream:\n  max_attempts: 3\n  retry_budget_percent: 50\n"
      "admission:\n  max_in_flight: 4\n  max_queue: 10\n  max_queue_wait: 1500ms\n"
      "backends:\n"
      "  - name: a\n    url: http://127.0.0.1:1\n"
      "  - name: b\n    url: http://127.0.0.1:2\n    max_in_flight: 0\n"
      "  - name: c\n    url: http://127.0.0.1:3\n    max_in_flight: 2\n");
  CHECK(config.upstream.max_attempts == 3);
  CHECK(config.upstream.retry_budget_percent == 50);
  CHECK(config.admission.max_queue == 10);
  CHECK(config.admission.max_queue_wait == milliseconds(1500));
  CHECK(config.backends[0].max_in_flight == 4);
  CHECK(config.backends[1].max_in_flight == 0);
  CHECK(config.backends[2].max_in_flight == 2);
}

TEST_CASE("admission and retry values out of range are refused at their line", "[config]") {
  CHECK(ErrorsOf(MinimalPlus("upstream:\n  max_attempts: 0\n  retry_budget_percent: 101\n")) ==
        "test.yaml:7: upstream.max_attempts: must be an integer from 1 to 10, got \"0\"\n"
        "test.yaml:8: upstream.retry_budget_percent: must be an integer from 0 to 100, got "
        "\"101\"");
  CHECK(ErrorsOf(MinimalPlus("admission:\n  max_in_flight: -1\n  max_queue_wait: 0\n"
                             "  max_queu: 5\n")) ==
        "test.yaml:7: admission.max_in_flight: must be an integer from 0 to 100000, got \"-1\"\n"
        "test.yaml:8: admission.max_queue_wait: must be longer than 0, got \"0\"\n"
        "test.yaml:9: unknown field 'max_queu' in admission (valid: max_in_flight, "
        "max_embed_in_flight, max_queue, max_queue_wait); did you mean 'max_queue'?");
  CHECK(ErrorsOf(MinimalPlus("    max_in_flight: 100001\n")) ==
        "test.yaml:6: backends[0].max_in_flight: must be an integer from 0 to 100000, got "
        "\"100001\"");
}

TEST_CASE("a section written with nothing under it takes the defaults", "[config]") {
  const Config config = testing::Valid(MinimalPlus("admin:\nupstream:\n"));
  CHECK(config.admin.address == "127.0.0.1:9090");
  CHECK(config.admin.line == 6);
  CHECK(config.upstream.connect_timeout == milliseconds(2000));
}

TEST_CASE("comments and blank lines do not shift the reported line", "[config]") {
  CHECK(ErrorsOf("# gateway\n\nlisten:\n  # plaintext\n\n  insecure: yes\n") ==
        "test.yaml:3: missing required field 'backends': at least one backend is required\n"
        "test.yaml:6: listen.insecure: must be true or false, got \"yes\"");
}

TEST_CASE("malformed YAML reports yaml-cpp's message at its line", "[config]") {
  CHECK(ErrorsOf("listen:\n  insecure: true\nbackends: [a\n") ==
        "test.yaml:4: end of sequence flow not found");
  CHECK(ErrorsOf("listen:\n  insecure: true\n\tbackends: []\n") ==
        "test.yaml:3: illegal tab when looking for indentation");
}

TEST_CASE("an empty file is refused", "[config]") {
  const std::string expected =
      "test.yaml:1: the configuration is empty; it needs at least a backends list";
  CHECK(ErrorsOf("") == expected);
  CHECK(ErrorsOf("# nothing but a comment\n") == expected);
}

TEST_CASE("a top level that is not a map is refused", "[config]") {
  CHECK(ErrorsOf("- listen\n- backends\n") ==
        "test.yaml:1: the top level must be a map of sections (listen, admin, http, balancer, "
        "upstream, admission, backends, health, outlier_detection, logging, auth, "
        "authorization, rate_limits, limits, redaction, workers, fleet, rollouts), got a list");
  CHECK(ErrorsOf("just words\n") ==
        "test.yaml:1: the top level must be a map of sections (listen, admin, http, balancer, "
        "upstream, admission, backends, health, outlier_detection, logging, auth, "
        "authorization, rate_limits, limits, redaction, workers, fleet, rollouts), got \"just "
        "words\"");
}

TEST_CASE("a second YAML document is refused", "[config]") {
  CHECK(ErrorsOf(MinimalPlus("---\nlogging: {level: info}\n")) ==
        "test.yaml:7: only one YAML document is allowed (remove the '---' before this line)");
}

TEST_CASE("a file without backends is refused", "[config]") {
  CHECK(ErrorsOf("listen:\n  insecure: true\n") ==
        "test.yaml:1: missing required field 'backends': at least one backend is required");
  CHECK(ErrorsOf("listen:\n  insecure: true\nbackends: []\n") ==
        "test.yaml:3: backends: at least one backend is required");
  CHECK(ErrorsOf("listen:\n  insecure: true\nbackends:\n") ==
        "test.yaml:3: backends: at least one backend is required");
  CHECK(ErrorsOf("listen:\n  insecure: true\nbackends: gpu-a\n") ==
        "test.yaml:3: backends: must be a list of backends, got \"gpu-a\"");
}

TEST_CASE("an unknown top-level field is refused with the valid ones and a suggestion",
          "[config]") {
  CHECK(ErrorsOf(MinimalPlus("listne: {}\n")) ==
        "test.yaml:6: unknown field 'listne' at top level (valid: listen, admin, http, balancer, "
        "upstream, admission, backends, health, outlier_detection, logging, auth, "
        "authorization, rate_limits, limits, redaction, workers, fleet, rollouts); did you mean "
        "'listen'?");
}

TEST_CASE("an unknown field far from every valid one gets no suggestion", "[config]") {
  CHECK(ErrorsOf(MinimalPlus("tracing: on\n")) ==
        "test.yaml:6: unknown field 'tracing' at top level (valid: listen, admin, http, balancer, "
        "upstream, admission, backends, health, outlier_detection, logging, auth, "
        "authorization, rate_limits, limits, redaction, workers, fleet, rollouts)");
}

TEST_CASE("an unknown field in a section names the section", "[config]") {
  CHECK(ErrorsOf(MinimalPlus("balancer:\n  polcy: round_robin\n")) ==
        "test.yaml:7: unknown field 'polcy' in balancer (valid: policy, choice_count, "
        "bounded_load_factor, hash_key, pools); did you mean 'policy'?");
  CHECK(ErrorsOf(MinimalPlus("upstream:\n  continue_streams: always\n")) ==
        "test.yaml:7: upstream.continue_streams: must be one of chat, off, got \"always\"");
  CHECK(ErrorsOf(MinimalPlus("upstream:\n  connect_timout: 1s\n")) ==
        "test.yaml:7: unknown field 'connect_timout' in upstream (valid: threads, "
        "connect_timeout, request_timeout, idle_timeout, max_line_bytes, stream_buffer_bytes, "
        "max_unary_answer_bytes, first_byte_timeout, max_attempts, retry_budget_percent, "
        "continue_streams); did you mean 'connect_timeout'?");
}

TEST_CASE("an unknown field in a backend names the backend by index", "[config]") {
  CHECK(ErrorsOf(MinimalPlus("    wieght: 2\n")) ==
        "test.yaml:6: unknown field 'wieght' in backends[0] (valid: name, url, weight, models, "
        "hash_id, max_in_flight, max_in_flight_by_model, max_embed_in_flight, tls); "
        "did you mean 'weight'?");
}

TEST_CASE("a field given twice in one map is refused at the second one", "[config]") {
  CHECK(ErrorsOf(MinimalPlus("    url: http://127.0.0.1:11435\n")) ==
        "test.yaml:6: backends[0].url: duplicate field (first at line 5)");
}

TEST_CASE("a section that is not a map is refused", "[config]") {
  CHECK(ErrorsOf(MinimalPlus("logging: debug\n")) ==
        "test.yaml:6: logging: must be a map, got \"debug\"");
  CHECK(ErrorsOf(MinimalPlus("upstream: [1, 2]\n")) ==
        "test.yaml:6: upstream: must be a map, got a list");
}

TEST_CASE("an unknown balancer policy lists the known ones", "[config]") {
  CHECK(ErrorsOf(MinimalPlus("balancer:\n  policy: random\n")) ==
        "test.yaml:7: balancer.policy: must be one of round_robin, least_connections, ketama, got "
        "\"random\"");
  CHECK(ErrorsOf(MinimalPlus("balancer:\n  policy: round-robin\n")) ==
        "test.yaml:7: balancer.policy: must be one of round_robin, least_connections, ketama, got "
        "\"round-robin\"; did you "
        "mean \"round_robin\"?");
}

TEST_CASE("every known policy is accepted", "[config]") {
  REQUIRE_FALSE(KnownPolicies().empty());
  CHECK(KnownPolicies().front() == "round_robin");
  for (const std::string& policy : KnownPolicies()) {
    CHECK(testing::Valid(MinimalPlus("balancer:\n  policy: " + policy + "\n")).balancer.policy ==
          policy);
  }
}

TEST_CASE("a weight outside 1..1000 or not an integer is refused", "[config]") {
  const auto [text, shown] = GENERATE(table<std::string, std::string>({
      {"0", "\"0\""},
      {"-1", "\"-1\""},
      {"abc", "\"abc\""},
      {"1001", "\"1001\""},
      {"1.5", "\"1.5\""},
      {"99999999999999999999", "\"99999999999999999999\""},
      {"[1]", "a list"},
      {"{n: 1}", "a map"},
      {"\"5\"", "\"5\" (remove the quotes)"},
  }));
  CHECK(ErrorsOf(MinimalPlus("    weight: " + text + "\n")) ==
        "test.yaml:6: backends[0].weight: must be an integer from 1 to 1000, got " + shown);
}

TEST_CASE("weights 1 and 1000 are accepted", "[config]") {
  CHECK(testing::Valid(MinimalPlus("    weight: 1\n")).backends[0].weight == 1u);
  CHECK(testing::Valid(MinimalPlus("    weight: 1000\n")).backends[0].weight == 1000u);
}

TEST_CASE("an explicit YAML int or bool tag is accepted like a plain value", "[config]") {
  const Config config =
      testing::Valid(MinimalPlus("    weight: !!int 7\nadmin:\n  enabled: !!bool false\n"));
  CHECK(config.backends[0].weight == 7u);
  CHECK_FALSE(config.admin.enabled);
}

TEST_CASE("the second backend's errors carry its index", "[config]") {
  CHECK(
      ErrorsOf(MinimalPlus("  - name: gpu-b\n    url: http://127.0.0.1:11435\n    weight: 0\n")) ==
      "test.yaml:8: backends[1].weight: must be an integer from 1 to 1000, got \"0\"");
}

TEST_CASE("a duplicate backend name names the line of the first one", "[config]") {
  CHECK(ErrorsOf(MinimalPlus("  - name: gpu-b\n    url: http://127.0.0.1:2\n"
                             "  - name: gpu-a\n    url: http://127.0.0.1:3\n")) ==
        "test.yaml:8: backends[2].name: duplicate name \"gpu-a\" (first used at line 4)");
}

TEST_CASE("a backend name outside [A-Za-z0-9_.-] or longer than 64 is refused", "[config]") {
  const std::string reason =
      ": backends[0].name: must be 1 to 64 characters of A-Z a-z 0-9 _ . -, got ";
  CHECK(ErrorsOf("listen: {insecure: true}\nbackends:\n  - name: gpu a\n"
                 "    url: http://h:1\n") == "test.yaml:3" + reason + "\"gpu a\"");
  const std::string long_name(65, 'x');
  CHECK(ErrorsOf("listen: {insecure: true}\nbackends:\n  - name: " + long_name +
                 "\n    url: http://h:1\n") == "test.yaml:3" + reason + "\"" + long_name + "\"");
  CHECK(testing::Valid("listen: {insecure: true}\nbackends:\n  - name: " + std::string(64, 'x') +
                       "\n    url: http://h:1\n")
            .backends[0]
            .name.size() == 64);
}

TEST_CASE("a backend without a name or url is refused at the backend's line", "[config]") {
  CHECK(ErrorsOf("listen: {insecure: true}\nbackends:\n  - url: http://h:1\n") ==
        "test.yaml:3: backends[0]: missing required field 'name'");
  CHECK(ErrorsOf("listen: {insecure: true}\nbackends:\n  - name: gpu-a\n    weight: 2\n") ==
        "test.yaml:3: backends[0]: missing required field 'url'");
}

TEST_CASE("a backend that is not a map is refused", "[config]") {
  CHECK(ErrorsOf("listen: {insecure: true}\nbackends:\n  - http://h:1\n") ==
        "test.yaml:3: backends[0]: must be a map, got \"http://h:1\"");
  // yaml-cpp gives an empty entry no position of its own, so the list's line stands in.
  CHECK(ErrorsOf("listen: {insecure: true}\nbackends:\n  - name: a\n    url: http://h:1\n  -\n") ==
        "test.yaml:2: backends[1]: must be a map, got nothing");
}

TEST_CASE("bad backend URLs are refused with the reason", "[config]") {
  const auto [url, reason] = GENERATE(table<std::string, std::string>({
      {"ftp://h:21", "scheme must be http or https, got \"ftp\""},
      {"127.0.0.1:11434", "must start with http:// or https://"},
      {"http://", "missing host"},
      {"http://:11434", "missing host"},
      {"http://h:0", "port must be an integer from 1 to 65535, got \"0\""},
      {"http://h:65536", "port must be an integer from 1 to 65535, got \"65536\""},
      {"http://h:x1", "port must be an integer from 1 to 65535, got \"x1\""},
      {"http://h:", "port must be an integer from 1 to 65535, got \"\""},
      {"http://h:1/api?x=1", "must not have a query (?...)"},
      {"http://h:1/#top", "must not have a fragment (#...)"},
      {"http://user:pw@h:1", "must not contain user credentials (user@host)"},
      {"http://::1:11434", "an IPv6 host must be in brackets, as in [::1]:50051"},
      {"http://[zz::1]:1", "invalid IPv6 address \"[zz::1]\""},
      {"http://10.0.0.256:1", "invalid IPv4 address \"10.0.0.256\""},
      {"http://h*st:1", "invalid host \"h*st\""},
  }));
  CHECK(ErrorsOf("listen: {insecure: true}\nbackends:\n  - name: a\n    url: \"" + url + "\"\n") ==
        "test.yaml:4: backends[0].url: invalid URL \"" + url + "\": " + reason);
}

TEST_CASE("backend URLs are stored normalized", "[config]") {
  const auto [url, normalized] = GENERATE(table<std::string, std::string>({
      {"http://h:11434", "http://h:11434"},
      {"http://h:11434/", "http://h:11434"},
      {"HTTPS://Gpu.Example:443//", "https://Gpu.Example:443"},
      {"http://h/ollama/v1/", "http://h/ollama/v1"},
      {"http://[::1]:11434", "http://[::1]:11434"},
      {"http://[fe80::1]", "http://[fe80::1]"},
  }));
  const absl::StatusOr<std::string> result = NormalizeBackendUrl(url);
  INFO(Message(result.status()));
  REQUIRE(result.ok());
  CHECK(*result == normalized);
}

TEST_CASE("a URL with spaces is refused", "[config]") {
  CHECK(Message(NormalizeBackendUrl("http://h:1/a b").status()) ==
        "invalid URL \"http://h:1/a b\": must not contain spaces or control characters");
}

TEST_CASE("listen with insecure true refuses cert and key", "[config]") {
  CHECK(ErrorsOf("listen:\n  insecure: true\n  cert: a.crt\n  key: a.key\nbackends:\n"
                 "  - {name: a, url: \"http://h:1\"}\n") ==
        "test.yaml:3: listen.cert: must not be set when insecure is true\n"
        "test.yaml:4: listen.key: must not be set when insecure is true");
}

TEST_CASE("listen without insecure requires both cert and key", "[config]") {
  const std::string backends = "backends:\n  - {name: a, url: \"http://h:1\"}\n";
  CHECK(ErrorsOf("listen:\n  address: 0.0.0.0:1\n" + backends) ==
        "test.yaml:1: listen: cert and key are required for TLS (or set insecure: true to "
        "serve plaintext)");
  CHECK(ErrorsOf("listen:\n  cert: a.crt\n" + backends) ==
        "test.yaml:1: listen: key is required for TLS (or set insecure: true to serve "
        "plaintext)");
  CHECK(ErrorsOf("listen:\n  insecure: false\n  key: a.key\n" + backends) ==
        "test.yaml:1: listen: cert is required for TLS (or set insecure: true to serve "
        "plaintext)");
  CHECK(ErrorsOf(backends) ==
        "test.yaml:1: listen: cert and key are required for TLS (or set insecure: true to "
        "serve plaintext)");
}

TEST_CASE("booleans are only true or false", "[config]") {
  const auto [text, shown] = GENERATE(table<std::string, std::string>({
      {"yes", "\"yes\""},
      {"True", "\"True\""},
      {"1", "\"1\""},
      {"\"false\"", "\"false\" (remove the quotes)"},
      {"[true]", "a list"},
  }));
  CHECK(ErrorsOf(MinimalPlus("admin:\n  enabled: " + text + "\n")) ==
        "test.yaml:7: admin.enabled: must be true or false, got " + shown);
}

TEST_CASE("listen and admin addresses are checked", "[config]") {
  CHECK(ErrorsOf(MinimalPlus("admin:\n  address: localhost\n")) ==
        "test.yaml:7: admin.address: invalid address \"localhost\": missing port (expected "
        "host:port or [ipv6]:port)");
  CHECK(ErrorsOf(MinimalPlus("admin:\n  address: 127.0.0.1:70000\n")) ==
        "test.yaml:7: admin.address: invalid address \"127.0.0.1:70000\": port must be an "
        "integer from 0 to 65535, got \"70000\"");
  CHECK(ErrorsOf(MinimalPlus("admin:\n  address: {host: a}\n")) ==
        "test.yaml:7: admin.address: must be a non-empty string, got a map");
}

TEST_CASE("admin may not share the listen port on the same or a wildcard host", "[config]") {
  const std::string backends = "backends: [{name: a, url: \"http://h:1\"}]\n";
  CHECK(ErrorsOf("listen: {insecure: true, address: \"127.0.0.1:7000\"}\n"
                 "admin: {address: \"127.0.0.1:7000\"}\n" +
                 backends) ==
        "test.yaml:2: admin.address: same port as listen.address \"127.0.0.1:7000\"");
  CHECK(ErrorsOf("listen: {insecure: true, address: \"0.0.0.0:9090\"}\nadmin:\n"
                 "  address: \"127.0.0.1:9090\"\n" +
                 backends) ==
        "test.yaml:3: admin.address: same port as listen.address \"0.0.0.0:9090\"");
  // Different hosts, port 0 on both, or a disabled admin endpoint cannot collide.
  CHECK(testing::Valid("listen: {insecure: true, address: \"127.0.0.1:9090\"}\n"
                       "admin: {address: \"127.0.0.2:9090\"}\n" +
                       backends)
            .admin.address == "127.0.0.2:9090");
  CHECK(testing::Valid("listen: {insecure: true, address: \"127.0.0.1:0\"}\n"
                       "admin: {address: \"127.0.0.1:0\"}\n" +
                       backends)
            .admin.address == "127.0.0.1:0");
  CHECK_FALSE(testing::Valid("listen: {insecure: true, address: \"127.0.0.1:7000\"}\n"
                             "admin: {address: \"127.0.0.1:7000\", enabled: false}\n" +
                             backends)
                  .admin.enabled);
}

TEST_CASE("bad upstream durations are refused with the reason", "[config]") {
  const auto [line, error] = GENERATE(table<std::string, std::string>({
      {"  connect_timeout: 0", "upstream.connect_timeout: must be longer than 0, got \"0\""},
      {"  connect_timeout: 0s", "upstream.connect_timeout: must be longer than 0, got \"0s\""},
      {"  connect_timeout: -1s",
       "upstream.connect_timeout: invalid duration \"-1s\": must not be negative"},
      {"  request_timeout: 5d",
       "upstream.request_timeout: invalid duration \"5d\": unknown unit \"d\" (valid: ms, s, "
       "m, h)"},
      {"  request_timeout: soon",
       "upstream.request_timeout: invalid duration \"soon\": expected numbers with units (ms, "
       "s, m, h), as in 250ms, 2s, 1m30s or 1h"},
      {"  request_timeout: [1s]",
       "upstream.request_timeout: must be a duration such as 250ms, 2s or 1m30s, got a list"},
  }));
  CHECK(ErrorsOf(MinimalPlus("upstream:\n" + line + "\n")) == "test.yaml:7: " + error);
}

TEST_CASE("request_timeout 0 means no bound and is accepted", "[config]") {
  CHECK(testing::Valid(MinimalPlus("upstream:\n  request_timeout: 0\n")).upstream.request_timeout ==
        milliseconds(0));
}

TEST_CASE("threads and max_line_bytes are bounded", "[config]") {
  CHECK(ErrorsOf(MinimalPlus("upstream:\n  threads: 257\n")) ==
        "test.yaml:7: upstream.threads: must be an integer from 0 to 256, got \"257\"");
  CHECK(ErrorsOf(MinimalPlus("upstream:\n  max_line_bytes: 1023\n")) ==
        "test.yaml:7: upstream.max_line_bytes: must be an integer from 1024 to 1073741824, got "
        "\"1023\"");
  CHECK(ErrorsOf(MinimalPlus("upstream:\n  max_line_bytes: 8MiB\n")) ==
        "test.yaml:7: upstream.max_line_bytes: must be an integer from 1024 to 1073741824, got "
        "\"8MiB\"");
  const Config config =
      testing::Valid(MinimalPlus("upstream:\n  threads: 256\n  max_line_bytes: 1073741824\n"));
  CHECK(config.upstream.threads == 256);
  CHECK(config.upstream.max_line_bytes == 1073741824u);
}

TEST_CASE("workers is read, upstream.threads is its older name, and not both", "[config]") {
  CHECK(testing::Valid(MinimalPlus("workers: 3\n")).workers == 3);
  CHECK(testing::Valid(MinimalPlus("upstream:\n  threads: 5\n")).workers == 5);
  CHECK(testing::Valid(MinimalPlus("")).workers == 0);  // one per core
  CHECK(ErrorsOf(MinimalPlus("workers: 257\n")) ==
        "test.yaml:6: workers: must be an integer from 0 to 256, got \"257\"");
  CHECK(ErrorsOf(MinimalPlus("workers: 2\nupstream:\n  threads: 4\n")) ==
        "test.yaml:6: workers: upstream.threads is the older name of workers; set only workers");
}

TEST_CASE("an unknown log level lists the valid ones", "[config]") {
  CHECK(ErrorsOf(MinimalPlus("logging:\n  level: warning\n")) ==
        "test.yaml:7: logging.level: must be one of trace, debug, info, warn, error, critical, "
        "off, got \"warning\"; did you mean \"warn\"?");
}

TEST_CASE("models must be a list of valid, distinct model names", "[config]") {
  CHECK(ErrorsOf(MinimalPlus("    models: llama3.2\n")) ==
        "test.yaml:6: backends[0].models: must be a list of model names, got \"llama3.2\"");
  CHECK(ErrorsOf(MinimalPlus("    models:\n      - llama3.2\n      - bad name\n")) ==
        "test.yaml:8: backends[0].models[1]: must be a model name such as llama3.2 or "
        "qwen2.5:7b, got \"bad name\" (the model \"bad name\" of the model name must be 1 to 80 "
        "characters of letters, digits, '_', '-' and '.', starting with a letter, a digit or '_')");
  CHECK(ErrorsOf(MinimalPlus("    models:\n      - llama3.2\n      - {a: 1}\n")) ==
        "test.yaml:8: backends[0].models[1]: must be a model name such as llama3.2 or "
        "qwen2.5:7b, got a map");
  CHECK(ErrorsOf(MinimalPlus("    models:\n      - llama3.2\n      - Llama3.2:latest\n")) ==
        "test.yaml:8: backends[0].models[1]: duplicate model \"Llama3.2:latest\" (same as "
        "\"llama3.2\")");
}

TEST_CASE("an empty models list offers every model", "[config]") {
  CHECK(testing::Valid(MinimalPlus("    models: []\n")).backends[0].models.empty());
  CHECK(testing::Valid(MinimalPlus("    models:\n")).backends[0].models.empty());
}

TEST_CASE("several errors are reported together in line order", "[config]") {
  // The walk meets listen (line 8) before backends (lines 2-5); the output is by line.
  CHECK(ErrorsOf(R"(backends:
  - name: gpu-a
    url: ftp://h:1
    weight: 0
  - name: gpu-a
    url: http://h:2
listen:
  insecure: maybe
balancer: {polcy: x}
)") == "test.yaml:3: backends[0].url: invalid URL \"ftp://h:1\": scheme must be http or https, "
       "got \"ftp\"\n"
       "test.yaml:4: backends[0].weight: must be an integer from 1 to 1000, got \"0\"\n"
       "test.yaml:5: backends[1].name: duplicate name \"gpu-a\" (first used at line 2)\n"
       "test.yaml:8: listen.insecure: must be true or false, got \"maybe\"\n"
       "test.yaml:9: unknown field 'polcy' in balancer (valid: policy, choice_count, "
       "bounded_load_factor, hash_key, pools); did you mean 'policy'?");
}

TEST_CASE("the source name given to ParseConfig prefixes every error", "[config]") {
  const absl::StatusOr<Config> config = ParseConfig("listen: {insecure: true}\n", "/etc/gw.yaml");
  REQUIRE_FALSE(config.ok());
  CHECK(Message(config.status()) ==
        "/etc/gw.yaml:1: missing required field 'backends': at least one backend is required");
}

TEST_CASE("LoadConfigFile on a missing file reports PATH:0 and the system's reason", "[config]") {
  const absl::StatusOr<Config> config = LoadConfigFile("/nonexistent/og-config-test.yaml");
  REQUIRE_FALSE(config.ok());
  CHECK(config.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Message(config.status()) ==
        "/nonexistent/og-config-test.yaml:0: cannot read: No such file or directory");
}

TEST_CASE("LoadConfigFile on a directory reports that it cannot read it", "[config]") {
  CHECK(Message(LoadConfigFile("/").status()) == "/:0: cannot read: Is a directory");
}

TEST_CASE("LoadConfigFile parses the file and records its path as the source", "[config]") {
  char path[] = "/tmp/og-config-test-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  const std::string text(kMinimal);
  REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  close(fd);
  const absl::StatusOr<Config> config = LoadConfigFile(path);
  unlink(path);
  INFO(Message(config.status()));
  REQUIRE(config.ok());
  CHECK(config->source == path);
  CHECK(config->backends.at(0).name == "gpu-a");
}

TEST_CASE("the example configurations in deploy/examples are valid", "[config]") {
  // The tests run from the build tree; find the sources through this file's path.
  std::string root = __FILE__;
  root.erase(root.rfind("/tests/unit/"));
  for (const char* name : {"demo.yaml", "gateway.yaml"}) {
    const absl::StatusOr<Config> config = LoadConfigFile(root + "/deploy/examples/" + name);
    INFO(name << ": " << Message(config.status()));
    CHECK(config.ok());
  }
}

TEST_CASE("the complete example in docs/configuration.md is valid", "[config]") {
  std::string root = __FILE__;
  root.erase(root.rfind("/tests/unit/"));
  std::ifstream file(root + "/docs/configuration.md");
  REQUIRE(file);
  const std::string doc((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const std::size_t section = doc.find("## Complete example");
  REQUIRE(section != std::string::npos);
  const std::size_t begin = doc.find("```yaml\n", section);
  REQUIRE(begin != std::string::npos);
  const std::size_t end = doc.find("```", begin + 8);
  REQUIRE(end != std::string::npos);
  const Config config = testing::Valid(doc.substr(begin + 8, end - begin - 8));
  CHECK(config.backends.size() == 3);
  CHECK(config.listen.cert_file == "/etc/ollama-gateway/tls/server.crt");
}

TEST_CASE("CanonicalModelName is Ollama's shortest display form, lower-cased",
          "[config][model_name]") {
  const auto [name, canonical] = GENERATE(table<std::string, std::string>({
      {"llama3.2", "llama3.2:latest"},
      {"Llama3.2", "llama3.2:latest"},
      {"llama3.2:latest", "llama3.2:latest"},
      {"registry.ollama.ai/library/llama3.2:latest", "llama3.2:latest"},
      {"REGISTRY.OLLAMA.AI/Library/Llama3.2", "llama3.2:latest"},
      {"https://registry.ollama.ai/library/llama3.2", "llama3.2:latest"},
      {"qwen2.5:7B", "qwen2.5:7b"},
      {"library/mistral", "mistral:latest"},
      {"registry.ollama.ai/Library/Mistral:7b-instruct", "mistral:7b-instruct"},
      {"registry.ollama.ai/jmorgan/m:q4", "jmorgan/m:q4"},
      {"team/m", "team/m:latest"},
      {"my.host/ns/model", "my.host/ns/model:latest"},
      {"registry.corp:5000/team/m:tag", "registry.corp:5000/team/m:tag"},
      {"Registry.Corp:5000/Team/M", "registry.corp:5000/team/m:latest"},
      {"http://registry.corp:5000/team/m:tag", "registry.corp:5000/team/m:tag"},
      {"host:https/namespace/model:tag", "host:https/namespace/model:tag"},
      {"dolphin-mistral:7b-v2.6-dpo-laser-q6_K", "dolphin-mistral:7b-v2.6-dpo-laser-q6_k"},
  }));
  INFO(name);
  CHECK(CanonicalModelName(name) == canonical);
}

TEST_CASE("ParseModelName splits a name as Ollama does and fills in its defaults",
          "[config][model_name]") {
  struct Case {
    std::string name, host, name_space, model, tag;
  };
  const Case c = GENERATE(values<Case>({
      {"m", "registry.ollama.ai", "library", "m", "latest"},
      {"ns/m:t", "registry.ollama.ai", "ns", "m", "t"},
      {"h:5000/ns/m", "h:5000", "ns", "m", "latest"},
      {"https://h:5000/ns/m:t", "h:5000", "ns", "m", "t"},
      {"h/nn/mm:t", "h", "nn", "mm", "t"},
      {"_why/_the/_lucky:_stiff", "_why", "_the", "_lucky", "_stiff"},
  }));
  INFO(c.name);
  const absl::StatusOr<ModelName> parsed = ParseModelName(c.name);
  REQUIRE(parsed.ok());
  CHECK(parsed->host == c.host);
  CHECK(parsed->name_space == c.name_space);
  CHECK(parsed->model == c.model);
  CHECK(parsed->tag == c.tag);
}

TEST_CASE("IsValidModelName follows Ollama's name syntax", "[config][model_name]") {
  const std::string p80(80, '8');
  const std::string p350(350, '3');
  const auto [name, valid] = GENERATE_COPY(table<std::string, bool>({
      {"llama3.2", true},
      {"qwen2.5:7b", true},
      {"library/llama3.2:latest", true},
      {"registry.ollama.ai/library/llama3.2:1b-q4_K_M", true},
      {"registry.corp:5000/team/m:tag", true},
      {"host:https/namespace/model:tag", true},
      {"http://h/n/m:t", true},
      {"_m", true},
      {"a", true},
      {p80, true},
      {std::string(81, 'a'), false},
      {p350 + "/" + p80 + "/" + p80 + ":" + p80, true},
      {std::string(351, 'h') + "/n/m", false},
      {"h/" + std::string(81, 'n') + "/m", false},
      {"m:" + std::string(81, 't'), false},
      {"", false},
      {"bad name", false},
      {"-llama", false},
      {".llama", false},
      {"m/-t", false},
      {"m:-t", false},
      {":latest", false},
      {"/llama", false},
      {"//", false},
      {"//mm", false},
      {"hh//", false},
      {"mm:", false},
      {"n/m:", false},
      {"llama:1:2", false},
      {"ns:tag/model", false},
      {"host/name:space/model:tag", false},
      {"ns.dot/m", false},
      {"ns/:tag", false},
      {"ns//llama", false},
      {"ns/llama/", false},
      {"a/b/c/d", false},
      {"ftp://h/n/m", false},
      {"m@sha256:0123", false},
      {"@sha256:0123", false},
      {"llama@sha256", false},
      {"^", false},
  }));
  INFO(name);
  CHECK(IsValidModelName(name) == valid);
}

TEST_CASE("an invalid model name's error names the part at fault", "[config][model_name]") {
  CHECK(ParseModelName("ns.dot/m").status().message() ==
        "the namespace \"ns.dot\" of the model name must be 1 to 80 characters of letters, "
        "digits, '_' and '-', starting with a letter, a digit or '_'");
  CHECK(ParseModelName("m:").status().message() ==
        "the tag of the model name is missing (a separator with nothing beside it)");
  CHECK(ParseModelName("m@sha256:00").status().message() ==
        "a model name cannot carry a digest (name@digest): Ollama addresses models by name and "
        "tag only");
}

TEST_CASE("authorization patterns keep wildcards over canonical names", "[config][model_name]") {
  CHECK(CanonicalModelPattern("Llama3.2") == "llama3.2:latest");
  CHECK(CanonicalModelPattern("registry.ollama.ai/library/llama3.2") == "llama3.2:latest");
  CHECK(CanonicalModelPattern("Qwen2.5:*") == "qwen2.5:*");
  CHECK(CanonicalModelPattern("registry.corp:5000/*") == "registry.corp:5000/*");
  CHECK(IsValidModelPattern("registry.corp:5000/team/*"));
  CHECK(IsValidModelPattern("llama3?"));
  CHECK_FALSE(IsValidModelPattern("llama3 *"));
  CHECK_FALSE(IsValidModelPattern("m:"));
  CHECK(PatternNamesDefaultPrefix("library/*"));
  CHECK(PatternNamesDefaultPrefix("Registry.Ollama.AI/library/llama*"));
  CHECK_FALSE(PatternNamesDefaultPrefix("library/llama3.2"));
  CHECK_FALSE(PatternNamesDefaultPrefix("team/*"));
}

TEST_CASE("ParseDuration accepts Go-style durations and bare milliseconds", "[config]") {
  const auto [text, ms] = GENERATE(table<std::string, long long>({
      {"0", 0},
      {"250", 250},
      {"250ms", 250},
      {"2s", 2000},
      {"1m30s", 90000},
      {"1h", 3600000},
      {"1h2m3s4ms", 3723004},
      {"1.5s", 1500},
      {".5s", 500},
      {"0.25h", 900000},
      {"1.0009s", 1000},
      {"0s", 0},
  }));
  const absl::StatusOr<milliseconds> duration = ParseDuration(text);
  INFO(text << ": " << Message(duration.status()));
  REQUIRE(duration.ok());
  CHECK(duration->count() == ms);
}

TEST_CASE("ParseDuration refuses negatives, garbage and overflow", "[config]") {
  const auto [text, reason] = GENERATE(table<std::string, std::string>({
      {"", "empty"},
      {"-1s", "must not be negative"},
      {"-5", "must not be negative"},
      {"abc", "expected numbers with units (ms, s, m, h), as in 250ms, 2s, 1m30s or 1h"},
      {"+1s", "expected numbers with units (ms, s, m, h), as in 250ms, 2s, 1m30s or 1h"},
      {"1.5", "missing unit after 1.5 (ms, s, m or h)"},
      {"1m30", "missing unit after 30 (ms, s, m or h)"},
      {"5d", "unknown unit \"d\" (valid: ms, s, m, h)"},
      {"10us", "unknown unit \"us\" (valid: ms, s, m, h)"},
      {"1 s", "unknown unit \" s\" (valid: ms, s, m, h)"},
      {"99999999999999999999", "too large"},
      {"9999999999999999h", "too large"},
      {"99999999999999999999ms", "too large"},
  }));
  const absl::StatusOr<milliseconds> duration = ParseDuration(text);
  REQUIRE_FALSE(duration.ok());
  CHECK(duration.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Message(duration.status()) == "invalid duration \"" + text + "\": " + reason);
}

TEST_CASE("ValidateListenAddress accepts host:port and bracketed IPv6 with port 0..65535",
          "[config]") {
  for (const char* address : {"0.0.0.0:50051", "127.0.0.1:0", "localhost:65535", "[::]:9090",
                              "[::1]:1", "gateway.internal:443"}) {
    INFO(address);
    CHECK(ValidateListenAddress(address).ok());
  }
}

TEST_CASE("ValidateListenAddress names what is wrong", "[config]") {
  const auto [address, reason] = GENERATE(table<std::string, std::string>({
      {"localhost", "missing port (expected host:port or [ipv6]:port)"},
      {":50051", "missing host (0.0.0.0 listens on every IPv4 address)"},
      {"::1:50051", "an IPv6 host must be in brackets, as in [::1]:50051"},
      {"[::1:50051", "missing ']' after the IPv6 address"},
      {"[::1]", "missing port (expected host:port or [ipv6]:port)"},
      {"h:-1", "port must be an integer from 0 to 65535, got \"-1\""},
      {"h:65536", "port must be an integer from 0 to 65535, got \"65536\""},
      {"h:", "port must be an integer from 0 to 65535, got \"\""},
      {"300.1.1.1:80", "invalid IPv4 address \"300.1.1.1\""},
  }));
  CHECK(Message(ValidateListenAddress(address)) ==
        "invalid address \"" + address + "\": " + reason);
}

}  // namespace
}  // namespace og

namespace og {
namespace {

TEST_CASE("drain_timeout defaults to 30 s and takes a duration", "[config]") {
  const std::string base = "listen: {address: \"127.0.0.1:0\", insecure: true";
  const std::string backends = "}\nbackends:\n  - {name: a, url: \"http://h:1\"}\n";
  auto config = ParseConfig(base + backends, "test.yaml");
  REQUIRE(config.ok());
  CHECK(config->listen.drain_timeout == std::chrono::seconds(30));
  config = ParseConfig(base + ", drain_timeout: 2500ms" + backends, "test.yaml");
  REQUIRE(config.ok());
  CHECK(config->listen.drain_timeout == std::chrono::milliseconds(2500));
  config = ParseConfig(base + ", drain_timeout: soon" + backends, "test.yaml");
  REQUIRE_FALSE(config.ok());
  CHECK(std::string(config.status().message()).find("test.yaml:1: listen.drain_timeout: ") == 0);
}

}  // namespace
}  // namespace og

namespace og {
namespace {

// Found by fuzz/config_fuzzer. A lone "," made Debian's yaml-cpp LoadAll produce documents until
// memory ran out; names and parser messages with control characters split an error line.
TEST_CASE("inputs the config fuzzer found are refused with one line per error", "[config]") {
  CHECK(testing::ErrorsOf(",") ==
        "test.yaml:1: the configuration is empty; it needs at least a backends list");
  CHECK(
      testing::ErrorsOf("listen: {insecure: true}\n\"a\\nb\": 1\nbackends:\n  - name: a\n"
                        "    url: http://127.0.0.1:1\n") ==
      "test.yaml:2: unknown field '\"a\\nb\"' at top level (valid: listen, admin, http, balancer, "
      "upstream, admission, backends, health, outlier_detection, logging, auth, "
      "authorization, rate_limits, limits, redaction, workers, fleet, rollouts)");
  CHECK(testing::ErrorsOf(std::string("\xff\0\n", 3)) ==
        "test.yaml:2: \"unknown escape character: \\n\"");
}

TEST_CASE("the http front door is off without its section and checked with it", "[config]") {
  CHECK_FALSE(testing::Valid(testing::With("")).http.enabled);
  const Config on =
      testing::Valid(testing::With("http: {address: \"127.0.0.1:8080\", "
                                   "insecure: true, threads: 4}\n"));
  CHECK(on.http.enabled);
  CHECK(on.http.address == "127.0.0.1:8080");
  CHECK(on.http.insecure);
  CHECK(on.http.threads == 4);
  CHECK_FALSE(testing::Valid(testing::With("http: {enabled: false}\n")).http.enabled);
  // TLS on the front door uses listen's certificate, which an insecure listen does not have.
  CHECK(ErrorsOf(testing::With("http:\n  address: \"127.0.0.1:8080\"\n")) ==
        "test.yaml:9: http: TLS uses listen's cert and key, but listen is insecure; give "
        "listen a cert and key, or set http.insecure: true to serve plaintext");
  CHECK(ErrorsOf(testing::With("admin: {address: \"127.0.0.1:9090\"}\n"
                               "http: {address: \"0.0.0.0:9090\", insecure: true}\n")) ==
        "test.yaml:10: http.address: same port as admin.address \"127.0.0.1:9090\"");
  CHECK(ErrorsOf(testing::With("http: {insecure: true, thread: 2}\n")) ==
        "test.yaml:9: unknown field 'thread' in http (valid: address, enabled, insecure, "
        "threads, header_timeout, body_timeout, write_timeout, keepalive_timeout, "
        "max_connections, allowed_origins, allowed_hosts); did you mean 'threads'?");
}

TEST_CASE("the http front door's connection limits and browser safety are read and checked",
          "[config]") {
  const Config config = testing::Valid(
      testing::With("http:\n  insecure: true\n  header_timeout: 5s\n  body_timeout: 7s\n"
                    "  write_timeout: 9s\n  keepalive_timeout: 11s\n  max_connections: 50\n"
                    "  allowed_origins: [\"https://app.example.com\", \"https://*.corp.example\"]\n"
                    "  allowed_hosts: [gateway.example]\n"
                    "limits:\n  max_json_depth: 32\n"));
  CHECK(config.http.header_timeout == std::chrono::seconds(5));
  CHECK(config.http.body_timeout == std::chrono::seconds(7));
  CHECK(config.http.write_timeout == std::chrono::seconds(9));
  CHECK(config.http.keepalive_timeout == std::chrono::seconds(11));
  CHECK(config.http.max_connections == 50);
  CHECK(config.http.allowed_origins ==
        std::vector<std::string>{"https://app.example.com", "https://*.corp.example"});
  CHECK(config.http.allowed_hosts == std::vector<std::string>{"gateway.example"});
  CHECK(config.limits.max_json_depth == 32);
  const Config defaults = testing::Valid(testing::With("http: {insecure: true}\n"));
  CHECK(defaults.http.header_timeout == std::chrono::seconds(60));
  CHECK(defaults.http.keepalive_timeout == std::chrono::seconds(75));
  CHECK(defaults.http.max_connections == 10000);
  CHECK(defaults.limits.max_json_depth == 64);
  CHECK(ErrorsOf(testing::With("http: {insecure: true, allowed_origins: [\"not an origin\"]}\n"))
            .starts_with("test.yaml:9: http.allowed_origins[0]: must be an origin"));
  CHECK(ErrorsOf(testing::With("limits: {max_json_depth: 5000}\n")) ==
        "test.yaml:9: limits.max_json_depth: must be an integer from 1 to 1024, got \"5000\"");
  CHECK(ErrorsOf(testing::With("http: {insecure: true, write_timeout: 0s}\n")) ==
        "test.yaml:9: http.write_timeout: must be longer than 0, got \"0s\"");
}

}  // namespace
}  // namespace og

namespace og {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

TEST_CASE("the listen section's HTTP/2 limits have nginx-like defaults", "[config]") {
  const ListenConfig listen = testing::Valid(testing::With("")).listen;
  CHECK(listen.max_concurrent_streams == 100);
  CHECK(listen.keepalive_min_ping_interval == minutes(5));
  CHECK(listen.keepalive_max_ping_strikes == 2);
  CHECK_FALSE(listen.keepalive_permit_without_calls);
  CHECK(listen.keepalive_time == minutes(1));
  CHECK(listen.keepalive_timeout == seconds(20));
  CHECK(listen.max_connection_idle == minutes(5));
  CHECK(listen.max_connection_age == milliseconds(0));
  CHECK(listen.max_connection_age_grace == minutes(10));
  CHECK(listen.write_timeout == seconds(60));
}

// The two backends of config_testing.h under a listen section of the test's own.
std::string WithListen(std::string_view keys) {
  return "listen:\n  address: \"127.0.0.1:0\"\n  insecure: true\n" + std::string(keys) +
         "backends:\n  - {name: a, url: \"http://h:1\"}\n";
}

TEST_CASE("the listen section's HTTP/2 limits take the values written", "[config]") {
  const ListenConfig listen = testing::Valid(WithListen("  max_concurrent_streams: 8\n"
                                                        "  keepalive_min_ping_interval: 30s\n"
                                                        "  keepalive_max_ping_strikes: 0\n"
                                                        "  keepalive_permit_without_calls: true\n"
                                                        "  keepalive_time: 0\n"
                                                        "  keepalive_timeout: 5s\n"
                                                        "  max_connection_idle: 0\n"
                                                        "  max_connection_age: 30m\n"
                                                        "  max_connection_age_grace: 1h\n"
                                                        "  write_timeout: 1500ms\n"))
                                  .listen;
  CHECK(listen.max_concurrent_streams == 8);
  CHECK(listen.keepalive_min_ping_interval == seconds(30));
  CHECK(listen.keepalive_max_ping_strikes == 0);
  CHECK(listen.keepalive_permit_without_calls);
  CHECK(listen.keepalive_time == milliseconds(0));
  CHECK(listen.keepalive_timeout == seconds(5));
  CHECK(listen.max_connection_idle == milliseconds(0));
  CHECK(listen.max_connection_age == minutes(30));
  CHECK(listen.max_connection_age_grace == minutes(60));
  CHECK(listen.write_timeout == milliseconds(1500));
  CHECK(testing::Valid(WithListen("  write_timeout: 0\n")).listen.write_timeout == milliseconds(0));
}

TEST_CASE("out-of-range HTTP/2 limits are refused at their line", "[config]") {
  CHECK(testing::ErrorsOf(WithListen("  max_concurrent_streams: 0\n")) ==
        "test.yaml:4: listen.max_concurrent_streams: must be an integer from 1 to 100000, got "
        "\"0\"");
  CHECK(testing::ErrorsOf(WithListen("  keepalive_max_ping_strikes: -1\n")) ==
        "test.yaml:4: listen.keepalive_max_ping_strikes: must be an integer from 0 to 1000, got "
        "\"-1\"");
  CHECK(testing::ErrorsOf(WithListen("  keepalive_permit_without_calls: yes\n")) ==
        "test.yaml:4: listen.keepalive_permit_without_calls: must be true or false, got \"yes\"");
  CHECK(testing::ErrorsOf(WithListen("  keepalive_min_ping_interval: 0\n")) ==
        "test.yaml:4: listen.keepalive_min_ping_interval: must be longer than 0, got \"0\"");
  CHECK(testing::ErrorsOf(WithListen("  keepalive_timeout: 0s\n")) ==
        "test.yaml:4: listen.keepalive_timeout: must be longer than 0, got \"0s\"");
  CHECK(testing::ErrorsOf(WithListen("  max_connection_age: 600h\n")) ==
        "test.yaml:4: listen.max_connection_age: must be at most 596h, got \"600h\"");
  CHECK(testing::ErrorsOf(WithListen("  max_connection_idle: soon\n"))
            .starts_with("test.yaml:4: listen.max_connection_idle: "));
  CHECK(testing::ErrorsOf(WithListen("  keepalive_time: [1s]\n")) ==
        "test.yaml:4: listen.keepalive_time: must be a duration such as 250ms, 2s or 1m30s, got "
        "a list");
  CHECK(testing::ErrorsOf(WithListen("  max_connection_age_grace: -1s\n"))
            .starts_with("test.yaml:4: listen.max_connection_age_grace: "));
  CHECK(testing::ErrorsOf(WithListen("  write_timeout: 1\n  write_timeout: 2\n")) ==
        "test.yaml:5: listen.write_timeout: duplicate field (first at line 4)");
}

constexpr std::string_view kAdminHash =
    "sha256:00112233445566778899aabbccddeeff:"
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

TEST_CASE("admin.api_key_hash is off by default and takes a salted hash", "[config]") {
  CHECK(testing::Valid(testing::With("")).admin.api_key_hash.empty());
  const Config config = testing::Valid(
      testing::With("admin:\n  api_key_hash: \"" + std::string(kAdminHash) + "\"\n"));
  CHECK(config.admin.api_key_hash == kAdminHash);
}

TEST_CASE("a malformed admin.api_key_hash is refused at its line without echoing it", "[config]") {
  const std::string errors =
      testing::ErrorsOf(testing::With("admin:\n  address: \"127.0.0.1:9090\"\n"
                                      "  api_key_hash: \"sha256:secretsalt:secretdigest\"\n"));
  CHECK(errors.starts_with("test.yaml:11: admin.api_key_hash: "));
  CHECK(errors.ends_with("(make one with `ollama-gateway hash-key --generate`)"));
  CHECK(errors.find("secret") == std::string::npos);
  CHECK(testing::ErrorsOf(testing::With("admin: {api_key_hash: \"\"}\n")) ==
        "test.yaml:9: admin.api_key_hash: must be a non-empty string, got \"\"");
}

}  // namespace
}  // namespace og
