#include "tools/ollama-sim/wire_json.h"

#include <array>
#include <charconv>
#include <ctime>

#include "tools/ollama-sim/text.h"

namespace og::sim {
namespace {

void AppendInt(std::string& out, std::int64_t value) {
  std::array<char, 24> digits;
  auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  out.append(digits.data(), end);
}

void AppendHead(std::string& out, ReplyKind kind, std::string_view model,
                std::chrono::system_clock::time_point now, std::string_view text,
                const ReplyExtras& extras) {
  out += "{\"model\":";
  AppendJsonString(out, model);
  out += ",\"created_at\":";
  AppendTimestamp(out, now);
  if (kind == ReplyKind::kGenerate) {
    out += ",\"response\":";
    AppendJsonString(out, text);
    if (!extras.thinking.empty()) {
      out += ",\"thinking\":";
      AppendJsonString(out, extras.thinking);
    }
  } else {
    out += ",\"message\":{\"role\":\"assistant\",\"content\":";
    AppendJsonString(out, text);
    if (!extras.thinking.empty()) {
      out += ",\"thinking\":";
      AppendJsonString(out, extras.thinking);
    }
    if (!extras.tool_calls.empty()) {
      out += ",\"tool_calls\":";
      out += extras.tool_calls;
    }
    out += '}';
  }
}

void AppendLogprobs(std::string& out, const ReplyExtras& extras) {
  if (extras.logprobs.empty()) return;
  out += ",\"logprobs\":";
  out += extras.logprobs;
}

// {"token":..,"logprob":..,"bytes":[..]} without the closing brace.
void AppendTokenLogprob(std::string& out, std::string_view token, double logprob) {
  out += "{\"token\":";
  AppendJsonString(out, token);
  out += ",\"logprob\":";
  AppendDouble(out, logprob);
  if (token.empty()) return;  // Bytes is omitempty
  out += ",\"bytes\":[";
  for (std::size_t i = 0; i < token.size(); ++i) {
    if (i > 0) out += ',';
    AppendInt(out, static_cast<unsigned char>(token[i]));
  }
  out += ']';
}

}  // namespace

void AppendTimestamp(std::string& out, std::chrono::system_clock::time_point t) {
  const auto since_epoch = t.time_since_epoch();
  const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  const auto nanos =
      std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - seconds).count();
  AppendUnixTimestamp(out, seconds.count(), nanos);
}

void AppendUnixTimestamp(std::string& out, std::int64_t seconds, std::int64_t nanos) {
  // The date and time of day change once a second; streams ask many times a second.
  thread_local std::int64_t cached_second = INT64_MIN;
  thread_local std::array<char, 40> cached;
  thread_local std::size_t cached_len = 0;
  if (seconds != cached_second) {
    cached_second = seconds;
    const std::time_t tt = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    cached_len = std::strftime(cached.data(), cached.size(), "%Y-%m-%dT%H:%M:%S", &tm);
  }
  out += '"';
  out.append(cached.data(), cached_len);
  if (nanos > 0 && nanos < 1'000'000'000) {
    std::array<char, 10> frac;
    frac[0] = '.';
    auto value = nanos;
    for (int k = 9; k >= 1; --k) {
      frac[k] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
    std::size_t len = 10;
    while (frac[len - 1] == '0') --len;
    out.append(frac.data(), len);
  }
  out += "Z\"";
}

std::string Timestamp(std::chrono::system_clock::time_point t) {
  std::string out;
  AppendTimestamp(out, t);
  return out;
}

void AppendTokenLine(std::string& out, ReplyKind kind, std::string_view model,
                     std::chrono::system_clock::time_point now, std::string_view text,
                     const ReplyExtras& extras) {
  AppendHead(out, kind, model, now, text, extras);
  out += ",\"done\":false";
  AppendLogprobs(out, extras);
  out += "}\n";
}

void AppendDouble(std::string& out, double value) {
  std::array<char, 32> digits;
  auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  out.append(digits.data(), end);
}

void AppendLogprob(std::string& out, std::string_view token, std::uint32_t index, int top) {
  AppendTokenLogprob(out, token, TokenLogprob(index, 0));
  if (top > 0) {
    out += ",\"top_logprobs\":[";
    for (int rank = 0; rank < top; ++rank) {
      if (rank > 0) out += ',';
      AppendTokenLogprob(out, rank == 0 ? token : AlternativeToken(index, rank),
                         TokenLogprob(index, rank));
      out += '}';
    }
    out += ']';
  }
  out += '}';
}

void AppendFinalObject(std::string& out, ReplyKind kind, std::string_view model,
                       std::chrono::system_clock::time_point now, std::string_view text,
                       std::string_view done_reason, const std::vector<std::uint32_t>* context,
                       const Metrics& metrics, const ReplyExtras& extras) {
  AppendHead(out, kind, model, now, text, extras);
  out += ",\"done\":true,\"done_reason\":";
  AppendJsonString(out, done_reason);
  if (kind == ReplyKind::kChat) AppendLogprobs(out, extras);
  if (kind == ReplyKind::kGenerate && context != nullptr) {
    out += ",\"context\":[";
    for (std::size_t i = 0; i < context->size(); ++i) {
      if (i > 0) out += ',';
      AppendInt(out, (*context)[i]);
    }
    out += ']';
  }
  out += ",\"total_duration\":";
  AppendInt(out, metrics.total_duration);
  out += ",\"load_duration\":";
  AppendInt(out, metrics.load_duration);
  out += ",\"prompt_eval_count\":";
  AppendInt(out, metrics.prompt_eval_count);
  out += ",\"prompt_eval_duration\":";
  AppendInt(out, metrics.prompt_eval_duration);
  out += ",\"eval_count\":";
  AppendInt(out, metrics.eval_count);
  out += ",\"eval_duration\":";
  AppendInt(out, metrics.eval_duration);
  if (kind == ReplyKind::kGenerate) AppendLogprobs(out, extras);
  out += '}';
}

std::string LoadReply(ReplyKind kind, std::string_view model,
                      std::chrono::system_clock::time_point now, std::string_view done_reason) {
  std::string out;
  AppendHead(out, kind, model, now, "", {});
  out += ",\"done\":true,\"done_reason\":";
  AppendJsonString(out, done_reason);
  out += '}';
  return out;
}

std::string ErrorJson(std::string_view message) {
  std::string out = "{\"error\":";
  AppendJsonString(out, message);
  out += '}';
  return out;
}

}  // namespace og::sim
