// `loyaltyctl import events FILE.csv` (event_id,external_id,type,occurred_at,attributes):
// past events, decided by earning::EventBatch exactly as live events are (caps and campaigns
// in the event's own time, tier upgrades against the window ending now), except that
// occurred_at may be as old as the service accepts. With --history-only nothing is credited:
// what the rules would award counts in tier windows and caps (history_awards, 0015).
//
// A batch: one read of its members, the lock of their accounts (account id order), the event
// batch's prefetch (which event ids exist, tier rows, days), the decisions in memory, one
// SELECT of ids and one flush.
#include <map>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "earning/event_batch.hpp"
#include "importing/import_file.hpp"
#include "ledger/batch.hpp"
#include "membership/tier_batch.hpp"
#include "platform/digest.hpp"
#include "platform/text.hpp"
#include "program/cache.hpp"
#include "program/document.hpp"

namespace loyalty::importing {
namespace {

const db::Statement select_members{"import.select_members",
                                   "SELECT external_id, member_id FROM members WHERE external_id = ANY($1::text[])"};

constexpr std::size_t attributes_depth_max = 32;  // as a request body's JSON (api/limits.hpp)
constexpr std::int64_t amount_cents_max = std::int64_t{1} << 53;

struct ImportedEvent {
  earning::Event event;
  std::string external_id;
};

// amount_cents from the attributes, as POST /v1/events reads it: a whole number from 0 to 2^53
// (or such a number as a decimal string).
std::variant<std::optional<std::int64_t>, std::string> amount_cents_of(const nlohmann::json& attributes) {
  const auto found = attributes.find("amount_cents");
  if (found == attributes.end()) return std::optional<std::int64_t>{};
  std::optional<std::int64_t> cents;
  if (found->is_number_integer() && !(found->is_number_unsigned() && found->get<std::uint64_t>() > amount_cents_max)) {
    cents = found->get<std::int64_t>();
  } else if (found->is_number_float() &&
             found->get<double>() == static_cast<double>(static_cast<std::int64_t>(found->get<double>()))) {
    cents = static_cast<std::int64_t>(found->get<double>());
  } else if (found->is_string()) {
    cents = whole_number(found->get<std::string>());
  }
  if (!cents || *cents < 0 || *cents > amount_cents_max) {
    return std::string("attributes.amount_cents: must be a whole number of cents from 0 to 2^53");
  }
  return cents;
}

std::variant<ImportedEvent, std::string> event_of(const Row& row) {
  if (row.csv_problem) return "not readable as CSV (" + *row.csv_problem + ")";
  if (row.fields.size() != 5) return "expected 5 fields, found " + std::to_string(row.fields.size());
  for (const auto& field : row.fields) {
    if (!is_clean_text(field)) return std::string("a field is not UTF-8 text or holds NUL");
  }
  ImportedEvent imported;
  earning::Event& event = imported.event;
  event.event_id = row.fields[0];
  imported.external_id = row.fields[1];
  event.type = row.fields[2];
  if (!is_key_text(event.event_id) || event.event_id.starts_with("order:")) {
    return std::string("event_id: 1 to 128 characters of [A-Za-z0-9_.:-], not starting with order:");
  }
  if (imported.external_id.empty() || imported.external_id.size() > 512) {
    return std::string("external_id: is required, at most 128 characters");
  }
  if (event.type.empty() || event.type.size() > 64 ||
      event.type.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos ||
      event.type.front() == '_' || event.type.front() == '-') {
    return std::string("type: a lower-case event type such as purchase");
  }
  const auto occurred_at = parse_rfc3339(row.fields[3]);
  if (!occurred_at) return std::string("occurred_at: an RFC 3339 time is required");
  event.occurred_at = *occurred_at;
  const std::string& text = row.fields[4].empty() ? std::string("{}") : row.fields[4];
  if (program::json_nests_deeper_than(text, attributes_depth_max)) return std::string("attributes: nested too deeply");
  const auto attributes = nlohmann::json::parse(text, nullptr, false);
  if (attributes.is_discarded() || !attributes.is_object()) return std::string("attributes: a JSON object is required");
  auto cents = amount_cents_of(attributes);
  if (auto* reason = std::get_if<std::string>(&cents)) return *reason;
  event.amount_cents = std::get<std::optional<std::int64_t>>(cents);
  event.attributes_json = attributes.dump();
  // An imported event's identity: the same row again is a replay, whatever the run.
  event.request_sha256 =
      to_hex(sha256("import-event\n" + event.event_id + "\n" + imported.external_id + "\n" + event.type + "\n" +
                    format_rfc3339(event.occurred_at) + "\n" + event.attributes_json));
  return imported;
}

std::string reason_of(earning::EventRefusal refusal) {
  using earning::EventRefusal;
  switch (refusal) {
    case EventRefusal::member_not_found: return "member_not_found: no member has this external_id";
    case EventRefusal::event_id_reused:
      return "event_id_reused: an event with this event_id was recorded with other content";
    case EventRefusal::occurred_at_out_of_range: return "occurred_at_out_of_range: occurred_at is ahead of the clock";
    case EventRefusal::amount_cents_required:
      return "amount_cents_required: a rule awards per amount and attributes.amount_cents is absent";
    case EventRefusal::amount_overflow: return "amount_overflow: an award would exceed 2^63-1";
    default: return "refused";
  }
}

class EventsImporter : public Importer {
 public:
  const std::vector<std::string>& header() const override { return header_; }

  std::vector<RowOutcome> apply(
      pqxx::transaction_base& txn, const std::vector<const Row*>& rows, const BatchContext& context,
      const std::function<void(db::WriteBuffer&, const std::vector<RowOutcome>&)>& finish) override {
    std::vector<RowOutcome> outcomes(rows.size(), skipped());
    std::vector<std::optional<ImportedEvent>> events(rows.size());
    std::set<std::string> external_ids;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      auto event = event_of(*rows[i]);
      if (auto* reason = std::get_if<std::string>(&event)) {
        outcomes[i] = rejected(*reason);
        continue;
      }
      events[i] = std::get<ImportedEvent>(std::move(event));
      external_ids.insert(events[i]->external_id);
    }
    std::map<std::string, std::string> member_of;
    if (!external_ids.empty()) {
      for (const auto& row :
           db::exec(txn, select_members, db::array_literal(std::vector(external_ids.begin(), external_ids.end())))) {
        member_of[row[0].c_str()] = row[1].c_str();
      }
    }
    ledger::Batch batch{txn};
    std::vector<std::string> members;
    for (const auto& [external_id, member_id] : member_of) members.push_back(member_id);
    batch.lock_members(members);
    const auto program = program_cache_.current(txn);
    if (!program) throw std::runtime_error("no program is in force");
    auto& event_batch = membership::events_of(batch, program);
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (!events[i]) continue;
      const auto member = member_of.find(events[i]->external_id);
      if (member == member_of.end()) {
        outcomes[i] = rejected(reason_of(earning::EventRefusal::member_not_found));
        events[i].reset();
        continue;
      }
      events[i]->event.member_id = member->second;
      event_batch.want(events[i]->event);
    }
    const auto bounds = earning::history_bounds(program->program);
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (!events[i]) continue;
      const earning::Event& event = events[i]->event;
      if (const auto before = event_batch.recorded_before(event.event_id, context.now)) {
        if (*before != event.request_sha256) outcomes[i] = rejected(reason_of(earning::EventRefusal::event_id_reused));
        continue;
      }
      const auto recorded = event_batch.record(event, context.now, bounds, context.origin, context.history_only);
      if (const auto* refusal = std::get_if<earning::EventRefusal>(&recorded)) {
        outcomes[i] = rejected(reason_of(*refusal));
      } else if (!std::get<earning::RecordedEvent>(recorded).outcome.replayed) {
        outcomes[i] = applied();
      }
    }
    batch.stage();
    finish(batch.writes(), outcomes);
    batch.writes().flush();
    return outcomes;
  }

 private:
  std::vector<std::string> header_{"event_id", "external_id", "type", "occurred_at", "attributes"};
  program::ProgramCache program_cache_;
};

}  // namespace

std::unique_ptr<Importer> events_importer() {
  return std::make_unique<EventsImporter>();
}

}  // namespace loyalty::importing
