// Translation between the gateway's gRPC messages and Ollama's REST API (see
// docs/ollama-api.md): request bodies for /api/generate and /api/chat, the NDJSON chunks that
// come back, and Ollama's HTTP errors as gRPC statuses. Pure: no I/O.
#ifndef OLLAMA_GATEWAY_GATEWAY_UPSTREAM_OLLAMA_PROTOCOL_H_
#define OLLAMA_GATEWAY_GATEWAY_UPSTREAM_OLLAMA_PROTOCOL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ollama_gateway/v1/inference.pb.h"

namespace og {

// Which Ollama endpoint a request goes to.
enum class OllamaEndpoint { kGenerate, kChat };

struct OllamaRequest {
  OllamaEndpoint endpoint = OllamaEndpoint::kGenerate;
  // "/api/generate", "/api/chat", or the path of another endpoint the call forwards to.
  const char* path = "";
  // The JSON body. The gateway always asks for a stream, so it sees the first token early, can
  // abort on cancel and can retry before the first byte.
  std::string body;
  // A generate request with `"raw": true`: its prompt reaches the model as it is, untemplated.
  bool raw = false;
  // A compatibility endpoint (/v1/...) whose answer may be server-sent events.
  bool event_stream = false;
};

// Checks what a gRPC caller sent: a valid model name, messages with roles, tools and tool calls
// with names and JSON objects for parameters and arguments, tools only with messages, a think
// level that is not empty, and extra_options that are JSON values not named in options. No
// input at all is a load (or, with keep_alive "0", an unload). Fails with INVALID_ARGUMENT saying
// which field is wrong.
absl::Status ValidateRequest(const ollama_gateway::v1::InferenceRequest& request);

// Only the model name's part of ValidateRequest, for the HTTP front door's requests (whose bodies
// Ollama, or its compatibility layer, checks itself).
absl::Status ValidateModelName(const ollama_gateway::v1::InferenceRequest& request);

// Builds the Ollama request for a validated InferenceRequest: /api/chat when messages are
// given, /api/generate with input_data as the prompt otherwise.
OllamaRequest BuildOllamaRequest(const ollama_gateway::v1::InferenceRequest& request);

// One line of Ollama's NDJSON stream, with absent fields left at zero or empty.
struct OllamaChunk {
  std::string text;      // `response` (generate) or `message.content` (chat)
  std::string thinking;  // `thinking` or `message.thinking`
  bool done = false;
  std::string done_reason;
  std::string error;  // a mid-stream `{"error": "..."}` line
  // The `status` an error line may carry (Ollama's api.StatusError); 0 when absent.
  std::int64_t error_status = 0;
  // The chunk's tool calls (`message.tool_calls` or `tool_calls`, a non-empty array) as JSON
  // text (minified); empty without.
  std::string tool_calls_json;
  bool has_tool_calls() const { return !tool_calls_json.empty(); }
  // `logprobs` (a non-empty array) as JSON text (minified); empty without.
  std::string logprobs_json;
  // Not parsed: set by the call path on the final chunk of a stream it continued on another
  // backend, to how many times it did (the front door marks the answer).
  int continuations = 0;
  std::int64_t prompt_eval_count = 0;
  std::int64_t eval_count = 0;
  std::int64_t total_duration = 0;
  std::int64_t load_duration = 0;
  std::int64_t prompt_eval_duration = 0;
  std::int64_t eval_duration = 0;
};

// Parses one NDJSON line into `chunk` (which is reset first). A line that is not a JSON object
// fails with INTERNAL quoting its start; one that is JSON cut short (a stream that ended
// mid-object) says it is incomplete; one that nests deeper than `max_depth` levels
// (limits.max_json_depth) says so. Fields of the wrong type are read as absent, and a key given
// twice counts with its last value.
//
// Edge cases, decided to keep exactly what the gateway accepted when it parsed with nlohmann
// (simdjson parses now, for speed; see ollama_protocol.cc):
//   - invalid UTF-8 in a string (or anywhere) fails the line as not JSON: JSON text is UTF-8,
//     and the text goes on to callers as it came;
//   - a metric above INT64_MAX wraps to a negative value; one beyond 64 bits, or with a fraction
//     or an exponent, reads as absent (Ollama sends non-negative int64 values);
//   - integers beyond 64 bits elsewhere, a leading UTF-8 byte order mark, and a NUL byte after
//     the object with anything after it (nlohmann stops reading there) are accepted, slowly:
//     simdjson refuses them, nlohmann reads them.
//
// Thread-safe. Each calling thread keeps a parser whose buffers fit the longest line up to 16 KiB
// it has parsed (about 15 bytes per byte); a longer line gets a parser of its own.
absl::Status ParseOllamaChunk(std::string_view line, OllamaEndpoint endpoint, OllamaChunk* chunk,
                              int max_depth = 64);

// The `context` of a final /api/generate line ParseOllamaChunk accepted with `max_depth` (the
// conversation's tokens, for the next call); empty without one. Only the gRPC front door hands it
// on, so only it reads the line a second time for it (with the same depth, so the thread's parser
// is not reallocated).
std::vector<std::int64_t> ContextOf(std::string_view final_line, int max_depth);

// The message of a backend's error answer: Ollama's {"error": "..."}, the compatibility
// endpoints' {"error": {"message": ...}}, else the body as it is (plain text, or empty).
std::string OllamaErrorMessage(std::string_view body);

// Maps a non-2xx answer from a backend to the gRPC status a caller can act on. `body` is the
// response body (Ollama's `{"error": "..."}`, or plain text); its message is quoted in the status.
absl::Status StatusFromOllamaError(long http_status, std::string_view body,
                                   std::string_view backend);

// True for backend answers that mean "try another backend" when nothing has reached the caller
// yet: Ollama's queue-full 503 and other 5xx caused by the backend's state, not the request.
bool IsRetriableHttpStatus(long http_status);

// A backend's error answer that says it cannot serve the model, although another backend may:
// Ollama's 404 "model ... not found" (the router's list of its models was stale: deleted since
// the last tier-2 check), or a 500 at load for want of memory (before 0.30 "model requires more
// system memory", since "llama-server reported out-of-memory during startup", CUDA's "out of
// memory" or "cudaMalloc failed", "unable to allocate").
enum class ModelRefusal { kNone, kNotFound, kOutOfMemory };
ModelRefusal ModelRefusalOf(long http_status, std::string_view body);
// "model_not_found" or "out_of_memory" (the `reason` label of its metric).
std::string_view ModelRefusalName(ModelRefusal refusal);

// True when a mid-stream error line (`chunk.error`, `chunk.error_status`) says the request is at
// fault rather than the backend: a 4xx status, or the input outgrowing the model's context.
// Running such a request again elsewhere would fail the same way.
bool IsRequestFaultError(const OllamaChunk& chunk);

// The request that continues an answer a backend stopped sending part-way: `body` (of a request
// to `endpoint`) with the
// answer delivered so far (`text`, `thinking`, `tokens` chunks of it) as the model's own
// unfinished turn, which Ollama's templates continue rather than answer. For /api/chat, a final
// assistant message holding `text` (and `thinking`); for a raw /api/generate (`"raw": true`),
// the prompt with `text` appended. A positive options.num_predict is lowered by `tokens`, so
// the whole answer stays within the caller's limit.
//
// FAILED_PRECONDITION saying why when the request cannot be continued this way: a templated
// generate (its prompt is wrapped in the template, so appended text would be read as the
// user's), a constrained `format` (the grammar would start over mid-answer), or num_predict
// already reached.
absl::StatusOr<std::string> ContinuationBody(OllamaEndpoint endpoint, std::string_view body,
                                             std::string_view text, std::string_view thinking,
                                             std::int64_t tokens);

// The final line of a continued stream, as the caller gets it: `line` with `carried_tokens`
// (the chunks earlier attempts delivered) added to eval_count, so the usage covers the whole
// answer, and `"x-gateway-continued": continuations`. `line` is a valid final chunk (parsed
// already); a line that does not parse as an object is returned as it was.
std::string ContinuedFinalLine(std::string_view line, std::int64_t carried_tokens,
                               int continuations);

// `line` (a backend's JSON line, or an SSE `data:` line) with the value of its first "model" field
// replaced by `to` when that value is `from`: a rollout target's answer, named as the caller named
// the model. False, with `*out` untouched, when the line has no such field. `to` must need no JSON
// escaping (a valid model name does not).
bool RenameModelField(std::string_view line, std::string_view from, std::string_view to,
                      std::string* out);

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_UPSTREAM_OLLAMA_PROTOCOL_H_
