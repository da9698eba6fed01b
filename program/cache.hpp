// The program in force, cached per process. Each process re-reads the version number at
// most once a second and re-parses the document only when it changed, so a program applied
// through any process is in force everywhere within a second. Entries record the version
// they were computed with.
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <memory>
#include <mutex>

#include "ledger/lots.hpp"
#include "program/store.hpp"

namespace loyalty::program {

class ProgramCache {
 public:
  static constexpr std::chrono::milliseconds version_check_interval{1000};

  // nullptr when no program has been applied yet.
  std::shared_ptr<const ProgramVersion> current(pqxx::transaction_base& txn);
  void forget();

 private:
  std::mutex mutex_;
  std::shared_ptr<const ProgramVersion> cached_;
  std::chrono::steady_clock::time_point checked_{};
};

// The POINTS expiry of a program; without a policy points never expire (100 years).
ledger::ExpiryPolicy points_expiry(const Program* program);

}  // namespace loyalty::program
