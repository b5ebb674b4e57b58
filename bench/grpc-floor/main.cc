// grpc-floor: the physical limit of the gateway's gRPC rows in bench/compare.py. A ModelInference
// server on gRPC's callback API, as the gateway's, that answers from memory at once: Predict with
// one reply of options.num_predict tokens (10 by default), PredictStream with that many token
// messages and a final one, each written as soon as the one before it went out. Driven by
// gateway-bench exactly as the gateway is, it measures what gRPC C++ itself costs per call and per
// message on this machine; nothing here is the gateway's.
//
//   grpc-floor [--port N] [--address HOST]    prints "listening grpc=HOST:PORT", serves until
//                                              SIGINT or SIGTERM
#include <grpcpp/grpcpp.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ollama_gateway/v1/inference.grpc.pb.h"

namespace {

using ollama_gateway::v1::InferenceRequest;
using ollama_gateway::v1::InferenceResponse;
using ollama_gateway::v1::ModelInference;

constexpr std::uint32_t kDefaultTokens = 10;

std::uint32_t TokensOf(const InferenceRequest& request) {
  const auto asked = request.options().num_predict();
  return asked > 0 ? static_cast<std::uint32_t>(asked) : kDefaultTokens;
}

void SetDone(std::uint32_t tokens, InferenceResponse* response) {
  response->set_done(true);
  response->set_done_reason("stop");
  response->mutable_usage()->set_prompt_tokens(5);
  response->mutable_usage()->set_completion_tokens(tokens);
}

// One stream: the token messages, then the final one, one write at a time.
class Stream final : public grpc::ServerWriteReactor<InferenceResponse> {
 public:
  Stream(const InferenceRequest& request) : tokens_(TokensOf(request)) {
    token_.set_model_name(request.model_name());
    token_.set_output_data(" sky");
    final_.set_model_name(request.model_name());
    SetDone(tokens_, &final_);
    Next();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) return Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the caller went away"));
    Next();
  }
  void OnDone() override { delete this; }

 private:
  void Next() {
    if (sent_ < tokens_) {
      ++sent_;
      StartWrite(&token_);
    } else if (sent_ == tokens_) {
      ++sent_;
      StartWriteAndFinish(&final_, grpc::WriteOptions(), grpc::Status::OK);
    }
  }

  const std::uint32_t tokens_;
  std::uint32_t sent_ = 0;
  InferenceResponse token_;
  InferenceResponse final_;
};

class Floor final : public ModelInference::CallbackService {
  grpc::ServerUnaryReactor* Predict(grpc::CallbackServerContext* context,
                                    const InferenceRequest* request,
                                    InferenceResponse* response) override {
    const std::uint32_t tokens = TokensOf(*request);
    response->set_model_name(request->model_name());
    std::string text;
    text.reserve(tokens * 4);
    for (std::uint32_t i = 0; i < tokens; ++i) text += " sky";
    response->set_output_data(std::move(text));
    SetDone(tokens, response);
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerWriteReactor<InferenceResponse>* PredictStream(
      grpc::CallbackServerContext*, const InferenceRequest* request) override {
    return new Stream(*request);
  }
};

int Usage() {
  std::fputs("usage: grpc-floor [--port N] [--address HOST]\n", stderr);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  int port = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc) return Usage();
    if (flag == "--port") {
      char* end = nullptr;
      const long value = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || value < 0 || value > 65535) return Usage();
      port = static_cast<int>(value);
    } else if (flag == "--address") {
      host = argv[++i];
    } else {
      return Usage();
    }
  }
  // Signals are taken by a thread of their own, which shuts the server down.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Floor service;
  int bound = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(host + ":" + std::to_string(port), grpc::InsecureServerCredentials(),
                           &bound);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || bound == 0) {
    std::fprintf(stderr, "grpc-floor: cannot listen on %s:%d\n", host.c_str(), port);
    return 1;
  }
  std::printf("listening grpc=%s:%d\n", host.c_str(), bound);
  std::fflush(stdout);
  std::thread stopper([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    server->Shutdown();
  });
  server->Wait();
  stopper.join();
  return 0;
}
