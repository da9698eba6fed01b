// The batch write path decides exactly as one request at a time would: the same random
// requests (adjustments, holds, captures, voids, events, mall orders created, paid and
// cancelled), applied one per transaction to one
// set of members and in batches of random sizes to a twin set, leave the twins with the same
// ledger — answers, balances, lots, holds, awards, levels and daily aggregates.
// Seeded: the seed is printed; LOYALTY_TEST_SEED=N replays a run.
#include <gtest/gtest.h>

#include <any>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>

#include "app/write_protocol.hpp"
#include "earning/event_batch.hpp"
#include "ledger/adjustments.hpp"
#include "ledger/batch.hpp"
#include "ledger/holds.hpp"
#include "ledger/members.hpp"
#include "mall/order_batch.hpp"
#include "membership/tier_batch.hpp"
#include "platform/database.hpp"
#include "platform/digest.hpp"
#include "program/store.hpp"
#include "tests/support/test_database.hpp"

namespace loyalty::testing {
namespace {

enum class Kind { credit, debit, open_hold, capture, void_hold, event, create_order, pay_order, cancel_order };

struct Operation {
  Kind kind = Kind::credit;
  int member = 0;
  std::int64_t amount = 0;
  int ttl_seconds = 600;
  int hold = -1;  // for capture and void: the operation that opened the hold; for pay and cancel, the order
  std::int64_t cash_cents = 0;  // of an order
  std::string type;
  Timestamp received_at;
  Timestamp occurred_at;
};

constexpr int members_count = 4;
const char* const event_types[] = {"purchase",           "daily_checkin",    "community_post",
                                   "referral_converted", "vehicle_delivery", "test_drive"};

std::vector<Operation> random_operations(std::mt19937_64& random, int count, Timestamp start) {
  std::vector<Operation> operations;
  std::vector<int> opened, orders;
  for (int i = 0; i < count; ++i) {
    Operation op;
    op.member = static_cast<int>(random() % members_count);
    op.received_at = start + std::chrono::seconds{i * 7};
    const int pick = static_cast<int>(random() % 100);
    if (pick < 20) {
      op.kind = Kind::credit;
      op.amount = 1 + static_cast<std::int64_t>(random() % 5000);
    } else if (pick < 32) {
      op.kind = Kind::debit;
      op.amount = 1 + static_cast<std::int64_t>(random() % 4000);
    } else if (pick < 50) {
      op.kind = Kind::open_hold;
      op.amount = 1 + static_cast<std::int64_t>(random() % 3000);
      op.ttl_seconds = random() % 3 == 0 ? 20 : 3600;  // some lapse before later requests
      opened.push_back(i);
    } else if (pick < 62 && !opened.empty()) {
      op.kind = random() % 2 ? Kind::capture : Kind::void_hold;
      op.hold = opened[random() % opened.size()];
      op.amount = random() % 2 ? 0 : 1 + static_cast<std::int64_t>(random() % 1500);  // 0: capture all
    } else if (pick < 72) {
      op.kind = Kind::create_order;
      op.amount = random() % 3 == 0 ? 0 : 1 + static_cast<std::int64_t>(random() % 2500);  // points
      op.cash_cents = random() % 4 == 0 && op.amount > 0 ? 0 : 1 + static_cast<std::int64_t>(random() % 90000);
      op.ttl_seconds = random() % 3 == 0 ? 20 : 3600;
      orders.push_back(i);
    } else if (pick < 82 && !orders.empty()) {
      op.kind = random() % 4 == 0 ? Kind::cancel_order : Kind::pay_order;
      op.hold = orders[random() % orders.size()];
    } else {
      op.kind = Kind::event;
      op.type = event_types[random() % std::size(event_types)];
      op.amount = static_cast<std::int64_t>(random() % 900000);
      op.occurred_at = op.received_at - std::chrono::minutes{static_cast<int>(random() % 3000)};
    }
    operations.push_back(op);
  }
  return operations;
}

// One twin's members and what its operations answered.
struct Twin {
  std::string prefix;
  std::vector<std::string> members;
  std::map<int, std::string> hold_ids;  // operation → hold id
  std::vector<std::string> answers;     // per operation: status and code
};

std::shared_ptr<app::Command> command_for(const Operation& op, int index, Twin& run,
                                          std::shared_ptr<const program::ProgramVersion> program) {
  const std::string member = run.members[static_cast<std::size_t>(op.member)];
  const ledger::Origin origin{std::nullopt, "test"};
  const auto answer = [](int status, std::any value) {
    app::Answer a;
    a.status = status;
    a.stored = {status, "test", ""};
    a.reply = std::move(value);
    return a;
  };
  app::Subjects subjects;
  std::shared_ptr<app::Command> command;
  switch (op.kind) {
    case Kind::credit:
    case Kind::debit: {
      ledger::AdjustmentRequest request{member, "POINTS", op.kind == Kind::credit ? op.amount : -op.amount, "goodwill",
                                        std::nullopt};
      subjects.members = {member};
      if (op.kind == Kind::debit) subjects.points_members = {member};
      using Decided = ledger::Result<ledger::DecidedAdjustment>;
      command = std::make_shared<app::DecisionCommand<Decided>>(
          subjects, [=](ledger::Batch& batch) { return ledger::adjust(batch, request, op.received_at, {}, origin); },
          [=](const ledger::Batch&, const Decided& done) {
            return answer(done ? 201 : 422, std::string(done ? "ok" : ledger::refusal_name(done.refusal())));
          });
      break;
    }
    case Kind::open_hold: {
      ledger::OpenHold request{member, op.amount, std::chrono::seconds{op.ttl_seconds}, std::nullopt};
      subjects.members = subjects.points_members = {member};
      using Decided = ledger::Result<ledger::Hold>;
      command = std::make_shared<app::DecisionCommand<Decided>>(
          subjects, [=](ledger::Batch& batch) { return ledger::open_hold(batch, request, op.received_at, origin); },
          [=, &run](const ledger::Batch&, const Decided& done) {
            if (done) run.hold_ids[index] = done->hold_id;
            return answer(done ? 201 : 422, std::string(done ? "ok" : ledger::refusal_name(done.refusal())));
          });
      break;
    }
    case Kind::capture:
    case Kind::void_hold: {
      const auto found = run.hold_ids.find(op.hold);
      const std::string hold_id = found == run.hold_ids.end() ? "hold_00000000000000000000" : found->second;
      subjects.holds = {hold_id};
      using Decided = ledger::Result<ledger::Hold>;
      const bool capture = op.kind == Kind::capture;
      const auto amount = op.amount == 0 ? std::nullopt : std::optional(op.amount);
      command = std::make_shared<app::DecisionCommand<Decided>>(
          subjects,
          [=](ledger::Batch& batch) {
            return capture ? ledger::capture_hold(batch, hold_id, amount, op.received_at, origin)
                           : ledger::void_hold(batch, hold_id, op.received_at, origin);
          },
          [=](const ledger::Batch&, const Decided& done) {
            return answer(done ? 200 : 409, std::string(done ? done->status : ledger::refusal_name(done.refusal())));
          });
      break;
    }
    case Kind::event: {
      earning::Event event;
      event.event_id = run.prefix + std::to_string(index);
      event.member_id = member;
      event.type = op.type;
      event.occurred_at = op.occurred_at;
      if (op.type == "purchase") event.amount_cents = op.amount;
      event.request_sha256 = to_hex(sha256(std::to_string(index)));
      subjects.members = {member};
      using Decided = earning::EventResult<earning::RecordedEvent>;
      command = std::make_shared<app::DecisionCommand<Decided>>(
          subjects,
          [=](ledger::Batch& batch) {
            return membership::events_of(batch, program).record(event, op.received_at, {}, origin);
          },
          [=](const ledger::Batch& batch, const Decided& done) {
            if (const auto* refusal = std::get_if<earning::EventRefusal>(&done)) {
              return answer(422, "refused " + std::to_string(static_cast<int>(*refusal)));
            }
            const auto outcome = earning::outcome_of(batch, std::get<earning::RecordedEvent>(done));
            std::string summary = "ok";
            for (const auto& award : outcome.awards)
              summary += " " + award.rule_id + ":" + std::to_string(award.amount);
            for (const auto& change : outcome.tier_changes) summary += " " + change.track + "->" + change.to_level;
            return answer(201, summary);
          },
          [=](ledger::Batch& batch) { membership::events_of(batch, program).want(event); });
      break;
    }
    case Kind::create_order:
    case Kind::pay_order:
    case Kind::cancel_order: {
      const std::string order_id =
          run.prefix + "order-" + std::to_string(op.kind == Kind::create_order ? index : op.hold);
      subjects.leading = {{&mall::order_rows(), order_id}};
      mall::NewOrder order;
      if (op.kind == Kind::create_order) {
        order.order_id = order_id;
        order.member_id = member;
        order.currency = program->program.currency;
        order.points_to_use = op.amount;
        order.cash_cents = op.cash_cents;
        order.lines = {{"sku-1", "a thing", 1, op.amount * program->program.point_value_cents + op.cash_cents, 0}};
        order.ttl = std::chrono::seconds{op.ttl_seconds};
        order.request_sha256 = to_hex(sha256(order_id));
        subjects.members = subjects.points_members = {member};
      }
      using Decided = std::pair<mall::OrderBatch*, mall::OrderResult<mall::OrderDecision>>;
      command = std::make_shared<app::DecisionCommand<Decided>>(
          subjects,
          [=](ledger::Batch& batch) -> Decided {
            auto& orders = mall::OrderBatch::of(batch);
            switch (op.kind) {
              case Kind::create_order: return {&orders, orders.create(program.get(), order, op.received_at, origin)};
              case Kind::pay_order:
                return {&orders, orders.pay(program, order_id, "pay-" + order_id, op.received_at, origin)};
              default: return {&orders, orders.cancel(order_id, op.received_at, origin)};
            }
          },
          [=](const ledger::Batch&, const Decided& done) {
            if (!done.second) return answer(409, "refused " + std::to_string(static_cast<int>(done.second.refusal())));
            const mall::Order found = done.first->answer(done.second.value(), op.received_at);
            std::string summary = std::string("ok ") + mall::status_name(found.status);
            for (const auto& entry : found.entries) {
              summary += " " + entry.role + ":" + entry.kind;
              for (const auto& posting : entry.postings) summary += ":" + std::to_string(posting.amount);
            }
            for (const auto& line : found.lines) summary += " " + line.sku + "x" + std::to_string(line.quantity);
            return answer(op.kind == Kind::create_order ? 201 : 200, summary);
          },
          [=](ledger::Batch& batch) {
            if (op.kind == Kind::create_order) mall::OrderBatch::of(batch).prepare_create(order);
            if (op.kind == Kind::pay_order) mall::OrderBatch::of(batch).prepare_pay(program, order_id, op.received_at);
          });
      break;
    }
  }
  command->received_at = op.received_at;
  return command;
}

void apply_in_one_transaction(pqxx::connection& connection,
                              const std::vector<std::shared_ptr<app::Command>>& commands) {
  std::vector<db::BatchItem*> items;
  for (const auto& command : commands) items.push_back(command.get());
  pqxx::work txn{connection};
  app::apply_batch(txn, items);
  txn.commit();
}

std::string answer_text(const app::Command& command) {
  return std::to_string(command.outcome.answer.status) + " " + std::any_cast<std::string>(command.outcome.answer.reply);
}

// Everything a member's ledger holds that must not depend on how requests were batched.
std::string state_of(pqxx::connection& connection, const std::string& member) {
  pqxx::read_transaction txn{connection};
  std::string state;
  const auto add = [&](const std::string& sql) {
    for (const auto& row : txn.exec_params(sql, member)) {
      for (const auto& field : row) state += std::string(field.is_null() ? "NULL" : field.c_str()) + "|";
      state += "\n";
    }
  };
  add("SELECT asset, part, balance FROM accounts WHERE member_id = $1 ORDER BY asset, part");
  add("SELECT amount, remaining, expires_at, pending_until, source FROM lots WHERE member_id = $1"
      " ORDER BY expires_at, pending_until NULLS FIRST, source, amount, remaining");
  add("SELECT amount, captured_amount, status, expires_at FROM holds WHERE member_id = $1 ORDER BY created_at, amount");
  add("SELECT kind, count(*) FROM entries WHERE member_id = $1 GROUP BY kind ORDER BY kind");
  add("SELECT rule_id, asset, sum(amount) FROM event_awards WHERE member_id = $1 GROUP BY 1, 2 ORDER BY 1, 2");
  add("SELECT track, level FROM member_tiers WHERE member_id = $1 ORDER BY track");
  add("SELECT track, from_level, to_level, qualifying_value FROM tier_changes WHERE member_id = $1 ORDER BY change_id");
  add("SELECT day, type, spend_cents FROM member_spend_days WHERE member_id = $1 ORDER BY 1, 2");
  add("SELECT day, growth FROM member_growth_days WHERE member_id = $1 ORDER BY 1");
  add("SELECT rule_id, day, events FROM member_rule_days WHERE member_id = $1 ORDER BY 1, 2");
  add("SELECT status, total_cents, points_to_use, cash_cents, hold_id IS NULL, payment_ref IS NULL, expires_at,"
      " earn_event_id IS NULL FROM orders WHERE member_id = $1 ORDER BY created_at");
  add("SELECT oe.role, count(*) FROM order_entries oe JOIN orders o USING (order_id) WHERE o.member_id = $1"
      " GROUP BY 1 ORDER BY 1");
  return state;
}

TEST(BatchEquivalence, RandomRequestsOneByOneAndInBatchesLeaveTheSameLedger) {
  const char* given = std::getenv("LOYALTY_TEST_SEED");
  const std::uint64_t seed = given ? std::strtoull(given, nullptr, 10) : std::random_device{}();
  std::cout << "seed " << seed << " (replay with LOYALTY_TEST_SEED=" << seed << ")" << std::endl;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 random{seed};

  auto connection = TestDatabase::instance().connect();
  const Timestamp start = now_utc() - std::chrono::hours{2};
  Twin one_by_one{"single-" + std::to_string(seed) + "-", {}, {}, {}};
  Twin batched{"batched-" + std::to_string(seed) + "-", {}, {}, {}};
  std::shared_ptr<const program::ProgramVersion> program;
  {
    pqxx::work txn{*connection};
    program = std::make_shared<const program::ProgramVersion>(*program::current_program(txn));
    for (int i = 0; i < members_count; ++i) {
      for (Twin* run : {&one_by_one, &batched}) {
        const auto member =
            ledger::create_member(txn, {run->prefix + std::to_string(i), std::nullopt, std::nullopt}, start);
        ASSERT_TRUE(member.ok());
        run->members.push_back(member->member_id);
      }
    }
    txn.commit();
  }
  const auto operations = random_operations(random, 300, start);

  for (std::size_t i = 0; i < operations.size(); ++i) {
    const auto command = command_for(operations[i], static_cast<int>(i), one_by_one, program);
    apply_in_one_transaction(*connection, {command});
    one_by_one.answers.push_back(answer_text(*command));
  }
  for (std::size_t i = 0; i < operations.size();) {
    // A batch of random size; a capture or void waits for the batch after its hold's.
    const std::size_t size = 1 + random() % 24;
    std::vector<std::shared_ptr<app::Command>> commands;
    const std::size_t first = i;
    for (; i < operations.size() && commands.size() < size; ++i) {
      // (Hold ids are made by the batch; an order's id is the test's, so paying or cancelling
      // it may share the batch that creates it.)
      const bool on_order = operations[i].kind == Kind::pay_order || operations[i].kind == Kind::cancel_order;
      if (!on_order && operations[i].hold >= static_cast<int>(first)) break;
      commands.push_back(command_for(operations[i], static_cast<int>(i), batched, program));
    }
    apply_in_one_transaction(*connection, commands);
    for (const auto& command : commands) batched.answers.push_back(answer_text(*command));
  }

  for (std::size_t i = 0; i < operations.size(); ++i) {
    EXPECT_EQ(one_by_one.answers[i], batched.answers[i]) << "operation " << i;
  }
  // The run means something only if most requests did something.
  std::map<std::string, int> by_status;
  for (const auto& answer : one_by_one.answers) ++by_status[answer.substr(0, 3)];
  std::cout << "answers: " << by_status["201"] << " created, " << by_status["200"] << " captured or voided, "
            << by_status["422"] + by_status["409"] << " refused" << std::endl;
  EXPECT_GT(by_status["201"] + by_status["200"], static_cast<int>(operations.size()) / 2);
  EXPECT_GT(by_status["200"], 0);
  int paid = 0;
  for (const auto& answer : one_by_one.answers) paid += answer.starts_with("200 ok paid") ? 1 : 0;
  EXPECT_GT(paid, 0) << "no order was paid";
  for (int m = 0; m < members_count; ++m) {
    EXPECT_EQ(state_of(*connection, one_by_one.members[m]), state_of(*connection, batched.members[m]))
        << "member " << m;
  }
  EXPECT_LEDGER_INVARIANTS_HOLD();
}

}  // namespace
}  // namespace loyalty::testing
