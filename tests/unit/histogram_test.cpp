// The latency histogram behind /metrics: cumulative buckets, +Inf holds everything, and the
// sum and count agree with what was observed.
#include "platform/histogram.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace loyalty {
namespace {

TEST(Histogram, BucketsAreCumulativeAndInfHoldsEveryObservation) {
  Histogram histogram;
  histogram.observe(0.0002);  // first bucket (0.5 ms)
  histogram.observe(0.003);   // 5 ms
  histogram.observe(0.003);
  histogram.observe(7.0);  // past the last bound: +Inf only
  std::string out;
  histogram.render(out, "x_seconds");
  EXPECT_NE(out.find("x_seconds_bucket{le=\"0.0005\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{le=\"0.0025\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{le=\"0.005\"} 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{le=\"2.5\"} 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{le=\"+Inf\"} 4\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_sum 7.006200\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_count 4\n"), std::string::npos) << out;
}

TEST(Histogram, LabelsComeBeforeTheBound) {
  Histogram histogram;
  histogram.observe(0.01);
  std::string out;
  histogram.render(out, "y_seconds", "route=\"GET /v1/x\"");
  EXPECT_NE(out.find("y_seconds_bucket{route=\"GET /v1/x\",le=\"0.01\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("y_seconds_sum{route=\"GET /v1/x\"} 0.010000\n"), std::string::npos) << out;
  EXPECT_NE(out.find("y_seconds_count{route=\"GET /v1/x\"} 1\n"), std::string::npos) << out;
}

TEST(Histogram, ObservationsFromManyThreadsAreAllCounted) {
  Histogram histogram;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) histogram.observe(0.002);
    });
  }
  for (auto& thread : threads) thread.join();
  std::string out;
  histogram.render(out, "z_seconds");
  EXPECT_NE(out.find("z_seconds_bucket{le=\"0.0025\"} 40000\n"), std::string::npos) << out;
  EXPECT_NE(out.find("z_seconds_count 40000\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace loyalty
