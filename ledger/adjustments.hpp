// Manual adjustments: an operator's credit or debit of a member's POINTS or GROWTH, always
// with a reason code from a closed list, funded from (or returned to) system:adjustments.
#pragma once

#include <pqxx/pqxx>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ledger/journal.hpp"
#include "ledger/lots.hpp"
#include "ledger/result.hpp"
#include "platform/time.hpp"

namespace loyalty::ledger {

// The reasons an operator may give. A closed list so that finance can total them.
inline constexpr std::array<std::string_view, 8> adjustment_reason_codes = {
    "goodwill", "service_recovery", "correction", "migration", "promotion", "fraud", "chargeback", "other"};

bool is_adjustment_reason_code(std::string_view code);

struct AdjustmentRequest {
  std::string member_id;
  std::string asset;
  std::int64_t amount = 0;  // positive credits the member, negative debits
  std::string reason_code;
  std::optional<std::string> note;
};

struct Adjustment {
  std::int64_t entry_id = 0;
  std::string member_id;
  std::string asset;
  std::int64_t amount = 0;
  std::string reason_code;
  std::optional<std::string> note;
  std::int64_t balance_after = 0;  // the member's available part
  Timestamp created_at;
};

class Batch;

// The shape of a request, before any state is read: what the API checks field by field.
std::optional<Refusal> check_adjustment(const AdjustmentRequest& request);

// A decision inside a batch (ledger/batch.hpp): the member is locked and, for a POINTS debit,
// its points prefetched. POINTS credits become a lot expiring per `expiry`; POINTS debits
// take from lots. The adjustment's entry_id and created_at are known once the batch is
// written (`entry`).
struct DecidedAdjustment {
  Adjustment adjustment;
  int entry = 0;  // the batch's EntryIndex
};
Result<DecidedAdjustment> adjust(Batch& batch, const AdjustmentRequest& request, Timestamp now,
                                 const ExpiryPolicy& expiry, const Origin& origin);

}  // namespace loyalty::ledger
