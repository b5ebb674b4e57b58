#include "tools/ollama-sim/schema.h"

#include <algorithm>
#include <cctype>

#include "tools/ollama-sim/text.h"
#include "tools/ollama-sim/wire_json.h"

namespace og::sim {
namespace {

using ordered = nlohmann::ordered_json;

// $ref / anyOf / oneOf / allOf hops followed for one value; a cycle of references ends here.
constexpr int kMaxHops = 8;

// The value a JSON pointer ("#/$defs/x") names inside `root`, or nullptr.
const ordered* FollowPointer(const ordered& root, std::string_view ref) {
  if (ref.empty() || ref[0] != '#') return nullptr;
  ref.remove_prefix(1);
  const ordered* at = &root;
  while (!ref.empty()) {
    if (ref[0] != '/') return nullptr;
    ref.remove_prefix(1);
    const std::size_t end = std::min(ref.find('/'), ref.size());
    std::string token;
    for (std::size_t i = 0; i < end; ++i) {
      // RFC 6901: ~1 is '/', ~0 is '~'.
      if (ref[i] == '~' && i + 1 < end && (ref[i + 1] == '0' || ref[i + 1] == '1')) {
        token += ref[i + 1] == '0' ? '~' : '/';
        ++i;
      } else {
        token += ref[i];
      }
    }
    ref.remove_prefix(end);
    if (at->is_object()) {
      const auto it = at->find(token);
      if (it == at->end()) return nullptr;
      at = &*it;
    } else if (at->is_array()) {
      const bool digits =
          !token.empty() && token.size() < 9 && std::all_of(token.begin(), token.end(), ::isdigit);
      if (!digits || std::stoul(token) >= at->size()) return nullptr;
      at = &(*at)[std::stoul(token)];
    } else {
      return nullptr;
    }
  }
  return at;
}

// `schema` with references and alternatives followed to a concrete schema, or nullptr.
const ordered* Resolve(const ordered& root, const ordered& schema) {
  const ordered* at = &schema;
  for (int hop = 0; hop <= kMaxHops; ++hop) {
    if (!at->is_object()) return nullptr;
    if (const auto ref = at->find("$ref"); ref != at->end() && ref->is_string()) {
      at = FollowPointer(root, ref->get_ref<const std::string&>());
      if (at == nullptr) return nullptr;
      continue;
    }
    bool followed = false;
    for (const char* key : {"anyOf", "oneOf", "allOf"}) {
      const auto alternatives = at->find(key);
      if (alternatives != at->end() && alternatives->is_array() && !alternatives->empty()) {
        at = &alternatives->front();
        followed = true;
        break;
      }
    }
    if (!followed) return at;
  }
  return nullptr;
}

// The schema's type: "type" (the first that is not "null" of an array), else "object" for a
// schema with properties, else "null".
std::string TypeOf(const ordered& schema) {
  const auto type = schema.find("type");
  if (type != schema.end() && type->is_string()) return type->get<std::string>();
  if (type != schema.end() && type->is_array()) {
    for (const ordered& t : *type) {
      if (t.is_string() && t.get_ref<const std::string&>() != "null") return t.get<std::string>();
    }
    return "null";
  }
  return schema.contains("properties") ? "object" : "null";
}

void AppendValue(std::string& out, const ordered& value) {
  if (value.is_string()) {
    AppendJsonString(out, value.get_ref<const std::string&>());
    return;
  }
  out += value.dump(-1, ' ', false, ordered::error_handler_t::replace);
}

// The names an object of `schema` gets, in the order of its properties.
std::vector<std::string> ObjectKeys(const ordered& schema) {
  std::vector<std::string> required;
  if (const auto it = schema.find("required"); it != schema.end() && it->is_array()) {
    for (const ordered& name : *it) {
      if (name.is_string()) required.push_back(name.get<std::string>());
    }
  }
  std::vector<std::string> keys;
  if (const auto props = schema.find("properties"); props != schema.end() && props->is_object()) {
    for (const auto& [name, ignored] : props->items()) {
      if (required.empty() || std::find(required.begin(), required.end(), name) != required.end()) {
        keys.push_back(name);
      }
    }
  }
  for (const std::string& name : required) {
    if (std::find(keys.begin(), keys.end(), name) == keys.end()) keys.push_back(name);
  }
  return keys;
}

// An object being written: its schema, its keys and how many are out.
struct Frame {
  const ordered* schema;
  std::vector<std::string> keys;
  std::size_t next = 0;
  int depth = 0;
};

}  // namespace

std::string JsonForSchema(const ordered& schema, std::uint64_t prompt_hash) {
  std::string out;
  std::vector<Frame> stack;
  std::uint64_t words = 0;
  static const ordered kNull;
  // Writes one value; an object only opens and pushes its frame, the loop below fills it.
  const auto write = [&](const ordered& raw, int depth) {
    const ordered* s = Resolve(schema, raw);
    if (s == nullptr) {
      out += "null";
      return;
    }
    if (const auto c = s->find("const"); c != s->end()) return AppendValue(out, *c);
    if (const auto e = s->find("enum"); e != s->end() && e->is_array() && !e->empty()) {
      return AppendValue(out, e->front());
    }
    const std::string type = TypeOf(*s);
    if (type == "string") {
      ++words;
      AppendJsonString(out, kWords[(prompt_hash + words) % kWords.size()]);
    } else if (type == "number" || type == "integer") {
      out += '1';
    } else if (type == "boolean") {
      out += "true";
    } else if (type == "array") {
      out += "[]";
    } else if (type == "object" && depth < kMaxSchemaDepth) {
      out += '{';
      stack.push_back(Frame{s, ObjectKeys(*s), 0, depth + 1});
    } else if (type == "object") {
      out += "{}";
    } else {
      out += "null";
    }
  };
  write(schema, 0);
  while (!stack.empty()) {
    Frame& frame = stack.back();
    if (frame.next == frame.keys.size()) {
      out += '}';
      stack.pop_back();
      continue;
    }
    if (frame.next > 0) out += ',';
    const std::string& key = frame.keys[frame.next++];
    AppendJsonString(out, key);
    out += ':';
    const ordered* child = &kNull;
    if (const auto props = frame.schema->find("properties");
        props != frame.schema->end() && props->is_object()) {
      if (const auto it = props->find(key); it != props->end()) child = &*it;
    }
    const int depth = frame.depth;
    write(*child, depth);  // may push: `frame` is not used after this
  }
  return out;
}

std::string JsonForFormatJson(std::uint64_t prompt_hash) {
  std::string out = "{\"response\":";
  AppendJsonString(out, kWords[(prompt_hash + 1) % kWords.size()]);
  out += '}';
  return out;
}

std::string ToolArguments(const ordered& parameters, std::uint64_t prompt_hash) {
  std::string arguments = JsonForSchema(parameters, prompt_hash);
  if (arguments.empty() || arguments.front() != '{') return "{}";
  return arguments;
}

std::string ToolCallId(std::string_view tool, std::string_view prompt) {
  constexpr std::string_view kDigits = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string seed(tool);
  seed += '#';
  seed += prompt;
  std::uint64_t hash = Fnv1a64(seed);
  std::string id = "call_";
  for (int i = 0; i < 8; ++i) {
    id += kDigits[hash % kDigits.size()];
    hash /= kDigits.size();
  }
  return id;
}

std::vector<std::string> JsonPieces(std::string_view doc) {
  const auto punctuation = [](char c) {
    return c == '{' || c == '}' || c == '[' || c == ']' || c == ':' || c == ',' || c == ' ' ||
           c == '\t' || c == '\n' || c == '\r';
  };
  std::vector<std::string> pieces;
  std::size_t i = 0;
  while (i < doc.size()) {
    const std::size_t start = i;
    if (doc[i] == '"') {
      ++i;
      while (i < doc.size() && doc[i] != '"') i += doc[i] == '\\' ? 2 : 1;
      i = std::min(i + 1, doc.size());
    } else if (punctuation(doc[i])) {
      while (i < doc.size() && punctuation(doc[i])) ++i;
    } else {
      while (i < doc.size() && !punctuation(doc[i]) && doc[i] != '"') ++i;
    }
    pieces.emplace_back(doc.substr(start, i - start));
  }
  return pieces;
}

}  // namespace og::sim
