// A scripted Upstream (gateway/upstream/request.h) for tests that drive the call path without
// sockets. It records every request it is given and does nothing on its own: the test plays the
// upstream client's loop thread, delivering each call's lines and its end, and sees what the
// code under test asked of the handle (cancel, pause, resume).
//
// Like the real client, Start never calls the handler back before it returns, a handler that
// refuses a line ends its call with kAborted, and a handle's requests after the end are no-ops.
// Single-threaded: every method runs on the test's thread.
#ifndef OLLAMA_GATEWAY_TESTS_FAKES_FAKE_UPSTREAM_H_
#define OLLAMA_GATEWAY_TESTS_FAKES_FAKE_UPSTREAM_H_

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/upstream/request.h"

namespace og::testing {

class FakeUpstream final : public Upstream {
 public:
  // One request the code under test started.
  class Call final : public UpstreamControl {
   public:
    Call(UpstreamRequest request, UpstreamHandler* handler)
        : request_(std::move(request)), handler_(handler) {}

    const UpstreamRequest& request() const { return request_; }
    // The handle's Cancel() was called before the call ended.
    bool cancel_requested() const { return cancel_requested_; }
    // The handle paused reading and did not resume since.
    bool paused() const { return paused_; }
    int pauses() const { return pauses_; }
    // OnComplete was delivered.
    bool done() const { return done_; }
    // The lines delivered so far that the handler accepted.
    int lines_accepted() const { return lines_accepted_; }

    // Delivers one line of a 2xx answer, without its newline, and returns the handler's answer.
    // A refused line ends the call at once with kAborted, as the client does.
    bool Line(std::string_view line) {
      RequireRunning("Line");
      received_ = true;
      if (handler_->OnLine(line)) {
        ++lines_accepted_;
        return true;
      }
      End(UpstreamOutcome::kAborted, 200, "", "aborted by the request handler");
      return false;
    }
    // The 2xx body ended cleanly.
    void Ok() { End(UpstreamOutcome::kOk, 200, "", ""); }
    // The backend answered `status` with `body`, before any line.
    void HttpError(long status, std::string body) {
      received_ = received_ || !body.empty();
      End(UpstreamOutcome::kHttpError, status, std::move(body), "");
    }
    // No connection was made.
    void ConnectFailed(std::string message = "Connection refused") {
      End(UpstreamOutcome::kConnectFailed, 0, "", std::move(message));
    }
    // The connection broke (after the lines delivered so far, if any).
    void TransportError(std::string message = "Connection reset by peer") {
      End(UpstreamOutcome::kTransportError, received_ ? 200 : 0, "", std::move(message));
    }
    // The request's time bound expired.
    void Timeout() { End(UpstreamOutcome::kTimeout, received_ ? 200 : 0, "", "timed out"); }
    // Carries out the handle's Cancel() as the client's loop does: the call ends with kAborted.
    void FinishCancel() {
      if (!cancel_requested_) throw std::logic_error("FinishCancel: nobody cancelled the call");
      End(UpstreamOutcome::kAborted, received_ ? 200 : 0, "", "cancelled");
    }

    // UpstreamControl, through the handle the code under test holds.
    void Cancel() override {
      if (!done_) cancel_requested_ = true;
    }
    void SetPaused(bool paused) override {
      if (done_ || paused_ == paused) return;
      paused_ = paused;
      if (paused) ++pauses_;
    }

   private:
    void RequireRunning(const char* what) const {
      if (done_) throw std::logic_error(std::string(what) + ": the call has already ended");
    }
    void End(UpstreamOutcome outcome, long http_status, std::string body, std::string message) {
      RequireRunning("End");
      done_ = true;
      UpstreamResult result;
      result.outcome = outcome;
      result.http_status = http_status;
      result.body = std::move(body);
      result.message = std::move(message);
      result.received_bytes = received_;
      // The handler may start another request from here (a retry) or be deleted.
      handler_->OnComplete(std::move(result));
    }

    const UpstreamRequest request_;
    UpstreamHandler* const handler_;
    bool received_ = false;
    bool cancel_requested_ = false;
    bool paused_ = false;
    int pauses_ = 0;
    bool done_ = false;
    int lines_accepted_ = 0;
  };

  UpstreamCall Start(UpstreamRequest request, UpstreamHandler* handler) override {
    calls_.push_back(std::make_shared<Call>(std::move(request), handler));
    return UpstreamCall(calls_.back());
  }

  // The requests started so far, oldest first.
  std::size_t size() const { return calls_.size(); }
  Call& call(std::size_t i) {
    if (i >= calls_.size()) throw std::out_of_range("FakeUpstream: no such call");
    return *calls_[i];
  }
  Call& last() { return call(calls_.size() - 1); }
  // Calls not yet ended.
  std::size_t running() const {
    std::size_t n = 0;
    for (const auto& c : calls_) n += !c->done();
    return n;
  }

 private:
  std::vector<std::shared_ptr<Call>> calls_;
};

}  // namespace og::testing

#endif  // OLLAMA_GATEWAY_TESTS_FAKES_FAKE_UPSTREAM_H_
