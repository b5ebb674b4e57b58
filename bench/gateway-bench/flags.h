// Command-line flags of gateway-bench (`--flag value`); bench/README.md documents each one.
#ifndef OLLAMA_GATEWAY_BENCH_GATEWAY_BENCH_FLAGS_H_
#define OLLAMA_GATEWAY_BENCH_GATEWAY_BENCH_FLAGS_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/gateway-bench/schedule.h"

namespace og::bench {

enum class Rpc { kPredict, kStream };

// Everything a run is configured with. Closed loop when `rate` is unset, open loop otherwise.
struct BenchOptions {
  std::string target;  // host:port, required
  Rpc rpc = Rpc::kPredict;

  // Transport: TLS unless `insecure`; empty paths use gRPC's default roots / no client cert.
  bool insecure = false;
  std::string cacert;
  std::string cert;
  std::string key;
  std::string server_name;
  std::string api_key;  // sent as `authorization: Bearer KEY` when not empty

  // Request content.
  std::string model = "llama3.2";
  std::string prompt = "Why is the sky blue?";
  std::optional<int> num_predict;
  int hash_key_cardinality = 0;  // 0: no hash_key

  // Load model.
  int concurrency = 1;         // closed loop: calls always outstanding
  std::optional<double> rate;  // open loop: arrivals per second
  Arrivals arrivals = Arrivals::kPoisson;
  int max_outstanding = 10'000;  // open loop: arrivals beyond this many in flight are dropped

  // Length: `requests` (measured calls) when set, else `duration` of the measured window.
  std::chrono::nanoseconds duration = std::chrono::seconds(10);
  std::optional<std::int64_t> requests;
  std::chrono::nanoseconds warmup{0};
  std::chrono::nanoseconds timeout = std::chrono::seconds(30);
  int connections = 1;
  std::uint64_t seed = 1;

  std::string json_path;  // "-" for stdout; empty: no JSON
  bool help = false;
};

// Parses a duration: a number with a unit ("500ms", "2s", "1.5m", "100us", "1h") or a bare
// number of seconds ("10"). Fails with InvalidArgument for anything else or a negative value.
absl::StatusOr<std::chrono::nanoseconds> ParseDuration(std::string_view text);

// Parses argv[1..]. Fails with InvalidArgument naming the flag for an unknown flag, a missing
// value, a value out of range or flags that contradict each other (--rate with --concurrency,
// --insecure with --cacert, --cert without --key, --duration with --requests). A missing
// --target is an error unless --help is given.
absl::StatusOr<BenchOptions> ParseFlags(const std::vector<std::string>& args);

// The --help text.
std::string Usage();

}  // namespace og::bench

#endif  // OLLAMA_GATEWAY_BENCH_GATEWAY_BENCH_FLAGS_H_
