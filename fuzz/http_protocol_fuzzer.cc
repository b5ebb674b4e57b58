// libFuzzer target: the HTTP front door's translations (gateway/frontdoor/http/translate.h), fed
// what callers and backends control. A caller's request body goes through og::ParseHttpCall and,
// when accepted, og::HttpUpstreamRequest (as sent and with every text redacted); a backend's answer
// goes through the /v1/models translations, the fleet's merges (tags, ps, version, a management
// operation's progress: fleet_answers.h), a rollout's listing and renaming, the aggregation of a
// non-streamed Ollama answer and the reading of a compatibility endpoint's lines
// (og::ReadCompatLine).
//
// Input layout:
//   byte 0     which endpoint (modulo the twelve of HttpApi)
//   the rest   the body (a caller's request, and the backend's answer)
//
// Invariants: nothing throws (an exception on an upstream loop thread would end the process); a
// refused body is INVALID_ARGUMENT with a short one-line message; an accepted one names a model,
// and its backend request is a JSON object for that model, streamed for generations.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "fuzz/fuzz_check.h"
#include "gateway/frontdoor/http/answers.h"
#include "gateway/frontdoor/http/fleet_answers.h"
#include "gateway/frontdoor/http/translate.h"
#include "gateway/upstream/json_reading.h"

namespace {

using Json = nlohmann::json;
constexpr int kApis = 12;

void CheckCall(og::HttpApi api, std::string_view body) {
  absl::StatusOr<og::HttpCall> call = og::ParseHttpCall(api, body, og::kDefaultMaxJsonDepth);
  if (!call.ok()) {
    OG_FUZZ_CHECK(call.status().code() == absl::StatusCode::kInvalidArgument);
    OG_FUZZ_CHECK(call.status().message().size() < og::fuzz::kMaxMessageBytes);
    OG_FUZZ_CHECK(og::fuzz::HasNoControlCharacters(
        std::string_view(call.status().message().data(), call.status().message().size())));
    return;
  }
  OG_FUZZ_CHECK(!call->request.model_name().empty());
  for (int redacted = 0; redacted < 2; ++redacted) {
    if (redacted == 1) {
      for (std::string* text : og::CallerTexts(&*call)) *text = "[redacted]";
      og::SyncRequestTexts(&*call);
    }
    const og::OllamaRequest upstream = og::HttpUpstreamRequest(*call);
    const Json sent = Json::parse(upstream.body, nullptr, /*allow_exceptions=*/false);
    OG_FUZZ_CHECK(sent.is_object());
    OG_FUZZ_CHECK(sent.contains("model"));
    const bool generation = api == og::HttpApi::kOllamaGenerate || api == og::HttpApi::kOllamaChat;
    if (generation) OG_FUZZ_CHECK(sent.value("stream", false) == true);
    // As a rollout's target gets it.
    const Json renamed = Json::parse(og::HttpUpstreamRequest(*call, "bot:v8").body, nullptr, false);
    OG_FUZZ_CHECK(renamed.is_object() && renamed.value("model", "") == "bot:v8");
  }
  // The same bytes as the lines of a backend's answer to this call.
  if (const std::optional<og::CompatApi> compat = og::CompatApiOf(api)) {
    for (bool stream : {false, true}) {
      (void)og::ReadCompatLine(*compat, stream, body, og::kDefaultMaxJsonDepth);
    }
  }
}

void CheckAnswers(og::HttpApi api, std::string_view body) {
  // The same answer from two backends, as the fleet's listings merge them.
  const std::vector<og::BackendAnswer> answers = {{"a", std::string(body)},
                                                  {"b", std::string(body)}};
  const Json merged = og::MergeTags(answers, og::kDefaultMaxJsonDepth);
  OG_FUZZ_CHECK(merged["models"].is_array());
  (void)og::OpenAiModels(merged);
  Json with_rollout = merged;
  og::AddRolloutEntries({{"bot", "bot:v7", "bot:v8"}}, &with_rollout);
  OG_FUZZ_CHECK(with_rollout["models"].size() <= merged["models"].size() + 1);
  // The body as a rollout target's answer line, renamed for its caller: still JSON if it was.
  std::string renamed;
  if (og::RenameModelField(body, "bot:v8", "bot", &renamed)) {
    OG_FUZZ_CHECK(renamed.size() + 3 == body.size());
    OG_FUZZ_CHECK(Json::accept(renamed) == Json::accept(body));
  }
  const Json loaded = og::MergeLoaded(answers, og::kDefaultMaxJsonDepth);
  OG_FUZZ_CHECK(loaded["models"].is_array() && loaded["copies"].is_array());
  OG_FUZZ_CHECK(og::MergeVersions(answers, og::kDefaultMaxJsonDepth)["version"].is_string());
  // The body as a backend's progress line, then each line of it.
  og::FleetMerge merge(og::FleetOp::kPull, {"a", "b"}, og::kDefaultMaxJsonDepth);
  (void)merge.OnLine(0, body);
  for (std::string_view rest = body; !rest.empty();) {
    const std::size_t newline = rest.find('\n');
    (void)merge.OnLine(1, rest.substr(0, newline));
    rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
  }
  merge.OnEnd(0, 200, "");
  merge.OnEnd(1, 500, "x");
  const Json final_line = Json::parse(merge.FinalLine(), nullptr, /*allow_exceptions=*/false);
  OG_FUZZ_CHECK(final_line.is_object() && final_line.contains("error"));
  og::OllamaChunk chunk;
  const og::OllamaEndpoint endpoint =
      api == og::HttpApi::kOllamaChat ? og::OllamaEndpoint::kChat : og::OllamaEndpoint::kGenerate;
  if (og::ParseOllamaChunk(body, endpoint, &chunk).ok()) {
    og::OllamaAggregate aggregate;
    aggregate.Add(api, chunk, body);
    const Json whole = Json::parse(aggregate.Body(api), nullptr, /*allow_exceptions=*/false);
    OG_FUZZ_CHECK(whole.is_object());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto api = static_cast<og::HttpApi>(data[0] % kApis);
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  CheckCall(api, body);
  CheckAnswers(api, body);
  return 0;
}
