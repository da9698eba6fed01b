#include "app/write_protocol.hpp"

#include <algorithm>
#include <map>

#include "platform/assert.hpp"
#include "platform/database.hpp"
#include "platform/digest.hpp"

namespace loyalty::app {
namespace {

// Claims in key order, so that two batches claiming overlapping keys wait in one order.
const db::Statement claim_keys{
    "write.claim_keys",
    "INSERT INTO idempotency_keys (caller, idempotency_key, request_sha256, status_code, response_type, response)"
    " SELECT c, k, decode(h, 'hex'), 0, '', ''::bytea FROM unnest($1::text[], $2::text[], $3::text[]) AS x(c, k, h)"
    " ORDER BY c, k ON CONFLICT (caller, idempotency_key) DO NOTHING RETURNING caller, idempotency_key"};

const db::Statement select_keys{
    "write.select_keys",
    "SELECT k.caller, k.idempotency_key, k.request_sha256, k.status_code, k.response_type, k.response"
    " FROM idempotency_keys k JOIN unnest($1::text[], $2::text[]) AS x(c, k) ON k.caller = x.c"
    " AND k.idempotency_key = x.k"};

const db::Statement record_answers{
    "write.record_answers",
    "UPDATE idempotency_keys k SET status_code = x.s, response_type = x.t, response = decode(x.b, 'hex')"
    " FROM unnest($1::text[], $2::text[], $3::integer[], $4::text[], $5::text[]) AS x(c, k, s, t, b)"
    " WHERE k.caller = x.c AND k.idempotency_key = x.k"};

const db::Statement release_keys{"write.release_keys",
                                 "DELETE FROM idempotency_keys k USING unnest($1::text[], $2::text[]) AS x(c, k)"
                                 " WHERE k.caller = x.c AND k.idempotency_key = x.k AND k.status_code = 0"};

using KeyOf = std::pair<std::string, std::string>;

KeyOf key_of(const Command& command) {
  return {command.idempotency->caller, command.idempotency->key};
}

// Step 1. Returns, per command index, the earlier command of the batch with the same key.
std::map<std::size_t, std::size_t> claim(pqxx::transaction_base& txn, const std::vector<Command*>& commands) {
  std::map<KeyOf, std::size_t> first;
  std::map<std::size_t, std::size_t> duplicates;
  std::vector<const Command*> claimed;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    if (!commands[i]->idempotency) continue;
    const auto [at, inserted] = first.emplace(key_of(*commands[i]), i);
    if (inserted) {
      claimed.push_back(commands[i]);
    } else {
      duplicates[i] = at->second;
    }
  }
  if (claimed.empty()) return duplicates;
  const auto column = [&](auto format) { return db::array_literal(claimed, format); };
  const auto callers = column([](const Command* c) { return c->idempotency->caller; });
  const auto keys = column([](const Command* c) { return c->idempotency->key; });
  std::map<KeyOf, bool> fresh;
  for (const auto& row : db::exec(txn, claim_keys, callers, keys,
                                  column([](const Command* c) { return to_hex(c->idempotency->request_sha256); }))) {
    fresh[{row[0].c_str(), row[1].c_str()}] = true;
  }
  if (fresh.size() == claimed.size()) return duplicates;
  // Keys answered before (by committed transactions: a claim in flight elsewhere made the
  // insert wait until it committed or rolled back).
  for (const auto& row : db::exec(txn, select_keys, callers, keys)) {
    const KeyOf key{row[0].c_str(), row[1].c_str()};
    if (fresh.count(key)) continue;
    Command& command = *commands[first.at(key)];
    const pqxx::binarystring stored_hash{row[2]};
    if (!constant_time_equal(stored_hash.str(), command.idempotency->request_sha256)) {
      command.outcome.kind = OutcomeKind::key_reused;
      continue;
    }
    LOYALTY_ASSERT(row[3].as<int>() != 0, "a committed idempotency claim without its answer");
    const pqxx::binarystring response{row[5]};
    command.outcome.kind = OutcomeKind::replayed;
    command.outcome.replay = StoredAnswer{row[3].as<int>(), row[4].c_str(), response.str()};
  }
  return duplicates;
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
  std::vector<const Command*> answered, unanswered;
  std::vector<audit::AuditRecord> audits;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    const Command& command = *commands[i];
    const bool ran = command.outcome.kind == OutcomeKind::applied || command.outcome.kind == OutcomeKind::refused;
    if (command.idempotency && !duplicates.count(i)) {
      if (ran) answered.push_back(&command);
      if (command.outcome.kind == OutcomeKind::failed) unanswered.push_back(&command);
    }
    if (command.outcome.kind == OutcomeKind::applied && command.audit) {
      audit::AuditRecord record = *command.audit;
      record.details_json = "{\"status\":" + std::to_string(command.outcome.answer.status) + "}";
      audits.push_back(std::move(record));
    }
  }
  if (!answered.empty()) {
    const auto column = [&](auto format) { return db::array_literal(answered, format); };
    writes.add(record_answers, column([](const Command* c) { return c->idempotency->caller; }),
               column([](const Command* c) { return c->idempotency->key; }),
               column([](const Command* c) { return std::to_string(c->outcome.answer.stored.status); }),
               column([](const Command* c) { return c->outcome.answer.stored.type; }),
               column([](const Command* c) { return to_hex(c->outcome.answer.stored.bytes); }));
  }
  if (!unanswered.empty()) {
    // A failure is never a key's answer: the key is free for a retry.
    const auto column = [&](auto format) { return db::array_literal(unanswered, format); };
    writes.add(release_keys, column([](const Command* c) { return c->idempotency->caller; }),
               column([](const Command* c) { return c->idempotency->key; }));
  }
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

// Step 2's first part: the rows that name holds and members, a kind at a time in name order,
// each kind's rows in id order; what they name joins the holds and members locked next.
void lock_leading(ledger::Batch& batch, Subjects& subjects) {
  std::map<std::string, std::pair<const ledger::LeadingRows*, std::vector<std::string>>> kinds;
  for (const auto& [rows, id] : subjects.leading) {
    auto& kind = kinds.try_emplace(rows->name(), rows, std::vector<std::string>{}).first->second;
    kind.second.push_back(id);
  }
  for (auto& [name, kind] : kinds) {
    auto& ids = kind.second;
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    kind.first->lock(batch, ids, subjects.holds, subjects.members);
  }
}

}  // namespace

void apply_batch(pqxx::transaction_base& txn, const std::vector<db::BatchItem*>& items) {
  std::vector<Command*> commands;
  for (db::BatchItem* item : items) {
    auto* command = dynamic_cast<Command*>(item);
    LOYALTY_ASSERT(command != nullptr, "a batch item that is not a command");
    command->outcome = Outcome{};  // a retried batch starts over
    commands.push_back(command);
  }
  const auto duplicates = claim(txn, commands);

  Subjects subjects;
  Timestamp latest{};
  for (std::size_t i = 0; i < commands.size(); ++i) {
    if (!pending(*commands[i]) || duplicates.count(i)) continue;
    commands[i]->declare(subjects);
    latest = std::max(latest, commands[i]->received_at);
  }
  ledger::Batch batch{txn};
  lock_leading(batch, subjects);
  batch.lock_holds(subjects.holds);
  std::vector<std::string> members = subjects.members;
  const auto hold_members = batch.hold_members();
  members.insert(members.end(), hold_members.begin(), hold_members.end());
  batch.lock_members(members);
  std::vector<std::string> points_members = subjects.points_members;
  points_members.insert(points_members.end(), hold_members.begin(), hold_members.end());
  batch.prefetch_points(points_members, latest);

  for (std::size_t i = 0; i < commands.size(); ++i) {
    if (pending(*commands[i]) && !duplicates.count(i) && commands[i]->native()) commands[i]->prepare(batch);
  }
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
  batch.writes().flush();  // the natives' rows, the answers and the audit: one round trip
}

}  // namespace loyalty::app
