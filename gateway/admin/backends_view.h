// The admin port's view of the backends: the JSON of GET /admin/backends and the one-line reason
// /readyz gives when no backend can serve.
#ifndef OLLAMA_GATEWAY_GATEWAY_ADMIN_BACKENDS_VIEW_H_
#define OLLAMA_GATEWAY_GATEWAY_ADMIN_BACKENDS_VIEW_H_

#include <string>
#include <vector>

#include "common/clock.h"
#include "gateway/routing/router.h"
#include "health/checker.h"

namespace og {

// The JSON of GET /admin/backends: every backend with each tier's last result and why it is in
// or out of rotation, its models, and every pool with its healthy count and panic state.
std::string BackendsJson(const RoutingTable& table,
                         const std::vector<health::BackendHealth>& health, const Clock& clock);

// Why no backend is healthy, in one line (for /readyz), or "" when one is.
std::string NotReadyReason(const RoutingTable& table);

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_ADMIN_BACKENDS_VIEW_H_
