#include <catch2/catch.hpp>

#include "common/clock.h"
#include "health/connect_backoff.h"

namespace og::health {
namespace {

using std::chrono::milliseconds;

TEST_CASE("a backend with no connect failure is available", "[health]") {
  FakeClock clock;
  ConnectBackoff b(clock);
  CHECK(b.Available());
}

TEST_CASE("a connect failure holds the backend out for the initial time", "[health]") {
  FakeClock clock;
  ConnectBackoff b(clock, {milliseconds(500), milliseconds(4000)});
  CHECK(b.OnConnectFailure() == milliseconds(500));
  CHECK_FALSE(b.Available());
  clock.Advance(milliseconds(499));
  CHECK_FALSE(b.Available());
  clock.Advance(milliseconds(1));
  CHECK(b.Available());
}

TEST_CASE("repeated connect failures double the hold-out up to the cap", "[health]") {
  FakeClock clock;
  ConnectBackoff b(clock, {milliseconds(500), milliseconds(3000)});
  CHECK(b.OnConnectFailure() == milliseconds(500));
  CHECK(b.OnConnectFailure() == milliseconds(1000));
  CHECK(b.OnConnectFailure() == milliseconds(2000));
  CHECK(b.OnConnectFailure() == milliseconds(3000));
  CHECK(b.OnConnectFailure() == milliseconds(3000));
  CHECK(b.consecutive_failures() == 5);
}

TEST_CASE("a success makes the backend available at once and resets the back-off", "[health]") {
  FakeClock clock;
  ConnectBackoff b(clock, {milliseconds(500), milliseconds(3000)});
  b.OnConnectFailure();
  b.OnConnectFailure();
  b.OnSuccess();
  CHECK(b.Available());
  CHECK(b.OnConnectFailure() == milliseconds(500));
}

}  // namespace
}  // namespace og::health
