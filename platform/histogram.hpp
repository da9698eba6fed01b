// A latency histogram in Prometheus's form (cumulative buckets, a sum and a count) that any
// thread may observe into without a lock: the HTTP routes' request durations (api/metrics.hpp)
// and the database executor's queue waits and batches (platform/executor.hpp) use it.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace loyalty {

class Histogram {
 public:
  // Upper bounds of the buckets, in seconds; a last bucket (+Inf) holds every observation.
  static constexpr std::array<double, 12> bounds_seconds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                            0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

  void observe(double seconds);

  // Appends the `_bucket`, `_sum` and `_count` lines of metric `name`. `labels` is empty or
  // the labels the lines carry before `le` (`route="POST /v1/events"`).
  void render(std::string& out, std::string_view name, std::string_view labels = {}) const;

 private:
  std::array<std::atomic<std::uint64_t>, bounds_seconds.size()> counts_{};  // not cumulative
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_nanoseconds_{0};
};

}  // namespace loyalty
