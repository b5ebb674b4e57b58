// The load driver: issues ModelInference calls with gRPC's callback API (no thread per call) in
// a closed or an open loop and measures them into a RunResult.
#ifndef OLLAMA_GATEWAY_BENCH_GATEWAY_BENCH_DRIVER_H_
#define OLLAMA_GATEWAY_BENCH_GATEWAY_BENCH_DRIVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/gateway-bench/flags.h"
#include "bench/gateway-bench/report.h"

namespace og::bench {

// One channel per --connections, each with its own subchannel pool and a distinct channel
// argument so that gRPC opens one TCP (or TLS) connection per channel rather than sharing one.
// Fails naming the file when a certificate or key cannot be read.
absl::StatusOr<std::vector<std::shared_ptr<grpc::Channel>>> MakeChannels(
    const BenchOptions& options);

// Runs the load `options` describes over `channels` (round robin, one call at a time each) and
// returns what was measured. Blocks until every call it started has finished; every call has a
// deadline of --timeout, so it returns within roughly warm-up + duration + timeout.
RunResult RunLoad(const BenchOptions& options,
                  const std::vector<std::shared_ptr<grpc::Channel>>& channels);

}  // namespace og::bench

#endif  // OLLAMA_GATEWAY_BENCH_GATEWAY_BENCH_DRIVER_H_
