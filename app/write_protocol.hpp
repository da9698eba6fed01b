// The write protocol: how every client write becomes durable, once. A command goes in, an
// outcome comes out (applied, refused, replayed, key reused, failed); no HTTP, no protobuf.
// api/ decodes a request into a command, submits it, and encodes the outcome.
//
// The database executor drains its queue into a batch and hands it to apply_batch(), which
// applies the whole batch in one transaction with a number of statements that does not grow
// with the batch (docs/ARCHITECTURE.md, "The path of one batch"):
//
//   1. claim    every idempotency key of the batch locked in one statement (advisory locks in
//               one global order) and read in the next: a key answered before has its stored
//               answer replayed, or 409 when it came with another request;
//   2. lock     rows that name holds and members (mall orders: ledger::LeadingRows), then holds,
//               then every account of every member the batch touches, by account id: one
//               statement per table in one global order (ledger/batch.hpp); ids for the
//               entries and lots the batch will write are reserved with them;
//   3. prefetch what the capabilities' decisions read (events: which event ids exist, days,
//               tier rows), then lapsed holds, hold lots, spendable lots — set-based;
//   4. decide   native commands, in arrival order, in memory: a refusal changes nothing and
//               the others go on, no savepoint needed;
//   5. write    entries, postings, lots, holds (ledger::Batch::write);
//   6. run      composite commands (orders, exchanges, …) that still issue their own SQL, each
//               in a savepoint, after their members were locked in step 2;
//   7. record   every answer under its key, and the audit records, in one statement each.
//
// Steps 1 to 3's first part travel in ONE round trip (db::ReadBatch): their statements run in
// the order above, so the lock order holds, and what a later one needs from an earlier one it
// reads in SQL (the holds' members). Rows that name holds and members are the exception: the
// keys and those rows go first, in one round trip, then the rest. A command whose key turns out
// answered was locked and prefetched for with the others; it is not decided.
//
// The worker then commits once and answers every command of the batch.
#pragma once

#include <pqxx/pqxx>

#include <any>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/idempotency.hpp"
#include "audit/audit_log.hpp"
#include "ledger/batch.hpp"
#include "platform/executor.hpp"
#include "platform/time.hpp"

namespace loyalty::app {

// An Idempotency-Key with its caller and the hash of the request it came with.
struct IdempotencyScope {
  std::string caller;
  std::string key;
  std::string request_sha256;  // raw bytes
};

// A command's answer: a status (2xx applied, 4xx refused), what to record under its key, and
// the caller's own representation of the reply.
struct Answer {
  int status = 0;
  StoredAnswer stored;
  std::any reply;
  // False for a success that must not keep writes (a composite command that found its own
  // replay): its savepoint is rolled back, its answer still recorded.
  bool keep_writes = true;

  bool applied() const { return status >= 200 && status < 300; }
};

enum class OutcomeKind {
  pending,     // not applied yet
  applied,     // the command's writes are committed; `answer` is its reply
  refused,     // the command changed nothing; `answer` is its refusal (recorded under its key)
  replayed,    // its key was answered before: `replay` is that answer; nothing ran
  key_reused,  // its key was used with another request: nothing ran
  failed,      // the command (not the batch) failed; nothing of it was written
};

struct Outcome {
  OutcomeKind kind = OutcomeKind::pending;
  Answer answer;
  StoredAnswer replay;
  std::exception_ptr error;
};

// What a command touches, declared before the batch locks anything.
struct Subjects {
  std::vector<std::string> members;         // accounts locked
  std::vector<std::string> points_members;  // and their points prefetched (debits, holds)
  std::vector<std::string> holds;           // locked before any account
  // Rows locked first of all (ledger::LeadingRows): the ids of each kind.
  std::vector<std::pair<const ledger::LeadingRows*, std::string>> leading;

  void add(const Subjects& other) {
    members.insert(members.end(), other.members.begin(), other.members.end());
    points_members.insert(points_members.end(), other.points_members.begin(), other.points_members.end());
    holds.insert(holds.end(), other.holds.begin(), other.holds.end());
    leading.insert(leading.end(), other.leading.begin(), other.leading.end());
  }
};

// One client write. Subclasses are native (decide against the batch's memory) or composite
// (run their own SQL in a savepoint).
class Command : public db::BatchItem {
 public:
  std::optional<IdempotencyScope> idempotency;
  std::optional<audit::AuditRecord> audit;  // written when the command applies
  Timestamp received_at;
  Outcome outcome;  // set by apply_batch

  virtual void declare(Subjects& subjects) const = 0;
  // Called for every command of the batch before its rows are locked and read, once the
  // leading rows are (app::apply_batch): a command registers what its capability must
  // prefetch for the whole batch. A command whose key turns out answered may have been asked.
  virtual void prepare(ledger::Batch& batch) { (void)batch; }
  // Native commands: decide against the batch; refusals must change nothing. Answers that
  // need ids (entry ids) are completed by answer() after the batch is written.
  virtual bool native() const { return true; }
  virtual void decide(ledger::Batch& batch) { (void)batch; }
  virtual Answer answer(const ledger::Batch& batch) = 0;
  // Composite commands: runs inside a savepoint after the native ones are written.
  virtual Answer run(pqxx::transaction_base& txn) {
    (void)txn;
    return {};
  }
};

// The executor's batch applier (db::ExecutorOptions::apply_batch). Every item is a Command.
// `locked` is called once the batch holds its keys' and rows' locks (db::BatchApplier).
void apply_batch(
    pqxx::transaction_base& txn, const std::vector<db::BatchItem*>& items, const std::function<void()>& locked = [] {});

// A native command made of a decision function and an encoding: Decide(batch) returns a
// ledger::Result-like value; Encode(batch, result) makes the answer.
template <typename Decided>
class DecisionCommand : public Command {
 public:
  using Decide = std::function<Decided(ledger::Batch&)>;
  using Encode = std::function<Answer(const ledger::Batch&, const Decided&)>;
  using Prepare = std::function<void(ledger::Batch&)>;
  DecisionCommand(Subjects subjects, Decide decide, Encode encode, Prepare prepare = nullptr)
      : subjects_(std::move(subjects)),
        decide_(std::move(decide)),
        encode_(std::move(encode)),
        prepare_(std::move(prepare)) {}
  void prepare(ledger::Batch& batch) override {
    if (prepare_) prepare_(batch);
  }

  void declare(Subjects& subjects) const override { subjects.add(subjects_); }
  void decide(ledger::Batch& batch) override { decided_ = decide_(batch); }
  Answer answer(const ledger::Batch& batch) override { return encode_(batch, *decided_); }

 private:
  Subjects subjects_;
  Decide decide_;
  Encode encode_;
  Prepare prepare_;
  std::optional<Decided> decided_;
};

// A composite command: its own SQL, run in a savepoint of the batch.
class CompositeCommand : public Command {
 public:
  using Work = std::function<Answer(pqxx::transaction_base&)>;
  CompositeCommand(Subjects subjects, Work work) : subjects_(std::move(subjects)), work_(std::move(work)) {}
  void declare(Subjects& subjects) const override { subjects.add(subjects_); }
  bool native() const override { return false; }
  Answer answer(const ledger::Batch&) override { return {}; }
  Answer run(pqxx::transaction_base& txn) override { return work_(txn); }

 private:
  Subjects subjects_;
  Work work_;
};

}  // namespace loyalty::app
