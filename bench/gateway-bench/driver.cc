#include "bench/gateway-bench/driver.h"

#include <fmt/format.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "ollama_gateway/v1/inference.grpc.pb.h"

namespace og::bench {
namespace {

using Clock = std::chrono::steady_clock;
using ollama_gateway::v1::InferenceRequest;
using ollama_gateway::v1::InferenceResponse;
using ollama_gateway::v1::ModelInference;

std::uint64_t Micros(Clock::duration d) {
  return static_cast<std::uint64_t>(
      std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::microseconds>(d).count()));
}

// splitmix64: spreads a call counter into a well-mixed hash key index without a shared,
// locked random generator on the hot path.
std::uint64_t Mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

absl::Status ReadFile(const std::string& flag, const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  if (in) buffer << in.rdbuf();
  if (!in || buffer.str().empty()) {
    return absl::InvalidArgumentError(fmt::format("{}: cannot read '{}'", flag, path));
  }
  out = buffer.str();
  return absl::OkStatus();
}

// What one call measured, handed to the Recorder when it finishes.
struct CallOutcome {
  grpc::StatusCode code = grpc::StatusCode::OK;
  Clock::time_point intended;
  Clock::time_point finished;
  std::optional<Clock::time_point> first_message;  // streams
  std::uint64_t messages = 0;
};

// The measured figures. Completions arrive on gRPC's callback threads; a mutex is enough here:
// it is taken once per finished call for ~100 ns of bucket increments, and even 50,000 calls/s
// spend well under 1% of one core in it, far less than gRPC spends on each call.
class Recorder {
 public:
  void Record(const CallOutcome& c) {
    std::lock_guard lock(mu_);
    last_finished_ = std::max(last_finished_, c.finished);
    if (c.code != grpc::StatusCode::OK) {
      ++errors_[std::min<std::size_t>(static_cast<std::size_t>(c.code), errors_.size() - 1)];
      return;
    }
    ++ok_;
    latency_us_.Record(Micros(c.finished - c.intended));
    if (c.first_message) ttft_us_.Record(Micros(*c.first_message - c.intended));
    messages_ += c.messages;
  }
  void Dropped() { dropped_.fetch_add(1, std::memory_order_relaxed); }

  RunResult Result(const BenchOptions& options, Clock::time_point measure_from,
                   Clock::duration planned) const {
    std::lock_guard lock(mu_);
    RunResult r;
    // The window runs to the last measured completion; in duration mode it is at least the
    // planned duration, so an idle or fully dropped run does not report a zero window.
    Clock::duration window =
        last_finished_ > measure_from ? last_finished_ - measure_from : Clock::duration::zero();
    if (!options.requests) window = std::max(window, planned);
    r.duration_s = std::chrono::duration<double>(window).count();
    r.ok = ok_;
    for (std::size_t code = 0; code < errors_.size(); ++code) {
      if (errors_[code] > 0) r.errors[StatusCodeName(static_cast<int>(code))] = errors_[code];
    }
    r.dropped = dropped_.load();
    r.latency_us = latency_us_.Summary();
    if (options.rpc == Rpc::kStream) r.ttft_us = ttft_us_.Summary();
    r.messages = messages_;
    return r;
  }

 private:
  mutable std::mutex mu_;
  LogLinearHistogram latency_us_;
  LogLinearHistogram ttft_us_;
  std::uint64_t ok_ = 0;
  std::uint64_t messages_ = 0;
  std::array<std::uint64_t, 18> errors_{};  // codes 0..16, and 17 for anything else
  Clock::time_point last_finished_{};
  std::atomic<std::uint64_t> dropped_{0};
};

class Driver;

// A unary call's state: gRPC needs the context and response alive until the callback runs.
struct UnaryCall {
  grpc::ClientContext context;
  InferenceResponse response;
  Clock::time_point intended;
  bool measured = false;
};

// A streaming call: one reactor per call owns its state, reads one message at a time and
// deletes itself in OnDone, like the callback examples of gRPC.
class StreamCall : public grpc::ClientReadReactor<InferenceResponse> {
 public:
  StreamCall(Driver& driver, Clock::time_point intended, bool measured)
      : driver_(driver), intended_(intended), measured_(measured) {}

  grpc::ClientContext& context() { return context_; }

  void Start(ModelInference::Stub& stub, const InferenceRequest& request) {
    stub.async()->PredictStream(&context_, &request, this);
    StartRead(&response_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream ended; OnDone follows with the status
    if (messages_++ == 0) first_message_ = Clock::now();
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override;

 private:
  Driver& driver_;
  grpc::ClientContext context_;
  InferenceResponse response_;
  Clock::time_point intended_;
  bool measured_;
  std::optional<Clock::time_point> first_message_;
  std::uint64_t messages_ = 0;
};

class Driver {
 public:
  Driver(const BenchOptions& options, const std::vector<std::shared_ptr<grpc::Channel>>& channels)
      : options_(options) {
    for (const auto& channel : channels) stubs_.push_back(ModelInference::NewStub(channel));
    // Requests are built once and shared read-only by every call (the callback API takes a
    // pointer that must outlive the call): one per hash key, or a single one.
    const int keys = std::max(1, options.hash_key_cardinality);
    requests_.resize(static_cast<std::size_t>(keys));
    for (int i = 0; i < keys; ++i) {
      InferenceRequest& r = requests_[static_cast<std::size_t>(i)];
      r.set_model_name(options.model);
      r.set_input_data(options.prompt);
      if (options.num_predict) r.mutable_options()->set_num_predict(*options.num_predict);
      if (options.hash_key_cardinality > 0) r.set_hash_key(fmt::format("bench-key-{}", i));
    }
    if (!options.api_key.empty()) authorization_ = "Bearer " + options.api_key;
  }

  RunResult Run() {
    start_ = Clock::now();
    measure_from_ = start_ + options_.warmup;
    issue_until_ = measure_from_ + options_.duration;
    if (options_.rate) {
      RunOpenLoop();
    } else {
      for (int i = 0; i < options_.concurrency && TryIssueClosed(); ++i) {
      }
    }
    {
      std::unique_lock lock(done_mu_);
      issuing_done_ = true;
      done_cv_.wait(lock, [&] { return outstanding_.load() == 0; });
    }
    return recorder_.Result(options_, measure_from_, issue_until_ - measure_from_);
  }

  // Called by each call exactly once when it has finished.
  void Finished(const CallOutcome& outcome, bool measured) {
    if (measured) recorder_.Record(outcome);
    // A closed loop replaces the finished call before giving up its slot, so outstanding_ only
    // reaches zero once the loop has stopped issuing.
    if (!options_.rate) TryIssueClosed();
    // Under the lock: once Run() sees zero it destroys the driver, so nothing may touch it
    // after this block.
    std::lock_guard lock(done_mu_);
    if (outstanding_.fetch_sub(1) == 1 && issuing_done_) done_cv_.notify_all();
  }

 private:
  // Closed loop: the intended send time is the actual one (the loop waits for a completion
  // before sending, so this model cannot see coordinated omission; the open loop can).
  bool TryIssueClosed() {
    const Clock::time_point now = Clock::now();
    const bool measured = now >= measure_from_;
    if (!MayIssue(now, measured)) return false;
    Issue(now, measured);
    return true;
  }

  // Whether the run still issues a call intended at `at`; counts measured calls in --requests
  // mode.
  bool MayIssue(Clock::time_point at, bool measured) {
    if (!options_.requests) return at < issue_until_;
    return !measured || measured_issued_.fetch_add(1) < *options_.requests;
  }

  // Open loop: arrivals at the schedule's intended times whatever the calls' latency; an
  // arrival that finds --max-outstanding calls in flight is dropped and counted, and one this
  // thread reaches late is sent at once but still timed from its intended time.
  void RunOpenLoop() {
    ArrivalSchedule schedule(*options_.rate, options_.arrivals, options_.seed);
    while (true) {
      const Clock::time_point intended = start_ + schedule.Next();
      const bool measured = intended >= measure_from_;
      if (!MayIssue(intended, measured)) return;
      std::this_thread::sleep_until(intended);
      if (outstanding_.load() >= options_.max_outstanding) {
        if (measured) recorder_.Dropped();
        continue;
      }
      Issue(intended, measured);
    }
  }

  void Issue(Clock::time_point intended, bool measured) {
    outstanding_.fetch_add(1);
    const std::uint64_t n = calls_.fetch_add(1, std::memory_order_relaxed);
    ModelInference::Stub& stub = *stubs_[n % stubs_.size()];
    const InferenceRequest& request =
        requests_.size() == 1 ? requests_[0] : requests_[Mix(n ^ options_.seed) % requests_.size()];
    if (options_.rpc == Rpc::kStream) {
      auto* call = new StreamCall(*this, intended, measured);  // deletes itself in OnDone
      Prepare(call->context());
      call->Start(stub, request);
      return;
    }
    auto* call = new UnaryCall;
    call->intended = intended;
    call->measured = measured;
    Prepare(call->context);
    stub.async()->Predict(&call->context, &request, &call->response,
                          [this, call](const grpc::Status& status) {
                            CallOutcome outcome;
                            outcome.code = status.error_code();
                            outcome.intended = call->intended;
                            outcome.finished = Clock::now();
                            const bool measured = call->measured;
                            delete call;
                            Finished(outcome, measured);
                          });
  }

  void Prepare(grpc::ClientContext& context) const {
    context.set_deadline(std::chrono::system_clock::now() + options_.timeout);
    if (!authorization_.empty()) context.AddMetadata("authorization", authorization_);
  }

  const BenchOptions& options_;
  std::vector<std::unique_ptr<ModelInference::Stub>> stubs_;
  std::vector<InferenceRequest> requests_;
  std::string authorization_;
  Recorder recorder_;

  Clock::time_point start_;
  Clock::time_point measure_from_;
  Clock::time_point issue_until_;
  std::atomic<std::uint64_t> calls_{0};
  std::atomic<std::int64_t> measured_issued_{0};
  std::atomic<std::int64_t> outstanding_{0};
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  bool issuing_done_ = false;
};

void StreamCall::OnDone(const grpc::Status& status) {
  CallOutcome outcome;
  outcome.code = status.error_code();
  outcome.intended = intended_;
  outcome.finished = Clock::now();
  outcome.first_message = first_message_;
  outcome.messages = messages_;
  Driver& driver = driver_;
  const bool measured = measured_;
  delete this;
  driver.Finished(outcome, measured);
}

}  // namespace

absl::StatusOr<std::vector<std::shared_ptr<grpc::Channel>>> MakeChannels(
    const BenchOptions& options) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.insecure) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    if (!options.cacert.empty()) {
      if (auto s = ReadFile("--cacert", options.cacert, ssl.pem_root_certs); !s.ok()) return s;
    }
    if (!options.cert.empty()) {
      if (auto s = ReadFile("--cert", options.cert, ssl.pem_cert_chain); !s.ok()) return s;
      if (auto s = ReadFile("--key", options.key, ssl.pem_private_key); !s.ok()) return s;
    }
    credentials = grpc::SslCredentials(ssl);
  }
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < options.connections; ++i) {
    grpc::ChannelArguments args;
    // Channels with equal arguments share subchannels (one connection) through gRPC's global
    // pool; a local pool per channel and a distinct argument give each its own connection.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("og.bench.channel_index", i);
    if (!options.server_name.empty()) args.SetSslTargetNameOverride(options.server_name);
    channels.push_back(grpc::CreateCustomChannel(options.target, credentials, args));
  }
  return channels;
}

RunResult RunLoad(const BenchOptions& options,
                  const std::vector<std::shared_ptr<grpc::Channel>>& channels) {
  Driver driver(options, channels);
  return driver.Run();
}

}  // namespace og::bench
