#include "program/cache.hpp"

#include "ledger/accounts.hpp"
#include "platform/database.hpp"

namespace loyalty::program {
namespace {

const db::Statement select_version{"program.select_version", "SELECT max(version) FROM program_versions"};

}  // namespace

std::shared_ptr<const ProgramVersion> ProgramCache::current(pqxx::transaction_base& txn) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock{mutex_};
    if (cached_ && now - checked_ < version_check_interval) return cached_;
  }
  const auto version_row = db::exec(txn, select_version);
  const int version = version_row[0][0].is_null() ? 0 : version_row[0][0].as<int>();
  std::lock_guard lock{mutex_};
  checked_ = now;
  if (version == 0) {
    cached_.reset();
  } else if (!cached_ || cached_->version != version) {
    auto loaded = current_program(txn);
    if (loaded) cached_ = std::make_shared<const ProgramVersion>(std::move(*loaded));
  }
  return cached_;
}

void ProgramCache::forget() {
  std::lock_guard lock{mutex_};
  cached_.reset();
}

ledger::ExpiryPolicy points_expiry(const Program* program) {
  if (program) {
    if (const AssetConfig* points = program->asset(std::string(ledger::points_asset)); points && points->expiry) {
      return ledger::ExpiryPolicy{points->expiry->months};
    }
  }
  return ledger::ExpiryPolicy{1200};
}

}  // namespace loyalty::program
