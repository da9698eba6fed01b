#include "platform/histogram.hpp"

#include <algorithm>
#include <cstdio>

namespace loyalty {

void Histogram::observe(double seconds) {
  for (std::size_t i = 0; i < bounds_seconds.size(); ++i) {
    if (seconds <= bounds_seconds[i]) {
      counts_[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  count_.fetch_add(1, std::memory_order_relaxed);
  if (seconds > 0) sum_nanoseconds_.fetch_add(static_cast<std::uint64_t>(seconds * 1e9), std::memory_order_relaxed);
}

void Histogram::render(std::string& out, std::string_view name, std::string_view labels) const {
  const std::string prefix{name};
  const std::string label_list{labels};
  const std::string separator = label_list.empty() ? "" : ",";
  const std::string braces = label_list.empty() ? "" : "{" + label_list + "}";
  char line[1024];
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_seconds.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    std::snprintf(line, sizeof line, "%s_bucket{%s%sle=\"%g\"} %llu\n", prefix.c_str(), label_list.c_str(),
                  separator.c_str(), bounds_seconds[i], static_cast<unsigned long long>(cumulative));
    out += line;
  }
  // Read after the buckets: a concurrent observation may show in the count and not yet in a
  // bucket, never the other way round, so +Inf stays at least the last bucket.
  const auto count = std::max(cumulative, count_.load(std::memory_order_relaxed));
  std::snprintf(line, sizeof line, "%s_bucket{%s%sle=\"+Inf\"} %llu\n%s_sum%s %.6f\n%s_count%s %llu\n", prefix.c_str(),
                label_list.c_str(), separator.c_str(), static_cast<unsigned long long>(count), prefix.c_str(),
                braces.c_str(), static_cast<double>(sum_nanoseconds_.load(std::memory_order_relaxed)) / 1e9,
                prefix.c_str(), braces.c_str(), static_cast<unsigned long long>(count));
  out += line;
}

}  // namespace loyalty
