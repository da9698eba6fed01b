#include "api/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

#include "api/limits.hpp"

namespace loyalty::api {

RateLimiter::Bucket& RateLimiter::refilled_bucket(const std::string& name, std::chrono::steady_clock::time_point now) {
  if (buckets_.size() >= limits::rate_limit_buckets_max && !buckets_.contains(name)) {
    // Bounded: buckets that have refilled completely hold nothing a new bucket would not.
    std::erase_if(buckets_, [&](const auto& item) {
      const double elapsed = std::chrono::duration<double>(now - item.second.refilled).count();
      return item.second.tokens + elapsed * per_second_ >= burst_;
    });
  }
  auto [it, inserted] = buckets_.try_emplace(name, Bucket{burst_, now});
  Bucket& bucket = it->second;
  const double elapsed = std::chrono::duration<double>(now - bucket.refilled).count();
  bucket.tokens = std::min(burst_, bucket.tokens + elapsed * per_second_);
  bucket.refilled = now;
  return bucket;
}

int RateLimiter::seconds_until_token(const Bucket& bucket) const {
  if (bucket.tokens >= 1.0) return 0;
  return std::max(1, static_cast<int>(std::ceil((1.0 - bucket.tokens) / per_second_)));
}

int RateLimiter::take(const std::string& name) {
  std::lock_guard lock{mutex_};
  Bucket& bucket = refilled_bucket(name, std::chrono::steady_clock::now());
  const int wait = seconds_until_token(bucket);
  if (wait == 0) bucket.tokens -= 1.0;
  return wait;
}

int RateLimiter::wait_seconds(const std::string& name) {
  std::lock_guard lock{mutex_};
  return seconds_until_token(refilled_bucket(name, std::chrono::steady_clock::now()));
}

}  // namespace loyalty::api
