#include "tools/ollama-sim/wire_json.h"

#include <array>
#include <charconv>
#include <ctime>

namespace og::sim {
namespace {

void AppendInt(std::string& out, std::int64_t value) {
  std::array<char, 24> digits;
  auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  out.append(digits.data(), end);
}

void AppendHead(std::string& out, ReplyKind kind, std::string_view model,
                std::chrono::system_clock::time_point now, std::string_view text) {
  out += "{\"model\":";
  AppendJsonString(out, model);
  out += ",\"created_at\":";
  AppendTimestamp(out, now);
  if (kind == ReplyKind::kGenerate) {
    out += ",\"response\":";
    AppendJsonString(out, text);
  } else {
    out += ",\"message\":{\"role\":\"assistant\",\"content\":";
    AppendJsonString(out, text);
    out += '}';
  }
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
                     std::chrono::system_clock::time_point now, std::string_view text) {
  AppendHead(out, kind, model, now, text);
  out += ",\"done\":false}\n";
}

void AppendFinalObject(std::string& out, ReplyKind kind, std::string_view model,
                       std::chrono::system_clock::time_point now, std::string_view text,
                       std::string_view done_reason, const std::vector<std::uint32_t>* context,
                       const Metrics& metrics) {
  AppendHead(out, kind, model, now, text);
  out += ",\"done\":true,\"done_reason\":";
  AppendJsonString(out, done_reason);
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
  out += '}';
}

std::string LoadReply(ReplyKind kind, std::string_view model,
                      std::chrono::system_clock::time_point now, std::string_view done_reason) {
  std::string out;
  AppendHead(out, kind, model, now, "");
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
