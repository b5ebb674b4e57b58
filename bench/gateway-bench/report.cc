#include "bench/gateway-bench/report.h"

#include <fmt/format.h>

#include <string_view>

#include "absl/status/status.h"

namespace og::bench {
namespace {

nlohmann::json SummaryJson(const PercentileSummary& s) {
  return {{"count", s.count}, {"mean", s.mean}, {"p50", s.p50}, {"p90", s.p90},
          {"p99", s.p99},     {"p999", s.p999}, {"max", s.max}};
}

std::string SummaryLine(std::string_view name, const PercentileSummary& s) {
  constexpr double kMs = 1e3;
  return fmt::format("{:<14}p50 {:.3f}  p90 {:.3f}  p99 {:.3f}  p99.9 {:.3f}  max {:.3f}  (n={})\n",
                     name, s.p50 / kMs, s.p90 / kMs, s.p99 / kMs, s.p999 / kMs, s.max / kMs,
                     s.count);
}

const char* RpcName(Rpc rpc) { return rpc == Rpc::kPredict ? "predict" : "stream"; }

const char* ArrivalsName(Arrivals a) { return a == Arrivals::kPoisson ? "poisson" : "uniform"; }

}  // namespace

std::uint64_t RunResult::ErrorCount() const {
  std::uint64_t n = 0;
  for (const auto& [code, count] : errors) n += count;
  return n;
}

double RunResult::Rps() const { return duration_s > 0 ? static_cast<double>(ok) / duration_s : 0; }

std::string StatusCodeName(int code) {
  // gRPC's codes are absl's, number for number.
  const std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return name.empty() ? fmt::format("CODE_{}", code) : name;
}

nlohmann::json ReportJson(const BenchOptions& options, const RunResult& result) {
  const bool open = options.rate.has_value();
  const bool stream = options.rpc == Rpc::kStream;
  nlohmann::json j = {
      {"schema", "gateway-bench/v1"},
      {"target", options.target},
      {"rpc", RpcName(options.rpc)},
      {"load", open ? "open" : "closed"},
      {"concurrency", open ? nlohmann::json(nullptr) : nlohmann::json(options.concurrency)},
      {"offered_rps", open ? nlohmann::json(*options.rate) : nlohmann::json(nullptr)},
      {"arrivals", open ? nlohmann::json(ArrivalsName(options.arrivals)) : nlohmann::json(nullptr)},
      {"max_outstanding", open ? nlohmann::json(options.max_outstanding) : nlohmann::json(nullptr)},
      {"connections", options.connections},
      {"warmup_s", std::chrono::duration<double>(options.warmup).count()},
      {"duration_s", result.duration_s},
      {"requests", result.ok + result.ErrorCount()},
      {"ok", result.ok},
      {"errors", result.errors},
      {"dropped", result.dropped},
      {"rps", result.Rps()},
      {"latency_us", SummaryJson(result.latency_us)},
      {"ttft_us", nullptr},
      {"messages", nullptr},
      {"messages_per_s", nullptr},
  };
  if (j["errors"].is_null()) j["errors"] = nlohmann::json::object();
  if (stream) {
    j["ttft_us"] = SummaryJson(result.ttft_us.value_or(PercentileSummary{}));
    j["messages"] = result.messages;
    j["messages_per_s"] =
        result.duration_s > 0 ? static_cast<double>(result.messages) / result.duration_s : 0.0;
  }
  return j;
}

std::string ReportText(const BenchOptions& options, const RunResult& result) {
  std::string load =
      options.rate
          ? fmt::format("open loop, {:g} calls/s offered ({} arrivals, max {} outstanding)",
                        *options.rate, ArrivalsName(options.arrivals), options.max_outstanding)
          : fmt::format("closed loop, concurrency {}", options.concurrency);
  std::string out = fmt::format("gateway-bench: {} -> {} ({}), {}, {} connection(s)\n",
                                RpcName(options.rpc), options.target,
                                options.insecure ? "plaintext" : "TLS", load, options.connections);
  out += fmt::format("{:<14}{:.3f} s measured after {:.3f} s warm-up\n", "window",
                     result.duration_s, std::chrono::duration<double>(options.warmup).count());
  out +=
      fmt::format("{:<14}{} ({} ok, {} failed, {} dropped)\n", "requests",
                  result.ok + result.ErrorCount(), result.ok, result.ErrorCount(), result.dropped);
  out += fmt::format("{:<14}{:.1f} ok calls/s\n", "rps", result.Rps());
  for (const auto& [code, count] : result.errors) {
    out += fmt::format("{:<14}{} {}\n", "errors", code, count);
  }
  out += SummaryLine("latency ms", result.latency_us);
  if (options.rpc == Rpc::kStream) {
    out += SummaryLine("ttft ms", result.ttft_us.value_or(PercentileSummary{}));
    const double per_s =
        result.duration_s > 0 ? static_cast<double>(result.messages) / result.duration_s : 0.0;
    out += fmt::format("{:<14}{} ({:.1f}/s)\n", "messages", result.messages, per_s);
  }
  if (options.rate) {
    out +=
        "latency is measured from each call's intended send time (coordinated omission "
        "corrected)\n";
  }
  return out;
}

}  // namespace og::bench
