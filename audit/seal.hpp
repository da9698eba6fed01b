// Tamper evidence: every ledger entry (with its postings) and every audit event is sealed
// into one hash chain, after the fact, by a background sealer — so no writer ever waits on a
// chain head. The verifier recomputes the chain from the stored rows and names the first
// record that does not match (a changed amount, a deleted or reordered row, a broken entry).
//
// Hashing follows RFC 6962's domain separation:
//   leaf  = SHA-256(0x00 || canonical bytes of the record)
//   chain = SHA-256(0x01 || previous chain || leaf), the chain before the first leaf is 32 zero bytes
// The canonical bytes (seal.cpp, `encode_*`) are length-prefixed fields, so no two records
// encode alike. migrations/0006 explains the order in which records are sealed and why it is
// final once written.
#pragma once

#include <pqxx/pqxx>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>

namespace loyalty::audit {

inline constexpr int seal_batch_records_max = 5000;  // leaves per sealing transaction
inline constexpr int verify_chunk_records = 5000;    // leaves read per verifier query

struct SealReport {
  bool busy = false;          // another sealer holds the lock; nothing was done
  std::int64_t records = 0;   // leaves appended by this call
  std::int64_t last_seq = 0;  // the chain's length afterwards
  std::string head_hex;       // the chain head afterwards ("" while the chain is empty)
};

// Seals every record whose transaction has finished, in batches of seal_batch_records_max,
// each batch its own repeatable-read transaction. `sealed_by` names the caller in audit_seals.
SealReport seal_pending(pqxx::connection& connection, const std::string& sealed_by,
                        const std::function<void(std::int64_t)>& progress = {});

struct SealMismatch {
  std::int64_t seq = 0;
  std::string record_kind;  // entry, audit
  std::int64_t record_id = 0;
  std::string problem;  // a sentence: "the record's contents changed", ...
};

struct VerifyReport {
  bool ok = true;
  std::int64_t checked_through = 0;  // the last seq that verified
  std::int64_t records_checked = 0;
  std::string head_hex;  // the chain head at checked_through
  std::optional<SealMismatch> first_mismatch;
};

// Recomputes every leaf and the chain from the stored rows, checks each entry balances per
// asset, and each seal's recorded head; stops at the first record that does not match.
VerifyReport verify_seals(pqxx::transaction_base& txn, const std::function<void(std::int64_t)>& progress = {});

// The newest seal: what an export's manifest pins.
struct SealHead {
  std::int64_t seal_id = 0;
  std::int64_t last_seq = 0;
  std::string head_hex;
  std::string sealed_at;  // RFC 3339
};
std::optional<SealHead> latest_seal(pqxx::transaction_base& txn);

// How far the sealer is behind, for /metrics: the committed records not sealed yet (counted up
// to seal_lag_records_counted_max, so that a long stall costs a bounded scrape) and the age of
// the oldest of them (0 when none is waiting).
inline constexpr std::int64_t seal_lag_records_counted_max = 1'000'000;
struct SealLag {
  std::int64_t records = 0;
  double seconds = 0;
};
SealLag seal_lag(pqxx::transaction_base& txn);

// The sealer thread of loyaltyd: seals every `interval` until stopped. Several processes may
// run one each; a database advisory lock lets one of them work at a time.
class Sealer {
 public:
  Sealer(std::string database_url, std::chrono::milliseconds interval);
  ~Sealer();
  Sealer(const Sealer&) = delete;
  Sealer& operator=(const Sealer&) = delete;

  void start();
  void stop();

 private:
  void run();

  std::string database_url_;
  std::chrono::milliseconds interval_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace loyalty::audit
