// Hand-written JSON for the simulator's hot path: string escaping exactly like Go's
// encoding/json (which is what Ollama's replies go through), RFC 3339 timestamps like Go's
// time.RFC3339Nano, and the NDJSON lines of /api/generate and /api/chat. Building these by hand
// instead of through a JSON DOM keeps thousands of concurrent streams cheap on one core.
#ifndef OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_WIRE_JSON_H_
#define OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_WIRE_JSON_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_string.h"

namespace og::sim {

// AppendJsonString (Go's escaping) is common/json_string.h's.
using og::AppendJsonString;

// The content types of the simulator's replies, as Ollama sets them: gin's c.JSON adds a charset;
// Ollama's own writers (json.NewEncoder, streamResponse, waitForStream) set none.
inline constexpr std::string_view kJson = "application/json; charset=utf-8";
inline constexpr std::string_view kPlainJson = "application/json";
inline constexpr std::string_view kNdjson = "application/x-ndjson";

// Appends `t` as a quoted UTC RFC 3339 timestamp with nanoseconds, trailing zeros trimmed (Go's
// time.RFC3339Nano): "2025-10-26T17:15:24.097767Z".
void AppendTimestamp(std::string& out, std::chrono::system_clock::time_point t);

// The same for a time given as seconds and nanoseconds since the Unix epoch (which reaches past
// the year 2262, where system_clock ends).
void AppendUnixTimestamp(std::string& out, std::int64_t seconds, std::int64_t nanos);

// The quoted timestamp of `t` as a string (see AppendTimestamp).
std::string Timestamp(std::chrono::system_clock::time_point t);

// Which endpoint's reply shape to write.
enum class ReplyKind { kGenerate, kChat };

// The six metrics of a final reply, in nanoseconds and tokens.
struct Metrics {
  std::int64_t total_duration = 0;
  std::int64_t load_duration = 0;
  std::int64_t prompt_eval_count = 0;
  std::int64_t prompt_eval_duration = 0;
  std::int64_t eval_count = 0;
  std::int64_t eval_duration = 0;
};

// The parts of a reply besides its text. Empty ones are left out, as Go's omitempty does.
struct ReplyExtras {
  std::string_view thinking;    // `thinking` (generate) / `message.thinking` (chat)
  std::string_view tool_calls;  // chat: `message.tool_calls`, a serialized JSON array
  std::string_view logprobs;    // `logprobs`, a serialized JSON array of Logprob objects
};

// Appends one streamed token line, `\n` included, in the field order of Ollama's
// GenerateResponse / ChatResponse:
// generate: {"model":M,"created_at":T,"response":TEXT[,"thinking":..],"done":false[,"logprobs":..]}
// chat:     {"model":M,"created_at":T,"message":{"role":"assistant","content":TEXT
//            [,"thinking":..][,"tool_calls":..]},"done":false[,"logprobs":..]}
void AppendTokenLine(std::string& out, ReplyKind kind, std::string_view model,
                     std::chrono::system_clock::time_point now, std::string_view text,
                     const ReplyExtras& extras = {});

// Appends the final object (no newline): the token-line shape with `text` (empty when
// streaming, the whole reply otherwise), done:true, `done_reason`, `context` (generate only, when
// not null) and the metrics; `logprobs` come before the metrics in chat (as in ChatResponse) and
// last in generate.
void AppendFinalObject(std::string& out, ReplyKind kind, std::string_view model,
                       std::chrono::system_clock::time_point now, std::string_view text,
                       std::string_view done_reason, const std::vector<std::uint32_t>* context,
                       const Metrics& metrics, const ReplyExtras& extras = {});

// Appends one Logprob object of Ollama's (api.Logprob) for `token` at position `index` of the
// reply, with `top` (0..20) alternatives in `top_logprobs` (left out for 0):
// {"token":..,"logprob":..,"bytes":[..][,"top_logprobs":[{"token","logprob","bytes"},..]]}.
// Values follow TokenLogprob (text.h).
void AppendLogprob(std::string& out, std::string_view token, std::uint32_t index, int top);

// Appends `value` as Go's encoding/json writes a float64 that has a short exact form.
void AppendDouble(std::string& out, double value);

// The one-object reply to a load or unload request (`done_reason` "load" or "unload"), without
// metrics.
std::string LoadReply(ReplyKind kind, std::string_view model,
                      std::chrono::system_clock::time_point now, std::string_view done_reason);

// {"error":MESSAGE}
std::string ErrorJson(std::string_view message);

}  // namespace og::sim

#endif  // OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_WIRE_JSON_H_
