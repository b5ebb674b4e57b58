// gateway-bench: an asynchronous gRPC load generator for the gateway's ModelInference service.
// Flags, output schema and how it measures: bench/README.md ("gateway-bench: the load generator").
//
// Exit status: 0 when every measured call succeeded, 1 when some failed (the report says which
// status codes), 2 for bad flags or unreadable certificate files.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "bench/gateway-bench/driver.h"
#include "bench/gateway-bench/flags.h"
#include "bench/gateway-bench/report.h"

namespace {

int UsageError(const std::string& message) {
  std::fprintf(stderr, "gateway-bench: %s\n\n%s", message.c_str(), og::bench::Usage().c_str());
  return 2;
}

bool WriteJson(const std::string& path, const std::string& text) {
  if (path == "-") {
    std::fputs(text.c_str(), stdout);
    return true;
  }
  std::ofstream out(path);
  out << text;
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = og::bench::ParseFlags(std::vector<std::string>(argv + 1, argv + argc));
  if (!parsed.ok()) return UsageError(std::string(parsed.status().message()));
  const og::bench::BenchOptions& options = *parsed;
  if (options.help) {
    std::fputs(og::bench::Usage().c_str(), stdout);
    return 0;
  }
  auto channels = og::bench::MakeChannels(options);
  if (!channels.ok()) return UsageError(std::string(channels.status().message()));

  const og::bench::RunResult result = og::bench::RunLoad(options, *channels);

  // With --json - stdout carries only the JSON, so the text goes to stderr.
  std::FILE* text_out = options.json_path == "-" ? stderr : stdout;
  std::fputs(og::bench::ReportText(options, result).c_str(), text_out);
  if (!options.json_path.empty() &&
      !WriteJson(options.json_path, og::bench::ReportJson(options, result).dump(2) + "\n")) {
    std::fprintf(stderr, "gateway-bench: cannot write %s\n", options.json_path.c_str());
    return 2;
  }
  return result.ErrorCount() == 0 ? 0 : 1;
}
