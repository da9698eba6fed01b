// A batch of ledger writes: the locked state that a batch's decisions read and change in
// memory, and the rows those decisions produce, written in a constant number of statements.
//
// A batch goes through fixed phases (TigerBeetle's prefetch / execute / commit, on
// PostgreSQL; docs/ARCHITECTURE.md, "The path of one batch"):
//
//   1. lock      holds by hold id, then every account of every member the batch touches by
//                account id — one statement per table, always in that global order, so two
//                batches (in one process or several) can never wait on each other in a circle;
//   2. prefetch  what decisions need, set-based: lapsed holds, the lots of holds being
//                closed, spendable lots of members whose points are spent;
//   3. decide    request by request in arrival order, in memory: each either changes the
//                batch's state (and later requests see it) or is refused and changes nothing;
//   4. write     entries, postings, lots, holds as multi-row statements.
//
// Phases 1 and 2 can be added to one db::ReadBatch, with the keys' locks before them and the
// capabilities' prefetches (Extension::prefetch) after them: a batch's whole read side is then
// one round trip (app::apply_batch), and its write side one flush.
//
// The database still enforces every invariant (balanced entries, no member below zero): the
// decisions are the first line, the triggers the second.
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ledger/accounts.hpp"
#include "ledger/holds.hpp"
#include "ledger/journal.hpp"
#include "ledger/lots.hpp"
#include "platform/database.hpp"
#include "platform/time.hpp"

namespace loyalty::ledger {

// A member's accounts of both assets, as locked and then changed by the batch's decisions.
struct MemberAccounts {
  LockedMemberAccounts points;
  LockedMemberAccounts growth;
  LockedMemberAccounts& of(std::string_view asset) { return asset == points_asset ? points : growth; }
};

class Batch;

// A kind of row above the ledger that names a command's hold and member (a mall order), so the
// batch locks it before them: every such row of one kind in one statement, in id order, before
// any hold or account; kinds go in the order of their names (app::apply_batch).
class LeadingRows {
 public:
  virtual ~LeadingRows() = default;
  virtual std::string name() const = 0;
  // Adds to `reads` the lock of the rows with these ids (sorted, distinct; unknown ids are
  // skipped); once `reads` ran, the holds and members they name are added to `holds` and
  // `members`.
  virtual void lock(Batch& batch, db::ReadBatch& reads, const std::vector<std::string>& ids,
                    std::vector<std::string>& holds, std::vector<std::string>& members) const = 0;
};

// An entry the batch will write, by its position; its id is known after write().
using EntryIndex = int;

class Batch {
 public:
  // The batch reads and writes in `txn`, which must outlive it.
  explicit Batch(pqxx::transaction_base& txn) : txn_(txn), writes_(txn) {}

  // The transaction the batch runs in, for reads a decision needs beyond the batch's state.
  pqxx::transaction_base& transaction() { return txn_; }
  // The batch's writes not yet sent: stage() and the extensions add to it, and one flush sends
  // them all in one round trip (db::WriteBuffer).
  db::WriteBuffer& writes() { return writes_; }

  // ---- 1. lock -----------------------------------------------------------------------------
  // Adds to `reads` the lock of these holds (capture, void; unknown ids are simply absent),
  // then of every account of these members and of the holds' members (both assets, every
  // part) in account id order: one statement each, in that global order, sent with whatever
  // else `reads` carries (app::apply_batch sends the keys' locks before them and the
  // prefetches after them, all in one round trip). Members without accounts (unknown ids)
  // are absent once `reads` ran; members locked before are skipped.
  void lock(db::ReadBatch& reads, std::vector<std::string> hold_ids, std::vector<std::string> member_ids);
  // The same, each in a round trip of its own.
  void lock_holds(const std::vector<std::string>& hold_ids);
  void lock_members(std::vector<std::string> member_ids);
  // Adds to `reads` the reservation of ids for this many new entries and lots (and the time
  // entries are created at), so that stage() needs no round trip for them when the batch
  // writes no more than that; it takes the shortfall then. Ids reserved and not used are
  // gaps in their sequences, as a rolled-back transaction's are.
  void reserve_ids(db::ReadBatch& reads, std::int64_t entries, std::int64_t lots);

  // ---- 2. prefetch -------------------------------------------------------------------------
  // For members whose POINTS are spent or whose holds close: their holds lapsed at `as_of`
  // (SKIP LOCKED: a hold another transaction is closing is that transaction's), the lots of
  // every hold the batch knows, and their first spendable lots in take order (at most
  // lots_read_first each: a member with thousands of small lots costs the same as one with
  // few; a take that goes past them reads the rest). Call after lock_members.
  void prefetch_points(const std::vector<std::string>& member_ids, Timestamp as_of);
  // The same added to `reads`, for these members and the members of these holds (both may
  // still be being locked in it), with the lots of these holds; the lots of lapsed holds are
  // read by read_hold_lots() once `reads` ran.
  void prefetch_points(db::ReadBatch& reads, const std::vector<std::string>& member_ids,
                       const std::vector<std::string>& hold_ids, Timestamp as_of);
  // The lots of every open hold the batch knows whose lots were not read (lapsed holds found
  // by a prefetch): one round trip when there are any.
  void read_hold_lots();
  // Only the lapsed holds of these members; answers whether there are any.
  bool prefetch_lapsed_holds(const std::vector<std::string>& member_ids, Timestamp as_of);
  // Adds every extension's prefetch to `reads` (Extension::prefetch): what the decisions of
  // the commands prepared so far read, for decisions made at `as_of` or later.
  void prefetch_extensions(db::ReadBatch& reads, Timestamp as_of);

  // ---- 3. decide ---------------------------------------------------------------------------
  MemberAccounts* member(const std::string& member_id);
  // A hold the batch locked or opened; nullptr when unknown.
  Hold* hold(const std::string& hold_id);
  std::vector<std::string> locked_member_ids() const;
  std::vector<std::string> hold_members() const;

  // Adds an entry: asserts it balanced and applies its postings to the locked balances (a
  // posting that would take a member below zero without debt_allowed is a bug: decisions
  // refuse first).
  EntryIndex post(EntryDraft entry);
  std::int64_t system_account(std::string_view name, std::string_view asset);

  // The member's spendable POINTS lots (prefetched) cover `amount`; takes soonest-expiring first.
  std::vector<LotTake> take_from_lots(const std::string& member_id, std::int64_t amount);
  // Gives points back to lots they were taken from.
  void return_to_lots(const std::string& member_id, const std::vector<LotTake>& takes);
  // A lot for a credit of `lot.amount`; `available_before` repays a debt first (ledger/lots.hpp).
  // The lot's entry is an index of this batch.
  void add_lot(const NewLot& lot, EntryIndex entry, std::int64_t available_before);

  // Releases the member's holds that lapsed at or before `as_of` (each entry dated at its
  // hold's expiry). Idempotent within the batch. Returns how many it released.
  int release_lapsed_holds(const std::string& member_id, Timestamp as_of, const Origin& origin);
  // Opens a hold (the caller checked what is available).
  Hold& open_hold(const OpenHold& request, Timestamp now, const Origin& origin);
  // The entry that opens `hold` (its member locked): its points from available to held, at its
  // creation.
  EntryDraft opening_entry(const Hold& hold, const Origin& origin) const;
  // Moves a hold's points out of held: `captured` to redemptions, the rest back to available
  // and to its lots, latest-expiring first.
  void close_hold(Hold& hold, const std::string& status, std::int64_t captured, Timestamp at, const Origin& origin,
                  const char* kind);

  // State of a capability above the ledger that shares this batch (earning's events, say),
  // made once per batch by `make`; its rows are written after the ledger's (entry ids known).
  class Extension {
   public:
    virtual ~Extension() = default;
    virtual void write() = 0;
    // Adds what the decisions will read to `reads`, sent with the batch's locks: the members
    // may not be locked yet, and some may not exist. An extension that is not asked reads
    // lazily, at its first decision.
    virtual void prefetch(db::ReadBatch& reads, Timestamp as_of) {
      (void)reads;
      (void)as_of;
    }
    // Extensions are written by layer, lower first: a higher one's rows may refer to a lower
    // one's (an order to the event that earned on it). Within a layer, in creation order.
    virtual int layer() const { return 0; }
  };
  template <typename T, typename Make>
  T& extension(const std::string& name, Make make) {
    auto& slot = extensions_[name];
    if (!slot) {
      slot = make();
      extension_order_.push_back(slot.get());
    }
    return static_cast<T&>(*slot);
  }

  // ---- 4. write ----------------------------------------------------------------------------
  // Gives the new entries and lots their ids (reserved, or allocated in one round trip) and
  // adds every row the batch decided to writes(); the extensions add theirs after the ledger's.
  // Its updates of rows it read (lots, holds) check their own row counts in SQL (expect_rows,
  // migrations/0021), so nothing of it needs a round trip of its own.
  void stage();
  // stage(), then flush: everything is in the database when it returns.
  void write();
  std::int64_t entry_id(EntryIndex index) const;
  Timestamp entry_created_at(EntryIndex index) const;
  // An entry the batch posted, as posted.
  const EntryDraft& entry(EntryIndex index) const;
  // The entry that opened (or closed) a hold the batch opened (or closed).
  std::optional<EntryIndex> hold_entry(const std::string& hold_id, bool closing) const;
  // Its id; after stage().
  std::optional<std::int64_t> hold_entry_id(const std::string& hold_id, bool closing) const;
  // The name of a member account the batch locked ("member:<id>:<part>") or of a system
  // account it looked up (system_account()); nullopt for any other account.
  std::optional<std::string> account_name(std::int64_t account_id) const;
  bool empty() const { return entries_.empty(); }

 private:
  struct LotState {
    std::int64_t lot_id = 0;  // < 0: new in this batch (-1 is the first new lot)
    std::int64_t remaining = 0;
    Timestamp expires_at;
  };
  struct NewLotRow {
    NewLot lot;
    EntryIndex entry = 0;
    std::int64_t amount = 0;     // what the lot holds when written (after repaying a debt)
    std::int64_t remaining = 0;  // less what later decisions of the batch took from it
  };
  struct HoldState {
    Hold hold;
    std::vector<LotTake> lots;  // where its points came from
    bool opened_here = false;
    bool lots_read = false;
    std::optional<EntryIndex> open_entry;
    std::optional<EntryIndex> close_entry;
    bool closed_here = false;
  };
  struct HoldLotRow {
    std::string hold_id;
    LotTake take;
  };

  void remember_account(MemberAccounts& member, const std::string& part, std::string_view asset,
                        std::int64_t account_id, std::int64_t balance);
  LotState* find_lot(const std::string& member_id, std::int64_t lot_id);
  void change_lot(std::int64_t lot_id, std::int64_t delta);

  pqxx::transaction_base& txn_;
  db::WriteBuffer writes_;
  std::map<std::string, MemberAccounts> members_;
  std::map<std::int64_t, AccountBalance*> member_accounts_;  // account id → its balance above
  std::map<std::string, std::vector<LotState>> lots_;        // member → spendable lots in take order (prefetched)
  // Members whose spendable lots were read only in part: the last lot read, in take order.
  // Lots after it (and before any lot in the list that sorts after it) are not in lots_ yet.
  struct LotCursor {
    Timestamp expires_at;
    std::int64_t lot_id = 0;
  };
  std::map<std::string, LotCursor> lots_read_until_;
  void read_remaining_lots(const std::string& member_id);
  std::map<std::string, HoldState> holds_;
  std::map<std::string, std::vector<std::string>> lapsed_;  // member → open hold ids lapsed before the batch
  std::map<std::string, std::vector<std::string>> opened_;  // member → hold ids the batch opened
  std::map<std::string, std::unique_ptr<Extension>> extensions_;
  std::vector<Extension*> extension_order_;
  std::vector<EntryDraft> entries_;
  std::vector<NewLotRow> new_lots_;
  std::map<std::int64_t, std::int64_t> lot_changes_;  // existing lot id → delta of remaining
  std::vector<HoldLotRow> hold_lots_;
  std::vector<std::int64_t> entry_ids_;                              // one per entry, once staged
  std::vector<std::int64_t> lot_ids_;                                // one per new lot, once staged
  std::vector<std::int64_t> reserved_entry_ids_, reserved_lot_ids_;  // reserve_ids()
  void take_ids();
  void keep_ids(const pqxx::row& allocated);  // one row of allocate_ids, added to the reserve
  void add_lapsed_hold_lock(db::ReadBatch& reads, const std::vector<std::string>& member_ids,
                            const std::vector<std::string>& hold_ids, Timestamp as_of, bool* any);
  std::vector<std::string> members_of(const std::vector<std::string>& member_ids,
                                      const std::vector<std::string>& hold_ids, std::set<std::string>& asked);
  std::vector<std::string> holds_without_lots(const std::vector<std::string>& hold_ids) const;
  void use_hold_lots(const pqxx::result& rows, const std::vector<std::string>& hold_ids);
  std::set<std::string> lapsed_asked_, lots_asked_;  // members whose lapsed holds, lots were asked for
  void add_hold_lock(db::ReadBatch& reads, std::vector<std::string> hold_ids);
  void add_account_lock(db::ReadBatch& reads, std::vector<std::string> member_ids,
                        const std::vector<std::string>& hold_ids);
  std::optional<Timestamp> created_at_;               // of every entry: the transaction's start (entries.created_at)
  std::map<std::int64_t, std::string> system_names_;  // system accounts looked up: id → name
};

}  // namespace loyalty::ledger
