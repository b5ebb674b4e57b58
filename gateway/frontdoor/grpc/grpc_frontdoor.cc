#include "gateway/frontdoor/grpc/grpc_frontdoor.h"

#include <grpc/grpc.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace og {
namespace {

// A configured duration as gRPC's int milliseconds (the loader refused longer ones).
int GrpcMillis(std::chrono::milliseconds d) {
  return static_cast<int>(std::min<std::int64_t>(d.count(), INT32_MAX));
}

int GrpcBytes(std::int64_t n) { return static_cast<int>(std::min<std::int64_t>(n, INT32_MAX)); }

// The listen section's HTTP/2 limits, set explicitly rather than left to gRPC's defaults (which
// allow unlimited streams per connection and never close idle ones). See docs/configuration.md.
void SetTransportLimits(const ListenConfig& l, grpc::ServerBuilder* builder) {
  builder->AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, l.max_concurrent_streams);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                              GrpcMillis(l.keepalive_min_ping_interval));
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, l.keepalive_max_ping_strikes);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS,
                              l.keepalive_permit_without_calls ? 1 : 0);
  // gRPC reads INT_MAX as "never" for these.
  const auto or_never = [](std::chrono::milliseconds d) {
    return d.count() == 0 ? INT32_MAX : GrpcMillis(d);
  };
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, or_never(l.keepalive_time));
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, GrpcMillis(l.keepalive_timeout));
  builder->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, or_never(l.max_connection_idle));
  builder->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, or_never(l.max_connection_age));
  builder->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                              GrpcMillis(l.max_connection_age_grace));
}

}  // namespace

GrpcFrontDoor::GrpcFrontDoor(CallCore& core) : service_(core) {}

GrpcFrontDoor::~GrpcFrontDoor() {
  if (server_ != nullptr) Wait();
}

absl::Status GrpcFrontDoor::Start(const GrpcFrontDoorOptions& options,
                                  std::shared_ptr<grpc::ServerCredentials> credentials) {
  grpc::EnableDefaultHealthCheckService(true);  // grpc.health.v1.Health
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen.address, std::move(credentials), &port_);
  builder.RegisterService(&service_);
  builder.SetMaxReceiveMessageSize(GrpcBytes(options.max_message_bytes));
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, GrpcBytes(options.max_metadata_bytes));
  SetTransportLimits(options.listen, &builder);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    server_.reset();
    return absl::UnavailableError(absl::StrCat("cannot listen for gRPC on ", options.listen.address,
                                               " (address in use or not local?)"));
  }
  serving_status_.emplace(server_->GetHealthCheckService());
  return absl::OkStatus();
}

void GrpcFrontDoor::PublishServing(const RoutingTable& table, bool draining) {
  serving_status_->Publish(table, draining);
}

void GrpcFrontDoor::StartDrain(std::chrono::system_clock::time_point deadline) {
  shutdown_ = std::thread([this, deadline] { server_->Shutdown(deadline); });
}

void GrpcFrontDoor::CancelRemaining() { grpc_server_cancel_all_calls(server_->c_server()); }

void GrpcFrontDoor::Wait() {
  if (shutdown_.joinable()) {
    shutdown_.join();
  } else {
    server_->Shutdown();  // never drained: a start that failed further on
  }
  server_->Wait();
  server_.reset();
}

}  // namespace og
