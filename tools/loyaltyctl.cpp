// loyaltyctl: the operator's command line (schema, keys, program, jobs).
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>

#include "api/api_keys.hpp"
#include "api/jobs_catalog.hpp"
#include "api/limits.hpp"
#include "audit/audit_log.hpp"
#include "ledger/database.hpp"
#include "ledger/migrator.hpp"
#include "earning/program_apply.hpp"
#include "program/store.hpp"
#include "tools/flags.hpp"

namespace loyalty::tools {
// Command groups in their own files (tools/*_command.cpp).
int export_command(pqxx::connection& connection, const Flags& flags, const std::string& actor);
int audit_command(const std::vector<std::string>& args, const Flags& flags,
                  const std::function<std::unique_ptr<pqxx::connection>()>& connect);
int signing_key_command(int argc, char** argv);  // tools/signing_key_command.cpp (own flags)
int partners_command(int argc, char** argv);     // tools/partners_command.cpp (own flags)
}  // namespace loyalty::tools

namespace {

using namespace loyalty;
using nlohmann::json;

const std::vector<tools::FlagSpec> flag_specs = {
    {"database-url", "LOYALTY_DATABASE_URL", "", "libpq URI of the database"},
    {"json", "", "", "print one JSON object on stdout", true},
    {"role", "", "", "keys create: mall, ingest, admin or finance"},
    {"name", "", "", "keys create: who the key is for"},
    {"expires-at", "", "", "keys create: when the key stops working (RFC 3339; default never)"},
    {"as-of", "", "", "jobs run: the moment to run the job for (RFC 3339; default now)"},
    {"from", "", "", "export: start of the range (RFC 3339, inclusive)"},
    {"to", "", "", "export: end of the range (RFC 3339, exclusive)"},
    {"format", "", "csv,jsonl,ledger", "export: comma-separated formats (csv, jsonl, ledger)"},
    {"out", "", "", "export: the directory to write"},
    {"signing-key", "LOYALTY_SIGNING_KEY", "", "export: Ed25519 private key (PEM) that signs manifest.json"},
    {"public-key", "", "", "audit verify DIR: Ed25519 public key (PEM) the manifest must be signed with"},
    {"help", "", "", "show this help", true},
};

constexpr const char* usage =
    "loyaltyctl: the loyalty-ledger operator's command line\n\n"
    "commands:\n"
    "  migrate                          apply pending schema migrations\n"
    "  status                           show applied and pending migrations\n"
    "  keys create --role R --name N [--expires-at T]\n"
    "                                   create an API key (the secret is shown once)\n"
    "  keys list [--json]               list API keys (never a secret)\n"
    "  keys revoke KEY_ID               revoke an API key (refused everywhere within 5 s)\n"
    "  program apply FILE.yaml          validate and apply a program document\n"
    "  program show                     print the program in force (JSON)\n"
    "  jobs list                        list the jobs\n"
    "  jobs run NAME [--as-of T]        run a job for a moment in time\n"
    "  export --from T --to T --format csv,jsonl,ledger --out DIR\n"
    "                                   write a signed finance export of a range\n"
    "  audit seal                       seal finished records into the audit hash chain\n"
    "  audit verify                     recompute the audit hash chain from the database\n"
    "  audit verify DIR [--public-key P] check an export offline (exit 0 only if all passes)\n"
    "  signing-key init [--out PATH]    make our Ed25519 signing key and register its public key\n"
    "  signing-key retire KEY_ID        take an old signing key off GET /partner/v1/signing-keys\n"
    "  partners reconcile --partner ID --date D --csv FILE\n"
    "                                   compare a partner's CSV with our statement (exit 1 on any difference)\n\n"
    "flags:\n";

std::string operator_name() {
  const char* user = std::getenv("USER");
  return std::string("operator:") + (user ? user : "unknown");
}

audit::AuditRecord operator_action(std::string action, std::string subject, std::string details) {
  audit::AuditRecord record;
  record.actor_kind = "operator";
  record.actor_id = operator_name();
  record.action = std::move(action);
  record.subject = std::move(subject);
  record.details_json = std::move(details);
  return record;
}

int migrate(pqxx::connection& connection) {
  const auto applied = ledger::migrate(connection, [](const std::string& name) {
    std::fprintf(stderr, "applying %s\n", name.c_str());
  });
  std::printf("schema is current (%zu migration(s) applied now)\n", applied.size());
  return 0;
}

int status(pqxx::connection& connection) {
  pqxx::read_transaction txn{connection, "status"};
  const auto status = ledger::schema_status(txn);
  for (const auto& name : status.applied) std::printf("applied  %s\n", name.c_str());
  for (const auto& name : status.pending) std::printf("pending  %s\n", name.c_str());
  for (const auto& problem : status.problems) std::printf("PROBLEM  %s\n", problem.c_str());
  return status.current() ? 0 : 1;
}

int create_key(pqxx::connection& connection, const tools::Flags& flags) {
  const auto role = api::parse_role(flags.value("role"));
  const std::string name = flags.value("name");
  if (!role || name.empty() || name.size() > 100) {
    std::fprintf(stderr, "loyaltyctl: keys create needs --role (mall, ingest, admin, finance) and --name (1-100 chars)\n");
    return 2;
  }
  std::optional<Timestamp> expires_at;
  if (flags.on("expires-at")) {
    expires_at = parse_rfc3339(flags.value("expires-at"));
    if (!expires_at || *expires_at <= now_utc()) {
      std::fprintf(stderr, "loyaltyctl: --expires-at must be an RFC 3339 time in the future\n");
      return 2;
    }
  }
  const auto key = db::run_transaction(connection, "keys_create", [&](pqxx::transaction_base& txn) {
    auto created = api::create_api_key(txn, api::NewKey{*role, name, expires_at, operator_name()});
    json details{{"role", api::role_name(*role)}, {"name", name}};
    if (expires_at) details["expires_at"] = format_rfc3339(*expires_at);
    audit::record(txn, operator_action("api_key.create", created.key_id, details.dump()));
    return created;
  });
  const json expires = key.expires_at ? json(format_rfc3339(*key.expires_at)) : json(nullptr);
  if (flags.on("json")) {
    std::printf("%s\n", json{{"key_id", key.key_id}, {"role", api::role_name(key.role)}, {"name", key.name},
                             {"secret", key.secret}, {"expires_at", expires}}.dump().c_str());
  } else {
    std::printf("key_id  %s\nrole    %s\nsecret  %s\n(the secret is shown only now)\n", key.key_id.c_str(),
                api::role_name(key.role), key.secret.c_str());
  }
  return 0;
}

json key_json(const api::KeyInfo& key, Timestamp now) {
  const auto time_or_null = [](const std::optional<Timestamp>& time) {
    return time ? json(format_rfc3339(*time)) : json(nullptr);
  };
  return json{{"key_id", key.key_id}, {"role", api::role_name(key.role)}, {"name", key.name},
              {"status", key.status(now)}, {"created_at", format_rfc3339(key.created_at)},
              {"expires_at", time_or_null(key.expires_at)}, {"revoked_at", time_or_null(key.revoked_at)},
              {"created_by", key.created_by ? json(*key.created_by) : json(nullptr)},
              {"revoked_by", key.revoked_by ? json(*key.revoked_by) : json(nullptr)}};
}

int list_keys(pqxx::connection& connection, const tools::Flags& flags) {
  pqxx::read_transaction txn{connection, "keys_list"};
  const Timestamp now = now_utc();
  std::vector<api::KeyInfo> keys;
  std::optional<std::int64_t> before;
  do {  // every key, a page at a time
    auto page = api::list_api_keys(txn, 500, before);
    for (auto& key : page.items) keys.push_back(std::move(key));
    before = page.next_before;
  } while (before);
  if (flags.on("json")) {
    json items = json::array();
    for (const auto& key : keys) items.push_back(key_json(key, now));
    std::printf("%s\n", json{{"items", items}}.dump().c_str());
    return 0;
  }
  std::printf("%-26s %-8s %-8s %-21s %-21s %s\n", "KEY_ID", "ROLE", "STATUS", "CREATED", "EXPIRES", "NAME");
  for (const auto& key : keys) {
    std::printf("%-26s %-8s %-8s %-21s %-21s %s\n", key.key_id.c_str(), api::role_name(key.role), key.status(now),
                format_rfc3339(std::chrono::floor<std::chrono::seconds>(key.created_at)).c_str(),
                key.expires_at ? format_rfc3339(std::chrono::floor<std::chrono::seconds>(*key.expires_at)).c_str() : "-",
                key.name.c_str());
  }
  return 0;
}

int revoke_key(pqxx::connection& connection, const std::string& key_id, const tools::Flags& flags) {
  const auto key = db::run_transaction(connection, "keys_revoke", [&](pqxx::transaction_base& txn) {
    auto revocation = api::revoke_api_key(txn, key_id, operator_name());
    if (revocation && revocation->revoked_now) {
      audit::record(txn, operator_action("api_key.revoke", key_id,
                                         json{{"role", api::role_name(revocation->key.role)},
                                              {"name", revocation->key.name}}.dump()));
    }
    return revocation ? std::optional(revocation->key) : std::nullopt;
  });
  if (!key) {
    std::fprintf(stderr, "loyaltyctl: no API key %s\n", key_id.c_str());
    return 1;
  }
  if (flags.on("json")) {
    std::printf("%s\n", key_json(*key, now_utc()).dump().c_str());
  } else {
    std::printf("%s revoked at %s (refused by every loyaltyd within 5 s)\n", key->key_id.c_str(),
                format_rfc3339(*key->revoked_at).c_str());
  }
  return 0;
}

int apply_program(pqxx::connection& connection, const std::string& file, const tools::Flags& flags) {
  std::ifstream in{file};
  if (!in) {
    std::fprintf(stderr, "loyaltyctl: cannot read %s\n", file.c_str());
    return 2;
  }
  std::stringstream text;
  text << in.rdbuf();
  auto document = program::yaml_to_json(text.str(), api::limits::json_depth_max);
  if (auto* problems = std::get_if<program::DocumentProblems>(&document)) {
    for (const auto& problem : problems->problems) std::fprintf(stderr, "%s\n", problem.c_str());
    return 1;
  }
  const auto outcome = db::run_transaction(connection, "program_apply", [&](pqxx::transaction_base& txn) {
    auto applied = earning::apply_program(txn, std::get<json>(document), operator_name());
    if (const auto* done = std::get_if<program::AppliedProgram>(&applied); done && done->changed) {
      audit::record(txn, operator_action("program.apply", "program:" + std::to_string(done->version),
                                         json{{"sha256", done->sha256}, {"file", file}}.dump()));
    }
    return applied;
  });
  if (const auto* problems = std::get_if<program::DocumentProblems>(&outcome)) {
    std::fprintf(stderr, "the program was not applied; %zu problem(s):\n", problems->problems.size());
    for (const auto& problem : problems->problems) std::fprintf(stderr, "  %s\n", problem.c_str());
    return 1;
  }
  const auto& applied = std::get<program::AppliedProgram>(outcome);
  if (flags.on("json")) {
    std::printf("%s\n", json{{"version", applied.version}, {"changed", applied.changed}, {"sha256", applied.sha256}}.dump().c_str());
  } else {
    std::printf("program version %d %s\n", applied.version, applied.changed ? "applied" : "already in force");
  }
  return 0;
}

int show_program(pqxx::connection& connection) {
  pqxx::read_transaction txn{connection, "program_show"};
  const auto current = program::current_program(txn);
  if (!current) {
    std::fprintf(stderr, "no program has been applied\n");
    return 1;
  }
  std::printf("%s\n", json{{"version", current->version}, {"sha256", current->sha256}, {"document", current->document}}.dump(2).c_str());
  return 0;
}

int run_job(pqxx::connection& connection, const std::string& name, const tools::Flags& flags) {
  const auto job = api::find_job(name);
  if (!job) {
    std::fprintf(stderr, "loyaltyctl: no job named %s (see: loyaltyctl jobs list)\n", name.c_str());
    return 2;
  }
  Timestamp as_of = now_utc();
  if (flags.on("as-of")) {
    const auto parsed = parse_rfc3339(flags.value("as-of"));
    if (!parsed) {
      std::fprintf(stderr, "loyaltyctl: --as-of must be an RFC 3339 time\n");
      return 2;
    }
    as_of = *parsed;
  }
  // The same rule as POST /v1/jobs/{name} (docs/API.md, "Operations").
  const char* allow_future = std::getenv("LOYALTY_ALLOW_FUTURE_JOBS");
  if (as_of > now_utc() + api::limits::job_as_of_skew_max && !(allow_future && std::string(allow_future) == "1")) {
    std::fprintf(stderr, "loyaltyctl: --as-of is more than 5 minutes ahead (as_of_in_future); "
                         "set LOYALTY_ALLOW_FUTURE_JOBS=1 to run a job for the future\n");
    return 2;
  }
  const bool terminal = isatty(STDERR_FILENO);
  ledger::RunControl control;
  control.started_by = operator_name();
  control.progress = [&](std::int64_t items) {
    if (terminal) std::fprintf(stderr, "\r%s: %lld item(s) processed", name.c_str(), static_cast<long long>(items));
  };
  const auto report = ledger::run_job(connection, *job, as_of, control);
  if (terminal) std::fprintf(stderr, "\n");
  if (flags.on("json")) {
    json out{{"job", report.job}, {"as_of", format_rfc3339(report.as_of)}, {"status", report.status}, {"items", report.items}};
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("%s as of %s: %s, %lld item(s)\n", report.job.c_str(), format_rfc3339(report.as_of).c_str(),
                report.status.c_str(), static_cast<long long>(report.items));
  }
  return report.status == "busy" ? 3 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  // These command groups take flags of their own: they parse them themselves.
  if (argc >= 2 && std::string(argv[1]) == "signing-key") return tools::signing_key_command(argc, argv);
  if (argc >= 2 && std::string(argv[1]) == "partners") return tools::partners_command(argc, argv);
  tools::Flags flags;
  if (const auto error = flags.parse(flag_specs, argc, argv, 1)) {
    std::fprintf(stderr, "loyaltyctl: %s\n", error->c_str());
    return 2;
  }
  const auto& args = flags.positionals();
  if (flags.on("help") || args.empty()) {
    std::printf("%s%s", usage, tools::Flags::help(flag_specs).c_str());
    return args.empty() && !flags.on("help") ? 2 : 0;
  }
  const auto command = [&](std::initializer_list<const char*> words) {
    if (args.size() < words.size()) return false;
    std::size_t i = 0;
    for (const char* word : words) {
      if (args[i++] != word) return false;
    }
    return true;
  };
  if (command({"jobs", "list"})) {
    for (const auto& job : api::all_jobs()) std::printf("%s\n", job.name.c_str());
    return 0;
  }
  const std::string url = flags.value("database-url");
  if (command({"audit"})) {  // `audit verify DIR` works offline, without a database
    try {
      return tools::audit_command(args, flags, [&] {
        if (url.empty()) throw std::runtime_error("set LOYALTY_DATABASE_URL or --database-url");
        return db::connect(url, db::SessionLimits{std::chrono::hours(1), std::chrono::seconds(5), std::chrono::hours(1)});
      });
    } catch (const std::exception& error) {
      std::fprintf(stderr, "loyaltyctl: %s\n", error.what());
      return 1;
    }
  }
  if (url.empty()) {
    std::fprintf(stderr, "loyaltyctl: set LOYALTY_DATABASE_URL or --database-url\n");
    return 2;
  }
  try {
    if (command({"migrate"})) {
      pqxx::connection connection{url};
      return migrate(connection);
    }
    auto connection = db::connect(url);
    if (command({"status"})) return status(*connection);
    if (command({"keys", "create"})) return create_key(*connection, flags);
    if (command({"keys", "list"}) && args.size() == 2) return list_keys(*connection, flags);
    if (command({"keys", "revoke"}) && args.size() == 3) return revoke_key(*connection, args[2], flags);
    if (command({"program", "apply"}) && args.size() == 3) return apply_program(*connection, args[2], flags);
    if (command({"program", "show"})) return show_program(*connection);
    if (command({"jobs", "run"}) && args.size() == 3) return run_job(*connection, args[2], flags);
    if (command({"export"}) && args.size() == 1) {
      auto long_running = db::connect(url, db::SessionLimits{std::chrono::hours(1), std::chrono::seconds(5), std::chrono::hours(1)});
      return tools::export_command(*long_running, flags, operator_name());
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "loyaltyctl: %s\n", error.what());
    return 1;
  }
  std::fprintf(stderr, "loyaltyctl: unknown command (see loyaltyctl --help)\n");
  return 2;
}
