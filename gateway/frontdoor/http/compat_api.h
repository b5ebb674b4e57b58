// Ollama's compatibility endpoints as the gateway forwards them (see docs/http-api.md): OpenAI's
// /v1/chat/completions, /v1/completions, /v1/embeddings and /v1/responses, and Anthropic's
// /v1/messages. Ollama serves them with a translation layer of its own, so the gateway does not
// translate: it reads a request body only for what its own checks need (the texts the model
// reads, for redaction and the limits; images and messages, for the limits), forwards the body
// to the same path of the chosen backend, and reads the answer's lines only for what the call
// path accounts (the first token, the usage, the terminal event, an error). Pure: no I/O.
#ifndef OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_COMPAT_API_H_
#define OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_COMPAT_API_H_

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace og {

// The compatibility endpoints.
enum class CompatApi {
  kChatCompletions,  // POST /v1/chat/completions (OpenAI)
  kCompletions,      // POST /v1/completions (OpenAI)
  kEmbeddings,       // POST /v1/embeddings (OpenAI)
  kResponses,        // POST /v1/responses (OpenAI)
  kMessages,         // POST /v1/messages (Anthropic)
};

// What the gateway's checks read of a compatibility request body.
struct CompatInput {
  // Every text the model reads, in place in the body, for redaction and max_prompt_bytes:
  // message contents (strings, or the text of each content part or block), the system prompt
  // and instructions, prompts and suffixes, embedding inputs, reasoning and thinking text,
  // tool results, and every string in tool-call arguments. Tool definitions are not among
  // them, as on Ollama's own /api/chat. Valid until the body changes shape.
  std::vector<std::string*> texts;
  // Images (OpenAI's image_url and input_image parts, Anthropic's image blocks).
  std::size_t images = 0;
  // Messages (chat, Messages), input items (Responses) or completions' prompts, for
  // max_messages.
  std::size_t messages = 0;
  // Embeddings' inputs, for max_embed_inputs.
  std::size_t embed_inputs = 0;
  // max_tokens, max_completion_tokens or max_output_tokens when given: the answer's bound.
  std::int64_t max_tokens = 0;
};

// Reads `body` (a JSON object already checked against limits.max_json_depth) of a call to `api`.
// Walks without recursion.
CompatInput ReadCompatInput(CompatApi api, nlohmann::json& body);

// What one line of a forwarded answer tells the call path: a line of a server-sent event
// stream (`data: ...`, `event: ...`, or a blank line between events) when the caller asked for
// a stream, else a line of the JSON answer.
struct CompatLineFacts {
  // It carries generated output: text, reasoning or a tool call.
  bool output = false;
  // The answer's terminal event: `data: [DONE]` (chat and completions), `response.completed`
  // (Responses), `message_stop` (Messages). A stream that ends without it was cut short.
  bool done = false;
  // An error in the stream (an `error` member, `response.failed`, an Anthropic `error` event):
  // what it says.
  std::string error;
  // The line is not what the API sends: in a stream, a line that is no server-sent event field
  // (data:, event:, id:, retry:, a comment or a blank line), or a data line that is neither JSON
  // nor [DONE]; in an answer, a line that is not a JSON object. Or it nests deeper than
  // limits.max_json_depth. `error` then says how.
  bool malformed = false;
  // The usage, when the line carries it (-1 when it does not): chat and completions' `usage`
  // (in a stream only with stream_options.include_usage), the Responses' `usage`, Anthropic's
  // input tokens in message_start and output tokens in message_delta.
  std::int64_t prompt_tokens = -1;
  std::int64_t completion_tokens = -1;
};

// Reads one line (without its newline). Thread-safe: each thread keeps a parser whose buffers fit
// the longest line up to 16 KiB it read.
CompatLineFacts ReadCompatLine(CompatApi api, bool stream, std::string_view line, int max_depth);

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_COMPAT_API_H_
