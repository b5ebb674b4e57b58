#include "tools/ollama-sim/flags.h"

#include <limits>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/flags.h"
#include "tools/ollama-sim/models.h"

namespace og::sim {
namespace {

// --keep-alive's value, read as Ollama reads OLLAMA_KEEP_ALIVE: a bare integer of seconds or a Go
// duration; negative means forever.
struct KeepAlive {
  std::chrono::nanoseconds duration{0};
};

bool AbslParseFlag(absl::string_view text, KeepAlive* out, std::string* error) {
  if (std::int64_t seconds = 0; absl::ParseFlag(text, &seconds, error)) {
    out->duration = std::chrono::seconds(seconds);
    return true;
  }
  auto duration = ParseGoDuration(StdView(text));
  if (!duration.ok()) {
    *error = std::string(duration.status().message());
    return false;
  }
  out->duration = *duration;
  return true;
}

// --models: names split at commas by Abseil, blanks around them dropped, each a valid model name,
// at least one.
FlagParser::Setter<std::vector<std::string>> StoreModels(std::vector<std::string>* out) {
  return [out](std::vector<std::string> names) {
    std::vector<std::string> models;
    for (std::string& name : names) {
      absl::StripAsciiWhitespace(&name);
      if (name.empty()) continue;
      if (auto parsed = ParseModelName(name); !parsed.ok()) {
        return std::string(parsed.status().message());
      }
      models.push_back(std::move(name));
    }
    if (models.empty()) return std::string("needs at least one model");
    *out = std::move(models);
    return std::string();
  };
}

// --model-sizes: NAME=BYTES entries, each a valid model name and at least kMinModelSize bytes.
FlagParser::Setter<std::vector<std::string>> StoreModelSizes(
    std::vector<std::pair<std::string, std::uint64_t>>* out) {
  return [out](std::vector<std::string> entries) {
    std::vector<std::pair<std::string, std::uint64_t>> sizes;
    for (std::string& entry : entries) {
      absl::StripAsciiWhitespace(&entry);
      if (entry.empty()) continue;
      const std::size_t eq = entry.rfind('=');
      auto parsed = ParseModelName(entry.substr(0, eq == std::string::npos ? 0 : eq));
      std::uint64_t bytes = 0;
      if (eq == std::string::npos || !parsed.ok() ||
          !absl::SimpleAtoi(entry.substr(eq + 1), &bytes) || bytes < kMinModelSize) {
        return absl::StrCat("entries are NAME=BYTES with BYTES at least ", kMinModelSize, ": ",
                            entry);
      }
      sizes.emplace_back(parsed->Key(), bytes);
    }
    *out = std::move(sizes);
    return std::string();
  };
}

}  // namespace

std::string Usage() {
  return R"(usage: ollama-sim [--flag value]...

A faithful Ollama API simulator for tests and benchmarks (see docs/ollama-sim.md).

  --host HOST            address to listen on (default 127.0.0.1)
  --port PORT            port; 0 picks a free one. The port is printed as the first
                         line of stdout (default 11434)
  --models A,B           installed models (default llama3.2)
  --tokens N             tokens per generation, unless options.num_predict is
                         smaller (default 20)
  --token-delay-ms MS    time per generated token (default 0)
  --load-delay-ms MS     time to load a model that is not loaded (default 0)
  --parallel N           decode slots per model, FIFO wait (OLLAMA_NUM_PARALLEL);
                         0 = unlimited (default 0)
  --max-queue N          requests that may wait for a model load before the rest
                         get 503 (OLLAMA_MAX_QUEUE) (default 512)
  --keep-alive DUR       how long an idle model stays loaded: a Go duration or
                         seconds; negative = forever (OLLAMA_KEEP_ALIVE) (default 5m)
  --name NAME            the simulator's name; the first generated token is [NAME]
                         (default ollama-sim)
  --version V            version reported by /api/version (default 0.33.0)
  --threads N            io_context threads (default 1)
  --pull-delay-ms MS     time a pull or push takes, spread over its progress lines
                         (default 100)
  --memory-bytes N       memory for models: loading a larger one fails with Ollama's
                         "model requires more system memory" 500; 0 = unlimited
                         (default 0)
  --model-sizes A=N,B=M  model sizes in bytes, instead of the ones derived from the
                         name (default none)
  --digest-salt S        mixed into every model and layer digest, so two simulators
                         can disagree on a model's digest (default "": none)
  --max-body-bytes N     largest request body, e.g. a blob upload; larger gets 413
                         (default 16777216)
  --help                 print this text
)";
}

absl::StatusOr<SimOptions> ParseFlags(const std::vector<std::string>& args) {
  SimOptions options;
  constexpr std::int64_t kMaxMs = 24LL * 3600 * 1000;
  FlagParser flags;
  flags.Help(&options.help)
      .Value<std::string>("--host", StoreNotEmpty(&options.host))
      .Value<std::int64_t>("--port", StoreBetween(0, 65535, &options.port))
      .Value<std::vector<std::string>>("--models", StoreModels(&options.models))
      .Value<std::int64_t>("--tokens", StoreBetween(1, 10'000'000, &options.tokens))
      .Value<std::int64_t>("--token-delay-ms", StoreBetween(0, kMaxMs, &options.token_delay_ms))
      .Value<std::int64_t>("--load-delay-ms", StoreBetween(0, kMaxMs, &options.load_delay_ms))
      .Value<std::int64_t>("--parallel", StoreBetween(0, 1'000'000, &options.parallel))
      .Value<std::int64_t>("--max-queue", StoreBetween(1, 10'000'000, &options.max_queue))
      .Value<KeepAlive>("--keep-alive",
                        [&](KeepAlive keep_alive) {
                          options.keep_alive = keep_alive.duration;
                          return std::string();
                        })
      .Value<std::string>("--name", StoreNotEmpty(&options.name))
      .Value<std::string>("--version", StoreNotEmpty(&options.version))
      .Value<std::int64_t>("--threads", StoreBetween(1, 1024, &options.threads))
      .Value<std::int64_t>("--pull-delay-ms", StoreBetween(0, kMaxMs, &options.pull_delay_ms))
      .Value<std::int64_t>(
          "--memory-bytes",
          StoreBetween(0, std::numeric_limits<std::int64_t>::max(), &options.memory_bytes))
      .Value<std::vector<std::string>>("--model-sizes", StoreModelSizes(&options.model_sizes))
      .Value<std::string>("--digest-salt",
                          [&](std::string salt) {
                            options.digest_salt = std::move(salt);
                            return std::string();
                          })
      .Value<std::int64_t>("--max-body-bytes",
                           StoreBetween(1024, std::int64_t{1} << 32, &options.max_body_bytes));
  if (absl::Status status = flags.Parse(args); !status.ok()) return status;
  return options;
}

}  // namespace og::sim
