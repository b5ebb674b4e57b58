// The output side of Ollama's /v1 compatibility layer. Ollama serves the OpenAI and Anthropic
// APIs by running its native chat and generate handlers and rewriting each native reply (one
// NDJSON object at a time) into the other API's shape. The simulator does the same: a Generation
// produces its tokens once, and a ReplyAdapter, when it has one, writes each step in the other
// API's shape instead of as a native line.
//
// Thread-safety: an adapter belongs to one generation and runs on its strand.
#ifndef OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_REPLY_ADAPTER_H_
#define OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_REPLY_ADAPTER_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace og::sim {

// One step of a generation: what one native chunk would carry.
struct ReplyStep {
  enum class Kind { kThinking, kContent, kToolCall };
  Kind kind = Kind::kContent;
  std::string_view text;  // the token (thinking or content)
  // kToolCall: the call, its arguments a JSON object.
  std::string_view call_id;
  std::string_view call_name;
  std::string_view call_arguments;
  // Serialized api.Logprob objects of this step (a JSON array), or empty.
  std::string_view logprobs;
};

// What a finished generation amounts to (the native final object).
struct ReplySummary {
  std::string_view text;      // the whole reply, when not streamed
  std::string_view thinking;  // the whole thinking, when not streamed
  bool called_tool = false;   // the reply is the tool call below (not streamed: present)
  std::string_view call_id;
  std::string_view call_name;
  std::string_view call_arguments;
  std::string_view logprobs;  // every step's logprobs (a JSON array), when not streamed
  std::string_view done_reason;
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
};

class ReplyAdapter {
 public:
  virtual ~ReplyAdapter() = default;

  // The Content-Type of a 200 reply.
  virtual std::string_view ContentType(bool stream) const = 0;
  // Streamed: appends what one step becomes (maybe nothing).
  virtual void AppendStep(std::string& out, const ReplyStep& step) = 0;
  // Streamed: appends what the native final object becomes, the end of the stream.
  virtual void AppendEnd(std::string& out, const ReplySummary& summary) = 0;
  // Not streamed: the whole reply body.
  virtual std::string Whole(const ReplySummary& summary) = 0;
  // Streamed: appends what Ollama's layer makes of a native {"error"} line after the first
  // byte; the stream ends right after it.
  virtual void AppendMidStreamError(std::string& out, std::string_view message) = 0;
  // The body of an error answered before any byte of the reply, with `status`.
  virtual std::string ErrorBody(int status, std::string_view message) const = 0;
};

}  // namespace og::sim

#endif  // OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_REPLY_ADAPTER_H_
