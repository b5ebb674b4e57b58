// /v1/chat/completions and /v1/completions (openai/openai.go, middleware/openai.go).
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "tools/ollama-sim/compat.h"
#include "tools/ollama-sim/request_json.h"
#include "tools/ollama-sim/text.h"
#include "tools/ollama-sim/wire_json.h"

namespace og::sim {
namespace {

using ordered = nlohmann::ordered_json;

constexpr std::string_view kEventStream = "text/event-stream";

// An OpenAI tool call (arguments a JSON string) as a native one (arguments an object).
bool NativeToolCalls(const ordered& calls, ordered& out, std::string& error) {
  out = ordered::array();
  for (const ordered& call : calls) {
    ordered function = call.value("function", ordered::object());
    ordered arguments = ordered::object();
    const std::string text = function.is_object() ? JsonString(function, "arguments") : "";
    try {
      arguments = ordered::parse(text);
    } catch (const ordered::parse_error&) {
      error = "invalid tool call arguments";
      return false;
    }
    out.push_back({{"id", JsonString(call, "id")},
                   {"function",
                    {{"index", 0},
                     {"name", function.is_object() ? JsonString(function, "name") : ""},
                     {"arguments", std::move(arguments)}}}});
  }
  return true;
}

// FromChatRequest's messages.
bool NativeMessages(const ordered& messages, ordered& out, std::string& error) {
  out = ordered::array();
  for (const ordered& message : messages) {
    if (!message.is_object()) {
      error = "invalid message format";
      return false;
    }
    const std::string role = JsonString(message, "role");
    const std::string lower = LowerAscii(role);
    std::string tool_name;
    if (lower == "tool") {
      tool_name = JsonString(message, "name");
      const std::string call_id = JsonString(message, "tool_call_id");
      // Ollama names the tool from the assistant call with that id, the last one winning.
      for (auto it = messages.rbegin();
           tool_name.empty() && !call_id.empty() && it != messages.rend(); ++it) {
        if (!it->is_object() || !it->contains("tool_calls") || !(*it)["tool_calls"].is_array()) {
          continue;
        }
        for (const ordered& call : (*it)["tool_calls"]) {
          if (JsonString(call, "id") == call_id && call.contains("function")) {
            tool_name = JsonString(call["function"], "name");
            break;
          }
        }
      }
    }
    ordered tool_calls = ordered::array();
    const bool has_calls = message.contains("tool_calls") && message["tool_calls"].is_array();
    if (has_calls && !NativeToolCalls(message["tool_calls"], tool_calls, error)) return false;
    const auto append = [&](std::string content, bool with_extras) {
      ordered native = {{"role", role}, {"content", std::move(content)}};
      if (with_extras) {
        if (!JsonString(message, "reasoning").empty()) {
          native["thinking"] = JsonString(message, "reasoning");
        }
        if (!tool_calls.empty()) native["tool_calls"] = tool_calls;
        if (!tool_name.empty()) native["tool_name"] = tool_name;
        if (!JsonString(message, "tool_call_id").empty()) {
          native["tool_call_id"] = JsonString(message, "tool_call_id");
        }
      }
      out.push_back(std::move(native));
    };
    const auto content = message.find("content");
    if (content != message.end() && content->is_string()) {
      append(content->get<std::string>(), true);
      continue;
    }
    if (content != message.end() && content->is_array()) {
      // Every part becomes a message of its own, as in Ollama.
      for (const ordered& part : *content) {
        const std::string type = part.is_object() ? JsonString(part, "type") : "";
        if (type == "text" && part.contains("text") && part["text"].is_string()) {
          append(part["text"].get<std::string>(), false);
        } else if (type == "image_url" || type == "input_audio") {
          append("", false);  // images and audio are accepted and not looked at
        } else {
          error = "invalid message format";
          return false;
        }
      }
      if (!out.empty() && has_calls) {
        ordered& last = out.back();
        last["tool_calls"] = tool_calls;
        if (!tool_name.empty()) last["tool_name"] = tool_name;
      }
      continue;
    }
    if (!has_calls) {
      error = absl::StrCat("invalid message content type: ",
                           GoTypeName(content == message.end() ? ordered() : *content));
      return false;
    }
    append("", true);
  }
  return true;
}

// `created` is pinned from the first chunk, as Ollama does.
class ChatCompletionAdapter : public ReplyAdapter {
 public:
  ChatCompletionAdapter(std::string id, std::string model, bool include_usage)
      : id_(std::move(id)), model_(std::move(model)), include_usage_(include_usage) {}

  std::string_view ContentType(bool stream) const override {
    return stream ? kEventStream : kPlainJson;
  }

  void AppendStep(std::string& out, const ReplyStep& step) override {
    ordered delta = ordered::object();
    if (!first_sent_) delta["role"] = "assistant";
    // Content is kept even when empty ("content":""), as Ollama's chunks carry it.
    delta["content"] = step.kind == ReplyStep::Kind::kContent ? std::string(step.text) : "";
    if (step.kind == ReplyStep::Kind::kThinking) delta["reasoning"] = std::string(step.text);
    if (step.kind == ReplyStep::Kind::kToolCall) {
      delta["tool_calls"] = ToolCalls(step.call_id, step.call_name, step.call_arguments);
      tool_call_sent_ = true;
    }
    ordered choice = {{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", nullptr}};
    if (!step.logprobs.empty()) {
      choice["logprobs"] = {{"content", ordered::parse(step.logprobs)}};
    }
    first_sent_ = true;
    AppendChunk(out, ordered::array({std::move(choice)}));
  }

  void AppendEnd(std::string& out, const ReplySummary& summary) override {
    // The native final object is an empty trailer: only a stream that sent nothing yet gets a
    // (role) chunk for it.
    if (!first_sent_) AppendStep(out, ReplyStep{});
    std::string reason(summary.done_reason.empty() ? "stop" : summary.done_reason);
    if (reason == "stop" && tool_call_sent_) reason = "tool_calls";
    AppendChunk(
        out,
        ordered::array(
            {{{"index", 0}, {"delta", ordered::object()}, {"finish_reason", std::move(reason)}}}));
    if (include_usage_) AppendChunk(out, ordered::array(), Usage(summary));
    out += "data: [DONE]\n\n";
  }

  std::string Whole(const ReplySummary& summary) override {
    ordered message = {{"role", "assistant"}, {"content", std::string(summary.text)}};
    if (!summary.thinking.empty()) message["reasoning"] = std::string(summary.thinking);
    std::string reason(summary.done_reason);
    if (summary.called_tool) {
      message["tool_calls"] = ToolCalls(summary.call_id, summary.call_name, summary.call_arguments);
      if (reason == "stop") reason = "tool_calls";
    }
    ordered choice = {{"index", 0}, {"message", std::move(message)}};
    choice["finish_reason"] = reason.empty() ? ordered() : ordered(reason);
    if (!summary.logprobs.empty()) {
      choice["logprobs"] = {{"content", ordered::parse(summary.logprobs)}};
    }
    ordered reply = {{"id", id_},
                     {"object", "chat.completion"},
                     {"created", UnixNow()},
                     {"model", model_},
                     {"system_fingerprint", "fp_ollama"},
                     {"choices", ordered::array({std::move(choice)})},
                     {"usage", Usage(summary)}};
    return DumpJson(reply) + "\n";
  }

  void AppendMidStreamError(std::string& out, std::string_view) override {
    // Ollama decodes the native {"error"} line as an empty chat response: one chunk with empty
    // content, then the stream ends without a finish chunk or [DONE].
    ordered choice = {{"index", 0}, {"delta", {{"content", ""}}}, {"finish_reason", nullptr}};
    AppendChunk(out, ordered::array({std::move(choice)}));
  }

  std::string ErrorBody(int status, std::string_view message) const override {
    return OpenAIErrorJson(status, message) + "\n";
  }

 private:
  static ordered ToolCalls(std::string_view id, std::string_view name, std::string_view arguments) {
    return ordered::array(
        {{{"id", std::string(id)},
          {"index", 0},
          {"type", "function"},
          {"function", {{"name", std::string(name)}, {"arguments", std::string(arguments)}}}}});
  }

  static ordered Usage(const ReplySummary& summary) {
    return {{"prompt_tokens", summary.prompt_tokens},
            {"completion_tokens", summary.completion_tokens},
            {"total_tokens", summary.prompt_tokens + summary.completion_tokens}};
  }

  void AppendChunk(std::string& out, ordered choices, ordered usage = ordered()) {
    if (created_ == 0) created_ = UnixNow();
    ordered chunk = {
        {"id", id_},       {"object", "chat.completion.chunk"}, {"created", created_},
        {"model", model_}, {"system_fingerprint", "fp_ollama"}, {"choices", std::move(choices)}};
    if (!usage.is_null()) chunk["usage"] = std::move(usage);
    out += "data: ";
    out += DumpJson(chunk);
    out += "\n\n";
  }

  const std::string id_;
  const std::string model_;
  const bool include_usage_;
  bool first_sent_ = false;
  bool tool_call_sent_ = false;
  std::int64_t created_ = 0;
};

class CompletionAdapter : public ReplyAdapter {
 public:
  CompletionAdapter(std::string id, std::string model, bool include_usage)
      : id_(std::move(id)), model_(std::move(model)), include_usage_(include_usage) {}

  std::string_view ContentType(bool stream) const override {
    return stream ? kEventStream : kPlainJson;
  }

  void AppendStep(std::string& out, const ReplyStep& step) override {
    // Every native chunk becomes a chunk; thinking and tool calls have no text here.
    AppendChunk(out, step.kind == ReplyStep::Kind::kContent ? step.text : "", ordered());
  }

  void AppendEnd(std::string& out, const ReplySummary& summary) override {
    AppendChunk(out, "", FinishReason(summary));
    if (include_usage_) {
      ordered chunk = Chunk(ordered::array());
      chunk["usage"] = Usage(summary);
      out += "data: " + DumpJson(chunk) + "\n\n";
    }
    out += "data: [DONE]\n\n";
  }

  std::string Whole(const ReplySummary& summary) override {
    ordered reply = {{"id", id_},
                     {"object", "text_completion"},
                     {"created", UnixNow()},
                     {"model", model_},
                     {"system_fingerprint", "fp_ollama"},
                     {"choices", ordered::array({Choice(summary.text, FinishReason(summary))})},
                     {"usage", Usage(summary)}};
    return DumpJson(reply) + "\n";
  }

  void AppendMidStreamError(std::string& out, std::string_view) override {
    // The native {"error"} line decodes as an empty generate response: one empty chunk.
    AppendChunk(out, "", ordered());
  }

  std::string ErrorBody(int status, std::string_view message) const override {
    return OpenAIErrorJson(status, message) + "\n";
  }

 private:
  static ordered FinishReason(const ReplySummary& summary) {
    return summary.done_reason.empty() ? ordered() : ordered(std::string(summary.done_reason));
  }

  static ordered Choice(std::string_view text, ordered finish_reason) {
    return {{"text", std::string(text)}, {"index", 0}, {"finish_reason", std::move(finish_reason)}};
  }

  static ordered Usage(const ReplySummary& summary) {
    return {{"prompt_tokens", summary.prompt_tokens},
            {"completion_tokens", summary.completion_tokens},
            {"total_tokens", summary.prompt_tokens + summary.completion_tokens}};
  }

  // CompletionChunk's field order: id, object, created, choices, model, system_fingerprint.
  ordered Chunk(ordered choices) const {
    return {{"id", id_},
            {"object", "text_completion"},
            {"created", UnixNow()},
            {"choices", std::move(choices)},
            {"model", model_},
            {"system_fingerprint", "fp_ollama"}};
  }

  void AppendChunk(std::string& out, std::string_view text, ordered finish_reason) {
    ordered chunk = Chunk(ordered::array({Choice(text, std::move(finish_reason))}));
    // With include_usage Ollama puts a zeroed usage in every chunk.
    if (include_usage_) {
      chunk["usage"] = {{"prompt_tokens", 0}, {"completion_tokens", 0}, {"total_tokens", 0}};
    }
    out += "data: " + DumpJson(chunk) + "\n\n";
  }

  const std::string id_;
  const std::string model_;
  const bool include_usage_;
};

bool IncludeUsage(const ordered& request) {
  const auto options = request.find("stream_options");
  return options != request.end() && options->is_object() && IsTrue(*options, "include_usage");
}

// The OpenAI `stop` option as Ollama passes it on.
void CopyCommonOptions(const ordered& request, ordered& options) {
  if (const auto stop = request.find("stop"); stop != request.end() && stop->is_string()) {
    options["stop"] = ordered::array({*stop});
  } else if (stop != request.end() && stop->is_array()) {
    ordered stops = ordered::array();
    for (const ordered& s : *stop) {
      if (s.is_string()) stops.push_back(s);
    }
    options["stop"] = std::move(stops);
  }
  if (const auto max = request.find("max_tokens"); max != request.end() && max->is_number()) {
    options["num_predict"] = max->get<std::int64_t>();
  }
  // Ollama's OpenAI defaults, not the native 0.8 and 0.9.
  const auto temperature = request.find("temperature");
  options["temperature"] = temperature != request.end() && temperature->is_number()
                               ? GoFloat(temperature->get<double>())
                               : GoFloat(1.0);
  if (const auto seed = request.find("seed"); seed != request.end() && seed->is_number()) {
    options["seed"] = *seed;
  }
}

}  // namespace

namespace {

CompatRequest TranslateChatCompletionUnguarded(std::string_view body) {
  ordered request;
  std::string error;
  if (!ParseCompatBody(body, "openai.ChatCompletionRequest", request, error)) {
    return RefuseOpenAI(400, error);
  }
  if (auto e = CheckCompatFields(request, "ChatCompletionRequest",
                                 {{"model", JsonKind::kString, "string"},
                                  {"messages", JsonKind::kArray, "[]openai.Message"},
                                  {"stream", JsonKind::kBool, "bool"},
                                  {"max_tokens", JsonKind::kNumber, "int"},
                                  {"tools", JsonKind::kArray, "[]api.Tool"},
                                  {"reasoning_effort", JsonKind::kString, "string"},
                                  {"logprobs", JsonKind::kBool, "bool"},
                                  {"top_logprobs", JsonKind::kNumber, "int"}})) {
    return RefuseOpenAI(400, *e);
  }
  for (const auto& [field, go_type] :
       {std::pair{"messages", "openai.Message"}, std::pair{"tools", "api.Tool"}}) {
    if (auto e = CheckObjectElements(request, field, "ChatCompletionRequest", go_type)) {
      return RefuseOpenAI(400, *e);
    }
  }
  const auto messages = request.find("messages");
  if (messages == request.end() || !messages->is_array() || messages->empty()) {
    return RefuseOpenAI(400, "[] is too short - 'messages'");
  }
  ordered native_messages;
  if (!NativeMessages(*messages, native_messages, error)) return RefuseOpenAI(400, error);

  ordered options = ordered::object();
  CopyCommonOptions(request, options);
  const auto top_p = request.find("top_p");
  options["top_p"] =
      top_p != request.end() && top_p->is_number() ? GoFloat(top_p->get<double>()) : GoFloat(1.0);

  ordered format;
  if (const auto rf = request.find("response_format"); rf != request.end() && rf->is_object()) {
    std::string type = JsonString(*rf, "type");
    type.erase(0, type.find_first_not_of(" \t\r\n"));
    type.erase(type.find_last_not_of(" \t\r\n") + 1);
    type = LowerAscii(std::move(type));
    if (type == "json_object") format = "json";
    if (type == "json_schema" && rf->contains("json_schema") && (*rf)["json_schema"].is_object()) {
      format = (*rf)["json_schema"].value("schema", ordered());
    }
  }
  std::string effort = JsonString(request, "reasoning_effort");
  if (const auto reasoning = request.find("reasoning");
      reasoning != request.end() && reasoning->is_object()) {
    effort = JsonString(*reasoning, "effort");
  }
  ordered think;
  if (!ThinkFromEffort(effort, think, error)) return RefuseOpenAI(400, error);

  const bool stream = IsTrue(request, "stream");
  ordered native = {{"model", JsonString(request, "model")},
                    {"messages", std::move(native_messages)},
                    {"stream", stream},
                    {"options", std::move(options)}};
  if (!format.is_null()) native["format"] = std::move(format);
  if (request.contains("tools") && request["tools"].is_array()) native["tools"] = request["tools"];
  if (!think.is_null()) native["think"] = std::move(think);
  if (IsTrue(request, "logprobs")) native["logprobs"] = true;
  if (request.contains("top_logprobs")) native["top_logprobs"] = request["top_logprobs"];

  CompatRequest translated;
  translated.kind = ReplyKind::kChat;
  translated.native_body = DumpJson(native);
  // Ollama's ids are chatcmpl-<0..998> at random; these are the same shape, from the body.
  translated.adapter =
      std::make_unique<ChatCompletionAdapter>(absl::StrCat("chatcmpl-", Fnv1a64(body) % 999),
                                              JsonString(request, "model"), IncludeUsage(request));
  return translated;
}

}  // namespace

CompatRequest TranslateChatCompletion(std::string_view body) {
  // The checks above follow Go's binding for the usual mistakes; any other shape they let
  // through (an element of the wrong type deep inside) is refused, never a 500.
  try {
    return TranslateChatCompletionUnguarded(body);
  } catch (const nlohmann::json::exception& e) {
    return RefuseOpenAI(400, e.what());
  }
}

namespace {

CompatRequest TranslateCompletionUnguarded(std::string_view body) {
  ordered request;
  std::string error;
  if (!ParseCompatBody(body, "openai.CompletionRequest", request, error)) {
    return RefuseOpenAI(400, error);
  }
  if (auto e = CheckCompatFields(request, "CompletionRequest",
                                 {{"model", JsonKind::kString, "string"},
                                  {"prompt", JsonKind::kString, "string"},
                                  {"suffix", JsonKind::kString, "string"},
                                  {"stream", JsonKind::kBool, "bool"},
                                  {"max_tokens", JsonKind::kNumber, "int"},
                                  {"logprobs", JsonKind::kNumber, "int"}})) {
    return RefuseOpenAI(400, *e);
  }
  if (const auto stop = request.find("stop"); stop != request.end() && stop->is_array()) {
    for (const ordered& s : *stop) {
      if (!s.is_string()) {
        return RefuseOpenAI(400, absl::StrCat("invalid type for 'stop' field: ", GoTypeName(s)));
      }
    }
  }
  ordered options = ordered::object();
  CopyCommonOptions(request, options);
  const auto top_p = request.find("top_p");
  options["top_p"] = top_p != request.end() && top_p->is_number() && top_p->get<double>() != 0
                         ? GoFloat(top_p->get<double>())
                         : GoFloat(1.0);
  const bool stream = IsTrue(request, "stream");
  ordered native = {{"model", JsonString(request, "model")},
                    {"prompt", JsonString(request, "prompt")},
                    {"suffix", JsonString(request, "suffix")},
                    {"stream", stream},
                    {"options", std::move(options)}};
  if (const auto lp = request.find("logprobs");
      lp != request.end() && lp->is_number() && lp->get<double>() > 0) {
    native["logprobs"] = true;
    native["top_logprobs"] = lp->get<std::int64_t>();
  }
  CompatRequest translated;
  translated.kind = ReplyKind::kGenerate;
  translated.native_body = DumpJson(native);
  translated.adapter =
      std::make_unique<CompletionAdapter>(absl::StrCat("cmpl-", Fnv1a64(body) % 999),
                                          JsonString(request, "model"), IncludeUsage(request));
  return translated;
}

}  // namespace

CompatRequest TranslateCompletion(std::string_view body) {
  // The checks above follow Go's binding for the usual mistakes; any other shape they let
  // through (an element of the wrong type deep inside) is refused, never a 500.
  try {
    return TranslateCompletionUnguarded(body);
  } catch (const nlohmann::json::exception& e) {
    return RefuseOpenAI(400, e.what());
  }
}

}  // namespace og::sim
