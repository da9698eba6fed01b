// Per-caller token buckets: each key may make `per_second` requests a second on average,
// with bursts up to `burst`. The limit is per process; several processes each apply it.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

namespace loyalty::api {

class RateLimiter {
 public:
  RateLimiter(double per_second, double burst) : per_second_(per_second), burst_(burst) {}

  // Takes a token; returns 0 when allowed, else the seconds to wait (Retry-After).
  int take(const std::string& caller);

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point refilled;
  };
  double per_second_;
  double burst_;
  std::mutex mutex_;
  std::map<std::string, Bucket> buckets_;
};

}  // namespace loyalty::api
