// ollama-sim: a faithful Ollama API simulator for tests and benchmarks. See docs/ollama-sim.md.
//
// Prints the port it listens on as the first line of stdout (tests start it with --port 0 and
// read that line), logs to stderr, and exits 0 on SIGTERM or SIGINT once connections are closed.
#include <sys/resource.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "http/server.h"
#include "tools/ollama-sim/flags.h"
#include "tools/ollama-sim/simulator.h"

namespace {

// Thousands of concurrent streams need thousands of descriptors; take what the hard limit allows.
void RaiseDescriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& part : parts) out += (out.empty() ? "" : ",") + part;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = og::sim::ParseFlags(std::vector<std::string>(argv + 1, argv + argc));
  if (!parsed.ok()) {
    std::fprintf(stderr, "ollama-sim: %s\n(see ollama-sim --help)\n",
                 std::string(parsed.status().message()).c_str());
    return 2;
  }
  const og::sim::SimOptions& options = *parsed;
  if (options.help) {
    std::fputs(og::sim::Usage().c_str(), stdout);
    return 0;
  }
  std::signal(SIGPIPE, SIG_IGN);
  RaiseDescriptorLimit();

  boost::asio::io_context io_context(options.threads);
  og::sim::Simulator simulator(io_context, options);
  og::http::ServerOptions server_options;
  // Ollama's Go server sets no timeouts and no connection limit: idle keep-alive connections stay
  // open, and the benchmarks hold tens of thousands of streams.
  server_options.header_timeout = std::chrono::hours(24);
  server_options.body_timeout = std::chrono::hours(24);
  server_options.write_timeout = std::chrono::hours(24);
  server_options.keepalive_timeout = std::chrono::hours(24);
  server_options.max_connections = 0;
  server_options.max_body_bytes = options.max_body_bytes;
  og::http::Server server(
      io_context,
      [&simulator](std::shared_ptr<og::http::Exchange> exchange) {
        simulator.Handle(std::move(exchange));
      },
      server_options);
  if (absl::Status s = server.Listen(options.host, options.port); !s.ok()) {
    std::fprintf(stderr, "ollama-sim: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::printf("%u\n", static_cast<unsigned>(server.port()));
  std::fflush(stdout);
  std::fprintf(stderr,
               "ollama-sim %s listening on %s:%u (models %s, tokens %d, token delay %d ms, "
               "load delay %d ms, parallel %d, max queue %d, threads %d)\n",
               options.name.c_str(), options.host.c_str(), static_cast<unsigned>(server.port()),
               Join(options.models).c_str(), options.tokens, options.token_delay_ms,
               options.load_delay_ms, options.parallel, options.max_queue, options.threads);

  boost::asio::signal_set signals(io_context, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal_number) {
    if (ec) return;
    std::fprintf(stderr, "ollama-sim: signal %d, shutting down\n", signal_number);
    // Closing every connection ends every generation; with the scheduler's timers gone too the
    // io_context runs out of work and run() returns.
    server.Stop();
    simulator.Shutdown();
  });

  std::vector<std::thread> threads;
  for (int i = 1; i < options.threads; ++i)
    threads.emplace_back([&io_context] { io_context.run(); });
  io_context.run();
  for (std::thread& thread : threads) thread.join();
  std::fprintf(stderr, "ollama-sim: stopped\n");
  return 0;
}
