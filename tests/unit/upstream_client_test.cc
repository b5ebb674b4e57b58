// The upstream client against a real HTTP server in this process (og::http on loopback): lines,
// errors, connect failures, cancellation, pause/resume and timeouts, with every callback on the
// client's loop threads. Also run under ThreadSanitizer in CI.
#include "gateway/upstream/upstream_client.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/server.h"
#include "tests/fakes/upstream_recorder.h"

namespace og {
namespace {

using namespace std::chrono_literals;

// A backend on 127.0.0.1:0 whose io_context runs on its own thread. The destructor stops the
// server and lets the io_context run out of work (every exchange sees its client gone and ends),
// so nothing is abandoned mid-handler and nothing leaks.
class Backend {
 public:
  explicit Backend(http::Handler handler)
      : guard_(boost::asio::make_work_guard(io_)), server_(io_, std::move(handler)) {
    REQUIRE(server_.Listen("127.0.0.1", 0).ok());
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Backend() {
    server_.Stop();
    guard_.reset();
    thread_.join();
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server_.port()) + path;
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  http::Server server_;
  std::thread thread_;
};

using testing::Recorder;

UpstreamRequest Post(const std::string& url, std::chrono::milliseconds timeout = 0ms) {
  UpstreamRequest r;
  r.url = url;
  r.body = R"({"model":"m"})";
  r.timeout = timeout;
  return r;
}

// Streams `count` lines, one every `delay`, then ends the response.
void StreamLines(std::shared_ptr<http::Exchange> ex, int count, std::chrono::milliseconds delay) {
  ex->StartStream(200, "application/x-ndjson");
  auto timer = std::make_shared<boost::asio::steady_timer>(ex->executor());
  auto next = std::make_shared<std::function<void(int)>>();
  *next = [ex, timer, count, delay, next](int i) {
    if (i == count || ex->client_gone()) {
      ex->EndStream();
      *next = nullptr;  // break the cycle
      return;
    }
    ex->Write("{\"n\":" + std::to_string(i) + "}\n");
    timer->expires_after(delay);
    timer->async_wait([next, i](const boost::system::error_code&) {
      if (*next) (*next)(i + 1);
    });
  };
  (*next)(0);
}

TEST_CASE("upstream: NDJSON lines arrive whole and in order, then the result is ok", "[upstream]") {
  Backend backend([](std::shared_ptr<http::Exchange> ex) {
    // Lines deliberately cut mid-way across writes.
    ex->StartStream(200, "application/x-ndjson");
    ex->Write("{\"a\":1}\n{\"b\"");
    ex->Write(":2}\n{\"c\":3}");
    ex->Write("\n");
    ex->EndStream();
  });
  UpstreamClient client(2);
  Recorder rec;
  client.Start(Post(backend.Url("/api/generate")), &rec);
  UpstreamResult r = rec.Wait();
  CHECK(r.outcome == UpstreamOutcome::kOk);
  CHECK(r.http_status == 200);
  CHECK(rec.lines() == std::vector<std::string>{"{\"a\":1}", "{\"b\":2}", "{\"c\":3}"});
}

TEST_CASE("upstream: a non-2xx answer reports its status and body", "[upstream]") {
  Backend backend([](std::shared_ptr<http::Exchange> ex) {
    ex->Respond(404, "application/json", R"({"error":"model 'm' not found"})");
  });
  UpstreamClient client(1);
  Recorder rec;
  client.Start(Post(backend.Url("/api/generate")), &rec);
  UpstreamResult r = rec.Wait();
  CHECK(r.outcome == UpstreamOutcome::kHttpError);
  CHECK(r.http_status == 404);
  CHECK(r.body == R"({"error":"model 'm' not found"})");
  CHECK(rec.lines().empty());
}

TEST_CASE("upstream: a refused connection is a connect failure with no bytes received",
          "[upstream]") {
  std::string url;
  {
    Backend gone([](std::shared_ptr<http::Exchange> ex) { ex->Respond(200, "text/plain", ""); });
    url = gone.Url("/api/generate");
  }
  UpstreamClient client(1);
  Recorder rec;
  client.Start(Post(url), &rec);
  UpstreamResult r = rec.Wait();
  CHECK(r.outcome == UpstreamOutcome::kConnectFailed);
  CHECK_FALSE(r.received_bytes);
  CHECK_FALSE(r.message.empty());
}

TEST_CASE("upstream: cancel from another thread aborts at once and the backend sees it go",
          "[upstream]") {
  std::promise<void> gone;
  Backend backend([&gone](std::shared_ptr<http::Exchange> ex) {
    ex->OnClientGone([&gone] { gone.set_value(); });
    StreamLines(ex, 100000, 10ms);
  });
  UpstreamClient client(2);
  Recorder rec;
  UpstreamCall call = client.Start(Post(backend.Url("/api/generate")), &rec);
  rec.WaitForLines(2);
  std::thread([call] { call.Cancel(); }).join();
  CHECK(rec.Wait().outcome == UpstreamOutcome::kAborted);
  CHECK(gone.get_future().wait_for(5s) == std::future_status::ready);
  call.Cancel();  // after completion: a no-op
  CHECK(client.active() == 0);
}

TEST_CASE("upstream: the client serves as an Upstream, and a finished request's handle is inert",
          "[upstream]") {
  Backend backend([](std::shared_ptr<http::Exchange> ex) { StreamLines(ex, 2, 1ms); });
  UpstreamClient client(1);
  Upstream& upstream = client;
  CHECK_FALSE(UpstreamCall().valid());
  Recorder first;
  UpstreamCall call = upstream.Start(Post(backend.Url("/api/generate")), &first);
  CHECK(call.valid());
  CHECK(first.Wait().outcome == UpstreamOutcome::kOk);
  // After completion these reach the loop and do nothing; the loop serves on.
  call.Pause();
  call.Resume();
  call.Cancel();
  Recorder second;
  upstream.Start(Post(backend.Url("/api/generate")), &second);
  CHECK(second.Wait().outcome == UpstreamOutcome::kOk);
  CHECK(second.lines() == std::vector<std::string>{"{\"n\":0}", "{\"n\":1}"});
  CHECK(first.lines().size() == 2);
  CHECK(client.active() == 0);
}

TEST_CASE("upstream: a handler returning false aborts the request", "[upstream]") {
  Backend backend([](std::shared_ptr<http::Exchange> ex) { StreamLines(ex, 1000, 1ms); });
  UpstreamClient client(1);
  Recorder rec(/*stop_after_lines=*/3);
  client.Start(Post(backend.Url("/api/generate")), &rec);
  CHECK(rec.Wait().outcome == UpstreamOutcome::kAborted);
  CHECK(rec.lines().size() == 3);
}

TEST_CASE("upstream: a paused request receives nothing until resumed", "[upstream]") {
  Backend backend([](std::shared_ptr<http::Exchange> ex) { StreamLines(ex, 40, 5ms); });
  UpstreamClient client(1);
  Recorder rec;
  UpstreamCall call = client.Start(Post(backend.Url("/api/generate")), &rec);
  rec.WaitForLines(1);
  call.Pause();
  std::this_thread::sleep_for(100ms);  // let the pause take effect on the loop
  const std::size_t at_pause = rec.lines().size();
  std::this_thread::sleep_for(400ms);  // the backend keeps writing meanwhile
  CHECK(rec.lines().size() == at_pause);
  call.Resume();
  CHECK(rec.Wait().outcome == UpstreamOutcome::kOk);
  CHECK(rec.lines().size() == 40);
}

TEST_CASE("upstream: a request past its time bound is a timeout", "[upstream]") {
  Backend backend([](std::shared_ptr<http::Exchange> ex) { StreamLines(ex, 1000, 50ms); });
  UpstreamClient client(1);
  Recorder rec;
  client.Start(Post(backend.Url("/api/generate"), 200ms), &rec);
  UpstreamResult r = rec.Wait();
  CHECK(r.outcome == UpstreamOutcome::kTimeout);
  CHECK(r.received_bytes);
}

TEST_CASE("upstream: a backend silent past first_byte_timeout is abandoned, unanswered",
          "[upstream]") {
  std::promise<void> gone;
  std::shared_ptr<http::Exchange> held;  // never answered while the client waits
  Backend backend([&](std::shared_ptr<http::Exchange> ex) {
    ex->OnClientGone([&gone] { gone.set_value(); });
    held = ex;
  });
  UpstreamClient client(1);
  Recorder rec;
  UpstreamRequest req = Post(backend.Url("/api/generate"));
  req.first_byte_timeout = 150ms;
  client.Start(req, &rec);
  UpstreamResult r = rec.Wait();
  CHECK(r.outcome == UpstreamOutcome::kFirstByteTimeout);
  CHECK_FALSE(r.received_bytes);
  CHECK(r.message == "no response within first_byte_timeout (150 ms)");
  CHECK(gone.get_future().wait_for(5s) == std::future_status::ready);
  held.reset();  // before the backend goes: it owns the io_context the exchange lives on
}

TEST_CASE("upstream: a first byte in time disarms first_byte_timeout", "[upstream]") {
  Backend backend([](std::shared_ptr<http::Exchange> ex) { StreamLines(ex, 10, 40ms); });
  UpstreamClient client(1);
  Recorder rec;
  UpstreamRequest req = Post(backend.Url("/api/generate"));
  req.first_byte_timeout = 150ms;  // the whole answer takes ~400 ms
  client.Start(req, &rec);
  CHECK(rec.Wait().outcome == UpstreamOutcome::kOk);
  CHECK(rec.lines().size() == 10);
}

TEST_CASE("upstream: idle_timeout never cuts an answer that keeps coming", "[upstream]") {
  Backend backend([](std::shared_ptr<http::Exchange> ex) { StreamLines(ex, 12, 40ms); });
  UpstreamClient client(1);
  Recorder rec;
  UpstreamRequest req = Post(backend.Url("/api/generate"));
  req.idle_timeout = 150ms;  // the whole answer takes ~480 ms, no gap reaches it
  client.Start(req, &rec);
  CHECK(rec.Wait().outcome == UpstreamOutcome::kOk);
  CHECK(rec.lines().size() == 12);
}

TEST_CASE("upstream: a backend silent past idle_timeout mid-answer is given up on", "[upstream]") {
  std::shared_ptr<http::Exchange> held;
  Backend backend([&](std::shared_ptr<http::Exchange> ex) {
    ex->StartStream(200, "application/x-ndjson");
    ex->Write("{\"n\":0}\n");
    held = ex;  // then nothing more
  });
  UpstreamClient client(1);
  Recorder rec;
  UpstreamRequest req = Post(backend.Url("/api/generate"));
  req.idle_timeout = 150ms;
  client.Start(req, &rec);
  UpstreamResult r = rec.Wait();
  CHECK(r.outcome == UpstreamOutcome::kIdleTimeout);
  CHECK(r.received_bytes);
  CHECK_THAT(r.message, Catch::Matchers::EndsWith(
                            "sent nothing for idle_timeout (150 ms) in the middle of its answer"));
  CHECK(rec.lines().size() == 1);
  held.reset();
}

TEST_CASE("upstream: DELETE and HEAD, and any answer type when asked", "[upstream]") {
  std::string seen;
  Backend backend([&](std::shared_ptr<http::Exchange> ex) {
    seen += ex->request().method + " " + std::string(ex->request().Header("content-type")) + ";";
    // Ollama's copy and delete answer an empty 200 without a Content-Type; HEAD only a status.
    ex->Respond(200, ex->request().method == "HEAD" ? "application/json" : "", "");
  });
  UpstreamClient client(1);
  for (auto method : {UpstreamRequest::Method::kDelete, UpstreamRequest::Method::kHead}) {
    Recorder rec;
    UpstreamRequest req = Post(backend.Url("/api/delete"));
    req.method = method;
    req.any_answer_type = true;
    client.Start(req, &rec);
    CHECK(rec.Wait().outcome == UpstreamOutcome::kOk);
    CHECK(rec.lines().empty());
  }
  CHECK(seen == "DELETE application/json;HEAD ;");
}

TEST_CASE("upstream: a line over the limit fails the request", "[upstream]") {
  Backend backend([](std::shared_ptr<http::Exchange> ex) {
    ex->Respond(200, "application/x-ndjson", std::string(4096, 'x') + "\n");
  });
  UpstreamClient client(1);
  Recorder rec;
  UpstreamRequest req = Post(backend.Url("/api/generate"));
  req.max_line_bytes = 1024;
  client.Start(req, &rec);
  UpstreamResult r = rec.Wait();
  CHECK(r.outcome == UpstreamOutcome::kLineTooLong);
  CHECK(r.message ==
        "backend sent an NDJSON line longer than 1024 bytes (upstream.max_line_bytes)");
}

TEST_CASE("upstream: a 2xx answer that is not NDJSON is refused unread, naming both types",
          "[upstream]") {
  std::promise<void> gone;
  std::shared_ptr<http::Exchange> held;  // the stream stays open until the client leaves
  Backend backend([&](std::shared_ptr<http::Exchange> ex) {
    ex->OnClientGone([&gone] { gone.set_value(); });
    // A stream that would parse fine: only its Content-Type is wrong.
    ex->StartStream(200, "text/html; charset=utf-8");
    ex->Write("{\"a\":1}\n");
    held = ex;
  });
  UpstreamClient client(1);
  Recorder rec;
  client.Start(Post(backend.Url("/api/generate")), &rec);
  UpstreamResult r = rec.Wait();
  CHECK(r.outcome == UpstreamOutcome::kTransportError);
  CHECK_FALSE(r.received_bytes);  // nothing reached the handler: safe to retry elsewhere
  CHECK(r.http_status == 200);
  CHECK(r.message ==
        "backend answered HTTP 200 with Content-Type 'text/html; charset=utf-8'; expected "
        "application/x-ndjson (or application/json)");
  CHECK(rec.lines().empty());
  CHECK(gone.get_future().wait_for(5s) == std::future_status::ready);
  CHECK(client.active() == 0);
  held.reset();  // before the backend goes: it owns the io_context the exchange lives on
}

TEST_CASE("upstream: a 2xx answer without a Content-Type is refused", "[upstream]") {
  Backend backend([](std::shared_ptr<http::Exchange> ex) { ex->Respond(200, "", "{}\n"); });
  UpstreamClient client(1);
  Recorder rec;
  client.Start(Post(backend.Url("/api/generate")), &rec);
  UpstreamResult r = rec.Wait();
  CHECK(r.outcome == UpstreamOutcome::kTransportError);
  CHECK(r.message ==
        "backend answered HTTP 200 without a Content-Type; expected application/x-ndjson");
  CHECK(rec.lines().empty());
}

TEST_CASE("upstream: a JSON answer with parameters is read as one line", "[upstream]") {
  Backend backend([](std::shared_ptr<http::Exchange> ex) {
    ex->Respond(200, "Application/JSON; charset=utf-8", R"({"done":true})");
  });
  UpstreamClient client(1);
  Recorder rec;
  client.Start(Post(backend.Url("/api/generate")), &rec);
  CHECK(rec.Wait().outcome == UpstreamOutcome::kOk);
  CHECK(rec.lines() == std::vector<std::string>{R"({"done":true})"});
}

TEST_CASE("upstream: an error answer keeps its body whatever its Content-Type", "[upstream]") {
  Backend backend([](std::shared_ptr<http::Exchange> ex) {
    ex->Respond(502, "text/html", "<html>bad gateway</html>");
  });
  UpstreamClient client(1);
  Recorder rec;
  client.Start(Post(backend.Url("/api/generate")), &rec);
  UpstreamResult r = rec.Wait();
  CHECK(r.outcome == UpstreamOutcome::kHttpError);
  CHECK(r.http_status == 502);
  CHECK(r.body == "<html>bad gateway</html>");
}

TEST_CASE("upstream: a body cut mid-chunk is a transport error after the lines before it",
          "[upstream]") {
  Backend backend([](std::shared_ptr<http::Exchange> ex) {
    ex->StartStream(200, "application/x-ndjson");
    ex->Write("{\"a\":1}\n");
    ex->CloseMidChunk("{\"b\":2}\n", 3);
  });
  UpstreamClient client(1);
  Recorder rec;
  client.Start(Post(backend.Url("/api/generate")), &rec);
  UpstreamResult r = rec.Wait();
  CHECK(r.outcome == UpstreamOutcome::kTransportError);
  CHECK(r.received_bytes);
  CHECK_FALSE(r.message.empty());
  CHECK(rec.lines() == std::vector<std::string>{"{\"a\":1}"});
  CHECK(client.active() == 0);
}

TEST_CASE("upstream: many concurrent requests from many threads all complete", "[upstream]") {
  Backend backend([](std::shared_ptr<http::Exchange> ex) { StreamLines(ex, 5, 1ms); });
  UpstreamClient client(2);
  constexpr int kThreads = 4, kPerThread = 25;
  std::vector<std::unique_ptr<Recorder>> recs;
  for (int i = 0; i < kThreads * kPerThread; ++i) recs.push_back(std::make_unique<Recorder>());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        client.Start(Post(backend.Url("/api/generate")), recs[t * kPerThread + i].get());
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& rec : recs) {
    CHECK(rec->Wait().outcome == UpstreamOutcome::kOk);
    CHECK(rec->lines().size() == 5);
  }
}

TEST_CASE("upstream: a reused connection handle carries nothing over from its last request",
          "[upstream]") {
  // One loop, one request at a time: every request after the first runs on the handle the one
  // before gave back to the pool.
  std::mutex mu;
  std::vector<std::string> seen;  // "METHOD TARGET BODY" as the backend received each request
  Backend backend([&](std::shared_ptr<http::Exchange> ex) {
    {
      std::lock_guard<std::mutex> lock(mu);
      seen.push_back(ex->request().method + " " + ex->request().target + " " + ex->request().body);
    }
    if (ex->request().target == "/slow") return StreamLines(ex, 8, 50ms);
    ex->Respond(200, "application/json", R"({"ok":true})");
  });
  UpstreamClient client(1);
  {
    Recorder rec;  // a time bound of 100 ms against a 400 ms answer
    client.Start(Post(backend.Url("/slow"), 100ms), &rec);
    CHECK(rec.Wait().outcome == UpstreamOutcome::kTimeout);
  }
  {
    Recorder rec;  // no bound now: the same answer completes
    client.Start(Post(backend.Url("/slow")), &rec);
    CHECK(rec.Wait().outcome == UpstreamOutcome::kOk);
    CHECK(rec.lines().size() == 8);
  }
  {
    Recorder rec;  // a GET after POSTs sends no body
    UpstreamRequest get;
    get.method = UpstreamRequest::Method::kGet;
    get.url = backend.Url("/api/tags");
    client.Start(get, &rec);
    CHECK(rec.Wait().outcome == UpstreamOutcome::kOk);
    CHECK(rec.lines() == std::vector<std::string>{R"({"ok":true})"});
  }
  {
    Recorder rec;  // and a POST after the GET is a POST with its own body again
    client.Start(Post(backend.Url("/api/generate")), &rec);
    CHECK(rec.Wait().outcome == UpstreamOutcome::kOk);
  }
  std::lock_guard<std::mutex> lock(mu);
  REQUIRE(seen.size() == 4);
  CHECK(seen[2] == "GET /api/tags ");
  CHECK(seen[3] == R"(POST /api/generate {"model":"m"})");
}

}  // namespace
}  // namespace og
