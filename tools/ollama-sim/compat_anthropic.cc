// /v1/messages (anthropic/anthropic.go, AnthropicMessagesMiddleware): the Anthropic Messages API
// over the native chat handler.
#include <cstdio>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "tools/ollama-sim/compat.h"
#include "tools/ollama-sim/text.h"

namespace og::sim {
namespace {

using ordered = nlohmann::ordered_json;

// 24 hex digits from `seed`, the length of Ollama's random ids (12 random bytes).
std::string HexId(std::string_view prefix, std::string_view seed) {
  const std::uint64_t a = Fnv1a64(seed);
  const std::uint64_t b = Fnv1a64(std::string(prefix) + std::string(seed));
  char digits[32];
  std::snprintf(digits, sizeof digits, "%016llx%08llx", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b & 0xffffffffull));
  return std::string(prefix) + "_" + digits;
}

// A tool_result's content: a string, or its text blocks joined.
std::string ToolResultText(const ordered& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string text;
  if (content.is_array()) {
    for (const ordered& block : content) {
      if (block.is_object() && JsonString(block, "type") == "text")
        text += JsonString(block, "text");
    }
  }
  return text;
}

// convertMessage: one Anthropic message as native messages (tool results become tool messages,
// before a user's text).
bool ConvertMessage(const ordered& message, ordered& out, std::string& error) {
  const std::string role = LowerAscii(JsonString(message, "role"));
  ordered blocks = message.value("content", ordered());
  if (blocks.is_string()) {
    blocks = ordered::array({{{"type", "text"}, {"text", blocks}}});
  }
  // MessageParam.UnmarshalJSON decodes content as a string or else as []ContentBlock.
  if (!blocks.is_null() && !blocks.is_array()) {
    error =
        absl::StrCat("json: cannot unmarshal ", blocks.is_number() ? "number" : GoTypeName(blocks),
                     " into Go value of type []anthropic.ContentBlock");
    return false;
  }
  for (const ordered& block : blocks) {
    if (!block.is_object() && !block.is_null()) {
      error = absl::StrCat("json: cannot unmarshal ",
                           block.is_number()  ? "number"
                           : block.is_array() ? "array"
                                              : GoTypeName(block),
                           " into Go value of type anthropic.ContentBlock");
      return false;
    }
  }
  std::string text;
  std::string thinking;
  ordered tool_calls = ordered::array();
  ordered tool_results = ordered::array();
  if (blocks.is_array()) {
    for (const ordered& block : blocks) {
      const std::string type = block.is_object() ? JsonString(block, "type") : "";
      if (type == "text") {
        text += JsonString(block, "text");
      } else if (type == "tool_use") {
        if (JsonString(block, "id").empty()) {
          error = "tool_use block missing required 'id' field";
          return false;
        }
        if (JsonString(block, "name").empty()) {
          error = "tool_use block missing required 'name' field";
          return false;
        }
        tool_calls.push_back({{"id", JsonString(block, "id")},
                              {"function",
                               {{"index", 0},
                                {"name", JsonString(block, "name")},
                                {"arguments", block.value("input", ordered::object())}}}});
      } else if (type == "tool_result") {
        tool_results.push_back({{"role", "tool"},
                                {"content", ToolResultText(block.value("content", ordered()))},
                                {"tool_call_id", JsonString(block, "tool_use_id")}});
      } else if (type == "thinking") {
        thinking = JsonString(block, "thinking");
      } else if (type == "image") {
        const ordered source = block.value("source", ordered());
        if (!source.is_object()) {
          error = "invalid image source";
          return false;
        }
        if (JsonString(source, "type") != "base64") {
          error = absl::StrCat("invalid image source type: ", JsonString(source, "type"),
                               ". Only base64 images are supported.");
          return false;
        }
      }
    }
  }
  const bool user_results = role == "user" && !tool_results.empty();
  if (user_results) {
    for (const ordered& result : tool_results) out.push_back(result);
  }
  if (!text.empty() || !tool_calls.empty() || !thinking.empty()) {
    ordered native = {{"role", role}, {"content", text}};
    if (!thinking.empty()) native["thinking"] = thinking;
    if (!tool_calls.empty()) native["tool_calls"] = std::move(tool_calls);
    out.push_back(std::move(native));
  }
  if (!user_results) {
    for (const ordered& result : tool_results) out.push_back(result);
  }
  return true;
}

// EstimateInputTokens: a quarter of the characters of the system prompt, roles, contents and
// tools, at least 1; message_start reports it before the real count is known.
std::int64_t EstimateInputTokens(const ordered& request) {
  std::size_t chars = 0;
  const auto count = [&](const ordered& content) {
    if (content.is_string()) {
      chars += content.get_ref<const std::string&>().size();
    } else if (content.is_array()) {
      for (const ordered& block : content) {
        if (!block.is_object()) continue;
        chars += JsonString(block, "text").size() + JsonString(block, "thinking").size();
        if (block.contains("input")) chars += DumpJson(block["input"]).size();
        if (block.contains("content")) chars += ToolResultText(block["content"]).size();
      }
    }
  };
  count(request.value("system", ordered()));
  const ordered messages = request.value("messages", ordered::array());
  for (const ordered& message : messages) {
    chars += JsonString(message, "role").size();
    count(message.value("content", ordered()));
  }
  for (const ordered& tool : request.value("tools", ordered::array())) {
    chars += JsonString(tool, "name").size() + JsonString(tool, "description").size();
    if (tool.contains("input_schema")) chars += DumpJson(tool["input_schema"]).size();
  }
  std::int64_t tokens = static_cast<std::int64_t>(chars / 4);
  if (tokens == 0 && (!messages.empty() || request.contains("system"))) tokens = 1;
  return tokens;
}

std::string StopReason(std::string_view reason, bool tool_use) {
  if (tool_use) return "tool_use";
  if (reason == "stop") return "end_turn";
  if (reason == "length") return "max_tokens";
  return reason.empty() ? "" : "stop_sequence";
}

class MessagesAdapter : public ReplyAdapter {
 public:
  MessagesAdapter(std::string id, std::string model, std::int64_t estimated_input)
      : id_(std::move(id)), model_(std::move(model)), estimated_input_(estimated_input) {}

  std::string_view ContentType(bool stream) const override {
    return stream ? "text/event-stream" : "application/json";
  }

  void AppendStep(std::string& out, const ReplyStep& step) override {
    Start(out);
    switch (step.kind) {
      case ReplyStep::Kind::kThinking:
        if (thinking_done_) break;
        if (text_started_) StopBlock(out, text_started_);
        if (!thinking_started_) {
          thinking_started_ = true;
          Event(out, "content_block_start",
                {{"type", "content_block_start"},
                 {"index", index_},
                 {"content_block", {{"type", "thinking"}, {"thinking", ""}}}});
        }
        Event(out, "content_block_delta",
              {{"type", "content_block_delta"},
               {"index", index_},
               {"delta", {{"type", "thinking_delta"}, {"thinking", std::string(step.text)}}}});
        break;
      case ReplyStep::Kind::kContent:
        CloseThinking(out);
        if (!text_started_) {
          text_started_ = true;
          Event(out, "content_block_start",
                {{"type", "content_block_start"},
                 {"index", index_},
                 {"content_block", {{"type", "text"}, {"text", ""}}}});
        }
        Event(out, "content_block_delta",
              {{"type", "content_block_delta"},
               {"index", index_},
               {"delta", {{"type", "text_delta"}, {"text", std::string(step.text)}}}});
        break;
      case ReplyStep::Kind::kToolCall:
        CloseThinking(out);
        if (text_started_) StopBlock(out, text_started_);
        Event(out, "content_block_start",
              {{"type", "content_block_start"},
               {"index", index_},
               {"content_block",
                {{"type", "tool_use"},
                 {"id", std::string(step.call_id)},
                 {"name", std::string(step.call_name)},
                 {"input", ordered::object()}}}});
        Event(
            out, "content_block_delta",
            {{"type", "content_block_delta"},
             {"index", index_},
             {"delta",
              {{"type", "input_json_delta"}, {"partial_json", std::string(step.call_arguments)}}}});
        Event(out, "content_block_stop", {{"type", "content_block_stop"}, {"index", index_}});
        ++index_;
        tool_used_ = true;
        break;
    }
  }

  void AppendEnd(std::string& out, const ReplySummary& summary) override {
    Start(out);
    if (text_started_ || (thinking_started_ && !thinking_done_)) {
      Event(out, "content_block_stop", {{"type", "content_block_stop"}, {"index", index_}});
    }
    ordered delta = ordered::object();
    const std::string reason = StopReason(summary.done_reason, tool_used_);
    if (!reason.empty()) delta["stop_reason"] = reason;
    Event(out, "message_delta",
          {{"type", "message_delta"},
           {"delta", std::move(delta)},
           {"usage",
            {{"input_tokens", summary.prompt_tokens},
             {"output_tokens", summary.completion_tokens}}}});
    Event(out, "message_stop", {{"type", "message_stop"}});
  }

  std::string Whole(const ReplySummary& summary) override {
    ordered content;  // null without blocks, as Go's nil slice
    if (!summary.thinking.empty()) {
      content.push_back({{"type", "thinking"}, {"thinking", std::string(summary.thinking)}});
    }
    if (!summary.text.empty()) {
      content.push_back({{"type", "text"}, {"text", std::string(summary.text)}});
    }
    if (summary.called_tool) {
      content.push_back({{"type", "tool_use"},
                         {"id", std::string(summary.call_id)},
                         {"name", std::string(summary.call_name)},
                         {"input", ordered::parse(summary.call_arguments)}});
    }
    ordered reply = {{"id", id_},
                     {"type", "message"},
                     {"role", "assistant"},
                     {"model", model_},
                     {"content", std::move(content)}};
    const std::string reason = StopReason(summary.done_reason, summary.called_tool);
    if (!reason.empty()) reply["stop_reason"] = reason;
    reply["usage"] = {{"input_tokens", summary.prompt_tokens},
                      {"output_tokens", summary.completion_tokens}};
    return DumpJson(reply) + "\n";
  }

  void AppendMidStreamError(std::string&, std::string_view) override {
    // The native {"error"} line decodes as an empty chat response, which makes no event: the
    // stream ends without message_delta or message_stop.
  }

  std::string ErrorBody(int status, std::string_view message) const override {
    return AnthropicErrorJson(status, message) + "\n";
  }

 private:
  void Start(std::string& out) {
    if (started_) return;
    started_ = true;
    Event(out, "message_start",
          {{"type", "message_start"},
           {"message",
            {{"id", id_},
             {"type", "message"},
             {"role", "assistant"},
             {"model", model_},
             {"content", ordered::array()},
             {"usage", {{"input_tokens", estimated_input_}, {"output_tokens", 0}}}}}});
  }

  void CloseThinking(std::string& out) {
    if (!thinking_started_ || thinking_done_) return;
    thinking_done_ = true;
    Event(out, "content_block_stop", {{"type", "content_block_stop"}, {"index", index_}});
    ++index_;
  }

  void StopBlock(std::string& out, bool& started) {
    Event(out, "content_block_stop", {{"type", "content_block_stop"}, {"index", index_}});
    ++index_;
    started = false;
  }

  static void Event(std::string& out, std::string_view name, const ordered& data) {
    out += "event: " + std::string(name) + "\ndata: " + DumpJson(data) + "\n\n";
  }

  const std::string id_;
  const std::string model_;
  const std::int64_t estimated_input_;
  bool started_ = false;
  bool thinking_started_ = false;
  bool thinking_done_ = false;
  bool text_started_ = false;
  bool tool_used_ = false;
  int index_ = 0;
};

CompatRequest RefuseAnthropic(int status, std::string_view message) {
  return Refuse(status, AnthropicErrorJson(status, message));
}

}  // namespace

std::string AnthropicErrorJson(int status, std::string_view message) {
  const char* type = "api_error";
  switch (status) {
    case 400:
      type = "invalid_request_error";
      break;
    case 401:
      type = "authentication_error";
      break;
    case 403:
      type = "permission_error";
      break;
    case 404:
      type = "not_found_error";
      break;
    case 429:
      type = "rate_limit_error";
      break;
    case 503:
    case 529:
      type = "overloaded_error";
      break;
  }
  return DumpJson(ordered{{"type", "error"},
                          {"error", {{"type", type}, {"message", std::string(message)}}},
                          {"request_id", HexId("req", message)}});
}

namespace {

CompatRequest TranslateAnthropicMessagesUnguarded(std::string_view body, const Catalog& catalog) {
  ordered request;
  std::string error;
  if (!ParseCompatBody(body, "anthropic.MessagesRequest", request, error)) {
    return RefuseAnthropic(400, error);
  }
  if (auto e = CheckCompatFields(request, "MessagesRequest",
                                 {{"model", JsonKind::kString, "string"},
                                  {"max_tokens", JsonKind::kNumber, "int"},
                                  {"messages", JsonKind::kArray, "[]anthropic.MessageParam"},
                                  {"stream", JsonKind::kBool, "bool"},
                                  {"tools", JsonKind::kArray, "[]anthropic.Tool"},
                                  {"thinking", JsonKind::kObject, "anthropic.ThinkingConfig"}})) {
    return RefuseAnthropic(400, *e);
  }
  for (const auto& [field, go_type] :
       {std::pair{"messages", "anthropic.MessageParam"}, std::pair{"tools", "anthropic.Tool"}}) {
    if (auto e = CheckObjectElements(request, field, "MessagesRequest", go_type)) {
      return RefuseAnthropic(400, *e);
    }
  }
  const std::string model = JsonString(request, "model");
  if (model.empty()) return RefuseAnthropic(400, "model is required");
  const ordered max_tokens = request.value("max_tokens", ordered());
  if (!max_tokens.is_number() || max_tokens.get<double>() <= 0) {
    return RefuseAnthropic(400, "max_tokens is required and must be positive");
  }
  const ordered messages = request.value("messages", ordered::array());
  if (messages.empty()) return RefuseAnthropic(400, "messages is required");

  ordered native_messages = ordered::array();
  const ordered system = request.value("system", ordered());
  std::string system_text = system.is_string() ? system.get<std::string>() : "";
  if (system.is_array()) {
    for (const ordered& block : system) {
      if (block.is_object() && JsonString(block, "type") == "text") {
        system_text += JsonString(block, "text");
      }
    }
  }
  if (!system_text.empty()) {
    native_messages.push_back({{"role", "system"}, {"content", system_text}});
  }
  for (const ordered& message : messages) {
    if (!ConvertMessage(message, native_messages, error)) return RefuseAnthropic(400, error);
  }

  ordered options = {{"num_predict", max_tokens.get<std::int64_t>()}};
  for (const char* key : {"temperature", "top_p", "top_k"}) {
    if (request.contains(key)) options[key] = request[key];
  }
  if (request.contains("stop_sequences")) options["stop"] = request["stop_sequences"];

  ordered tools = ordered::array();
  for (const ordered& tool : request.value("tools", ordered::array())) {
    tools.push_back({{"type", "function"},
                     {"function",
                      {{"name", JsonString(tool, "name")},
                       {"description", JsonString(tool, "description")},
                       {"parameters", tool.value("input_schema", ordered::object())}}}});
  }

  ordered think;
  const ordered thinking = request.value("thinking", ordered());
  if (thinking.is_object() && JsonString(thinking, "type") == "enabled") think = true;
  if (thinking.is_object() && JsonString(thinking, "type") == "disabled") think = false;
  if (think.is_null() && request.contains("output_config")) {
    std::string effort = LowerAscii(JsonString(request["output_config"], "effort"));
    if (effort == "xhigh") effort = "high";
    if (effort == "high" || effort == "medium" || effort == "low" || effort == "max")
      think = effort;
  }
  // Ollama relaxes thinking for this API (for clients like Claude Code): a model that does not
  // think ignores the request instead of refusing it.
  if (const ModelInfo* info = catalog.Find(model);
      info != nullptr && !info->thinking && !think.is_null() && think != false) {
    think = ordered();
  }

  const bool stream = IsTrue(request, "stream");
  ordered native = {{"model", model},
                    {"messages", std::move(native_messages)},
                    {"stream", stream},
                    {"options", std::move(options)}};
  if (!tools.empty()) native["tools"] = std::move(tools);
  if (!think.is_null()) native["think"] = std::move(think);

  CompatRequest translated;
  translated.kind = ReplyKind::kChat;
  translated.native_body = DumpJson(native);
  translated.adapter =
      std::make_unique<MessagesAdapter>(HexId("msg", body), model, EstimateInputTokens(request));
  return translated;
}

}  // namespace

CompatRequest TranslateAnthropicMessages(std::string_view body, const Catalog& catalog) {
  // The checks above follow Go's binding for the usual mistakes; any other shape they let
  // through (an element of the wrong type deep inside) is refused, never a 500.
  try {
    return TranslateAnthropicMessagesUnguarded(body, catalog);
  } catch (const nlohmann::json::exception& e) {
    return RefuseAnthropic(400, e.what());
  }
}

}  // namespace og::sim
