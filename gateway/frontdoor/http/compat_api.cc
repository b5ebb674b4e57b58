#include "gateway/frontdoor/http/compat_api.h"

#include <simdjson.h>

#include <algorithm>
#include <optional>

#include "absl/strings/escaping.h"
#include "gateway/upstream/line_parser.h"

namespace og {
namespace {

using Json = nlohmann::json;
using simdjson::dom::element;

// Keys whose strings are text the model reads (an array under one of them holds such strings,
// as `input` and `prompt` may).
bool IsTextKey(std::string_view key) {
  static constexpr std::string_view kKeys[] = {
      "content",      "text",    "prompt",   "suffix",    "input",
      "instructions", "system",  "thinking", "reasoning", "reasoning_content",
      "output",       "refusal", "summary",  "query"};
  return std::find(std::begin(kKeys), std::end(kKeys), key) != std::end(kKeys);
}

// Keys whose values are structure, not text: ids, names, roles, types, image data and URLs.
bool IsStructuralKey(std::string_view key) {
  static constexpr std::string_view kKeys[] = {
      "type",   "role",    "id",     "call_id",   "tool_use_id", "tool_call_id",  "name",
      "model",  "url",     "source", "data",      "media_type",  "cache_control", "signature",
      "status", "file_id", "detail", "image_url", "annotations", "logprobs",      "index"};
  return std::find(std::begin(kKeys), std::end(kKeys), key) != std::end(kKeys);
}

bool IsImagePart(const Json& object) {
  auto type = object.find("type");
  if (type == object.end() || !type->is_string()) return false;
  const std::string& t = type->get_ref<const std::string&>();
  return t == "image_url" || t == "input_image" || t == "image";
}

std::size_t CountOf(const Json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return 0;
  return it->is_array() ? it->size() : 1;
}

// Members of a simdjson object, read without exceptions.
std::optional<element> Member(element object, std::string_view key) {
  element value;
  if (object.type() != simdjson::dom::element_type::OBJECT) return std::nullopt;
  if (object[key].get(value) != simdjson::SUCCESS) return std::nullopt;
  return value;
}

std::string_view StringAt(element object, std::string_view key) {
  std::string_view text;
  std::optional<element> value = Member(object, key);
  if (!value || value->get_string().get(text) != simdjson::SUCCESS) return {};
  return text;
}

std::int64_t IntAt(element object, std::string_view key) {
  std::optional<element> value = Member(object, key);
  std::int64_t n = -1;
  if (!value || value->get_int64().get(n) != simdjson::SUCCESS) return -1;
  return n;
}

bool NonEmpty(std::optional<element> value) {
  if (!value) return false;
  std::string_view text;
  if (value->get_string().get(text) == simdjson::SUCCESS) return !text.empty();
  simdjson::dom::array array;
  if (value->get_array().get(array) == simdjson::SUCCESS) return array.size() > 0;
  return !value->is_null();
}

// An `error` member: OpenAI's {"message": ...}, Anthropic's {"type", "message"}, or a string.
std::string ErrorText(element error) {
  std::string_view text;
  if (error.get_string().get(text) == simdjson::SUCCESS) return std::string(text);
  text = StringAt(error, "message");
  return text.empty() ? std::string("the backend reported an error") : std::string(text);
}

void ReadUsage(std::optional<element> usage, const char* prompt, const char* completion,
               CompatLineFacts* facts) {
  if (!usage || usage->type() != simdjson::dom::element_type::OBJECT) return;
  if (const std::int64_t n = IntAt(*usage, prompt); n >= 0) facts->prompt_tokens = n;
  if (const std::int64_t n = IntAt(*usage, completion); n >= 0) facts->completion_tokens = n;
}

// OpenAI's chat and completions chunks and answers.
void ReadChoices(element root, bool stream, CompatLineFacts* facts) {
  simdjson::dom::array choices;
  std::optional<element> value = Member(root, "choices");
  if (value && value->get_array().get(choices) == simdjson::SUCCESS) {
    for (element choice : choices) {
      if (!stream || NonEmpty(Member(choice, "text"))) {
        facts->output = true;
        continue;
      }
      std::optional<element> delta = Member(choice, "delta");
      if (!delta) continue;
      for (const char* key : {"content", "reasoning", "reasoning_content", "tool_calls"}) {
        if (NonEmpty(Member(*delta, key))) facts->output = true;
      }
    }
  }
  ReadUsage(Member(root, "usage"), "prompt_tokens", "completion_tokens", facts);
}

void ReadResponses(element root, bool stream, CompatLineFacts* facts) {
  if (!stream) {
    facts->output = true;
    ReadUsage(Member(root, "usage"), "input_tokens", "output_tokens", facts);
    return;
  }
  const std::string_view type = StringAt(root, "type");
  if (type.ends_with(".delta")) facts->output = true;
  if (type == "response.completed" || type == "response.incomplete") {
    facts->done = true;
    if (std::optional<element> response = Member(root, "response")) {
      ReadUsage(Member(*response, "usage"), "input_tokens", "output_tokens", facts);
    }
  } else if (type == "response.failed") {
    std::optional<element> response = Member(root, "response");
    std::optional<element> error = response ? Member(*response, "error") : std::nullopt;
    facts->error = error ? ErrorText(*error) : "the response failed";
  } else if (type == "error") {
    facts->error = ErrorText(root);
  }
}

void ReadMessages(element root, bool stream, CompatLineFacts* facts) {
  if (!stream) {
    facts->output = true;
    ReadUsage(Member(root, "usage"), "input_tokens", "output_tokens", facts);
    return;
  }
  const std::string_view type = StringAt(root, "type");
  if (type == "message_start") {
    if (std::optional<element> message = Member(root, "message")) {
      ReadUsage(Member(*message, "usage"), "input_tokens", "output_tokens", facts);
    }
  } else if (type == "content_block_delta") {
    facts->output = true;
  } else if (type == "message_delta") {
    ReadUsage(Member(root, "usage"), "input_tokens", "output_tokens", facts);
  } else if (type == "message_stop") {
    facts->done = true;
  }
}

}  // namespace

CompatInput ReadCompatInput(CompatApi api, Json& body) {
  CompatInput input;
  for (const char* key : {"max_tokens", "max_completion_tokens", "max_output_tokens"}) {
    auto it = body.find(key);
    if (it != body.end() && it->is_number_integer() && input.max_tokens == 0) {
      input.max_tokens = std::max<std::int64_t>(0, it->get<std::int64_t>());
    }
  }
  std::vector<const char*> roots;
  switch (api) {
    case CompatApi::kChatCompletions:
      roots = {"messages"};
      input.messages = CountOf(body, "messages");
      break;
    case CompatApi::kCompletions:
      roots = {"prompt", "suffix"};
      input.messages = CountOf(body, "prompt");
      break;
    case CompatApi::kEmbeddings:
      roots = {"input"};
      input.embed_inputs = CountOf(body, "input");
      break;
    case CompatApi::kResponses:
      roots = {"instructions", "input"};
      input.messages = CountOf(body, "input");
      break;
    case CompatApi::kMessages:
      roots = {"system", "messages"};
      input.messages = CountOf(body, "messages");
      break;
  }
  struct Pending {
    Json* value;
    bool text;  // a string here is text
    bool all;   // every string below is text (tool-call arguments)
  };
  std::vector<Pending> pending;
  // Roots in reverse, so that texts come out in the body's order.
  for (auto root = roots.rbegin(); root != roots.rend(); ++root) {
    auto it = body.find(*root);
    if (it != body.end()) pending.push_back({&*it, IsTextKey(*root), false});
  }
  while (!pending.empty()) {
    const Pending item = pending.back();
    pending.pop_back();
    Json& value = *item.value;
    if (value.is_string()) {
      if (item.text || item.all) input.texts.push_back(value.get_ptr<std::string*>());
    } else if (value.is_array()) {
      for (auto child = value.rbegin(); child != value.rend(); ++child) {
        pending.push_back({&*child, item.text, item.all});
      }
    } else if (value.is_object()) {
      if (!item.all && IsImagePart(value)) ++input.images;
      std::vector<Pending> members;
      for (auto member = value.begin(); member != value.end(); ++member) {
        const std::string& key = member.key();
        if (item.all) {
          members.push_back({&member.value(), true, true});
        } else if (key == "arguments" || (key == "input" && member.value().is_object())) {
          // OpenAI's arguments (a JSON string) and Anthropic's tool_use input (an object).
          members.push_back({&member.value(), true, true});
        } else if (!IsStructuralKey(key)) {
          members.push_back({&member.value(), IsTextKey(key), false});
        }
      }
      pending.insert(pending.end(), members.rbegin(), members.rend());
    }
  }
  return input;
}

CompatLineFacts ReadCompatLine(CompatApi api, bool stream, std::string_view line, int max_depth) {
  CompatLineFacts facts;
  const auto malformed = [&](const std::string& why) {
    facts.malformed = true;
    facts.error = why + ", starting '" + absl::CHexEscape(std::string(line.substr(0, 80))) + "'";
    return facts;
  };
  std::string_view json = line;
  if (stream) {
    if (line.empty() || line.starts_with(":") || line.starts_with("event:") ||
        line.starts_with("id:") || line.starts_with("retry:")) {
      return facts;
    }
    if (!line.starts_with("data:")) return malformed("a line that is not a server-sent event");
    json.remove_prefix(5);
    if (!json.empty() && json.front() == ' ') json.remove_prefix(1);
    if (json == "[DONE]") {
      facts.done = true;
      return facts;
    }
  }
  std::optional<simdjson::dom::parser> own_parser;
  simdjson::dom::parser* parser = LineParser(json.size(), max_depth, &own_parser);
  if (parser == nullptr) return facts;
  element root;
  const simdjson::error_code parsed =
      parser->parse(json.data(), json.size(), /*realloc_if_needed=*/true).get(root);
  if (parsed == simdjson::DEPTH_ERROR) {
    return malformed("an event nested deeper than limits.max_json_depth (" +
                     std::to_string(max_depth) + ")");
  }
  if (parsed != simdjson::SUCCESS || root.type() != simdjson::dom::element_type::OBJECT) {
    return malformed(stream ? "an event whose data is not a JSON object"
                            : "an answer that is not a JSON object");
  }
  if (std::optional<element> error = Member(root, "error"); error && !error->is_null()) {
    facts.error = ErrorText(*error);
    return facts;
  }
  switch (api) {
    case CompatApi::kChatCompletions:
    case CompatApi::kCompletions:
    case CompatApi::kEmbeddings:
      ReadChoices(root, stream, &facts);
      if (api == CompatApi::kEmbeddings) facts.output = true;
      break;
    case CompatApi::kResponses:
      ReadResponses(root, stream, &facts);
      break;
    case CompatApi::kMessages:
      ReadMessages(root, stream, &facts);
      break;
  }
  if (!stream) facts.done = true;
  return facts;
}

}  // namespace og
