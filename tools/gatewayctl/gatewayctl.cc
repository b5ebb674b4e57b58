// gatewayctl: a command-line client of the gateway's gRPC API, for operators and demos.
//
//   gatewayctl predict --target HOST:PORT --model M [options] PROMPT
//   gatewayctl embed --target HOST:PORT --model M TEXT...
//   gatewayctl models --target HOST:PORT
//
// TLS by default (verified against --cacert or the system store); --insecure for plaintext.
// The answer goes to stdout (and the model's tool calls, one JSON object a line); its thinking,
// the backend that served it, attempts, token counts and timings go to stderr, so the answer can
// be piped on its own.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/marshalling.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/flags.h"
#include "ollama_gateway/v1/inference.grpc.pb.h"

namespace {

using ollama_gateway::v1::InferenceRequest;
using ollama_gateway::v1::InferenceResponse;
using ollama_gateway::v1::ModelInference;

constexpr const char* kUsage =
    R"(usage: gatewayctl predict --target HOST:PORT --model MODEL [options] PROMPT
       gatewayctl embed --target HOST:PORT --model MODEL TEXT...
       gatewayctl models --target HOST:PORT

predict runs one generation; embed prints one JSON array of floats per TEXT (Embed); models
prints each model the fleet serves and its backends (ListModels), one line each:
  MODEL  BACKEND[,healthy][,loaded] ...

predict options:
  --stream             use PredictStream and print tokens as they arrive
  --timeout SECONDS    deadline for the call (default 300)
  --system TEXT        system prompt
  --num-predict N      maximum tokens to generate
  --hash-key KEY       affinity key for consistent-hashing pools
  --metadata K=V       request metadata entry (repeatable)
  --header K=V         gRPC request header (repeatable)
  --think VALUE        true, false, low, medium, high or max: whether (and how hard) a thinking
                       model thinks (default: the model's own); its thinking goes to stderr
  --tools FILE         a JSON array of tools ({"type": "function", "function": {"name",
                       "description", "parameters"}}, as Ollama and OpenAI take them); the
                       PROMPT is then a user message, and each tool call is printed as a line
                       {"tool_call": {"id", "name", "arguments"}}

TLS (the gateway speaks TLS 1.3 unless it runs with listen.insecure):
  --cacert FILE        PEM CA bundle to verify the gateway with (default: the system store)
  --cert FILE          PEM client certificate, for gateways that require one (mutual TLS)
  --key FILE           PEM private key of --cert
  --insecure           plaintext, for a gateway with listen.insecure: true

Exit status: 0 on success, 1 when the call failed (the gRPC status is printed), 2 on bad usage.
)";

struct Args {
  std::string command;             // predict, embed or models
  std::vector<std::string> texts;  // embed's inputs
  std::string target;
  std::string model;
  std::string prompt;
  std::string system;
  std::string hash_key;
  bool stream = false;
  double timeout_s = 300;
  long num_predict = -1;
  std::map<std::string, std::string> metadata;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string cacert;
  std::string cert;
  std::string key;
  bool insecure = false;
  std::string think;
  std::string tools_file;
};

// The wording gatewayctl has always had: "unknown option --x", "--x needs a value",
// "--timeout needs a positive number of seconds".
og::FlagMessages Messages() {
  return og::FlagMessages{
      .unknown_flag = [](const std::string& flag) { return absl::StrCat("unknown option ", flag); },
      .needs_value = [](const std::string& flag) { return absl::StrCat(flag, " needs a value"); },
      .bad_value = [](const std::string& flag, const std::string&,
                      const std::string& why) { return absl::StrCat(flag, " ", why); },
      .not_an_integer = "needs an integer",
  };
}

// --timeout's value: a positive (finite) number of seconds.
struct Seconds {
  double value = 0;
};

bool AbslParseFlag(absl::string_view text, Seconds* out, std::string* error) {
  if (!absl::ParseFlag(text, &out->value, error) || !(out->value > 0) ||
      !std::isfinite(out->value)) {
    *error = "needs a positive number of seconds";
    return false;
  }
  return true;
}

// --metadata's and --header's value: KEY=VALUE with a non-empty KEY.
struct KeyValue {
  std::string key;
  std::string value;
};

bool AbslParseFlag(absl::string_view text, KeyValue* out, std::string* error) {
  const std::size_t eq = text.find('=');
  if (eq == absl::string_view::npos || eq == 0) {
    *error = "needs KEY=VALUE";
    return false;
  }
  out->key = std::string(text.substr(0, eq));
  out->value = std::string(text.substr(eq + 1));
  return true;
}

bool Parse(int argc, char** argv, Args* a, std::string* error) {
  if (argc < 2 || (std::strcmp(argv[1], "predict") != 0 && std::strcmp(argv[1], "embed") != 0 &&
                   std::strcmp(argv[1], "models") != 0)) {
    *error = "the commands are 'predict', 'embed' and 'models'";
    return false;
  }
  a->command = argv[1];
  std::vector<std::string> positional;
  og::FlagParser flags(Messages());
  flags.Operands(&positional)
      .Switch("--stream", &a->stream)
      .Switch("--insecure", &a->insecure)
      .Value<std::string>("--cacert", &a->cacert)
      .Value<std::string>("--cert", &a->cert)
      .Value<std::string>("--key", &a->key)
      .Value<std::string>("--target", &a->target)
      .Value<std::string>("--model", &a->model)
      .Value<std::string>("--system", &a->system)
      .Value<std::string>("--hash-key", &a->hash_key)
      .Value<std::string>("--think",
                          [a](std::string value) {
                            static const char* kValues[] = {"true",   "false", "low",
                                                            "medium", "high",  "max"};
                            for (const char* v : kValues) {
                              if (value == v) {
                                a->think = value;
                                return std::string();
                              }
                            }
                            return std::string("needs true, false, low, medium, high or max");
                          })
      .Value<std::string>("--tools", &a->tools_file)
      .Value<Seconds>("--timeout",
                      [a](Seconds timeout) {
                        a->timeout_s = timeout.value;
                        return std::string();
                      })
      .Value<long>("--num-predict", &a->num_predict)
      .Value<KeyValue>("--metadata",
                       [a](KeyValue entry) {
                         a->metadata[entry.key] = entry.value;
                         return std::string();
                       })
      .Value<KeyValue>("--header", [a](KeyValue entry) {
        a->headers.emplace_back(entry.key, entry.value);
        return std::string();
      });
  if (absl::Status status = flags.Parse(std::vector<std::string>(argv + 2, argv + argc));
      !status.ok()) {
    *error = std::string(status.message());
    return false;
  }
  if (a->target.empty() || (a->model.empty() && a->command != "models")) {
    *error = a->command == "models" ? "--target is required" : "--target and --model are required";
    return false;
  }
  if (a->cert.empty() != a->key.empty()) {
    *error = "--cert and --key go together";
    return false;
  }
  if (a->insecure && (!a->cacert.empty() || !a->cert.empty())) {
    *error = "--insecure (plaintext) cannot be combined with --cacert, --cert or --key";
    return false;
  }
  if (a->command == "models") {
    if (!positional.empty()) {
      *error = "models takes no operands";
      return false;
    }
    return true;
  }
  if (a->command == "embed") {
    if (positional.empty()) {
      *error = "give at least one TEXT to embed";
      return false;
    }
    a->texts = std::move(positional);
    return true;
  }
  if (positional.size() != 1) {
    *error = "give exactly one PROMPT (quote it)";
    return false;
  }
  a->prompt = positional[0];
  return true;
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  *out = buffer.str();
  return true;
}

// Plaintext with --insecure; otherwise TLS, verified against --cacert or the system store.
std::shared_ptr<grpc::ChannelCredentials> Credentials(const Args& args, std::string* error) {
  if (args.insecure) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  const std::pair<const std::string*, std::string*> files[] = {{&args.cacert, &ssl.pem_root_certs},
                                                               {&args.cert, &ssl.pem_cert_chain},
                                                               {&args.key, &ssl.pem_private_key}};
  for (const auto& [path, out] : files) {
    if (!path->empty() && !ReadFile(*path, out)) {
      *error = "cannot read " + *path;
      return nullptr;
    }
  }
  return grpc::SslCredentials(ssl);
}

std::string Trailer(const grpc::ClientContext& ctx, const char* key) {
  auto range = ctx.GetServerTrailingMetadata().equal_range(key);
  if (range.first == range.second) return "-";
  return std::string(range.first->second.data(), range.first->second.size());
}

void PrintSummary(const grpc::ClientContext& ctx, const InferenceResponse& last) {
  const auto& t = last.timings();
  std::cerr << "backend=" << Trailer(ctx, "x-gateway-backend")
            << " attempts=" << Trailer(ctx, "x-gateway-attempts")
            << " done_reason=" << (last.done_reason().empty() ? "-" : last.done_reason())
            << " prompt_tokens=" << last.usage().prompt_tokens()
            << " completion_tokens=" << last.usage().completion_tokens()
            << " ttft_ms=" << t.gateway_time_to_first_token_ns() / 1e6
            << " total_ms=" << t.gateway_total_ns() / 1e6 << "\n";
}

// --tools FILE into the request's tools; false with *error saying what is wrong.
bool ReadTools(const std::string& path, InferenceRequest* request, std::string* error) {
  std::string text;
  if (!ReadFile(path, &text)) {
    *error = "cannot read " + path;
    return false;
  }
  using Json = nlohmann::json;
  const Json tools = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!tools.is_array()) {
    *error = path + ": not a JSON array of tools";
    return false;
  }
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const Json& tool = tools[i];
    const Json& function = tool.is_object() && tool.contains("function") ? tool["function"] : tool;
    if (!function.is_object() || !function.contains("name") || !function["name"].is_string()) {
      *error = absl::StrCat(path, ": tool ", i, " has no function name");
      return false;
    }
    auto* added = request->add_tools();
    added->set_name(function["name"].get<std::string>());
    if (function.contains("description") && function["description"].is_string()) {
      added->set_description(function["description"].get<std::string>());
    }
    if (function.contains("parameters")) added->set_parameters_json(function["parameters"].dump());
  }
  return true;
}

// What a message carries besides its text: thinking to stderr, tool calls to stdout.
void PrintExtras(const InferenceResponse& message) {
  if (!message.thinking().empty()) std::cerr << message.thinking() << std::flush;
  for (const auto& call : message.tool_calls()) {
    nlohmann::json line = {{"tool_call", {{"id", call.id()}, {"name", call.name()}}}};
    line["tool_call"]["arguments"] =
        nlohmann::json::parse(call.arguments_json(), nullptr, /*allow_exceptions=*/false);
    std::cout << line.dump() << "\n";
  }
}

int Fail(const grpc::Status& status) {
  const int code = status.error_code();
  // gRPC's codes are absl's, number for number.
  const std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  std::cerr << "error: " << (name.empty() ? "?" : name) << ": " << status.error_message() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  std::string error;
  if (!Parse(argc, argv, &args, &error)) {
    std::cerr << "gatewayctl: " << error << "\n" << kUsage;
    return 2;
  }
  auto credentials = Credentials(args, &error);
  if (credentials == nullptr) {
    std::cerr << "gatewayctl: " << error << "\n";
    return 2;
  }
  auto channel = grpc::CreateChannel(args.target, credentials);
  auto stub = ModelInference::NewStub(channel);
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<long>(args.timeout_s * 1000));
  if (args.command == "embed") {
    ollama_gateway::v1::EmbedRequest request;
    request.set_model_name(args.model);
    for (const std::string& text : args.texts) request.add_input(text);
    if (!args.hash_key.empty()) request.set_hash_key(args.hash_key);
    for (const auto& [k, v] : args.metadata) (*request.mutable_metadata())[k] = v;
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline);
    for (const auto& [k, v] : args.headers) ctx.AddMetadata(k, v);
    ollama_gateway::v1::EmbedResponse response;
    grpc::Status status = stub->Embed(&ctx, request, &response);
    if (!status.ok()) return Fail(status);
    for (const auto& embedding : response.embeddings()) {
      std::cout << nlohmann::json(
                       std::vector<float>(embedding.values().begin(), embedding.values().end()))
                       .dump()
                << "\n";
    }
    std::cerr << "backend=" << Trailer(ctx, "x-gateway-backend")
              << " prompt_tokens=" << response.usage().prompt_tokens() << "\n";
    return 0;
  }
  if (args.command == "models") {
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline);
    for (const auto& [k, v] : args.headers) ctx.AddMetadata(k, v);
    ollama_gateway::v1::ListModelsResponse response;
    grpc::Status status = stub->ListModels(&ctx, {}, &response);
    if (!status.ok()) return Fail(status);
    for (const auto& model : response.models()) {
      std::cout << model.name();
      for (const auto& backend : model.backends()) {
        std::cout << "  " << backend.name() << (backend.healthy() ? ",healthy" : "")
                  << (backend.loaded() ? ",loaded" : "");
      }
      std::cout << "\n";
    }
    return 0;
  }

  InferenceRequest request;
  request.set_model_name(args.model);
  if (args.tools_file.empty()) {
    request.set_input_data(args.prompt);
  } else {
    if (!ReadTools(args.tools_file, &request, &error)) {
      std::cerr << "gatewayctl: --tools " << error << "\n";
      return 2;
    }
    if (!args.system.empty()) {
      auto* system = request.add_messages();
      system->set_role("system");
      system->set_content(args.system);
    }
    auto* message = request.add_messages();
    message->set_role("user");
    message->set_content(args.prompt);
  }
  if (args.think == "true" || args.think == "false") {
    request.mutable_think()->set_enabled(args.think == "true");
  } else if (!args.think.empty()) {
    request.mutable_think()->set_level(args.think);
  }
  if (!args.system.empty() && args.tools_file.empty()) request.set_system(args.system);
  if (!args.hash_key.empty()) request.set_hash_key(args.hash_key);
  if (args.num_predict >= 0) {
    request.mutable_options()->set_num_predict(static_cast<int>(args.num_predict));
  }
  for (const auto& [k, v] : args.metadata) (*request.mutable_metadata())[k] = v;

  grpc::ClientContext ctx;
  ctx.set_deadline(deadline);
  for (const auto& [k, v] : args.headers) ctx.AddMetadata(k, v);

  if (!args.stream) {
    InferenceResponse response;
    grpc::Status status = stub->Predict(&ctx, request, &response);
    if (!status.ok()) return Fail(status);
    PrintExtras(response);
    if (!response.thinking().empty()) std::cerr << "\n";
    std::cout << response.output_data() << std::endl;
    PrintSummary(ctx, response);
    return 0;
  }
  auto reader = stub->PredictStream(&ctx, request);
  InferenceResponse chunk, last;
  while (reader->Read(&chunk)) {
    PrintExtras(chunk);
    std::cout << chunk.output_data() << std::flush;
    last = chunk;
  }
  grpc::Status status = reader->Finish();
  std::cout << std::endl;
  if (!status.ok()) return Fail(status);
  PrintSummary(ctx, last);
  return 0;
}
