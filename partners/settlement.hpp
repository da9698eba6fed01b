// Settlement days: every exchange and claim is settled on one UTC day, and a closed day never
// gains a line. Writers take the partner's settlement row FOR SHARE and the close-statements
// job takes it FOR UPDATE, so a line written while its day is being closed waits and then
// lands on the first open day after it (the usual cut-off rule of settlement systems).
#pragma once

#include <pqxx/pqxx>

#include <string>

#include "platform/time.hpp"

namespace loyalty::partners {

std::string utc_date(Timestamp instant);  // "2026-11-22"

// The day a line written now for this partner settles on; takes the settlement row FOR SHARE.
std::string settlement_date_for(pqxx::transaction_base& txn, const std::string& partner_id, Timestamp now);

}  // namespace loyalty::partners
