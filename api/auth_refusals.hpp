// Refused authentications, counted instead of written one by one.
//
// A refused request (401, 403) used to write one permanent row into the sealed audit trail,
// on a database worker that serves member writes: 600 requests with a made-up key were 600
// audit rows and 600 transactions. Now each refusal adds one to an in-memory counter for its
// (minute, source address, key, code, route); a thread of its own flushes the counters every
// second into `auth_refusals` (one upsert statement, on a connection of its own). The counters
// are bounded: beyond `limits::refusal_counters_max` distinct ones between two flushes, new
// ones are folded into a counter whose source and route are "*". If the database cannot be
// reached, the counters are kept (bounded the same way) and flushed later.
#pragma once

#include <pqxx/pqxx>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>

#include "platform/time.hpp"

namespace loyalty::api {

struct RefusalKey {
  Timestamp window_start;  // the minute
  std::string source_address;
  std::string key_id;  // "" unless the request named a key that exists
  std::string code;    // unauthenticated, key_revoked, forbidden, invalid_signature, ...
  std::string route;   // "POST /v1/holds"

  auto operator<=>(const RefusalKey&) const = default;
};

class RefusalLog {
 public:
  // Starts the flushing thread; an empty URL keeps counts in memory only (for tests of the API
  // without a database).
  explicit RefusalLog(std::string database_url);
  ~RefusalLog();  // flushes what is left, then stops
  RefusalLog(const RefusalLog&) = delete;
  RefusalLog& operator=(const RefusalLog&) = delete;

  void add(const std::string& source_address, const std::string& key_id, const std::string& code,
           const std::string& route, Timestamp at);

  // Writes every counter now; false when the database could not take them (they are kept).
  bool flush();

  std::int64_t unflushed() const;

 private:
  struct Count {
    std::int64_t refusals = 0;
    Timestamp first_at;
    Timestamp last_at;
  };
  using Counts = std::map<RefusalKey, Count>;
  static void merge(Counts& into, const RefusalKey& key, const Count& count);
  void run();

  std::string database_url_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  Counts counts_;
  std::mutex flush_mutex_;  // one flush at a time; guards connection_
  std::unique_ptr<pqxx::connection> connection_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace loyalty::api
