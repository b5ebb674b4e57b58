// gatewayctl: a command-line client of the gateway's gRPC API, for operators and demos.
//
//   gatewayctl predict --target HOST:PORT --model M [options] PROMPT
//
// TLS by default (verified against --cacert or the system store); --insecure for plaintext.
// The answer goes to stdout; the backend that served it, attempts, token counts and timings go
// to stderr, so the answer can be piped on its own.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "ollama_gateway/v1/inference.grpc.pb.h"

namespace {

using ollama_gateway::v1::InferenceRequest;
using ollama_gateway::v1::InferenceResponse;
using ollama_gateway::v1::ModelInference;

constexpr const char* kUsage =
    R"(usage: gatewayctl predict --target HOST:PORT --model MODEL [options] PROMPT

options:
  --stream             use PredictStream and print tokens as they arrive
  --timeout SECONDS    deadline for the call (default 300)
  --system TEXT        system prompt
  --num-predict N      maximum tokens to generate
  --hash-key KEY       affinity key for consistent-hashing pools
  --metadata K=V       request metadata entry (repeatable)
  --header K=V         gRPC request header (repeatable)

TLS (the gateway speaks TLS 1.3 unless it runs with listen.insecure):
  --cacert FILE        PEM CA bundle to verify the gateway with (default: the system store)
  --cert FILE          PEM client certificate, for gateways that require one (mutual TLS)
  --key FILE           PEM private key of --cert
  --insecure           plaintext, for a gateway with listen.insecure: true

Exit status: 0 on success, 1 when the call failed (the gRPC status is printed), 2 on bad usage.
)";

struct Args {
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
};

bool SplitKeyValue(const std::string& kv, std::string* k, std::string* v) {
  const auto eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) return false;
  *k = kv.substr(0, eq);
  *v = kv.substr(eq + 1);
  return true;
}

bool Parse(int argc, char** argv, Args* a, std::string* error) {
  if (argc < 2 || std::strcmp(argv[1], "predict") != 0) {
    *error = "the only command is 'predict'";
    return false;
  }
  std::vector<std::string> positional;
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) {
        *error = flag + " needs a value";
        return false;
      }
      *out = argv[++i];
      return true;
    };
    std::string v, k, val;
    if (flag == "--stream") {
      a->stream = true;
    } else if (flag == "--insecure") {
      a->insecure = true;
    } else if (flag == "--cacert") {
      if (!value(&a->cacert)) return false;
    } else if (flag == "--cert") {
      if (!value(&a->cert)) return false;
    } else if (flag == "--key") {
      if (!value(&a->key)) return false;
    } else if (flag == "--target") {
      if (!value(&a->target)) return false;
    } else if (flag == "--model") {
      if (!value(&a->model)) return false;
    } else if (flag == "--system") {
      if (!value(&a->system)) return false;
    } else if (flag == "--hash-key") {
      if (!value(&a->hash_key)) return false;
    } else if (flag == "--timeout") {
      if (!value(&v)) return false;
      char* end = nullptr;
      a->timeout_s = std::strtod(v.c_str(), &end);
      if (*end != '\0' || a->timeout_s <= 0) {
        *error = "--timeout needs a positive number of seconds";
        return false;
      }
    } else if (flag == "--num-predict") {
      if (!value(&v)) return false;
      char* end = nullptr;
      a->num_predict = std::strtol(v.c_str(), &end, 10);
      if (*end != '\0') {
        *error = "--num-predict needs an integer";
        return false;
      }
    } else if (flag == "--metadata" || flag == "--header") {
      if (!value(&v)) return false;
      if (!SplitKeyValue(v, &k, &val)) {
        *error = flag + " needs KEY=VALUE";
        return false;
      }
      if (flag == "--metadata") {
        a->metadata[k] = val;
      } else {
        a->headers.emplace_back(k, val);
      }
    } else if (flag.rfind("--", 0) == 0) {
      *error = "unknown option " + flag;
      return false;
    } else {
      positional.push_back(flag);
    }
  }
  if (a->target.empty() || a->model.empty()) {
    *error = "--target and --model are required";
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

  InferenceRequest request;
  request.set_model_name(args.model);
  request.set_input_data(args.prompt);
  if (!args.system.empty()) request.set_system(args.system);
  if (!args.hash_key.empty()) request.set_hash_key(args.hash_key);
  if (args.num_predict >= 0) {
    request.mutable_options()->set_num_predict(static_cast<int>(args.num_predict));
  }
  for (const auto& [k, v] : args.metadata) (*request.mutable_metadata())[k] = v;

  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(static_cast<long>(args.timeout_s * 1000)));
  for (const auto& [k, v] : args.headers) ctx.AddMetadata(k, v);

  if (!args.stream) {
    InferenceResponse response;
    grpc::Status status = stub->Predict(&ctx, request, &response);
    if (!status.ok()) return Fail(status);
    std::cout << response.output_data() << std::endl;
    PrintSummary(ctx, response);
    return 0;
  }
  auto reader = stub->PredictStream(&ctx, request);
  InferenceResponse chunk, last;
  while (reader->Read(&chunk)) {
    std::cout << chunk.output_data() << std::flush;
    last = chunk;
  }
  grpc::Status status = reader->Finish();
  std::cout << std::endl;
  if (!status.ok()) return Fail(status);
  PrintSummary(ctx, last);
  return 0;
}
