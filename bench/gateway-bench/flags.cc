#include "bench/gateway-bench/flags.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "common/absl_compat.h"
#include "common/flags.h"

namespace og::bench {
namespace {

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

// A duration flag's value, read by ParseDuration.
struct Duration {
  std::chrono::nanoseconds value{0};
};

bool AbslParseFlag(absl::string_view text, Duration* out, std::string* error) {
  auto parsed = ParseDuration(StdView(text));
  if (!parsed.ok()) {
    *error = std::string(parsed.status().message());
    return false;
  }
  out->value = *parsed;
  return true;
}

// --rate's value: calls per second, in (0, 1e7].
struct CallRate {
  double per_second = 0;
};

bool AbslParseFlag(absl::string_view text, CallRate* out, std::string* error) {
  if (!absl::ParseFlag(text, &out->per_second, error) ||
      !(out->per_second > 0 && out->per_second <= 1e7)) {
    *error = "must be a number of calls per second in (0, 1e7]";
    return false;
  }
  return true;
}

// A setter for a duration flag that must be positive, or at least zero when `zero_ok`.
FlagParser::Setter<Duration> StoreDuration(std::chrono::nanoseconds* out, bool zero_ok) {
  return [out, zero_ok](Duration duration) {
    if (duration.value <= std::chrono::nanoseconds(0) && !zero_ok) {
      return std::string("must be positive");
    }
    *out = duration.value;
    return std::string();
  };
}

// Flags that contradict each other or need a partner; `given` knows the flags on the command line.
absl::Status CheckCombinations(const BenchOptions& o, const FlagParser& given) {
  auto both = [&](const char* a, const char* b) { return given.Given(a) && given.Given(b); };
  if (both("--rate", "--concurrency")) {
    return absl::InvalidArgumentError(
        "--rate (open loop) and --concurrency (closed loop) exclude each other");
  }
  for (const char* open_only : {"--arrivals", "--max-outstanding"}) {
    if (given.Given(open_only) && !o.rate) {
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
  FlagParser flags;
  flags.Help(&o.help)
      .Switch("--insecure", &o.insecure)
      .Value<std::string>("--target", StoreNotEmpty(&o.target))
      .Value<std::string>(
          "--rpc", StoreChoice<Rpc>({{"predict", Rpc::kPredict}, {"stream", Rpc::kStream}}, &o.rpc))
      .Value<std::string>("--cacert", StoreNotEmpty(&o.cacert))
      .Value<std::string>("--cert", StoreNotEmpty(&o.cert))
      .Value<std::string>("--key", StoreNotEmpty(&o.key))
      .Value<std::string>("--server-name", StoreNotEmpty(&o.server_name))
      .Value<std::string>("--api-key", StoreNotEmpty(&o.api_key))
      .Value<std::string>("--model", StoreNotEmpty(&o.model))
      .Value<std::string>("--prompt", &o.prompt)
      .Value<std::int64_t>("--num-predict",
                           [&](std::int64_t n) {
                             std::string why = OutsideRange(n, 1, 1'000'000);
                             if (why.empty()) o.num_predict = static_cast<int>(n);
                             return why;
                           })
      .Value<std::int64_t>("--hash-key-cardinality",
                           StoreBetween(0, 1'000'000, &o.hash_key_cardinality))
      .Value<std::int64_t>("--concurrency", StoreBetween(1, 1'000'000, &o.concurrency))
      .Value<CallRate>("--rate",
                       [&](CallRate rate) {
                         o.rate = rate.per_second;
                         return std::string();
                       })
      .Value<std::string>("--arrivals", StoreChoice<Arrivals>({{"poisson", Arrivals::kPoisson},
                                                               {"uniform", Arrivals::kUniform}},
                                                              &o.arrivals))
      .Value<std::int64_t>("--max-outstanding", StoreBetween(1, 10'000'000, &o.max_outstanding))
      .Value<std::int64_t>("--connections", StoreBetween(1, 1'024, &o.connections))
      .Value<Duration>("--duration", StoreDuration(&o.duration, /*zero_ok=*/false))
      .Value<std::int64_t>("--requests",
                           [&](std::int64_t n) {
                             std::string why = OutsideRange(n, 1, std::int64_t{1} << 40);
                             if (why.empty()) o.requests = n;
                             return why;
                           })
      .Value<Duration>("--warmup", StoreDuration(&o.warmup, /*zero_ok=*/true))
      .Value<Duration>("--timeout", StoreDuration(&o.timeout, /*zero_ok=*/false))
      .Value<std::int64_t>("--seed", StoreBetween(0, INT64_MAX, &o.seed))
      .Value<std::string>("--json", StoreNotEmpty(&o.json_path));
  if (absl::Status s = flags.Parse(args); !s.ok()) return s;
  if (absl::Status s = CheckCombinations(o, flags); !s.ok()) return s;
  return o;
}

}  // namespace og::bench
