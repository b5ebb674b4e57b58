// What a run measured, and its two renderings: a text report and a JSON object whose schema
// bench/README.md documents ("gateway-bench/v1"; fields carry their unit in their name).
#ifndef OLLAMA_GATEWAY_BENCH_GATEWAY_BENCH_REPORT_H_
#define OLLAMA_GATEWAY_BENCH_GATEWAY_BENCH_REPORT_H_

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "bench/gateway-bench/flags.h"
#include "bench/gateway-bench/histogram.h"

namespace og::bench {

// The measured outcome of a run: only calls whose intended start fell in the measured window
// (after the warm-up) count.
struct RunResult {
  double duration_s = 0;  // from the end of warm-up to the completion of the last measured call
  std::uint64_t ok = 0;
  std::map<std::string, std::uint64_t> errors;  // gRPC status code name -> calls
  std::uint64_t dropped = 0;                    // open loop: arrivals over --max-outstanding
  PercentileSummary latency_us;                 // OK calls only
  // Streams only: time to first message of calls that received one, and messages received.
  std::optional<PercentileSummary> ttft_us;
  std::uint64_t messages = 0;

  std::uint64_t ErrorCount() const;
  // Completed OK calls per second of the measured window (0 for an empty window).
  double Rps() const;
};

// The report as a JSON object (schema "gateway-bench/v1").
nlohmann::json ReportJson(const BenchOptions& options, const RunResult& result);

// The report as text for a terminal.
std::string ReportText(const BenchOptions& options, const RunResult& result);

// "OK", "CANCELLED", ... "UNAUTHENTICATED" for gRPC's codes 0..16; "CODE_<n>" otherwise.
std::string StatusCodeName(int code);

}  // namespace og::bench

#endif  // OLLAMA_GATEWAY_BENCH_GATEWAY_BENCH_REPORT_H_
