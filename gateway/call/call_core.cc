#include "gateway/call/call_core.h"

namespace og {

CallCore::CallCore(Router& router, UpstreamClient& upstream, Metrics& metrics,
                   SecurityGate& security, RequestPathOptions options, AccessLog* access_log)
    : router_(router),
      upstream_(upstream),
      metrics_(metrics),
      security_(security),
      access_log_(access_log),
      options_(options),
      retry_budget_(options.retry_budget_percent),
      queue_(std::make_unique<AdmissionQueue>(SystemClock::Get(), options.admission, &metrics)) {
  queue_->Start();
}

CallCore::~CallCore() = default;

}  // namespace og
