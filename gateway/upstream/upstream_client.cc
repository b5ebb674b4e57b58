#include "gateway/upstream/upstream_client.h"

#include "gateway/upstream/event_loop.h"

namespace og {

const char* UpstreamOutcomeName(UpstreamOutcome outcome) {
  switch (outcome) {
    case UpstreamOutcome::kOk:
      return "ok";
    case UpstreamOutcome::kHttpError:
      return "http_error";
    case UpstreamOutcome::kConnectFailed:
      return "connect_failed";
    case UpstreamOutcome::kTimeout:
      return "timeout";
    case UpstreamOutcome::kTransportError:
      return "transport_error";
    case UpstreamOutcome::kLineTooLong:
      return "line_too_long";
    case UpstreamOutcome::kFirstByteTimeout:
      return "first_byte_timeout";
    case UpstreamOutcome::kIdleTimeout:
      return "idle_timeout";
    case UpstreamOutcome::kAborted:
      return "aborted";
  }
  return "unknown";
}

UpstreamClient::UpstreamClient(int threads) {
  if (threads < 1) threads = 1;
  for (int i = 0; i < threads; ++i) loops_.push_back(std::make_unique<EventLoop>(this));
}

UpstreamClient::~UpstreamClient() = default;

UpstreamCall UpstreamClient::Start(UpstreamRequest request, UpstreamHandler* handler) {
  EventLoop* loop = EventLoop::Current(this);
  if (loop == nullptr) {
    loop = loops_[next_loop_.fetch_add(1, std::memory_order_relaxed) % loops_.size()].get();
  }
  return loop->Start(std::move(request), handler);
}

std::vector<boost::asio::io_context*> UpstreamClient::workers() const {
  std::vector<boost::asio::io_context*> out;
  for (const auto& loop : loops_) out.push_back(&loop->io());
  return out;
}

std::size_t UpstreamClient::active() const {
  std::size_t total = 0;
  for (const auto& loop : loops_) total += loop->active();
  return total;
}

}  // namespace og
