#include "tools/ollama-sim/flags.h"

#include <charconv>
#include <functional>
#include <map>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tools/ollama-sim/models.h"

namespace og::sim {
namespace {

absl::Status BadValue(const std::string& flag, const std::string& value, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid value '", value, "' for ", flag, ": ", std::string(why)));
}

// Parses a decimal integer in [min, max] into `out`.
absl::Status ParseInt(const std::string& flag, const std::string& value, long long min,
                      long long max, int& out) {
  long long parsed = 0;
  const char* end = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(value.data(), end, parsed);
  if (value.empty() || ec != std::errc() || ptr != end) {
    return BadValue(flag, value, "not an integer");
  }
  if (parsed < min || parsed > max) {
    return BadValue(flag, value, absl::StrCat("must be between ", min, " and ", max));
  }
  out = static_cast<int>(parsed);
  return absl::OkStatus();
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
  --version V            version reported by /api/version (default 0.12.3)
  --threads N            io_context threads (default 1)
  --help                 print this text
)";
}

absl::StatusOr<SimOptions> ParseFlags(const std::vector<std::string>& args) {
  SimOptions options;
  using Setter = std::function<absl::Status(const std::string& flag, const std::string& value)>;
  constexpr long long kMaxMs = 24LL * 3600 * 1000;
  const std::map<std::string, Setter, std::less<>> setters = {
      {"--host",
       [&](const std::string& flag, const std::string& v) {
         if (v.empty()) return BadValue(flag, v, "must not be empty");
         options.host = v;
         return absl::OkStatus();
       }},
      {"--port",
       [&](const std::string& flag, const std::string& v) {
         int port = 0;
         absl::Status s = ParseInt(flag, v, 0, 65535, port);
         options.port = static_cast<std::uint16_t>(port);
         return s;
       }},
      {"--models",
       [&](const std::string& flag, const std::string& v) {
         options.models.clear();
         for (absl::string_view part : absl::StrSplit(v, ',', absl::SkipWhitespace())) {
           std::string name(absl::StripAsciiWhitespace(part));
           auto parsed = ParseModelName(name);
           if (!parsed.ok()) return BadValue(flag, v, std::string(parsed.status().message()));
           options.models.push_back(name);
         }
         if (options.models.empty()) return BadValue(flag, v, "needs at least one model");
         return absl::OkStatus();
       }},
      {"--tokens",
       [&](const std::string& f, const std::string& v) {
         return ParseInt(f, v, 1, 10'000'000, options.tokens);
       }},
      {"--token-delay-ms",
       [&](const std::string& f, const std::string& v) {
         return ParseInt(f, v, 0, kMaxMs, options.token_delay_ms);
       }},
      {"--load-delay-ms",
       [&](const std::string& f, const std::string& v) {
         return ParseInt(f, v, 0, kMaxMs, options.load_delay_ms);
       }},
      {"--parallel",
       [&](const std::string& f, const std::string& v) {
         return ParseInt(f, v, 0, 1'000'000, options.parallel);
       }},
      {"--max-queue",
       [&](const std::string& f, const std::string& v) {
         return ParseInt(f, v, 1, 10'000'000, options.max_queue);
       }},
      {"--keep-alive",
       [&](const std::string& flag, const std::string& v) {
         // Like OLLAMA_KEEP_ALIVE: a Go duration, or a bare integer of seconds.
         long long seconds = 0;
         const char* end = v.data() + v.size();
         if (auto [ptr, ec] = std::from_chars(v.data(), end, seconds);
             !v.empty() && ec == std::errc() && ptr == end) {
           options.keep_alive = std::chrono::seconds(seconds);
           return absl::OkStatus();
         }
         auto d = ParseGoDuration(v);
         if (!d.ok()) return BadValue(flag, v, std::string(d.status().message()));
         options.keep_alive = *d;
         return absl::OkStatus();
       }},
      {"--name",
       [&](const std::string& flag, const std::string& v) {
         if (v.empty()) return BadValue(flag, v, "must not be empty");
         options.name = v;
         return absl::OkStatus();
       }},
      {"--version",
       [&](const std::string& flag, const std::string& v) {
         if (v.empty()) return BadValue(flag, v, "must not be empty");
         options.version = v;
         return absl::OkStatus();
       }},
      {"--threads", [&](const std::string& f,
                        const std::string& v) { return ParseInt(f, v, 1, 1024, options.threads); }},
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    if (flag == "--help" || flag == "-h") {
      options.help = true;
      continue;
    }
    auto it = setters.find(flag);
    if (it == setters.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag '", flag, "'"));
    }
    if (i + 1 >= args.size()) {
      return absl::InvalidArgumentError(absl::StrCat("flag ", flag, " needs a value"));
    }
    if (absl::Status s = it->second(flag, args[++i]); !s.ok()) return s;
  }
  return options;
}

}  // namespace og::sim
