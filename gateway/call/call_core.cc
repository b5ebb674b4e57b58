#include "gateway/call/call_core.h"

#include <random>

#include "gateway/config/config.h"

namespace og {

RequestPathOptions RequestPathOptionsFrom(const Config& c) {
  RequestPathOptions o;
  o.connect_timeout = c.upstream.connect_timeout;
  o.request_timeout = c.upstream.request_timeout;
  o.idle_timeout = c.upstream.idle_timeout;
  o.max_line_bytes = c.upstream.max_line_bytes;
  o.stream_buffer_bytes = c.upstream.stream_buffer_bytes;
  o.stream_write_timeout = c.listen.write_timeout;
  o.max_unary_answer_bytes = c.upstream.max_unary_answer_bytes;
  o.first_byte_timeout = c.upstream.first_byte_timeout;
  o.max_attempts = c.upstream.max_attempts;
  o.retry_budget_percent = c.upstream.retry_budget_percent;
  o.continue_streams = c.upstream.continue_streams == "chat";
  o.admission.max_queue = static_cast<std::size_t>(c.admission.max_queue);
  o.admission.max_queue_wait = c.admission.max_queue_wait;
  return o;
}

std::uint64_t ThreadRandom::Next() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

ThreadRandom& ThreadRandom::Get() {
  static ThreadRandom random;
  return random;
}

CallCore::CallCore(Router& router, Upstream& upstream, Metrics& metrics, SecurityGate& security,
                   RequestPathOptions options, AccessLog* access_log, const Clock& clock,
                   RandomSource& random)
    : router_(router),
      upstream_(upstream),
      metrics_(metrics),
      security_(security),
      access_log_(access_log),
      clock_(clock),
      random_(random),
      options_(options),
      retry_budget_(options.retry_budget_percent),
      queue_(std::make_unique<AdmissionQueue>(clock, options.admission, &metrics)) {
  if (dynamic_cast<const SystemClock*>(&clock) != nullptr) queue_->Start();
}

CallCore::~CallCore() = default;

}  // namespace og
