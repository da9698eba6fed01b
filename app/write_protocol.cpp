#include "app/write_protocol.hpp"

#include <algorithm>
#include <map>

#include "platform/assert.hpp"
#include "platform/database.hpp"
#include "platform/digest.hpp"

namespace loyalty::app {
namespace {

KeyName key_of(const Command& command) {
  return {command.idempotency->caller, command.idempotency->key};
}

// Step 1, the keys' part. `duplicates`: per command index, the earlier command of the batch
// with the same key.
struct Claim {
  std::map<std::size_t, std::size_t> duplicates;
  std::map<KeyName, std::size_t> first;
  std::vector<StoredKey> answered;  // once the reads ran
};

void claim(db::ReadBatch& reads, const std::vector<Command*>& commands, Claim& claim) {
  std::vector<KeyName> keys;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    if (!commands[i]->idempotency) continue;
    const auto [at, inserted] = claim.first.emplace(key_of(*commands[i]), i);
    if (inserted) {
      keys.push_back(at->first);
    } else {
      claim.duplicates[i] = at->second;
    }
  }
  lock_keys(reads, keys, claim.answered);
}

// Keys answered before, by committed transactions (a transaction in flight holding one of the
// keys made the lock wait until it ended): their commands are replayed, or refused as reused.
void settle_claim(const std::vector<Command*>& commands, const Claim& claim) {
  for (const StoredKey& stored : claim.answered) {
    Command& command = *commands[claim.first.at({stored.caller, stored.key})];
    auto answer = answer_for(stored, command.idempotency->request_sha256);
    if (!answer) {
      command.outcome.kind = OutcomeKind::key_reused;
      continue;
    }
    command.outcome.kind = OutcomeKind::replayed;
    command.outcome.replay = std::move(*answer);
  }
}

bool pending(const Command& command) {
  return command.outcome.kind == OutcomeKind::pending;
}

// A 5xx answer is a failure, never recorded under a key.
void settle(Command& command, Answer answer) {
  command.outcome.kind = answer.applied()       ? OutcomeKind::applied
                         : answer.status >= 500 ? OutcomeKind::failed
                                                : OutcomeKind::refused;
  command.outcome.answer = std::move(answer);
}

// Step 6: a composite command in a savepoint of its own, retried there on a deadlock.
void run_composite(pqxx::transaction_base& txn, Command& command) {
  for (int attempt = 1;; ++attempt) {
    db::count_statement();  // the savepoint and its release: one round trip each
    db::count_statement();
    txn.exec("SAVEPOINT command");
    try {
      Answer answer = command.run(txn);
      if (answer.applied() && answer.keep_writes) {
        txn.exec("RELEASE SAVEPOINT command");
      } else {
        txn.exec("ROLLBACK TO SAVEPOINT command; RELEASE SAVEPOINT command");
      }
      settle(command, std::move(answer));
      return;
    } catch (const pqxx::broken_connection&) {
      throw;
    } catch (const pqxx::statement_completion_unknown&) {
      throw;  // the connection is gone and the statement may have run: the batch is in doubt
    } catch (const pqxx::transaction_rollback&) {
      txn.exec("ROLLBACK TO SAVEPOINT command; RELEASE SAVEPOINT command");
      if (attempt >= db::transaction_attempts_max) {
        command.outcome.kind = OutcomeKind::failed;
        command.outcome.error = std::current_exception();
        return;
      }
    } catch (...) {
      txn.exec("ROLLBACK TO SAVEPOINT command; RELEASE SAVEPOINT command");
      command.outcome.kind = OutcomeKind::failed;
      command.outcome.error = std::current_exception();
      return;
    }
  }
}

// Step 7.
void record(db::WriteBuffer& writes, const std::vector<Command*>& commands,
            const std::map<std::size_t, std::size_t>& duplicates) {
  std::vector<KeyAnswer> answered;
  std::vector<audit::AuditRecord> audits;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    const Command& command = *commands[i];
    const bool ran = command.outcome.kind == OutcomeKind::applied || command.outcome.kind == OutcomeKind::refused;
    // A failure is never a key's answer: nothing is written, and a retry runs again.
    if (command.idempotency && !duplicates.count(i) && ran) {
      answered.push_back({key_of(command), command.idempotency->request_sha256, command.outcome.answer.stored});
    }
    if (command.outcome.kind == OutcomeKind::applied && command.audit) {
      audit::AuditRecord record = *command.audit;
      record.details_json = "{\"status\":" + std::to_string(command.outcome.answer.status) + "}";
      audits.push_back(std::move(record));
    }
  }
  add_answers(writes, answered);
  audit::record_many(writes, audits);
}

// A command whose key an earlier command of the same batch carried gets that command's answer.
void answer_duplicates(const std::vector<Command*>& commands, const std::map<std::size_t, std::size_t>& duplicates) {
  for (const auto& [later, earlier] : duplicates) {
    Command& command = *commands[later];
    const Command& first = *commands[earlier];
    if (!constant_time_equal(command.idempotency->request_sha256, first.idempotency->request_sha256)) {
      command.outcome.kind = OutcomeKind::key_reused;
    } else if (first.outcome.kind == OutcomeKind::applied || first.outcome.kind == OutcomeKind::refused) {
      command.outcome.kind = OutcomeKind::replayed;
      command.outcome.replay = first.outcome.answer.stored;
    } else {
      command.outcome = first.outcome;
    }
  }
}

// Step 2's first part, added to `reads`: the rows that name holds and members, a kind at a
// time in name order, each kind's rows in id order; once `reads` ran, what they name has
// joined the holds and members locked next.
void lock_leading(ledger::Batch& batch, db::ReadBatch& reads, Subjects& subjects) {
  std::map<std::string, std::pair<const ledger::LeadingRows*, std::vector<std::string>>> kinds;
  for (const auto& [rows, id] : subjects.leading) {
    auto& kind = kinds.try_emplace(rows->name(), rows, std::vector<std::string>{}).first->second;
    kind.second.push_back(id);
  }
  for (auto& [name, kind] : kinds) {
    auto& ids = kind.second;
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    kind.first->lock(batch, reads, ids, subjects.holds, subjects.members);
  }
}

}  // namespace

void apply_batch(pqxx::transaction_base& txn, const std::vector<db::BatchItem*>& items,
                 const std::function<void()>& locked) {
  std::vector<Command*> commands;
  for (db::BatchItem* item : items) {
    auto* command = dynamic_cast<Command*>(item);
    LOYALTY_ASSERT(command != nullptr, "a batch item that is not a command");
    command->outcome = Outcome{};  // a retried batch starts over
    commands.push_back(command);
  }
  // Steps 1 to 3 in as few round trips as their dependencies allow: the keys' locks, the
  // rows', the ids the batch will need and what its capabilities prefetch, in one round trip
  // unless rows that name holds and members must be locked first (mall orders: then the keys
  // and those rows are the first round trip).
  Claim claimed;
  db::ReadBatch reads{txn};
  claim(reads, commands, claimed);
  const auto& duplicates = claimed.duplicates;
  Subjects subjects;  // of every command with a key of its own: one found answered locks a little more
  Timestamp earliest = Timestamp::max(), latest{};
  std::int64_t natives = 0;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    if (duplicates.count(i)) continue;
    commands[i]->declare(subjects);
    earliest = std::min(earliest, commands[i]->received_at);
    latest = std::max(latest, commands[i]->received_at);
    if (commands[i]->native()) ++natives;
  }
  ledger::Batch batch{txn};
  const bool claim_first = !subjects.leading.empty();
  if (claim_first) {
    lock_leading(batch, reads, subjects);
    reads.run();
    settle_claim(commands, claimed);
  }
  batch.lock(reads, subjects.holds, subjects.members);
  batch.reserve_ids(reads, natives, natives);  // most native commands post one entry and at most one lot
  for (std::size_t i = 0; i < commands.size(); ++i) {
    if (pending(*commands[i]) && !duplicates.count(i) && commands[i]->native()) commands[i]->prepare(batch);
  }
  batch.prefetch_points(reads, subjects.points_members, subjects.holds, latest);
  batch.prefetch_extensions(reads, earliest);
  reads.run();
  if (!claim_first) settle_claim(commands, claimed);
  locked();                // another worker may gather its batch now
  batch.read_hold_lots();  // of lapsed holds the prefetch found

  std::vector<Command*> decided;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    Command& command = *commands[i];
    if (!pending(command) || duplicates.count(i) || !command.native()) continue;
    command.decide(batch);
    decided.push_back(&command);
  }
  batch.stage();
  for (Command* command : decided) settle(*command, command->answer(batch));
  for (std::size_t i = 0; i < commands.size(); ++i) {
    Command& command = *commands[i];
    if (!pending(command) || duplicates.count(i) || command.native()) continue;
    batch.writes().flush();  // a composite reads what the batch wrote (a no-op once flushed)
    run_composite(txn, command);
  }
  answer_duplicates(commands, duplicates);
  record(batch.writes(), commands, duplicates);
  // The natives' rows, the answers and the audit: sent with the COMMIT (db::BatchTransaction).
  db::send_with_commit(txn, batch.writes());
}

}  // namespace loyalty::app
