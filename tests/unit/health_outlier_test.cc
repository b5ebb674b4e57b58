#include <catch2/catch.hpp>

#include "common/clock.h"
#include "health/outlier.h"
#include "health/tier.h"

namespace og::health {
namespace {

using std::chrono::milliseconds;

// ---- Thresholds ----

TEST_CASE("a first passing result makes an unknown tier healthy at once", "[health]") {
  Thresholds t;
  CHECK(t.state() == State::kUnknown);
  CHECK(t.Record(true, 5, 5));
  CHECK(t.state() == State::kHealthy);
}

TEST_CASE("a first failing result makes an unknown tier unhealthy at once", "[health]") {
  Thresholds t;
  CHECK(t.Record(false, 5, 5));
  CHECK(t.state() == State::kUnhealthy);
}

TEST_CASE("a healthy tier stays healthy until unhealthy_threshold failures in a row", "[health]") {
  Thresholds t;
  t.Record(true, 2, 3);
  CHECK_FALSE(t.Record(false, 2, 3));
  CHECK_FALSE(t.Record(false, 2, 3));
  CHECK(t.state() == State::kHealthy);
  CHECK(t.consecutive_failures() == 2);
  CHECK(t.Record(false, 2, 3));
  CHECK(t.state() == State::kUnhealthy);
}

TEST_CASE("a success between failures starts the failure count over", "[health]") {
  Thresholds t;
  t.Record(true, 2, 3);
  t.Record(false, 2, 3);
  t.Record(false, 2, 3);
  CHECK_FALSE(t.Record(true, 2, 3));
  CHECK(t.consecutive_failures() == 0);
  CHECK_FALSE(t.Record(false, 2, 3));
  CHECK_FALSE(t.Record(false, 2, 3));
  CHECK(t.state() == State::kHealthy);
  CHECK(t.Record(false, 2, 3));
  CHECK(t.state() == State::kUnhealthy);
}

TEST_CASE("an unhealthy tier needs healthy_threshold successes in a row to recover", "[health]") {
  Thresholds t;
  t.Record(false, 3, 2);
  CHECK_FALSE(t.Record(true, 3, 2));
  CHECK_FALSE(t.Record(true, 3, 2));
  CHECK(t.state() == State::kUnhealthy);
  CHECK(t.Record(true, 3, 2));
  CHECK(t.state() == State::kHealthy);
}

TEST_CASE("a failure between successes starts the success count over", "[health]") {
  Thresholds t;
  t.Record(false, 2, 2);
  t.Record(true, 2, 2);
  CHECK_FALSE(t.Record(false, 2, 2));
  CHECK_FALSE(t.Record(true, 2, 2));
  CHECK(t.state() == State::kUnhealthy);
  CHECK(t.Record(true, 2, 2));
  CHECK(t.state() == State::kHealthy);
}

// ---- OutlierDetector ----

OutlierOptions Options(int failures, milliseconds base, milliseconds max) {
  OutlierOptions o;
  o.consecutive_failures = failures;
  o.base_ejection_time = base;
  o.max_ejection_time = max;
  return o;
}

TEST_CASE("OnFailure calls for an ejection at the threshold and not before", "[health]") {
  FakeClock clock;
  OutlierDetector d(clock);
  CHECK_FALSE(d.OnFailure(3));
  CHECK_FALSE(d.OnFailure(3));
  CHECK(d.OnFailure(3));
  CHECK(d.consecutive_failures() == 3);
}

TEST_CASE("a threshold of 0 never calls for an ejection", "[health]") {
  FakeClock clock;
  OutlierDetector d(clock);
  for (int i = 0; i < 100; ++i) CHECK_FALSE(d.OnFailure(0));
}

TEST_CASE("OnSuccess ends the failure streak", "[health]") {
  FakeClock clock;
  OutlierDetector d(clock);
  d.OnFailure(3);
  d.OnFailure(3);
  d.OnSuccess();
  CHECK(d.consecutive_failures() == 0);
  CHECK_FALSE(d.OnFailure(3));
  CHECK_FALSE(d.OnFailure(3));
  CHECK(d.OnFailure(3));
}

TEST_CASE("an ejection holds the backend out for the base time", "[health]") {
  FakeClock clock;
  OutlierDetector d(clock);
  CHECK_FALSE(d.Ejected());
  const auto opts = Options(3, milliseconds(1000), milliseconds(10000));
  CHECK(d.Eject(opts) == milliseconds(1000));
  CHECK(d.Ejected());
  CHECK(d.ejected_until() == clock.Now() + milliseconds(1000));
  clock.Advance(milliseconds(999));
  CHECK(d.Ejected());
  clock.Advance(milliseconds(1));
  CHECK_FALSE(d.Ejected());
  CHECK(d.total_ejections() == 1);
}

TEST_CASE("each further ejection holds longer, up to the maximum", "[health]") {
  FakeClock clock;
  OutlierDetector d(clock);
  const auto opts = Options(3, milliseconds(1000), milliseconds(2500));
  CHECK(d.Eject(opts) == milliseconds(1000));
  clock.Advance(milliseconds(1000));
  CHECK(d.Eject(opts) == milliseconds(2000));
  clock.Advance(milliseconds(2000));
  CHECK(d.Eject(opts) == milliseconds(2500));
  clock.Advance(milliseconds(2500));
  CHECK(d.Eject(opts) == milliseconds(2500));
  CHECK(d.times_ejected() == 4);
  CHECK(d.total_ejections() == 4);
}

TEST_CASE("the ejection count starts over after max_ejection_time without an ejection",
          "[health]") {
  FakeClock clock;
  OutlierDetector d(clock);
  const auto opts = Options(3, milliseconds(1000), milliseconds(10000));
  d.Eject(opts);  // until +1000
  clock.Advance(milliseconds(1000) + milliseconds(10000));
  CHECK(d.Eject(opts) == milliseconds(1000));
  CHECK(d.times_ejected() == 1);
}

TEST_CASE(
    "the ejection count goes on when the last ejection ended less than "
    "max_ejection_time ago",
    "[health]") {
  FakeClock clock;
  OutlierDetector d(clock);
  const auto opts = Options(3, milliseconds(1000), milliseconds(10000));
  d.Eject(opts);  // until +1000
  clock.Advance(milliseconds(1000) + milliseconds(9999));
  CHECK(d.Eject(opts) == milliseconds(2000));
  CHECK(d.times_ejected() == 2);
}

TEST_CASE("an ejection ends the failure streak", "[health]") {
  FakeClock clock;
  OutlierDetector d(clock);
  d.OnFailure(3);
  d.OnFailure(3);
  d.OnFailure(3);
  d.Eject(Options(3, milliseconds(1000), milliseconds(10000)));
  CHECK(d.consecutive_failures() == 0);
}

TEST_CASE("OnFailure does not call for an ejection while the backend is ejected", "[health]") {
  FakeClock clock;
  OutlierDetector d(clock);
  d.Eject(Options(2, milliseconds(1000), milliseconds(10000)));
  CHECK_FALSE(d.OnFailure(2));
  CHECK_FALSE(d.OnFailure(2));
  CHECK_FALSE(d.OnFailure(2));
  clock.Advance(milliseconds(1000));
  CHECK(d.OnFailure(2));
}

}  // namespace
}  // namespace og::health
