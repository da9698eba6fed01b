// The partner registry: which partner brands exist, on what terms, with which rights.
//
// A partner is defined either by the program document in force (examples/program.yaml's
// `partners:`; versioned and audited with the program) or through POST /v1/partners (the
// `partners` table). The program wins: an id it defines cannot be registered through the
// API. Rights are the program's plus those added through POST /v1/partners/{id}/rights.
//
// Each partner has three system accounts: its clearing account "partner:<id>" in POINTS and
// in its own asset, and "partner:<id>:members" in its asset — the units that the partner's
// members gained (outbound) or gave up (inbound) through exchanges. partners/exchanges.hpp
// shows the entries.
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "partners/refusal.hpp"
#include "program/program.hpp"

namespace loyalty::partners {

struct RegisteredPartner {
  program::Partner terms;  // with every right, the program's and the API's
  bool from_program = false;
};

// nullopt for an id no one defined. `program` may be null (no program applied yet).
std::optional<RegisteredPartner> find_partner(pqxx::transaction_base& txn, const program::Program* program,
                                              const std::string& partner_id);

// Every partner: the program's, then the API's, by id.
std::vector<RegisteredPartner> all_partners(pqxx::transaction_base& txn, const program::Program* program);

struct PartnerPage {
  std::vector<RegisteredPartner> items;
  std::optional<std::string> next_after;  // the last partner id of the page; absent on the last page
};

// Every partner, the program's and the API's together, by id, after `after_id` when given.
PartnerPage list_partners(pqxx::transaction_base& txn, const program::Program* program,
                          const std::optional<std::string>& after_id, int limit);

// Registers a partner (and its rights); the same definition again is a replay.
Result<Replay> register_partner(pqxx::transaction_base& txn, const program::Program* program,
                                const program::Partner& partner);

// Adds a right to a partner's catalog; the same definition again is a replay.
Result<Replay> add_right(pqxx::transaction_base& txn, const program::Program* program, const std::string& partner_id,
                         const program::PartnerRight& right);

const program::PartnerRight* find_right(const program::Partner& partner, const std::string& code);

struct PartnerAccounts {
  std::int64_t clearing_points = 0;  // "partner:<id>", POINTS
  std::int64_t clearing_units = 0;   // "partner:<id>", the partner's asset
  std::int64_t members_units = 0;    // "partner:<id>:members", the partner's asset
};

// The partner's accounts, created on first use if the partner was registered before this
// capability (a program partner whose members-side account does not exist yet).
PartnerAccounts partner_accounts(pqxx::transaction_base& txn, const program::Partner& partner);

std::string members_side_account(const std::string& partner_id);  // "partner:skyair:members"

bool same_terms(const program::Partner& a, const program::Partner& b);  // everything but rights
bool same_right(const program::PartnerRight& a, const program::PartnerRight& b);

}  // namespace loyalty::partners
