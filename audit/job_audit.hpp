// Jobs in the audit trail: a job definition wrapped so that the chunk that finishes a run
// records one audit event (actor_kind "job") in that chunk's transaction, with the run's
// as_of and its item count. Busy and already-done runs changed nothing and record nothing.
#pragma once

#include "ledger/jobs.hpp"

namespace loyalty::audit {

ledger::JobDefinition audited_job(ledger::JobDefinition job);

}  // namespace loyalty::audit
