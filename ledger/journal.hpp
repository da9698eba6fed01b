// The journal: balanced, immutable entries of two or more postings.
//
// Every movement of value in the program goes through post_entry(). It asserts the entry's
// balance in C++ before anything is written (a bug stops the process); the database checks
// it again at commit (migrations/0001) and maintains member balances from the postings.
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "platform/database.hpp"
#include "platform/time.hpp"

namespace loyalty::ledger {

struct PostingDraft {
  std::int64_t account_id = 0;
  std::string asset;
  std::int64_t amount = 0;    // non-zero; positive credits the account
  bool debt_allowed = false;  // a clawback that may take a member below zero
};

// Who caused a write: recorded on the entry.
struct Origin {
  std::optional<std::string> request_id;
  std::optional<std::string> actor;  // "key:key_abc (name)", "job:expire-holds", ...
};

struct EntryDraft {
  std::string kind;  // adjustment, hold, hold_capture, hold_release, ...
  Timestamp effective_at;
  std::optional<std::string> member_id;
  std::optional<std::string> reference;
  std::optional<std::string> reason_code;
  std::optional<std::string> note;
  std::optional<std::int64_t> reverses_entry_id;
  std::optional<int> program_version;
  Origin origin;
  std::vector<PostingDraft> postings;
};

struct PostedEntry {
  std::int64_t entry_id = 0;
  Timestamp created_at;
  // Per posting, in draft order: the account's balance after it (member accounts only).
  std::vector<std::optional<std::int64_t>> balances_after;
};

// Aborts the process unless the draft has two or more non-zero postings that sum to zero
// per asset (computed without overflow).
void assert_balanced(const EntryDraft& draft);

PostedEntry post_entry(pqxx::transaction_base& txn, const EntryDraft& draft);

// Posts many entries in two round trips, whatever their number (jobs that write one entry
// per member); each is asserted balanced first. Returns their ids in draft order.
std::vector<std::int64_t> post_entries(pqxx::transaction_base& txn, const std::vector<EntryDraft>& drafts);

// Ids for `count` new entries, taken from the identity sequence (one round trip).
std::vector<std::int64_t> allocate_entry_ids(pqxx::transaction_base& txn, std::int64_t count);

// Adds the inserts of entries under ids already allocated, with all their postings, to
// `writes` (two statements, sent by its next flush); each is asserted balanced first. Their
// created_at is the transaction's start.
void write_entries(db::WriteBuffer& writes, const std::vector<EntryDraft>& drafts,
                   const std::vector<std::int64_t>& ids);

}  // namespace loyalty::ledger
