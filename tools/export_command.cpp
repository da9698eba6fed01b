// loyaltyctl export --from T --to T --format csv,jsonl,ledger --out DIR [--signing-key PEM]:
// writes a signed finance export of the range into DIR (audit/export.hpp describes the files),
// with a progress bar when stderr is a terminal.
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <sstream>

#include "audit/audit_log.hpp"
#include "audit/export.hpp"
#include "platform/database.hpp"
#include "tools/flags.hpp"

namespace loyalty::tools {
namespace {

using nlohmann::json;

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in{text};
  for (std::string part; std::getline(in, part, ',');) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

// Rows the export will write, for the progress bar's 100%.
std::int64_t expected_rows(pqxx::transaction_base& txn, Timestamp from, Timestamp to) {
  const auto range = [&](const char* column) {
    return std::string(column) + " >= " + txn.quote(db::sql_time(from)) + " AND " + column + " < " +
           txn.quote(db::sql_time(to));
  };
  return txn
      .exec("SELECT (SELECT count(*) FROM postings p JOIN entries e ON e.entry_id = p.entry_id WHERE " +
            range("e.effective_at") + ") + (SELECT count(*) FROM audit_events WHERE " + range("occurred_at") +
            ")")[0][0]
      .as<std::int64_t>();
}

void draw_progress(std::int64_t done, std::int64_t total) {
  constexpr int width = 30;
  const std::int64_t shown = total > 0 ? std::min(done, total) : done;
  const int filled = total > 0 ? static_cast<int>(shown * width / total) : width;
  std::fprintf(stderr, "\rexport [%s%s] %3lld%% %lld/%lld rows",
               std::string(static_cast<std::size_t>(filled), '#').c_str(),
               std::string(static_cast<std::size_t>(width - filled), ' ').c_str(),
               static_cast<long long>(total > 0 ? shown * 100 / total : 100), static_cast<long long>(shown),
               static_cast<long long>(total));
}

}  // namespace

int export_command(pqxx::connection& connection, const Flags& flags, const std::string& actor) {
  const auto from = parse_rfc3339(flags.value("from"));
  const auto to = parse_rfc3339(flags.value("to"));
  std::string unknown;
  const auto formats = audit::parse_formats(
      split_commas(flags.value("format").empty() ? "csv,jsonl,ledger" : flags.value("format")), &unknown);
  const std::string out = flags.value("out");
  if (!from || !to || *to <= *from || !formats || out.empty()) {
    std::fprintf(stderr,
                 "loyaltyctl: export needs --from T --to T (RFC 3339, from < to), --format of csv,jsonl,ledger%s and "
                 "--out DIR\n",
                 unknown.empty() ? "" : (" (not " + unknown + ")").c_str());
    return 2;
  }
  const auto signing_key = read_signing_key(flags.value("signing-key"));
  if (!signing_key || !*signing_key) {
    std::fprintf(stderr,
                 "loyaltyctl: export needs an Ed25519 signing key (PEM): --signing-key or LOYALTY_SIGNING_KEY\n");
    return 2;
  }
  const bool terminal = isatty(STDERR_FILENO);
  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> txn{connection, "export"};
  const std::int64_t total = terminal ? expected_rows(txn, *from, *to) : 0;
  audit::DirectorySink sink{out};
  const auto summary = audit::write_export(txn, *from, *to, *formats, sink, *signing_key, [&](std::int64_t rows) {
    if (terminal) draw_progress(rows, total);
  });
  txn.commit();
  if (terminal) std::fprintf(stderr, "\n");
  db::run_transaction(connection, "export_audit", [&](pqxx::transaction_base& write) {
    audit::AuditRecord record;
    record.actor_kind = "operator";
    record.actor_id = actor;
    record.action = "export.create";
    record.subject = "export:" + format_rfc3339(*from) + "/" + format_rfc3339(*to);
    record.details_json = json{{"formats", formats->names()},
                               {"entries", summary.entries},
                               {"postings", summary.postings},
                               {"audit_events", summary.audit_events}}
                              .dump();
    audit::record(write, record);
    return 0;
  });
  if (flags.on("json")) {
    json files = json::array();
    for (const auto& file : summary.files)
      files.push_back({{"name", file.name}, {"bytes", file.bytes}, {"sha256", file.sha256_hex}});
    std::printf("%s\n", json{{"out", out},
                             {"entries", summary.entries},
                             {"postings", summary.postings},
                             {"audit_events", summary.audit_events},
                             {"files", files}}
                            .dump()
                            .c_str());
  } else {
    std::printf("exported %lld entries, %lld postings, %lld audit events to %s\n",
                static_cast<long long>(summary.entries), static_cast<long long>(summary.postings),
                static_cast<long long>(summary.audit_events), out.c_str());
  }
  return 0;
}

}  // namespace loyalty::tools
