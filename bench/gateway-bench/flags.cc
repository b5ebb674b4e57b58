#include "bench/gateway-bench/flags.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <functional>
#include <map>
#include <set>

namespace og::bench {
namespace {

absl::Status BadValue(std::string_view flag, std::string_view value, std::string_view why) {
  return absl::InvalidArgumentError(fmt::format("invalid value '{}' for {}: {}", value, flag, why));
}

absl::Status ParseInt64(std::string_view flag, const std::string& value, std::int64_t min,
                        std::int64_t max, std::int64_t& out) {
  std::int64_t parsed = 0;
  const char* end = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(value.data(), end, parsed);
  if (value.empty() || ec != std::errc() || ptr != end) {
    return BadValue(flag, value, "not an integer");
  }
  if (parsed < min || parsed > max) {
    return BadValue(flag, value, fmt::format("must be between {} and {}", min, max));
  }
  out = parsed;
  return absl::OkStatus();
}

absl::Status ParseInt(std::string_view flag, const std::string& value, int min, int max, int& out) {
  std::int64_t parsed = 0;
  absl::Status status = ParseInt64(flag, value, min, max, parsed);
  if (status.ok()) out = static_cast<int>(parsed);
  return status;
}

// A finite decimal number; from_chars for double is in GCC 12's libstdc++.
std::optional<double> ParseNumber(std::string_view text) {
  double parsed = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, parsed);
  if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(parsed)) {
    return std::nullopt;
  }
  return parsed;
}

absl::Status ParsePositiveDuration(std::string_view flag, const std::string& value,
                                   std::chrono::nanoseconds& out, bool zero_ok) {
  auto parsed = ParseDuration(value);
  if (!parsed.ok()) return BadValue(flag, value, std::string(parsed.status().message()));
  if (*parsed <= std::chrono::nanoseconds(0) && !zero_ok) {
    return BadValue(flag, value, "must be positive");
  }
  out = *parsed;
  return absl::OkStatus();
}

absl::Status SetNonEmpty(std::string_view flag, const std::string& value, std::string& out) {
  if (value.empty()) return BadValue(flag, value, "must not be empty");
  out = value;
  return absl::OkStatus();
}

// Flags that contradict each other or need a partner; `given` holds the flags on the command line.
absl::Status CheckCombinations(const BenchOptions& o, const std::set<std::string>& given) {
  auto both = [&](const char* a, const char* b) { return given.contains(a) && given.contains(b); };
  if (both("--rate", "--concurrency")) {
    return absl::InvalidArgumentError(
        "--rate (open loop) and --concurrency (closed loop) exclude each other");
  }
  for (const char* open_only : {"--arrivals", "--max-outstanding"}) {
    if (given.contains(open_only) && !o.rate) {
      return absl::InvalidArgumentError(fmt::format("{} needs --rate (open loop)", open_only));
    }
  }
  if (both("--duration", "--requests")) {
    return absl::InvalidArgumentError("--duration and --requests exclude each other");
  }
  if (o.insecure &&
      (!o.cacert.empty() || !o.cert.empty() || !o.key.empty() || !o.server_name.empty())) {
    return absl::InvalidArgumentError(
        "--insecure (plaintext) excludes --cacert, --cert, --key and --server-name");
  }
  if (o.cert.empty() != o.key.empty()) {
    return absl::InvalidArgumentError("--cert and --key go together (mutual TLS)");
  }
  if (o.target.empty() && !o.help) return absl::InvalidArgumentError("--target is required");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::chrono::nanoseconds> ParseDuration(std::string_view text) {
  // The longest suffix first, so "ms" is not read as "m" followed by junk.
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"ns", 1e-9}, {"us", 1e-6}, {"ms", 1e-3}, {"s", 1}, {"m", 60}, {"h", 3600}};
  double scale = 1;
  std::string_view number = text;
  for (const auto& [suffix, seconds] : kUnits) {
    if (text.size() > suffix.size() && text.ends_with(suffix) &&
        ParseNumber(text.substr(0, text.size() - suffix.size()))) {
      number = text.substr(0, text.size() - suffix.size());
      scale = seconds;
      break;
    }
  }
  const std::optional<double> value = ParseNumber(number);
  if (!value) {
    return absl::InvalidArgumentError(
        "not a duration (a number with ns, us, ms, s, m or h, or bare seconds)");
  }
  if (*value < 0) return absl::InvalidArgumentError("must not be negative");
  const double ns = *value * scale * 1e9;
  if (ns > 1e18) return absl::InvalidArgumentError("too long");
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(ns)));
}

std::string Usage() {
  return R"(usage: gateway-bench --target HOST:PORT [--flag value]...

An asynchronous gRPC load generator for ModelInference (see bench/README.md).

Target and transport:
  --target HOST:PORT        the gateway's gRPC address (required)
  --rpc predict|stream      Predict (unary) or PredictStream (default predict)
  --insecure                plaintext; TLS is the default
  --cacert FILE             roots to verify the server with (default: gRPC's roots)
  --cert FILE --key FILE    client certificate and key (mutual TLS)
  --server-name NAME        TLS name to verify instead of the target's host
  --api-key KEY             send `authorization: Bearer KEY`

Requests:
  --model NAME              model_name (default llama3.2)
  --prompt TEXT             input_data (default "Why is the sky blue?")
  --num-predict N           options.num_predict (default unset)
  --hash-key-cardinality K  hash_key = one of K keys at random (default 0: none)

Load (closed loop unless --rate):
  --concurrency C           closed loop: C calls always outstanding (default 1)
  --rate R                  open loop: R calls per second at intended times
  --arrivals poisson|uniform  open-loop spacing (default poisson)
  --max-outstanding N       open loop: an arrival finding N calls in flight is
                            counted as dropped (default 10000)
  --connections N           channels to spread calls over, round robin (default 1)

Length and limits:
  --duration D              measured window, e.g. 10s, 500ms, 2m (default 10s)
  --requests N              measured calls instead of a duration
  --warmup D                calls started in the first D are not counted (default 0s)
  --timeout D               deadline of every call (default 30s)
  --seed N                  seed of arrivals and hash keys (default 1)

Output:
  --json FILE               also write the report as JSON to FILE ("-": stdout, and
                            the text report goes to stderr)
  --help                    print this text

Exit status: 0 when every measured call succeeded, 1 when some failed (the report
counts them by status code), 2 for bad flags or unreadable certificate files.
)";
}

absl::StatusOr<BenchOptions> ParseFlags(const std::vector<std::string>& args) {
  BenchOptions o;
  using Setter = std::function<absl::Status(std::string_view flag, const std::string& value)>;
  const auto ok = [] { return absl::OkStatus(); };
  const std::map<std::string, Setter, std::less<>> setters = {
      {"--target", [&](auto f, const auto& v) { return SetNonEmpty(f, v, o.target); }},
      {"--rpc",
       [&](auto f, const auto& v) {
         if (v == "predict" || v == "stream") {
           o.rpc = v == "predict" ? Rpc::kPredict : Rpc::kStream;
           return ok();
         }
         return BadValue(f, v, "must be predict or stream");
       }},
      {"--cacert", [&](auto f, const auto& v) { return SetNonEmpty(f, v, o.cacert); }},
      {"--cert", [&](auto f, const auto& v) { return SetNonEmpty(f, v, o.cert); }},
      {"--key", [&](auto f, const auto& v) { return SetNonEmpty(f, v, o.key); }},
      {"--server-name", [&](auto f, const auto& v) { return SetNonEmpty(f, v, o.server_name); }},
      {"--api-key", [&](auto f, const auto& v) { return SetNonEmpty(f, v, o.api_key); }},
      {"--model", [&](auto f, const auto& v) { return SetNonEmpty(f, v, o.model); }},
      {"--prompt",
       [&](auto, const auto& v) {
         o.prompt = v;
         return ok();
       }},
      {"--num-predict",
       [&](auto f, const auto& v) {
         int n = 0;
         absl::Status s = ParseInt(f, v, 1, 1'000'000, n);
         if (s.ok()) o.num_predict = n;
         return s;
       }},
      {"--hash-key-cardinality",
       [&](auto f, const auto& v) { return ParseInt(f, v, 0, 1'000'000, o.hash_key_cardinality); }},
      {"--concurrency",
       [&](auto f, const auto& v) { return ParseInt(f, v, 1, 1'000'000, o.concurrency); }},
      {"--rate",
       [&](auto f, const auto& v) {
         const std::optional<double> rate = ParseNumber(v);
         if (!rate || *rate <= 0 || *rate > 1e7) {
           return BadValue(f, v, "must be a number of calls per second in (0, 1e7]");
         }
         o.rate = *rate;
         return ok();
       }},
      {"--arrivals",
       [&](auto f, const auto& v) {
         if (v == "poisson" || v == "uniform") {
           o.arrivals = v == "poisson" ? Arrivals::kPoisson : Arrivals::kUniform;
           return ok();
         }
         return BadValue(f, v, "must be poisson or uniform");
       }},
      {"--max-outstanding",
       [&](auto f, const auto& v) { return ParseInt(f, v, 1, 10'000'000, o.max_outstanding); }},
      {"--connections",
       [&](auto f, const auto& v) { return ParseInt(f, v, 1, 1'024, o.connections); }},
      {"--duration",
       [&](auto f, const auto& v) { return ParsePositiveDuration(f, v, o.duration, false); }},
      {"--requests",
       [&](auto f, const auto& v) {
         std::int64_t n = 0;
         absl::Status s = ParseInt64(f, v, 1, std::int64_t{1} << 40, n);
         if (s.ok()) o.requests = n;
         return s;
       }},
      {"--warmup",
       [&](auto f, const auto& v) { return ParsePositiveDuration(f, v, o.warmup, true); }},
      {"--timeout",
       [&](auto f, const auto& v) { return ParsePositiveDuration(f, v, o.timeout, false); }},
      {"--seed",
       [&](auto f, const auto& v) {
         std::int64_t seed = 0;
         absl::Status s = ParseInt64(f, v, 0, INT64_MAX, seed);
         o.seed = static_cast<std::uint64_t>(seed);
         return s;
       }},
      {"--json", [&](auto f, const auto& v) { return SetNonEmpty(f, v, o.json_path); }},
  };
  std::set<std::string> given;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    if (flag == "--help" || flag == "-h") {
      o.help = true;
      continue;
    }
    if (flag == "--insecure") {
      o.insecure = true;
      given.insert(flag);
      continue;
    }
    auto it = setters.find(flag);
    if (it == setters.end()) {
      return absl::InvalidArgumentError(fmt::format("unknown flag '{}'", flag));
    }
    if (i + 1 >= args.size()) {
      return absl::InvalidArgumentError(fmt::format("flag {} needs a value", flag));
    }
    if (absl::Status s = it->second(flag, args[++i]); !s.ok()) return s;
    given.insert(flag);
  }
  if (absl::Status s = CheckCombinations(o, given); !s.ok()) return s;
  return o;
}

}  // namespace og::bench
