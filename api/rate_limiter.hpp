// Token buckets, one per name: each may take `per_second` tokens a second on average, with
// bursts up to `burst`. Used per API key, per partner, per source address and for refused
// authentications per source address. The limit is per process; several processes each
// apply it.
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
  int take(const std::string& bucket);
  // The seconds to wait before a token is there (0: one is there), without taking it.
  int wait_seconds(const std::string& bucket);

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point refilled;
  };
  Bucket& refilled_bucket(const std::string& name, std::chrono::steady_clock::time_point now);
  int seconds_until_token(const Bucket& bucket) const;

  double per_second_;
  double burst_;
  std::mutex mutex_;
  std::map<std::string, Bucket> buckets_;
};

}  // namespace loyalty::api
