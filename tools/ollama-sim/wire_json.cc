#include "tools/ollama-sim/wire_json.h"

#include <array>
#include <charconv>
#include <ctime>

namespace og::sim {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void AppendUnicodeEscape(std::string& out, unsigned code) {
  out += "\\u";
  out += kHex[(code >> 12) & 0xf];
  out += kHex[(code >> 8) & 0xf];
  out += kHex[(code >> 4) & 0xf];
  out += kHex[code & 0xf];
}

// Length of the valid UTF-8 sequence starting at text[i], or 0 if it is not valid (overlong
// forms, surrogates and code points past U+10FFFF are invalid, as in Go's utf8.DecodeRune).
std::size_t Utf8SequenceLength(std::string_view text, std::size_t i, unsigned& code) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned b0 = byte(i);
  std::size_t n;
  unsigned min;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    n = 2;
    code = b0 & 0x1f;
    min = 0x80;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    n = 3;
    code = b0 & 0x0f;
    min = 0x800;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    n = 4;
    code = b0 & 0x07;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const unsigned b = byte(i + k);
    if ((b & 0xc0) != 0x80) return 0;
    code = (code << 6) | (b & 0x3f);
  }
  if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return 0;
  return n;
}

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

void AppendJsonString(std::string& out, std::string_view text) {
  out += '"';
  std::size_t i = 0;
  while (i < text.size()) {
    // Copy the longest run that needs no escaping in one go.
    std::size_t run = i;
    while (run < text.size()) {
      const unsigned char c = static_cast<unsigned char>(text[run]);
      if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&') {
        break;
      }
      ++run;
    }
    out.append(text.data() + i, run - i);
    i = run;
    if (i == text.size()) break;
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          AppendUnicodeEscape(out, c);
          break;  // other controls and < > &
      }
      ++i;
      continue;
    }
    unsigned code = 0;
    const std::size_t n = Utf8SequenceLength(text, i, code);
    if (n == 0) {
      out += "\\ufffd";
      ++i;
      continue;
    }
    if (code == 0x2028 || code == 0x2029) {
      AppendUnicodeEscape(out, code);
    } else {
      out.append(text.data() + i, n);
    }
    i += n;
  }
  out += '"';
}

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
