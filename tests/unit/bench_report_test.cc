// The report of gateway-bench as JSON and text (bench/gateway-bench/report.h).
#include <catch2/catch.hpp>

#include "bench/gateway-bench/report.h"

namespace {

using og::bench::BenchOptions;
using og::bench::ReportJson;
using og::bench::ReportText;
using og::bench::Rpc;
using og::bench::RunResult;

RunResult SampleResult() {
  RunResult r;
  r.duration_s = 2.0;
  r.ok = 100;
  r.errors = {{"UNAVAILABLE", 3}, {"DEADLINE_EXCEEDED", 1}};
  r.dropped = 2;
  r.latency_us = {100, 1500.0, 1000, 2000, 4000, 5000, 6000};
  return r;
}

TEST_CASE("status codes are named as gRPC names them", "[bench]") {
  CHECK(og::bench::StatusCodeName(0) == "OK");
  CHECK(og::bench::StatusCodeName(4) == "DEADLINE_EXCEEDED");
  CHECK(og::bench::StatusCodeName(14) == "UNAVAILABLE");
  CHECK(og::bench::StatusCodeName(16) == "UNAUTHENTICATED");
  CHECK(og::bench::StatusCodeName(17) == "CODE_17");
}

TEST_CASE("a closed-loop unary report has every schema field, stream fields null", "[bench]") {
  BenchOptions o;
  o.target = "127.0.0.1:1";
  o.concurrency = 8;
  const auto j = ReportJson(o, SampleResult());
  CHECK(j["schema"] == "gateway-bench/v1");
  CHECK(j["rpc"] == "predict");
  CHECK(j["load"] == "closed");
  CHECK(j["concurrency"] == 8);
  CHECK(j["offered_rps"].is_null());
  CHECK(j["requests"] == 104);
  CHECK(j["ok"] == 100);
  CHECK(j["errors"]["UNAVAILABLE"] == 3);
  CHECK(j["errors"]["DEADLINE_EXCEEDED"] == 1);
  CHECK(j["dropped"] == 2);
  CHECK(j["rps"] == 50.0);
  CHECK(j["duration_s"] == 2.0);
  CHECK(j["latency_us"]["p50"] == 1000);
  CHECK(j["latency_us"]["p999"] == 5000);
  CHECK(j["latency_us"]["max"] == 6000);
  CHECK(j["ttft_us"].is_null());
  CHECK(j["messages_per_s"].is_null());
}

TEST_CASE("an open-loop stream report has offered rate, ttft and messages", "[bench]") {
  BenchOptions o;
  o.target = "127.0.0.1:1";
  o.rpc = Rpc::kStream;
  o.rate = 40;
  RunResult r = SampleResult();
  r.errors.clear();
  r.ttft_us = og::bench::PercentileSummary{100, 300.0, 200, 400, 800, 900, 950};
  r.messages = 900;
  const auto j = ReportJson(o, r);
  CHECK(j["load"] == "open");
  CHECK(j["concurrency"].is_null());
  CHECK(j["offered_rps"] == 40.0);
  CHECK(j["arrivals"] == "poisson");
  CHECK(j["errors"].is_object());
  CHECK(j["errors"].empty());
  CHECK(j["ttft_us"]["p99"] == 800);
  CHECK(j["messages"] == 900);
  CHECK(j["messages_per_s"] == 450.0);
}

TEST_CASE("the text report names errors by code and percentiles in milliseconds", "[bench]") {
  BenchOptions o;
  o.target = "gw:443";
  const std::string text = ReportText(o, SampleResult());
  CHECK_THAT(text, Catch::Contains("errors        UNAVAILABLE 3"));
  CHECK_THAT(text, Catch::Contains("p50 1.000  p90 2.000  p99 4.000  p99.9 5.000  max 6.000"));
  CHECK_THAT(text, Catch::Contains("50.0 ok calls/s"));
  CHECK_THAT(text, Catch::Contains("(TLS)"));
}

}  // namespace
