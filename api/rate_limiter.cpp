#include "api/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace loyalty::api {

int RateLimiter::take(const std::string& caller) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock{mutex_};
  auto [it, inserted] = buckets_.try_emplace(caller, Bucket{burst_, now});
  Bucket& bucket = it->second;
  const double elapsed = std::chrono::duration<double>(now - bucket.refilled).count();
  bucket.tokens = std::min(burst_, bucket.tokens + elapsed * per_second_);
  bucket.refilled = now;
  if (bucket.tokens >= 1.0) {
    bucket.tokens -= 1.0;
    return 0;
  }
  return std::max(1, static_cast<int>(std::ceil((1.0 - bucket.tokens) / per_second_)));
}

}  // namespace loyalty::api
