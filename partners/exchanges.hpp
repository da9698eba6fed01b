// Exchanges of points with partner brands, in both directions, each idempotent by its
// exchange_id (per partner for inbound ids, ours for outbound ones) and under the partner's
// daily limits (per member and for the partner as a whole, per direction and UTC day).
//
// The entries, P points and U partner units (the partner's asset, e.g. SKYAIR_MILES):
//
//   inbound  (the partner's member gives up U units, gets P = U × inbound_points_per_unit):
//     POINTS        member:<id>:available       +P     partner:<p>            −P
//     <ASSET>       partner:<p>                 +U     partner:<p>:members    −U
//   outbound (the member spends P points, gets U = P × outbound_units_per_point_milli / 1000):
//     POINTS        member:<id>:available       −P     partner:<p>            +P
//     <ASSET>       partner:<p>                 −U     partner:<p>:members    +U
//
// So partner:<p> in POINTS is, negated, the points the partner's inbound exchanges brought
// in net of outbound ones (what settlement values at cents_per_point), and partner:<p> in the
// partner's asset is the units received net of the units the partner still has to credit
// to our members: finance reads both off the trial balance.
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ledger/journal.hpp"
#include "partners/refusal.hpp"
#include "program/program.hpp"

namespace loyalty::partners {

inline constexpr std::size_t exchange_id_chars_max = 128;
bool is_natural_id(std::string_view id);  // 1-128 of [A-Za-z0-9_.:-]: exchange and claim ids

struct Exchange {
  std::string exchange_id;
  std::string direction;  // inbound, outbound
  std::string partner_id;
  std::string member_id;
  std::string partner_member_ref;
  std::int64_t points = 0;
  std::int64_t units = 0;
  std::int64_t cents = 0;  // points × cents_per_point: what settlement owes for it
  std::int64_t entry_id = 0;
  Timestamp created_at;
  std::string settlement_date;
};

// What a write needs from the program in force.
struct ProgramContext {
  const program::Program* program = nullptr;
  int version = 0;
};

struct InboundRequest {
  std::string exchange_id;
  std::string partner_member_ref;
  std::int64_t units = 0;  // > 0
};

struct OutboundRequest {
  std::string exchange_id;
  std::string member_id;
  std::int64_t points = 0;  // > 0
};

using ExchangeResult = Result<std::pair<Exchange, Replay>>;

ExchangeResult exchange_inbound(pqxx::transaction_base& txn, const ProgramContext& program,
                                const program::Partner& partner, const InboundRequest& request, Timestamp now,
                                const ledger::Origin& origin);

ExchangeResult exchange_outbound(pqxx::transaction_base& txn, const ProgramContext& program,
                                 const program::Partner& partner, const OutboundRequest& request, Timestamp now,
                                 const ledger::Origin& origin);

// Units an outbound exchange of `points` gives, or nullopt (units_not_whole / overflow).
struct ExchangePage {
  std::vector<Exchange> items;
  std::optional<std::int64_t> next_before;  // the cursor of the next page; absent on the last page
};

// A partner's exchanges in both directions, newest first (by the order they were written).
ExchangePage list_partner_exchanges(pqxx::transaction_base& txn, const std::string& partner_id,
                                    std::optional<std::int64_t> before, int limit);

Result<std::int64_t> outbound_units(const program::Partner& partner, std::int64_t points);

}  // namespace loyalty::partners
