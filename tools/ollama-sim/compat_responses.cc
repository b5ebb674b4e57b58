// /v1/responses (openai/responses.go, ResponsesMiddleware): the OpenAI Responses API over the
// native chat handler. The streamed events are Go maps, so their keys come out sorted (plain
// nlohmann::json); the non-streamed reply is a struct, in its field order.
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "tools/ollama-sim/compat.h"
#include "tools/ollama-sim/text.h"

namespace og::sim {
namespace {

using ordered = nlohmann::ordered_json;
using sorted = nlohmann::json;

// What the reply echoes of the request.
struct Echo {
  std::string model;
  std::string instructions;  // "" -> null
  ordered tools = ordered::array();
  ordered text_format;  // null -> {"type":"text"}
  std::string effort;
  std::string summary;
  ordered max_output_tokens;  // null when absent
  ordered top_p;              // null -> 1
  ordered temperature;        // null -> 1
  bool background = false;
  std::string truncation = "disabled";
};

// A message's content: a string, or input_text / output_text parts joined (images are accepted
// and not looked at).
bool ContentText(const ordered& content, std::string& text, std::string& error) {
  if (content.is_null()) return true;
  if (content.is_string()) {
    text = content.get<std::string>();
    return true;
  }
  if (!content.is_array()) {
    error = "content must be a string or array";
    return false;
  }
  for (std::size_t i = 0; i < content.size(); ++i) {
    const std::string type = content[i].is_object() ? JsonString(content[i], "type") : "";
    if (type == "input_text" || type == "output_text") {
      text += JsonString(content[i], "text");
    } else if (type == "input_file") {
      error = "file inputs are not currently supported";
      return false;
    } else if (type != "input_image") {
      error = absl::StrCat("content[", i, "]: unknown content type: \"", type, "\"");
      return false;
    }
  }
  return true;
}

// FromResponsesRequest's messages.
bool NativeMessages(const ordered& request, ordered& messages, std::string& error) {
  messages = ordered::array();
  if (!JsonString(request, "instructions").empty()) {
    messages.push_back({{"role", "system"}, {"content", JsonString(request, "instructions")}});
  }
  const ordered input = request.value("input", ordered());
  if (input.is_string()) {
    if (!input.get<std::string>().empty()) {
      messages.push_back({{"role", "user"}, {"content", input}});
    }
    return true;
  }
  if (input.is_null()) return true;
  if (!input.is_array()) {
    error = "input must be a string or array";
    return false;
  }
  std::string pending_thinking;
  for (std::size_t i = 0; i < input.size(); ++i) {
    const ordered& item = input[i];
    std::string type = item.is_object() ? JsonString(item, "type") : "";
    if (type.empty() && item.is_object() && !JsonString(item, "role").empty()) type = "message";
    if (type == "reasoning") {
      pending_thinking = JsonString(item, "encrypted_content");
    } else if (type == "message") {
      std::string text;
      if (!ContentText(item.value("content", ordered()), text, error)) {
        error = absl::StrCat("input[", i, "]: ", error);
        return false;
      }
      ordered message = {{"role", JsonString(item, "role")}, {"content", text}};
      if (JsonString(item, "role") == "assistant" && !pending_thinking.empty()) {
        message["thinking"] = pending_thinking;
        pending_thinking.clear();
      }
      messages.push_back(std::move(message));
    } else if (type == "function_call") {
      ordered arguments = ordered::object();
      if (!JsonString(item, "arguments").empty()) {
        try {
          arguments = ordered::parse(JsonString(item, "arguments"));
        } catch (const ordered::parse_error& e) {
          error = absl::StrCat("failed to parse function call arguments: ", e.what());
          return false;
        }
      }
      ordered call = {
          {"id", JsonString(item, "call_id")},
          {"function",
           {{"index", 0}, {"name", JsonString(item, "name")}, {"arguments", arguments}}}};
      // Calls join the assistant message before them, as in Ollama.
      if (!messages.empty() && JsonString(messages.back(), "role") == "assistant") {
        if (!messages.back().contains("tool_calls"))
          messages.back()["tool_calls"] = ordered::array();
        messages.back()["tool_calls"].push_back(std::move(call));
      } else {
        messages.push_back({{"role", "assistant"},
                            {"content", ""},
                            {"tool_calls", ordered::array({std::move(call)})}});
      }
      if (!pending_thinking.empty()) {
        messages.back()["thinking"] = pending_thinking;
        pending_thinking.clear();
      }
    } else if (type == "function_call_output") {
      std::string text;
      if (!ContentText(item.value("output", ordered()), text, error)) {
        error = absl::StrCat("input[", i, "]: output must be a string or array");
        return false;
      }
      messages.push_back(
          {{"role", "tool"}, {"content", text}, {"tool_call_id", JsonString(item, "call_id")}});
    } else if (type == "web_search_call") {
      // Accepted and dropped, as Ollama does.
    } else if (type.empty()) {
      error = absl::StrCat("input[", i, "]: input item missing required 'type' field");
      return false;
    } else {
      error = absl::StrCat("input[", i, "]: unknown input item type: \"", type, "\"");
      return false;
    }
  }
  if (!pending_thinking.empty()) {
    messages.push_back({{"role", "assistant"}, {"content", ""}, {"thinking", pending_thinking}});
  }
  return true;
}

class ResponsesAdapter : public ReplyAdapter {
 public:
  ResponsesAdapter(std::uint64_t seed, Echo echo)
      : response_id_(absl::StrCat("resp_", seed % 999999)),
        item_id_(absl::StrCat("msg_", (seed >> 20) % 999999)),
        reasoning_id_(absl::StrCat("rs_", (seed >> 40) % 999999)),
        call_item_id_(absl::StrCat("fc_", (seed >> 24) % 999999, "_0")),
        echo_(std::move(echo)) {}

  std::string_view ContentType(bool stream) const override {
    return stream ? "text/event-stream" : "application/json";
  }

  void AppendStep(std::string& out, const ReplyStep& step) override {
    Start(out);
    switch (step.kind) {
      case ReplyStep::Kind::kThinking:
        if (!reasoning_started_) {
          reasoning_started_ = true;
          Event(out, "response.output_item.added",
                {{"output_index", output_index_},
                 {"item",
                  {{"id", reasoning_id_}, {"type", "reasoning"}, {"summary", sorted::array()}}}});
        }
        thinking_ += step.text;
        Event(out, "response.reasoning_summary_text.delta",
              {{"item_id", reasoning_id_},
               {"output_index", output_index_},
               {"summary_index", 0},
               {"delta", std::string(step.text)}});
        break;
      case ReplyStep::Kind::kToolCall:
        FinishReasoning(out);
        ToolCallEvents(out, step);
        break;
      case ReplyStep::Kind::kContent:
        if (tool_call_sent_) break;
        FinishReasoning(out);
        if (!content_started_) {
          content_started_ = true;
          Event(out, "response.output_item.added",
                {{"output_index", output_index_},
                 {"item",
                  {{"id", item_id_},
                   {"type", "message"},
                   {"status", "in_progress"},
                   {"role", "assistant"},
                   {"content", sorted::array()}}}});
          Event(out, "response.content_part.added",
                {{"item_id", item_id_},
                 {"output_index", output_index_},
                 {"content_index", 0},
                 {"part", Part("")}});
        }
        text_ += step.text;
        Event(out, "response.output_text.delta",
              {{"item_id", item_id_},
               {"output_index", output_index_},
               {"content_index", 0},
               {"delta", std::string(step.text)},
               {"logprobs", sorted::array()}});
        break;
    }
  }

  void AppendEnd(std::string& out, const ReplySummary& summary) override {
    Start(out);
    FinishReasoning(out);
    if (!tool_call_sent_ && content_started_) {
      Event(out, "response.output_text.done",
            {{"item_id", item_id_},
             {"output_index", output_index_},
             {"content_index", 0},
             {"text", text_},
             {"logprobs", sorted::array()}});
      Event(out, "response.content_part.done",
            {{"item_id", item_id_},
             {"output_index", output_index_},
             {"content_index", 0},
             {"part", Part(text_)}});
      Event(out, "response.output_item.done",
            {{"output_index", output_index_}, {"item", MessageItem()}});
    }
    sorted output = completed_;
    if (content_started_) output.push_back(MessageItem());
    sorted response = ResponseObject("completed", std::move(output), Usage(summary));
    response["completed_at"] = UnixNow();
    Event(out, "response.completed", {{"response", std::move(response)}});
  }

  std::string Whole(const ReplySummary& summary) override {
    ordered output = ordered::array();
    if (!summary.thinking.empty()) {
      output.push_back({{"id", absl::StrCat("rs_", response_id_)},
                        {"type", "reasoning"},
                        {"summary", ordered::array({{{"type", "summary_text"},
                                                     {"text", std::string(summary.thinking)}}})},
                        {"encrypted_content", std::string(summary.thinking)}});
    }
    if (summary.called_tool) {
      output.push_back({{"id", absl::StrCat("fc_", response_id_, "_0")},
                        {"type", "function_call"},
                        {"status", "completed"},
                        {"call_id", std::string(summary.call_id)},
                        {"name", std::string(summary.call_name)},
                        {"arguments", std::string(summary.call_arguments)}});
    } else {
      output.push_back({{"id", item_id_},
                        {"type", "message"},
                        {"status", "completed"},
                        {"role", "assistant"},
                        {"content", ordered::array({{{"type", "output_text"},
                                                     {"text", std::string(summary.text)},
                                                     {"annotations", ordered::array()},
                                                     {"logprobs", ordered::array()}}})}});
    }
    ordered text_format =
        echo_.text_format.is_null() ? ordered{{"type", "text"}} : echo_.text_format;
    ordered reasoning;
    if (!echo_.effort.empty() || !echo_.summary.empty()) {
      reasoning = ordered::object();
      if (!echo_.effort.empty()) reasoning["effort"] = echo_.effort;
      if (!echo_.summary.empty()) reasoning["summary"] = echo_.summary;
    }
    const std::int64_t now = UnixNow();
    ordered reply = {
        {"id", response_id_},
        {"object", "response"},
        {"created_at", now},
        {"completed_at", now},
        {"status", "completed"},
        {"incomplete_details", nullptr},
        {"model", echo_.model},
        {"previous_response_id", nullptr},
        {"instructions", echo_.instructions.empty() ? ordered() : ordered(echo_.instructions)},
        {"output", std::move(output)},
        {"error", nullptr},
        {"tools", echo_.tools},
        {"tool_choice", "auto"},
        {"truncation", echo_.truncation},
        {"parallel_tool_calls", true},
        {"text", {{"format", std::move(text_format)}}},
        {"top_p", echo_.top_p.is_null() ? GoFloat(1.0) : echo_.top_p},
        {"presence_penalty", 0},
        {"frequency_penalty", 0},
        {"top_logprobs", 0},
        {"temperature", echo_.temperature.is_null() ? GoFloat(1.0) : echo_.temperature},
        {"reasoning", std::move(reasoning)},
        {"usage", nullptr},
        {"max_output_tokens", echo_.max_output_tokens},
        {"max_tool_calls", nullptr},
        {"store", false},
        {"background", echo_.background},
        {"service_tier", "default"},
        {"metadata", ordered::object()},
        {"safety_identifier", nullptr},
        {"prompt_cache_key", nullptr}};
    // ResponsesUsage is a struct: its fields in order.
    reply["usage"] = {{"input_tokens", summary.prompt_tokens},
                      {"output_tokens", summary.completion_tokens},
                      {"total_tokens", summary.prompt_tokens + summary.completion_tokens},
                      {"input_tokens_details", {{"cached_tokens", 0}}},
                      {"output_tokens_details", {{"reasoning_tokens", 0}}}};
    return DumpJson(reply) + "\n";
  }

  void AppendMidStreamError(std::string&, std::string_view) override {
    // The native {"error"} line decodes as an empty chat response, which makes no event: the
    // stream just ends, without response.completed.
  }

  std::string ErrorBody(int status, std::string_view message) const override {
    return OpenAIErrorJson(status, message) + "\n";
  }

 private:
  static sorted Part(std::string_view text) {
    return {{"type", "output_text"},
            {"text", std::string(text)},
            {"annotations", sorted::array()},
            {"logprobs", sorted::array()}};
  }

  sorted MessageItem() const {
    return {{"id", item_id_},
            {"type", "message"},
            {"status", "completed"},
            {"role", "assistant"},
            {"content", sorted::array({Part(text_)})}};
  }

  static sorted Usage(const ReplySummary& summary) {
    return {{"input_tokens", summary.prompt_tokens},
            {"output_tokens", summary.completion_tokens},
            {"total_tokens", summary.prompt_tokens + summary.completion_tokens},
            {"input_tokens_details", {{"cached_tokens", 0}}},
            {"output_tokens_details", {{"reasoning_tokens", 0}}}};
  }

  sorted ResponseObject(std::string_view status, sorted output, sorted usage) const {
    sorted tools = sorted::array();
    for (const ordered& tool : echo_.tools) {
      tools.push_back(
          {{"type", tool.value("type", ordered())},
           {"name", tool.value("name", ordered())},
           {"description", tool.value("description", ordered())},
           {"strict", tool.value("strict", ordered())},
           {"parameters", sorted::parse(DumpJson(tool.value("parameters", ordered())))}});
    }
    sorted format = {{"type", "text"}};
    if (echo_.text_format.is_object()) {
      format = {{"type", JsonString(echo_.text_format, "type")}};
      if (!JsonString(echo_.text_format, "name").empty()) {
        format["name"] = JsonString(echo_.text_format, "name");
      }
      if (echo_.text_format.contains("schema")) {
        format["schema"] = sorted::parse(DumpJson(echo_.text_format["schema"]));
      }
      if (echo_.text_format.contains("strict")) {
        format["strict"] = sorted::parse(DumpJson(echo_.text_format["strict"]));
      }
    }
    sorted reasoning;
    if (!echo_.effort.empty() || !echo_.summary.empty()) {
      reasoning = {{"effort", echo_.effort.empty() ? sorted() : sorted(echo_.effort)},
                   {"summary", echo_.summary.empty() ? sorted() : sorted(echo_.summary)}};
    }
    const auto number = [](const ordered& value) {
      return value.is_null() ? sorted(1) : sorted::parse(DumpJson(value));
    };
    return {{"id", response_id_},
            {"object", "response"},
            {"created_at", UnixNow()},
            {"completed_at", nullptr},
            {"status", std::string(status)},
            {"incomplete_details", nullptr},
            {"model", echo_.model},
            {"previous_response_id", nullptr},
            {"instructions", echo_.instructions.empty() ? sorted() : sorted(echo_.instructions)},
            {"output", std::move(output)},
            {"error", nullptr},
            {"tools", std::move(tools)},
            {"tool_choice", "auto"},
            {"truncation", echo_.truncation},
            {"parallel_tool_calls", true},
            {"text", {{"format", std::move(format)}}},
            {"top_p", number(echo_.top_p)},
            {"presence_penalty", 0},
            {"frequency_penalty", 0},
            {"top_logprobs", 0},
            {"temperature", number(echo_.temperature)},
            {"reasoning", std::move(reasoning)},
            {"usage", std::move(usage)},
            {"max_output_tokens", sorted::parse(DumpJson(echo_.max_output_tokens))},
            {"max_tool_calls", nullptr},
            {"store", false},
            {"background", echo_.background},
            {"service_tier", "default"},
            {"metadata", sorted::object()},
            {"safety_identifier", nullptr},
            {"prompt_cache_key", nullptr}};
  }

  // response.created and response.in_progress open the stream.
  void Start(std::string& out) {
    if (started_) return;
    started_ = true;
    Event(out, "response.created",
          {{"response", ResponseObject("in_progress", sorted::array(), sorted())}});
    Event(out, "response.in_progress",
          {{"response", ResponseObject("in_progress", sorted::array(), sorted())}});
  }

  void FinishReasoning(std::string& out) {
    if (!reasoning_started_) return;
    reasoning_started_ = false;
    sorted item = {{"id", reasoning_id_},
                   {"type", "reasoning"},
                   {"summary", sorted::array({{{"type", "summary_text"}, {"text", thinking_}}})},
                   {"encrypted_content", thinking_}};
    completed_.push_back(item);
    Event(out, "response.reasoning_summary_text.done",
          {{"item_id", reasoning_id_},
           {"output_index", output_index_},
           {"summary_index", 0},
           {"text", thinking_}});
    Event(out, "response.output_item.done", {{"output_index", output_index_}, {"item", item}});
    ++output_index_;
    thinking_.clear();
  }

  void ToolCallEvents(std::string& out, const ReplyStep& step) {
    const std::string arguments(step.call_arguments);
    sorted item = {{"id", call_item_id_},
                   {"type", "function_call"},
                   {"status", "completed"},
                   {"call_id", std::string(step.call_id)},
                   {"name", std::string(step.call_name)},
                   {"arguments", arguments}};
    completed_.push_back(item);
    sorted added = item;
    added["status"] = "in_progress";
    added["arguments"] = "";
    Event(out, "response.output_item.added", {{"output_index", output_index_}, {"item", added}});
    Event(out, "response.function_call_arguments.delta",
          {{"item_id", call_item_id_}, {"output_index", output_index_}, {"delta", arguments}});
    Event(out, "response.function_call_arguments.done",
          {{"item_id", call_item_id_}, {"output_index", output_index_}, {"arguments", arguments}});
    Event(out, "response.output_item.done", {{"output_index", output_index_}, {"item", item}});
    ++output_index_;
    tool_call_sent_ = true;
  }

  // event: TYPE / data: {...,"sequence_number":N,"type":TYPE}
  void Event(std::string& out, std::string_view type, sorted data) {
    data["type"] = std::string(type);
    data["sequence_number"] = sequence_++;
    out += "event: " + std::string(type) + "\ndata: " + DumpJson(data) + "\n\n";
  }

  const std::string response_id_;
  const std::string item_id_;
  const std::string reasoning_id_;
  const std::string call_item_id_;
  const Echo echo_;
  bool started_ = false;
  bool reasoning_started_ = false;
  bool content_started_ = false;
  bool tool_call_sent_ = false;
  int output_index_ = 0;
  int sequence_ = 0;
  std::string thinking_;
  std::string text_;
  sorted completed_ = sorted::array();
};

}  // namespace

namespace {

CompatRequest TranslateResponsesUnguarded(std::string_view body) {
  const auto refuse = [](std::string_view message) { return RefuseOpenAI(400, message); };
  ordered request;
  std::string error;
  if (!ParseCompatBody(body, "openai.ResponsesRequest", request, error)) return refuse(error);
  if (auto e = CheckCompatFields(request, "ResponsesRequest",
                                 {{"model", JsonKind::kString, "string"},
                                  {"instructions", JsonKind::kString, "string"},
                                  {"max_output_tokens", JsonKind::kNumber, "int"},
                                  {"tools", JsonKind::kArray, "[]openai.ResponsesTool"},
                                  {"stream", JsonKind::kBool, "bool"},
                                  {"reasoning", JsonKind::kObject, "openai.ResponsesReasoning"}})) {
    return refuse(*e);
  }

  if (auto e = CheckObjectElements(request, "tools", "ResponsesRequest", "openai.ResponsesTool")) {
    return refuse(*e);
  }
  ordered messages;
  if (!NativeMessages(request, messages, error)) return refuse(error);
  Echo echo;
  echo.model = JsonString(request, "model");
  echo.instructions = JsonString(request, "instructions");
  const ordered reasoning = request.value("reasoning", ordered::object());
  echo.effort = JsonString(reasoning, "effort");
  echo.summary = JsonString(reasoning, "summary");
  ordered think;
  if (!ThinkFromEffort(echo.effort, think, error)) return refuse(error);
  echo.max_output_tokens = request.value("max_output_tokens", ordered());
  echo.top_p = request.value("top_p", ordered());
  echo.temperature = request.value("temperature", ordered());
  echo.background = IsTrue(request, "background");
  if (request.contains("truncation") && request["truncation"].is_string()) {
    echo.truncation = request["truncation"].get<std::string>();
  }

  ordered options = {{"temperature", echo.temperature.is_null() ? GoFloat(1.0) : echo.temperature}};
  if (!echo.top_p.is_null()) options["top_p"] = echo.top_p;
  if (echo.max_output_tokens.is_number()) options["num_predict"] = echo.max_output_tokens;

  // Function tools come flat ({"type":"function","name",...}); the native ones nest them.
  ordered tools = ordered::array();
  if (request.contains("tools") && request["tools"].is_array()) {
    echo.tools = request["tools"];
    for (const ordered& tool : request["tools"]) {
      tools.push_back(
          {{"type", tool.value("type", "function")},
           {"function",
            {{"name", JsonString(tool, "name")},
             {"description",
              tool.value("description", ordered()).is_string() ? tool["description"] : ordered("")},
             {"parameters", tool.value("parameters", ordered::object())}}}});
    }
  }
  ordered format;
  if (const auto text = request.find("text"); text != request.end() && text->is_object()) {
    const ordered fmt = text->value("format", ordered());
    if (fmt.is_object()) {
      echo.text_format = fmt;
      if (JsonString(fmt, "type") == "json_schema" && fmt.contains("schema"))
        format = fmt["schema"];
    }
  }
  const bool stream = IsTrue(request, "stream");
  ordered native = {{"model", echo.model},
                    {"messages", std::move(messages)},
                    {"stream", stream},
                    {"options", std::move(options)}};
  if (!tools.empty()) native["tools"] = std::move(tools);
  if (!format.is_null()) native["format"] = std::move(format);
  if (!think.is_null()) native["think"] = std::move(think);

  CompatRequest translated;
  translated.kind = ReplyKind::kChat;
  translated.native_body = DumpJson(native);
  translated.adapter = std::make_unique<ResponsesAdapter>(Fnv1a64(body), std::move(echo));
  return translated;
}

}  // namespace

CompatRequest TranslateResponses(std::string_view body) {
  // The checks above follow Go's binding for the usual mistakes; any other shape they let
  // through (an element of the wrong type deep inside) is refused, never a 500.
  try {
    return TranslateResponsesUnguarded(body);
  } catch (const nlohmann::json::exception& e) {
    return RefuseOpenAI(400, e.what());
  }
}

}  // namespace og::sim
