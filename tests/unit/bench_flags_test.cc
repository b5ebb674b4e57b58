// Command-line flags of gateway-bench (bench/gateway-bench/flags.h).
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "bench/gateway-bench/flags.h"

namespace {

using namespace std::chrono_literals;
using og::bench::Arrivals;
using og::bench::ParseDuration;
using og::bench::ParseFlags;
using og::bench::Rpc;

std::string Error(const std::vector<std::string>& args) {
  const auto parsed = ParseFlags(args);
  return parsed.ok() ? "ok" : std::string(parsed.status().message());
}

TEST_CASE("a target alone gives the documented defaults", "[bench]") {
  const auto o = ParseFlags({"--target", "localhost:50051"});
  REQUIRE(o.ok());
  CHECK(o->target == "localhost:50051");
  CHECK(o->rpc == Rpc::kPredict);
  CHECK_FALSE(o->insecure);
  CHECK(o->model == "llama3.2");
  CHECK_FALSE(o->num_predict.has_value());
  CHECK(o->hash_key_cardinality == 0);
  CHECK(o->concurrency == 1);
  CHECK_FALSE(o->rate.has_value());
  CHECK(o->arrivals == Arrivals::kPoisson);
  CHECK(o->max_outstanding == 10000);
  CHECK(o->duration == 10s);
  CHECK_FALSE(o->requests.has_value());
  CHECK(o->warmup == 0s);
  CHECK(o->timeout == 30s);
  CHECK(o->connections == 1);
  CHECK(o->json_path.empty());
}

TEST_CASE("every gateway-bench flag takes its value", "[bench]") {
  const auto o = ParseFlags({"--target",
                             "h:1",
                             "--rpc",
                             "stream",
                             "--cacert",
                             "ca.pem",
                             "--cert",
                             "c.pem",
                             "--key",
                             "k.pem",
                             "--server-name",
                             "gw.test",
                             "--api-key",
                             "s3cret",
                             "--model",
                             "qwen2.5:7b",
                             "--prompt",
                             "hi",
                             "--num-predict",
                             "32",
                             "--hash-key-cardinality",
                             "8",
                             "--rate",
                             "250.5",
                             "--arrivals",
                             "uniform",
                             "--max-outstanding",
                             "64",
                             "--requests",
                             "1000",
                             "--warmup",
                             "1.5s",
                             "--timeout",
                             "750ms",
                             "--connections",
                             "4",
                             "--seed",
                             "9",
                             "--json",
                             "-"});
  REQUIRE(o.ok());
  CHECK(o->rpc == Rpc::kStream);
  CHECK(o->cacert == "ca.pem");
  CHECK(o->cert == "c.pem");
  CHECK(o->key == "k.pem");
  CHECK(o->server_name == "gw.test");
  CHECK(o->api_key == "s3cret");
  CHECK(o->model == "qwen2.5:7b");
  CHECK(o->prompt == "hi");
  CHECK(o->num_predict == 32);
  CHECK(o->hash_key_cardinality == 8);
  CHECK(o->rate == 250.5);
  CHECK(o->arrivals == Arrivals::kUniform);
  CHECK(o->max_outstanding == 64);
  CHECK(o->requests == 1000);
  CHECK(o->warmup == 1500ms);
  CHECK(o->timeout == 750ms);
  CHECK(o->connections == 4);
  CHECK(o->seed == 9);
  CHECK(o->json_path == "-");
}

TEST_CASE("durations take units or bare seconds", "[bench]") {
  CHECK(*ParseDuration("10") == 10s);
  CHECK(*ParseDuration("2s") == 2s);
  CHECK(*ParseDuration("500ms") == 500ms);
  CHECK(*ParseDuration("250us") == 250us);
  CHECK(*ParseDuration("1.5m") == 90s);
  CHECK(*ParseDuration("1h") == 3600s);
  CHECK(*ParseDuration("0") == 0s);
  CHECK(ParseDuration("ten").status().message() ==
        "not a duration (a number with ns, us, ms, s, m or h, or bare seconds)");
  CHECK_FALSE(ParseDuration("5x").ok());
  CHECK_FALSE(ParseDuration("s").ok());
  CHECK(ParseDuration("-1s").status().message() == "must not be negative");
}

TEST_CASE("a missing target is an error unless help is asked for", "[bench]") {
  CHECK(Error({}) == "--target is required");
  CHECK(Error({"--help"}) == "ok");
}

TEST_CASE("an unknown flag or a missing value is an error naming it", "[bench]") {
  CHECK(Error({"--target", "h:1", "--bogus", "1"}) == "unknown flag '--bogus'");
  CHECK(Error({"--target"}) == "flag --target needs a value");
}

TEST_CASE("bad values are errors naming the flag and the value", "[bench]") {
  CHECK(Error({"--target", "h:1", "--rpc", "bidi"}) ==
        "invalid value 'bidi' for --rpc: must be predict or stream");
  CHECK(Error({"--target", "h:1", "--concurrency", "0"}) ==
        "invalid value '0' for --concurrency: must be between 1 and 1000000");
  CHECK(Error({"--target", "h:1", "--rate", "-5"}) ==
        "invalid value '-5' for --rate: must be a number of calls per second in (0, 1e7]");
  CHECK(Error({"--target", "h:1", "--duration", "0s"}) ==
        "invalid value '0s' for --duration: must be positive");
  CHECK(Error({"--target", "h:1", "--timeout", "soon"}) ==
        "invalid value 'soon' for --timeout: not a duration (a number with ns, us, ms, s, m or h, "
        "or bare seconds)");
  CHECK(Error({"--target", "h:1", "--arrivals", "bursty", "--rate", "1"}) ==
        "invalid value 'bursty' for --arrivals: must be poisson or uniform");
  CHECK(Error({"--target", "h:1", "--connections", "x"}) ==
        "invalid value 'x' for --connections: not an integer");
}

TEST_CASE("flags that contradict each other are errors", "[bench]") {
  CHECK(Error({"--target", "h:1", "--rate", "10", "--concurrency", "4"}) ==
        "--rate (open loop) and --concurrency (closed loop) exclude each other");
  CHECK(Error({"--target", "h:1", "--max-outstanding", "4"}) ==
        "--max-outstanding needs --rate (open loop)");
  CHECK(Error({"--target", "h:1", "--arrivals", "uniform"}) ==
        "--arrivals needs --rate (open loop)");
  CHECK(Error({"--target", "h:1", "--duration", "1s", "--requests", "5"}) ==
        "--duration and --requests exclude each other");
  CHECK(Error({"--target", "h:1", "--insecure", "--cacert", "ca.pem"}) ==
        "--insecure (plaintext) excludes --cacert, --cert, --key and --server-name");
  CHECK(Error({"--target", "h:1", "--cert", "c.pem"}) ==
        "--cert and --key go together (mutual TLS)");
}

}  // namespace
