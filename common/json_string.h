// JSON text written by hand where a DOM would cost an allocation per key: a string quoted and
// escaped exactly as Go's encoding/json does it, which is how Ollama writes its answers, so text
// the gateway or the simulator writes reads byte for byte as Ollama's would.
#ifndef OLLAMA_GATEWAY_COMMON_JSON_STRING_H_
#define OLLAMA_GATEWAY_COMMON_JSON_STRING_H_

#include <string>
#include <string_view>

namespace og {

// Appends `text` as a quoted JSON string the way Go's json.Marshal does: `"` and `\` escaped,
// \b \f \n \r \t by name, other control characters and the HTML-sensitive `<`, `>`, `&` as \u00XX,
// U+2028 and U+2029 as \u2028/\u2029, and every byte that is not part of valid UTF-8 as \ufffd.
void AppendJsonString(std::string& out, std::string_view text);

}  // namespace og

#endif  // OLLAMA_GATEWAY_COMMON_JSON_STRING_H_
