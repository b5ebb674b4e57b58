// One /api/generate or /api/chat request from admission to its last byte: waits for the model
// (load, then a decode slot), produces the deterministic tokens at the token-delay pace as NDJSON
// lines or one object, applies the failure knobs, and stops at once if the client leaves.
//
// Thread-safety: all of its work runs on the exchange's strand; only the constructor and Start
// are called from outside it (from the handler, which runs there too).
#ifndef OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_GENERATION_H_
#define OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_GENERATION_H_

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/server.h"
#include "tools/ollama-sim/models.h"
#include "tools/ollama-sim/reply_adapter.h"
#include "tools/ollama-sim/scheduler.h"
#include "tools/ollama-sim/wire_json.h"

namespace og::sim {

class Simulator;
struct Knobs;

// A validated generate/chat request.
struct GenerationRequest {
  ReplyKind kind = ReplyKind::kGenerate;
  std::string model_echo;  // the `model` string exactly as sent
  const ModelInfo* model = nullptr;
  std::shared_ptr<const Catalog> catalog;  // keeps `model` alive if the catalog is replaced
  // generate: prompt; chat: content of the last message. For a continuation, the prompt the
  // reply being continued answered.
  std::string prompt;
  // The index of the first token to produce: the tokens already in the reply being continued
  // (a chat's trailing assistant message, or the tail of a raw prompt); 0 for a new reply.
  std::uint32_t continue_from = 0;
  bool stream = true;
  bool raw = false;                                    // generate replies carry no context
  std::optional<std::chrono::nanoseconds> keep_alive;  // absent: keep the model's setting
  std::int64_t num_predict = -1;                       // > 0 limits the tokens
  bool load_only = false;  // empty prompt / messages: load (or unload with keep_alive 0)

  // Thinking tokens before the reply (ThinkingTokenCount of the request's level; 0: none).
  std::uint32_t thinking_tokens = 0;
  // Chat with think and format: Ollama thinks unconstrained, then starts a second, constrained
  // request, so the reply gets a num_predict budget of its own and eval_count counts that pass.
  bool format_after_thinking = false;
  // `format`: the reply is this JSON document, in these pieces, instead of the text tokens.
  std::optional<std::vector<std::string>> format_pieces;
  // `tools` (chat): the reply is this call instead of text. `arguments` is a JSON object.
  struct ToolCall {
    std::string id;
    std::string name;
    std::string arguments;
  };
  std::optional<ToolCall> tool_call;
  bool logprobs = false;
  int top_logprobs = 0;  // 0..20
};

class Generation : public std::enable_shared_from_this<Generation> {
 public:
  // `adapter`, when not null, writes the reply in another API's shape (the /v1 endpoints).
  Generation(Simulator& sim, std::shared_ptr<http::Exchange> exchange, GenerationRequest request,
             std::unique_ptr<ReplyAdapter> adapter = nullptr);

  // Begins: counts the generation, then admission (or parks while `hang` is on).
  void Start();
  // Continues after `hang` went off. Run it on executor().
  void Resume();

  // The exchange's strand, where all of this generation's work runs.
  boost::asio::any_io_executor executor() const { return exchange_->executor(); }

 private:
  enum class Phase { kAdmission, kWaiting, kDecoding, kFinished };
  enum class Outcome { kCompleted, kAborted, kFailed, kLoadReply };

  void Admit();
  void OnLoaded();
  void OnSlot();
  void ScheduleToken();
  void EmitTokens();
  // The text of the next token: a thinking token, a piece of the format document, or the
  // deterministic text token, padded for `huge_line_bytes`. Empty for a tool call.
  std::string_view NextToken(std::string& padded) const;
  bool NextIsThinking() const { return produced_ < thinking_; }
  // Appends the streamed line of the next token (newline included).
  void AppendNextLine(std::string& line) const;
  // Adds the next token to the whole reply (not streaming).
  void AccumulateNext();
  // The serialized tool_calls array of the request's call.
  std::string ToolCallsJson() const;
  // The metrics of the final object.
  Metrics FinalMetrics() const;
  // The final object for the adapter.
  ReplySummary Summary(const Metrics& metrics, std::string_view done_reason,
                       const std::string& logprobs) const;
  // An error before any byte: the native {"error"} body or the adapter's.
  void RespondError(int status, std::string_view message);
  // The streamed line that comes next (a token line, or the final object once all are out),
  // newline included. Produces nothing.
  std::string NextLine() const;
  // The final object (no newline); `text_` is the reply's text when not streaming.
  std::string FinalObject() const;
  void StartStreamOnce();
  // Streamed replies: the `garbage_after_tokens` line, once, when its turn has come.
  void MaybeWriteGarbage(const Knobs& knobs);
  // Streamed replies: ends the reply mid-line if `truncate_after_tokens` or
  // `close_mid_chunk_after_tokens` says so; true if it did.
  bool MaybeCutStream(const Knobs& knobs);
  void Complete();
  void FailMidStream();
  void Finish(Outcome outcome);
  void OnClientGone();
  bool ParkIfHung();
  std::int64_t Nanos(std::chrono::steady_clock::time_point from,
                     std::chrono::steady_clock::time_point to) const;

  Simulator& sim_;
  const std::shared_ptr<http::Exchange> exchange_;
  const GenerationRequest request_;
  const std::unique_ptr<ReplyAdapter> adapter_;
  const std::uint64_t prompt_hash_;
  const std::uint64_t thinking_hash_;
  boost::asio::steady_timer timer_;
  std::shared_ptr<Scheduler::Claim> claim_;

  Phase phase_ = Phase::kAdmission;
  bool parked_ = false;
  bool headers_sent_ = false;
  bool garbage_sent_ = false;    // the garbage_after_tokens line went out
  std::uint32_t tokens_ = 0;     // how many this generation produces (after continue_from)
  std::uint32_t produced_ = 0;   // how many it has produced
  bool length_limited_ = false;  // num_predict cut it short: done_reason "length"
  std::uint32_t thinking_ = 0;   // how many of tokens_ are thinking (they come first)
  std::string text_;             // the whole reply when not streaming
  std::string thinking_text_;    // ... its thinking
  std::string logprobs_;         // ... its logprobs, comma-separated objects
  bool called_tool_ = false;     // ... the tool call went out

  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point loaded_at_;
  std::chrono::steady_clock::time_point slot_at_;
  std::chrono::steady_clock::time_point decode_start_;
  std::chrono::steady_clock::time_point next_due_;
};

}  // namespace og::sim

#endif  // OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_GENERATION_H_
