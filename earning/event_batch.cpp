#include "earning/event_batch.hpp"

#include <algorithm>

#include "earning/budgets.hpp"
#include "earning/qualifying.hpp"
#include "ledger/accounts.hpp"
#include "ledger/amounts.hpp"
#include "platform/assert.hpp"
#include "platform/database.hpp"
#include "platform/executor.hpp"
#include "program/cache.hpp"

namespace loyalty::earning {
namespace {

using std::chrono::sys_days;

// Everything the decisions read, in one round trip: which event ids exist already (with their
// request hashes); the members' spend and GROWTH days from the earliest day of any track's
// window; and the day counts of capped rules from the start of their periods.
// Columns: kind, event or member id, day, name (event type or rule), amount, text.
const db::Statement prefetch_all{
    "event_batch.prefetch",
    "SELECT 'e', event_id, NULL::date, NULL::text, 0::bigint, request_sha256 FROM events"
    " WHERE event_id = ANY($1::text[])"
    " UNION ALL SELECT 's', member_id, day, type, spend_cents, NULL FROM member_spend_days"
    " WHERE member_id = ANY($2::text[]) AND day >= $3::date"
    " UNION ALL SELECT 'g', member_id, day, NULL, growth, NULL FROM member_growth_days"
    " WHERE member_id = ANY($2::text[]) AND day >= $3::date"
    " UNION ALL SELECT 'r', d.member_id, d.day, d.rule_id, d.events, NULL FROM member_rule_days d"
    " JOIN unnest($4::text[], $5::date[]) AS r(rule_id, from_day) ON d.rule_id = r.rule_id AND d.day >= r.from_day"
    " WHERE d.member_id = ANY($2::text[])"};

const db::Statement insert_events{
    "event_batch.insert_events",
    "INSERT INTO events (event_id, member_id, type, occurred_at, attributes, amount_cents, request_sha256,"
    " program_version, received_at, entry_id)"
    " SELECT e, m, t, o, a::jsonb, c, h, v, r, n FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[],"
    " $5::text[], $6::bigint[], $7::text[], $8::integer[], $9::timestamptz[], $10::bigint[]) WITH ORDINALITY"
    "  AS x(e, m, t, o, a, c, h, v, r, n, position) ORDER BY position"};

const db::Statement insert_awards{
    "event_batch.insert_awards",
    "INSERT INTO event_awards (event_id, position, member_id, rule_id, campaign_id, asset, amount, occurred_at,"
    " pending_until)"
    " SELECT * FROM unnest($1::text[], $2::smallint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],"
    " $8::timestamptz[], $9::timestamptz[])"};

// What the rules would have awarded an event imported as history only (migrations/0015).
const db::Statement insert_history_awards{
    "event_batch.insert_history_awards",
    "INSERT INTO history_awards (event_id, position, member_id, rule_id, asset, amount, occurred_at)"
    " SELECT * FROM unnest($1::text[], $2::smallint[], $3::text[], $4::text[], $5::text[], $6::bigint[],"
    " $7::timestamptz[])"};

sys_days day_of(const char* text) {
  const auto day = parse_date(text);
  LOYALTY_ASSERT(day.has_value(), "a date the database wrote");
  return *day;
}

sys_days day_of(Timestamp instant) {
  return std::chrono::floor<std::chrono::days>(instant);
}

std::optional<std::string> optional_time(const std::optional<Timestamp>& instant) {
  if (!instant) return std::nullopt;
  return db::sql_time(*instant);
}

bool earns_on(const program::Rule& rule, const std::string& type) {
  return std::find(rule.events.begin(), rule.events.end(), type) != rule.events.end();
}

// What a member's accounts of one asset would hold after the credits planned so far.
struct CreditRoom {
  std::int64_t total = 0, available = 0, pending = 0;

  // Adds a credit to available or pending; false if it or the total would leave int64.
  bool credit(std::int64_t amount, bool to_pending) {
    std::int64_t& part = to_pending ? pending : available;
    const auto part_after = ledger::checked_add(part, amount), total_after = ledger::checked_add(total, amount);
    if (!part_after || !total_after) return false;
    part = *part_after, total = *total_after;
    return true;
  }
};

}  // namespace

EventBatch& EventBatch::of(ledger::Batch& batch, std::shared_ptr<const program::ProgramVersion> program,
                           EventTiers& tiers) {
  return batch.extension<EventBatch>("earning.events",
                                     [&] { return std::make_unique<EventBatch>(batch, std::move(program), tiers); });
}

EventBatch::EventBatch(ledger::Batch& batch, std::shared_ptr<const program::ProgramVersion> program, EventTiers& tiers)
    : batch_(batch), program_(std::move(program)), tiers_(tiers) {
  LOYALTY_ASSERT(program_ != nullptr, "events without a program in force");
  qualifying_types_ = qualifying_types(program_->program);
}

void EventBatch::want(const Event& event) {
  LOYALTY_ASSERT(!prefetched_, "an event wanted after the batch's decisions began");
  wanted_.push_back(event);
}

void EventBatch::prefetch(Timestamp now) {
  db::ReadBatch reads{batch_.transaction()};
  prefetch(reads, now);
  reads.run();
}

void EventBatch::prefetch(db::ReadBatch& reads, Timestamp now) {
  if (prefetched_) return;
  prefetched_ = true;
  const program::Program& program = program_->program;
  std::vector<std::string> event_ids, member_ids;
  std::map<std::string, sys_days> rule_from;  // capped rule → first day any event's period needs
  for (const Event& event : wanted_) {
    event_ids.push_back(event.event_id);
    member_ids.push_back(event.member_id);  // locked, or being locked in the same round trip
    for (const auto& rule : program.rules) {
      if (!rule.cap || !earns_on(rule, event.type)) continue;
      const sys_days from = day_of(cap_period(rule.cap->period, event.occurred_at).first);
      const auto [at, inserted] = rule_from.emplace(rule.id, from);
      if (!inserted) at->second = std::min(at->second, from);
    }
  }
  std::sort(member_ids.begin(), member_ids.end());
  member_ids.erase(std::unique(member_ids.begin(), member_ids.end()), member_ids.end());
  if (event_ids.empty()) return;
  for (const auto& id : member_ids) members_[id];
  sys_days window_from = day_of(now);
  for (const auto& track : program.tracks) window_from = std::min(window_from, day_window(track, now).from);
  std::vector<std::string> rules, rule_days;
  for (const auto& [rule, from] : rule_from) {
    rules.push_back(rule);
    rule_days.push_back(format_date(from));
  }
  reads.add(
      prefetch_all, [this](const pqxx::result& rows) { use_prefetched(rows); }, db::array_literal(event_ids),
      db::array_literal(member_ids), format_date(window_from), db::array_literal(rules), db::array_literal(rule_days));
  // The tier rows are locked after the accounts, as ledger/batch.hpp's lock order has it.
  tiers_.prefetch(member_ids, reads);
}

void EventBatch::use_prefetched(const pqxx::result& rows) {
  for (const auto& row : rows) {
    const char kind = row[0].c_str()[0];
    if (kind == 'e') {
      existing_[row[1].c_str()] = row[5].c_str();
      continue;
    }
    MemberDays& days = members_[row[1].c_str()];
    const sys_days day = day_of(row[2].c_str());
    const auto amount = row[4].as<std::int64_t>();
    switch (kind) {
      case 's': days.spend[{day, row[3].c_str()}] += amount; break;
      case 'g': days.growth[day] += amount; break;
      default: days.rule_events[{row[3].c_str(), day}] += amount; break;
    }
  }
}

std::int64_t EventBatch::rule_events_in(const MemberDays& days, const std::string& rule_id, Timestamp from,
                                        Timestamp to) const {
  std::int64_t events = 0;
  const auto first = days.rule_events.lower_bound({rule_id, day_of(from)});
  for (auto it = first; it != days.rule_events.end() && it->first.first == rule_id && it->first.second < day_of(to);
       ++it) {
    events += it->second;
  }
  return events;
}

std::int64_t EventBatch::qualifying_value(const MemberDays& days, const program::Track& track, Timestamp as_of) const {
  const auto window = day_window(track, as_of);
  std::int64_t value = 0;
  if (track.metric == "growth_earned") {
    for (auto it = days.growth.lower_bound(window.from); it != days.growth.end() && it->first <= window.to; ++it) {
      value += it->second;
    }
    return value;
  }
  for (auto it = days.spend.lower_bound({window.from, ""}); it != days.spend.end() && it->first.first <= window.to;
       ++it) {
    if (std::find(qualifying_types_.begin(), qualifying_types_.end(), it->first.second) != qualifying_types_.end()) {
      value += it->second;
    }
  }
  return value;
}

// Every award the program gives for the event: base awards of matching rules under their
// caps, and campaign bonuses within budget. Nothing is changed before the last check passes.
EventResult<std::vector<PlannedAward>> EventBatch::plan(const Event& event, const MemberDays& days, Timestamp now,
                                                        bool history_only, bool dry_run) {
  const program::Program& program = program_->program;
  const EventFacts facts{event.type, event.occurred_at, event.amount_cents,
                         tiers_.earn_multiplier_pct(event.member_id)};
  std::vector<PlannedAward> planned;
  struct Bonus {
    const program::Campaign* campaign;
    PlannedAward award;
  };
  std::vector<Bonus> bonuses;
  for (const auto& rule : program.rules) {
    if (!earns_on(rule, event.type)) continue;
    if (rule.cap) {
      const auto [from, to] = cap_period(rule.cap->period, event.occurred_at);
      if (rule_events_in(days, rule.id, from, to) >= rule.cap->per_member) continue;
    }
    auto plan = plan_rule_awards(rule, facts);
    if (auto* problem = std::get_if<PlanProblem>(&plan)) {
      return *problem == PlanProblem::amount_cents_required ? EventRefusal::amount_cents_required
                                                            : EventRefusal::amount_overflow;
    }
    auto& awards = std::get<std::vector<PlannedAward>>(plan);
    std::int64_t base_points = 0;
    for (auto& award : awards) {
      // A return window that has already passed needs no pending stage; only points wait for
      // it (contribution value is credited at once).
      if (award.pending_until && *award.pending_until <= now) award.pending_until.reset();
      if (award.asset != ledger::points_asset) award.pending_until.reset();
      if (award.asset == ledger::points_asset) base_points += award.amount;
      planned.push_back(award);
    }
    const std::optional<Timestamp> pending_until = awards.empty() ? std::nullopt : awards.front().pending_until;
    if (history_only) continue;  // a bonus is spent budget, and history spends nothing
    for (const program::Campaign* campaign : active_campaigns(program, rule.id, event.occurred_at)) {
      const auto bonus = campaign_bonus(base_points, campaign->multiplier_pct);
      if (!bonus) return EventRefusal::amount_overflow;
      if (*bonus <= 0) continue;
      bonuses.push_back({campaign,
                         {rule.id, campaign->id, std::string(ledger::points_asset), *bonus, campaign->funding_account,
                          pending_until}});
    }
  }
  // Every credit must keep the member's total of its asset within int64, and the account it
  // credits too: with points owed (available below zero) the total alone does not bound pending.
  ledger::MemberAccounts& member = *batch_.member(event.member_id);
  std::map<std::string, CreditRoom> room;
  for (const auto& asset : {ledger::points_asset, ledger::growth_asset}) {
    const ledger::LockedMemberAccounts& accounts = member.of(asset);
    const auto total = accounts.total();
    if (!total) return EventRefusal::amount_overflow;
    room[std::string(asset)] = {*total, accounts.available.balance, accounts.pending.balance};
  }
  for (const auto& award : planned) {
    if (!room[award.asset].credit(award.amount, award.pending_until.has_value())) return EventRefusal::amount_overflow;
  }
  for (const auto& bonus : bonuses) {
    if (!room[bonus.award.asset].credit(bonus.award.amount, bonus.award.pending_until.has_value())) {
      return EventRefusal::amount_overflow;
    }
  }
  if (dry_run) return planned;  // every refusal is behind us; bonuses are not reserved
  // Budgets last: a reservation is a write, made only for an event that will be recorded.
  for (auto& bonus : bonuses) {
    if (reserve_budget(batch_.transaction(), bonus.campaign->id, bonus.award.amount,
                       db::routing_key_of(event.member_id))) {
      planned.push_back(std::move(bonus.award));
    }
  }
  // Base awards first, then bonuses: the order the rules list them in, per rule.
  std::stable_sort(planned.begin(), planned.end(), [&](const PlannedAward& a, const PlannedAward& b) {
    const auto rank = [&](const PlannedAward& award) {
      for (std::size_t i = 0; i < program.rules.size(); ++i) {
        if (program.rules[i].id == award.rule_id) return i;
      }
      return program.rules.size();
    };
    return rank(a) < rank(b);
  });
  return planned;
}

ledger::EntryDraft EventBatch::earn_entry(const Event& event, const std::vector<PlannedAward>& planned,
                                          const ledger::MemberAccounts& member, Timestamp now,
                                          const ledger::Origin& origin) {
  ledger::EntryDraft entry{"earn", now, event.member_id, event.event_id};
  entry.program_version = program_->version;
  entry.origin = origin;
  for (const auto& award : planned) {
    const auto& accounts = award.asset == ledger::points_asset ? member.points : member.growth;
    const std::int64_t credited = award.pending_until ? accounts.pending.account_id : accounts.available.account_id;
    entry.postings.push_back({batch_.system_account(award.funding_account, award.asset), award.asset, -award.amount});
    entry.postings.push_back({credited, award.asset, award.amount});
  }
  return entry;
}

// What the event adds to the member's days (as the database's triggers will).
void EventBatch::count(const Event& event, const std::vector<PlannedAward>& planned, MemberDays& days) {
  const sys_days day = day_of(event.occurred_at);
  if (event.amount_cents && *event.amount_cents > 0) days.spend[{day, event.type}] += *event.amount_cents;
  std::set<std::string> rules;
  for (const auto& award : planned) {
    if (award.asset == ledger::growth_asset) days.growth[day] += award.amount;
    if (!award.campaign_id) rules.insert(award.rule_id);
  }
  for (const auto& rule : rules) days.rule_events[{rule, day}] += 1;
}

std::optional<std::string> EventBatch::recorded_before(const std::string& event_id, Timestamp now) {
  if (!prefetched_) prefetch(now);
  const auto found = existing_.find(event_id);
  if (found == existing_.end()) return std::nullopt;
  return found->second;
}

std::optional<EventRefusal> EventBatch::refusal(const Event& event, Timestamp now, const EventBounds& bounds) {
  if (!prefetched_) prefetch(now);
  if ((bounds.past_max && event.occurred_at < now - *bounds.past_max) || event.occurred_at > now + bounds.future_max) {
    return EventRefusal::occurred_at_out_of_range;
  }
  if (!batch_.member(event.member_id)) return EventRefusal::member_not_found;
  if (const auto found = recorded_sha256_.find(event.event_id); found != recorded_sha256_.end()) {
    if (found->second != event.request_sha256) return EventRefusal::event_id_reused;
    return std::nullopt;
  }
  if (const auto found = existing_.find(event.event_id); found != existing_.end()) {
    if (found->second != event.request_sha256) return EventRefusal::event_id_reused;
    return std::nullopt;
  }
  const MemberDays& days = members_[event.member_id];  // plan() only reads it
  auto plan = this->plan(event, days, now, false, true);
  if (auto* refusal = std::get_if<EventRefusal>(&plan)) return *refusal;
  return std::nullopt;
}

EventResult<RecordedEvent> EventBatch::record(const Event& event, Timestamp now, const EventBounds& bounds,
                                              const ledger::Origin& origin, bool history_only) {
  if (!prefetched_) prefetch(now);
  if ((bounds.past_max && event.occurred_at < now - *bounds.past_max) || event.occurred_at > now + bounds.future_max) {
    return EventRefusal::occurred_at_out_of_range;
  }
  ledger::MemberAccounts* member = batch_.member(event.member_id);
  if (!member) return EventRefusal::member_not_found;
  // An event id is its own idempotency key: the same content is a replay, other content a conflict.
  if (const auto found = recorded_.find(event.event_id); found != recorded_.end()) {
    if (recorded_sha256_.at(event.event_id) != event.request_sha256) return EventRefusal::event_id_reused;
    RecordedEvent replay = found->second;
    replay.outcome.replayed = true;
    return replay;
  }
  if (const auto found = existing_.find(event.event_id); found != existing_.end()) {
    if (found->second != event.request_sha256) return EventRefusal::event_id_reused;
    auto replay = find_event(batch_.transaction(), event.event_id);
    if (auto* refusal = std::get_if<EventRefusal>(&replay)) return *refusal;
    RecordedEvent recorded{std::get<EventOutcome>(std::move(replay)), std::nullopt};
    recorded.outcome.tier_changes = tiers_.changes_of(event.event_id);
    recorded.outcome.replayed = true;
    return recorded;
  }
  MemberDays& days = members_[event.member_id];
  auto plan = this->plan(event, days, now, history_only, false);
  if (auto* refusal = std::get_if<EventRefusal>(&plan)) return *refusal;
  const auto& planned = std::get<std::vector<PlannedAward>>(plan);

  RecordedEvent recorded;
  recorded.outcome.event_id = event.event_id;
  recorded.outcome.member_id = event.member_id;
  if (history_only) {
    for (std::size_t i = 0; i < planned.size(); ++i) {
      history_awards_.push_back({event.event_id, static_cast<int>(i), event.member_id, planned[i], event.occurred_at});
    }
  } else if (!planned.empty()) {
    credit(event, planned, *member, now, origin, recorded);
  }
  events_.push_back({event, now, recorded.entry});
  count(event, planned, days);
  const QualifyingValue value = [&](const program::Track& track) { return qualifying_value(days, track, now); };
  recorded.outcome.tier_changes = tiers_.after_event(event, value, now);
  recorded_[event.event_id] = recorded;
  recorded_sha256_[event.event_id] = event.request_sha256;
  return recorded;
}

// The event's one earn entry, its lots (one for the points credited to available, one per
// pending date) and its award rows.
void EventBatch::credit(const Event& event, const std::vector<PlannedAward>& planned, ledger::MemberAccounts& member,
                        Timestamp now, const ledger::Origin& origin, RecordedEvent& recorded) {
  const std::int64_t available_before = member.points.available.balance;
  recorded.entry = batch_.post(earn_entry(event, planned, member, now, origin));
  std::map<std::optional<Timestamp>, std::int64_t> by_pending_date;
  for (const auto& award : planned) {
    if (award.asset == ledger::points_asset) by_pending_date[award.pending_until] += award.amount;
  }
  const auto expires_at = program::points_expiry(&program_->program).expiry_for(event.occurred_at);
  for (const auto& [pending_until, amount] : by_pending_date) {
    batch_.add_lot({event.member_id, amount, event.occurred_at, expires_at, pending_until, 0, "earn"}, *recorded.entry,
                   available_before);
  }
  for (std::size_t i = 0; i < planned.size(); ++i) {
    awards_.push_back({event.event_id, static_cast<int>(i), event.member_id, planned[i], event.occurred_at});
    recorded.outcome.awards.push_back(
        {planned[i].rule_id, planned[i].campaign_id, planned[i].asset, planned[i].amount, 0, planned[i].pending_until});
  }
}

EventOutcome outcome_of(const ledger::Batch& batch, const RecordedEvent& recorded) {
  EventOutcome outcome = recorded.outcome;
  if (recorded.entry) {
    for (auto& award : outcome.awards) award.entry_id = batch.entry_id(*recorded.entry);
  }
  return outcome;
}

void EventBatch::write() {
  db::WriteBuffer& writes = batch_.writes();
  if (!events_.empty()) {
    const auto column = [&](auto format) { return db::array_literal(events_, format); };
    writes.add(insert_events, column([](const EventRow& r) { return r.event.event_id; }),
               column([](const EventRow& r) { return r.event.member_id; }),
               column([](const EventRow& r) { return r.event.type; }),
               column([](const EventRow& r) { return db::sql_time(r.event.occurred_at); }),
               column([](const EventRow& r) { return r.event.attributes_json; }),
               column([](const EventRow& r) { return db::nullable_number(r.event.amount_cents); }),
               column([](const EventRow& r) { return r.event.request_sha256; }),
               column([&](const EventRow&) { return std::to_string(program_->version); }),
               column([](const EventRow& r) { return db::sql_time(r.received_at); }),
               column([&](const EventRow& r) -> std::optional<std::string> {
                 if (!r.entry) return std::nullopt;
                 return std::to_string(batch_.entry_id(*r.entry));
               }));
  }
  if (!awards_.empty()) {
    const auto column = [&](auto format) { return db::array_literal(awards_, format); };
    writes.add(insert_awards, column([](const AwardRow& r) { return r.event_id; }),
               column([](const AwardRow& r) { return std::to_string(r.position); }),
               column([](const AwardRow& r) { return r.member_id; }),
               column([](const AwardRow& r) { return r.award.rule_id; }),
               column([](const AwardRow& r) { return r.award.campaign_id; }),
               column([](const AwardRow& r) { return r.award.asset; }),
               column([](const AwardRow& r) { return std::to_string(r.award.amount); }),
               column([](const AwardRow& r) { return db::sql_time(r.occurred_at); }),
               column([](const AwardRow& r) { return optional_time(r.award.pending_until); }));
  }
  if (!history_awards_.empty()) {
    const auto column = [&](auto format) { return db::array_literal(history_awards_, format); };
    writes.add(insert_history_awards, column([](const AwardRow& r) { return r.event_id; }),
               column([](const AwardRow& r) { return std::to_string(r.position); }),
               column([](const AwardRow& r) { return r.member_id; }),
               column([](const AwardRow& r) { return r.award.rule_id; }),
               column([](const AwardRow& r) { return r.award.asset; }),
               column([](const AwardRow& r) { return std::to_string(r.award.amount); }),
               column([](const AwardRow& r) { return db::sql_time(r.occurred_at); }));
  }
}

}  // namespace loyalty::earning
