#include "tools/ollama-sim/generation.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "tools/ollama-sim/simulator.h"
#include "tools/ollama-sim/text.h"
#include "tools/ollama-sim/wire_json.h"

namespace og::sim {
namespace {

namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kBusy =
    "server busy, please try again.  maximum pending requests exceeded";
// With no token delay, this many tokens are queued per turn of the event loop: enough to
// coalesce writes, few enough that one stream cannot hog the thread.
constexpr int kBatchWithoutDelay = 64;
// What `garbage_after_tokens` writes: an HTML error page's first line, as a misconfigured proxy
// in front of a backend might send.
constexpr std::string_view kGarbageLine = "<html><body>oops: not JSON</body></html>\n";

}  // namespace

Generation::Generation(Simulator& sim, std::shared_ptr<http::Exchange> exchange,
                       GenerationRequest request, std::unique_ptr<ReplyAdapter> adapter)
    : sim_(sim),
      exchange_(std::move(exchange)),
      request_(std::move(request)),
      adapter_(std::move(adapter)),
      prompt_hash_(Fnv1a64(request_.prompt)),
      thinking_hash_(Fnv1a64(absl::StrCat("think:", request_.prompt))),
      timer_(exchange_->executor()) {}

void Generation::Start() {
  start_ = Clock::now();
  if (!request_.load_only) sim_.CountStart();
  exchange_->OnClientGone([self = shared_from_this()] { self->OnClientGone(); });
  Admit();
}

bool Generation::ParkIfHung() {
  if (!sim_.knobs().hang.load(std::memory_order_relaxed)) return false;
  parked_ = sim_.Park(shared_from_this());
  return parked_;
}

void Generation::Resume() {
  if (phase_ == Phase::kFinished || !parked_) return;
  parked_ = false;
  if (phase_ == Phase::kAdmission) {
    Admit();
    return;
  }
  // The clock of the token pace restarts: no burst of catch-up tokens after a stall.
  next_due_ = Clock::now();
  EmitTokens();
}

void Generation::Admit() {
  if (phase_ != Phase::kAdmission || ParkIfHung()) return;
  phase_ = Phase::kWaiting;
  auto self = shared_from_this();
  claim_ = sim_.scheduler().Acquire(
      *request_.model, request_.keep_alive, !request_.load_only, exchange_->executor(),
      [self] { self->OnLoaded(); }, [self] { self->OnSlot(); });
  if (claim_ == nullptr) {
    sim_.stats().busy_rejections.fetch_add(1, std::memory_order_relaxed);
    RespondError(503, kBusy);
    Finish(request_.load_only ? Outcome::kLoadReply : Outcome::kFailed);
  }
}

void Generation::OnLoaded() {
  if (phase_ == Phase::kFinished) return;
  loaded_at_ = Clock::now();
  if (!request_.load_only) return;  // OnSlot follows
  if (adapter_ != nullptr) {
    // The native load reply, rewritten like any final object.
    ReplySummary summary;
    summary.done_reason = "load";
    std::string body;
    if (request_.stream) {
      adapter_->AppendEnd(body, summary);
    } else {
      body = adapter_->Whole(summary);
    }
    exchange_->Respond(200, sim_.ReplyContentType(adapter_->ContentType(request_.stream)),
                       std::move(body));
  } else {
    exchange_->Respond(
        200, sim_.ReplyContentType(kJson),
        LoadReply(request_.kind, request_.model_echo, std::chrono::system_clock::now(), "load"));
  }
  Finish(Outcome::kLoadReply);
}

void Generation::OnSlot() {
  if (phase_ == Phase::kFinished) return;
  slot_at_ = Clock::now();
  phase_ = Phase::kDecoding;
  const auto configured =
      static_cast<std::uint32_t>(std::max(1, sim_.knobs().tokens.load(std::memory_order_relaxed)));
  // The reply after the thinking: one tool call, the format document's pieces, or the text
  // tokens (a continuation produces what its reply still lacks of the whole).
  std::uint32_t content =
      configured > request_.continue_from ? configured - request_.continue_from : 0;
  if (request_.tool_call) content = 1;
  if (request_.format_pieces) content = static_cast<std::uint32_t>(request_.format_pieces->size());
  thinking_ = request_.thinking_tokens;
  // ignore_num_predict models a backend that does not honour the caller's limit.
  const bool honour_limit = !sim_.knobs().ignore_num_predict.load(std::memory_order_relaxed);
  if (honour_limit && request_.num_predict > 0) {
    const auto limit = static_cast<std::uint32_t>(
        std::min<std::int64_t>(request_.num_predict, std::numeric_limits<std::uint32_t>::max()));
    // Thinking tokens are generated tokens: they use up num_predict first. Ollama's second,
    // constrained pass after thinking (format) starts with a budget of its own.
    if (thinking_ > 0 && thinking_ >= limit) {
      length_limited_ = thinking_ > limit || content > 0;
      thinking_ = limit;
      content = 0;
    } else {
      const std::uint32_t room = request_.format_after_thinking ? limit : limit - thinking_;
      if (content > room) {
        content = room;
        length_limited_ = true;
      }
    }
  }
  tokens_ = thinking_ + content;
  if (!request_.stream) text_.reserve(content * 6 + sim_.first_token().size());
  // Prompt evaluation costs no simulated time; decoding starts on the next turn of the loop, so
  // prompt_eval_duration is a real (tiny) interval.
  net::post(exchange_->executor(), [self = shared_from_this()] {
    if (self->phase_ != Phase::kDecoding) return;
    self->decode_start_ = Clock::now();
    self->next_due_ = self->decode_start_;
    self->ScheduleToken();
  });
}

void Generation::ScheduleToken() {
  if (phase_ != Phase::kDecoding) return;
  const int delay_ms = sim_.knobs().token_delay_ms.load(std::memory_order_relaxed);
  if (delay_ms <= 0) {
    next_due_ = Clock::now();
    net::post(exchange_->executor(), [self = shared_from_this()] { self->EmitTokens(); });
    return;
  }
  // Deadlines advance from the previous one, so write latency does not slow the pace down.
  next_due_ = std::max(next_due_ + std::chrono::milliseconds(delay_ms),
                       Clock::now() - std::chrono::milliseconds(delay_ms));
  timer_.expires_at(next_due_);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->EmitTokens();
  });
}

void Generation::EmitTokens() {
  if (phase_ != Phase::kDecoding || parked_) return;
  const Knobs& knobs = sim_.knobs();
  const int batch =
      knobs.token_delay_ms.load(std::memory_order_relaxed) <= 0 ? kBatchWithoutDelay : 1;
  for (int k = 0; k < batch; ++k) {
    if (ParkIfHung()) return;
    const int reset_after = knobs.reset_after_tokens.load(std::memory_order_relaxed);
    if (reset_after > 0 && produced_ >= static_cast<std::uint32_t>(reset_after)) {
      // Whatever was written goes out, then a TCP reset: no final line, no terminating chunk.
      exchange_->Abort();
      Finish(Outcome::kFailed);
      return;
    }
    const int fail_after = knobs.fail_after_tokens.load(std::memory_order_relaxed);
    if (fail_after > 0 && produced_ >= static_cast<std::uint32_t>(fail_after)) {
      FailMidStream();
      return;
    }
    if (request_.stream && MaybeCutStream(knobs)) return;
    if (request_.stream) MaybeWriteGarbage(knobs);
    if (produced_ >= tokens_) {
      Complete();
      return;
    }
    if (!request_.stream) {
      AccumulateNext();
      ++produced_;
      continue;
    }
    // Like Ollama, nothing (headers included) goes out before the first token is ready.
    StartStreamOnce();
    std::string line;
    AppendNextLine(line);
    ++produced_;
    if (k + 1 < batch && produced_ < tokens_) {
      exchange_->Write(std::move(line));
      continue;
    }
    // The next token waits until this one reached the socket: a client that stops reading
    // stops the generation instead of growing a buffer.
    exchange_->Write(std::move(line), [self = shared_from_this()](bool ok) {
      if (ok) self->ScheduleToken();
    });
    return;
  }
  ScheduleToken();
}

std::string_view Generation::NextToken(std::string& padded) const {
  if (NextIsThinking()) return ThinkingTokenText(thinking_hash_, produced_);
  const std::uint32_t content = produced_ - thinking_;
  if (request_.tool_call) return "";
  if (request_.format_pieces) return (*request_.format_pieces)[content];
  const std::uint32_t index = request_.continue_from + content;
  const std::string_view token = TokenText(sim_.first_token(), prompt_hash_, index);
  const int huge = sim_.knobs().huge_line_bytes.load(std::memory_order_relaxed);
  if (index != 0 || huge <= 0 || token.size() >= static_cast<std::size_t>(huge)) return token;
  // Dots need no JSON escaping, so the line is the padded text plus ~100 bytes of fields.
  padded.reserve(static_cast<std::size_t>(huge));
  padded.assign(token);
  padded.append(static_cast<std::size_t>(huge) - token.size(), '.');
  return padded;
}

std::string Generation::NextLine() const {
  std::string line;
  if (produced_ >= tokens_) {
    line = FinalObject();
    if (adapter_ == nullptr) line += '\n';
    return line;
  }
  AppendNextLine(line);
  return line;
}

void Generation::AppendNextLine(std::string& line) const {
  const auto now = std::chrono::system_clock::now();
  ReplyExtras extras;
  if (adapter_ != nullptr) {
    ReplyStep step;
    std::string padded;
    std::string logprobs;
    if (request_.tool_call && !NextIsThinking()) {
      step.kind = ReplyStep::Kind::kToolCall;
      step.call_id = request_.tool_call->id;
      step.call_name = request_.tool_call->name;
      step.call_arguments = request_.tool_call->arguments;
    } else {
      step.kind = NextIsThinking() ? ReplyStep::Kind::kThinking : ReplyStep::Kind::kContent;
      step.text = NextToken(padded);
      if (request_.logprobs) {
        logprobs += '[';
        AppendLogprob(logprobs, step.text, produced_, request_.top_logprobs);
        logprobs += ']';
        step.logprobs = logprobs;
      }
    }
    adapter_->AppendStep(line, step);
    return;
  }
  if (request_.tool_call && !NextIsThinking()) {
    // The call comes whole in one chunk, as Ollama's parsers hand it over once it is complete.
    const std::string calls = ToolCallsJson();
    extras.tool_calls = calls;
    AppendTokenLine(line, request_.kind, request_.model_echo, now, "", extras);
    return;
  }
  std::string padded;
  const std::string_view token = NextToken(padded);
  std::string logprobs;
  if (request_.logprobs) {
    logprobs += '[';
    AppendLogprob(logprobs, token, produced_, request_.top_logprobs);
    logprobs += ']';
    extras.logprobs = logprobs;
  }
  line.reserve(128 + request_.model_echo.size() + token.size() + logprobs.size());
  if (NextIsThinking()) {
    extras.thinking = token;
    AppendTokenLine(line, request_.kind, request_.model_echo, now, "", extras);
  } else {
    AppendTokenLine(line, request_.kind, request_.model_echo, now, token, extras);
  }
}

void Generation::AccumulateNext() {
  if (request_.tool_call && !NextIsThinking()) {
    called_tool_ = true;
    return;
  }
  std::string padded;
  const std::string_view token = NextToken(padded);
  if (request_.logprobs) {
    if (!logprobs_.empty()) logprobs_ += ',';
    AppendLogprob(logprobs_, token, produced_, request_.top_logprobs);
  }
  (NextIsThinking() ? thinking_text_ : text_) += token;
}

std::string Generation::ToolCallsJson() const {
  const GenerationRequest::ToolCall& call = *request_.tool_call;
  std::string out = "[{\"id\":";
  AppendJsonString(out, call.id);
  out += ",\"function\":{\"index\":0,\"name\":";
  AppendJsonString(out, call.name);
  out += ",\"arguments\":";
  out += call.arguments;
  out += "}}]";
  return out;
}

void Generation::StartStreamOnce() {
  if (headers_sent_) return;
  exchange_->StartStream(
      200, sim_.ReplyContentType(adapter_ != nullptr ? adapter_->ContentType(true) : kNdjson));
  headers_sent_ = true;
}

void Generation::MaybeWriteGarbage(const Knobs& knobs) {
  const int after = knobs.garbage_after_tokens.load(std::memory_order_relaxed);
  if (garbage_sent_ || after <= 0 || produced_ != static_cast<std::uint32_t>(after)) return;
  // One line that is not JSON, then the stream goes on as if nothing happened: a client must
  // notice and stop on its own.
  garbage_sent_ = true;
  StartStreamOnce();
  exchange_->Write(std::string(kGarbageLine));
}

bool Generation::MaybeCutStream(const Knobs& knobs) {
  const auto reached = [this](int after) {
    return after > 0 && produced_ >= static_cast<std::uint32_t>(after);
  };
  const bool truncate = reached(knobs.truncate_after_tokens.load(std::memory_order_relaxed));
  const bool close =
      !truncate && reached(knobs.close_mid_chunk_after_tokens.load(std::memory_order_relaxed));
  if (!truncate && !close) return false;
  std::string line = NextLine();
  const std::size_t half = line.size() / 2;
  StartStreamOnce();
  if (truncate) {
    // Half an object and no newline, then a proper end of the body: the NDJSON is cut, the HTTP
    // framing is not.
    line.resize(half);
    exchange_->Write(std::move(line));
    exchange_->EndStream();
  } else {
    // The chunk announces the whole line but carries half of it, then the connection closes.
    exchange_->CloseMidChunk(std::move(line), half);
  }
  Finish(Outcome::kFailed);
  return true;
}

std::int64_t Generation::Nanos(Clock::time_point from, Clock::time_point to) const {
  // Ollama leaves zero metrics out; a real interval is never zero, keep it so.
  return std::max<std::int64_t>(
      1, std::chrono::duration_cast<std::chrono::nanoseconds>(to - from).count());
}

Metrics Generation::FinalMetrics() const {
  const auto now = Clock::now();
  Metrics metrics;
  metrics.total_duration = Nanos(start_, now);
  metrics.load_duration = Nanos(start_, loaded_at_);
  metrics.prompt_eval_count = PromptTokenCount(request_.prompt);
  metrics.prompt_eval_duration = Nanos(slot_at_, decode_start_);
  // After thinking, a format reply comes from Ollama's second request, whose count is reported.
  metrics.eval_count =
      request_.format_after_thinking && produced_ > thinking_ ? produced_ - thinking_ : produced_;
  metrics.eval_duration = Nanos(decode_start_, now);
  return metrics;
}

ReplySummary Generation::Summary(const Metrics& metrics, std::string_view done_reason,
                                 const std::string& logprobs) const {
  ReplySummary summary;
  summary.text = text_;
  summary.thinking = thinking_text_;
  summary.called_tool = called_tool_ || (request_.tool_call && produced_ > thinking_);
  if (request_.tool_call) {
    summary.call_id = request_.tool_call->id;
    summary.call_name = request_.tool_call->name;
    summary.call_arguments = request_.tool_call->arguments;
  }
  summary.logprobs = logprobs;
  summary.done_reason = done_reason;
  summary.prompt_tokens = metrics.prompt_eval_count;
  summary.completion_tokens = metrics.eval_count;
  return summary;
}

void Generation::RespondError(int status, std::string_view message) {
  if (adapter_ != nullptr) {
    exchange_->Respond(status, "application/json", adapter_->ErrorBody(status, message));
  } else {
    exchange_->Respond(status, kJson, ErrorJson(message));
  }
}

std::string Generation::FinalObject() const {
  const Metrics metrics = FinalMetrics();
  const std::string_view reason = length_limited_ ? "length" : "stop";
  const std::string logprobs =
      logprobs_.empty() ? std::string() : absl::StrCat("[", logprobs_, "]");
  if (adapter_ != nullptr) {
    const ReplySummary summary = Summary(metrics, reason, logprobs);
    if (!request_.stream) return adapter_->Whole(summary);
    std::string body;
    adapter_->AppendEnd(body, summary);
    return body;
  }
  std::vector<std::uint32_t> context;
  const bool with_context = request_.kind == ReplyKind::kGenerate && !request_.raw;
  if (with_context) context = ContextIds(request_.prompt, prompt_hash_, produced_);
  std::string body;
  body.reserve(256 + request_.model_echo.size() + text_.size() + context.size() * 7);
  const std::string tool_calls = called_tool_ ? ToolCallsJson() : std::string();
  ReplyExtras extras;
  extras.thinking = thinking_text_;
  extras.tool_calls = tool_calls;
  extras.logprobs = logprobs;
  AppendFinalObject(body, request_.kind, request_.model_echo, std::chrono::system_clock::now(),
                    text_, reason, with_context ? &context : nullptr, metrics, extras);
  return body;
}

void Generation::Complete() {
  std::string body = FinalObject();
  if (request_.stream) {
    if (adapter_ == nullptr) body += '\n';
    StartStreamOnce();
    exchange_->Write(std::move(body));
    exchange_->EndStream();
  } else {
    const std::string_view type = adapter_ != nullptr ? adapter_->ContentType(false) : kJson;
    exchange_->Respond(200, sim_.ReplyContentType(type), std::move(body));
  }
  Finish(Outcome::kCompleted);
}

void Generation::FailMidStream() {
  const std::string message =
      absl::StrCat("an error was encountered while running the model: simulated failure after ",
                   produced_, " tokens");
  if (request_.stream) {
    // After the first byte the status stays 200: one {"error"} line, then the stream ends
    // without a done:true line.
    StartStreamOnce();
    std::string line;
    if (adapter_ != nullptr) {
      adapter_->AppendMidStreamError(line, message);
    } else {
      line = ErrorJson(message) + "\n";
    }
    if (!line.empty()) exchange_->Write(std::move(line));
    exchange_->EndStream();
  } else {
    RespondError(500, message);
  }
  Finish(Outcome::kFailed);
}

void Generation::OnClientGone() {
  if (phase_ == Phase::kFinished) return;
  Finish(Outcome::kAborted);
}

void Generation::Finish(Outcome outcome) {
  if (phase_ == Phase::kFinished) return;
  phase_ = Phase::kFinished;
  timer_.cancel();
  sim_.scheduler().Release(claim_);
  claim_.reset();
  if (request_.load_only) return;
  Stats& stats = sim_.stats();
  switch (outcome) {
    case Outcome::kCompleted:
      sim_.CountEnd(stats.generations_completed);
      break;
    case Outcome::kAborted:
      sim_.CountEnd(stats.generations_aborted);
      break;
    case Outcome::kFailed:
      sim_.CountEnd(stats.generations_failed);
      break;
    case Outcome::kLoadReply:
      break;
  }
}

}  // namespace og::sim
