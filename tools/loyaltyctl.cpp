// loyaltyctl: the operator's command line (schema, keys, program, jobs, imports).
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "api/api_keys.hpp"
#include "api/jobs_catalog.hpp"
#include "api/limits.hpp"
#include "audit/audit_log.hpp"
#include "earning/program_apply.hpp"
#include "platform/database.hpp"
#include "platform/log.hpp"
#include "platform/migrator.hpp"
#include "program/store.hpp"
#include "tools/flags.hpp"

namespace loyalty::tools {
// Command groups in their own files (tools/*_command.cpp).
int export_command(pqxx::connection& connection, const Flags& flags, const std::string& actor);
int audit_command(const std::vector<std::string>& args, const Flags& flags,
                  const std::function<std::unique_ptr<pqxx::connection>()>& connect);
int signing_key_init(const Flags& flags);
int signing_key_retire(const Flags& flags);
int partners_reconcile(const Flags& flags);
int import_command(pqxx::connection& connection, const std::string& kind, const Flags& flags, const std::string& actor);
}  // namespace loyalty::tools

namespace {

using namespace loyalty;
using nlohmann::json;

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
  const auto applied =
      db::migrate(connection, [](const std::string& name) { std::fprintf(stderr, "applying %s\n", name.c_str()); });
  std::printf("schema is current (%zu migration(s) applied now)\n", applied.size());
  return 0;
}

int status(pqxx::connection& connection) {
  pqxx::read_transaction txn{connection, "status"};
  const auto status = db::schema_status(txn);
  for (const auto& name : status.applied) std::printf("applied  %s\n", name.c_str());
  for (const auto& name : status.pending) std::printf("pending  %s\n", name.c_str());
  for (const auto& problem : status.problems) std::printf("PROBLEM  %s\n", problem.c_str());
  return status.current() ? 0 : 1;
}

int create_key(pqxx::connection& connection, const tools::Flags& flags) {
  const auto role = api::parse_role(flags.value("role"));
  const std::string name = flags.value("name");
  if (!role || name.empty() || name.size() > 100) {
    std::fprintf(stderr,
                 "loyaltyctl: keys create needs --role (mall, ingest, admin, finance) and --name (1-100 chars)\n");
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
    std::printf("%s\n", json{{"key_id", key.key_id},
                             {"role", api::role_name(key.role)},
                             {"name", key.name},
                             {"secret", key.secret},
                             {"expires_at", expires}}
                            .dump()
                            .c_str());
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
  return json{{"key_id", key.key_id},
              {"role", api::role_name(key.role)},
              {"name", key.name},
              {"status", key.status(now)},
              {"created_at", format_rfc3339(key.created_at)},
              {"expires_at", time_or_null(key.expires_at)},
              {"revoked_at", time_or_null(key.revoked_at)},
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
    std::printf(
        "%-26s %-8s %-8s %-21s %-21s %s\n", key.key_id.c_str(), api::role_name(key.role), key.status(now),
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
      audit::record(
          txn,
          operator_action("api_key.revoke", key_id,
                          json{{"role", api::role_name(revocation->key.role)}, {"name", revocation->key.name}}.dump()));
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
    std::printf(
        "%s\n",
        json{{"version", applied.version}, {"changed", applied.changed}, {"sha256", applied.sha256}}.dump().c_str());
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
  std::printf("%s\n", json{{"version", current->version}, {"sha256", current->sha256}, {"document", current->document}}
                          .dump(2)
                          .c_str());
  return 0;
}

int run_job(pqxx::connection& connection, const std::string& name, const tools::Flags& flags) {
  // The key close-statements signs with, as loyaltyd's scheduler does; none: stored unsigned.
  SigningKey signing_key;
  if (const std::string path = flags.value("signing-key"); !path.empty()) {
    const auto read = tools::read_signing_key(path);
    if (!read) {
      std::fprintf(stderr, "loyaltyctl: cannot read the signing key %s\n", path.c_str());
      return 2;
    }
    signing_key = *read;
  }
  const auto job = api::find_job(name, signing_key);
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
    std::fprintf(stderr,
                 "loyaltyctl: --as-of is more than 5 minutes ahead (as_of_in_future); "
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
    json out{{"job", report.job},
             {"as_of", format_rfc3339(report.as_of)},
             {"status", report.status},
             {"items", report.items}};
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("%s as of %s: %s, %lld item(s)\n", report.job.c_str(), format_rfc3339(report.as_of).c_str(),
                report.status.c_str(), static_cast<long long>(report.items));
  }
  return report.status == "busy" ? 3 : 0;
}

// The command tree: each command's options, checked by CLI11 before anything runs, land in
// `flags`; `chosen` names the command ("keys create").
struct CommandLine {
  CLI::App app{"loyaltyctl: the loyalty-ledger operator's command line", "loyaltyctl"};
  tools::Flags flags;
  std::map<const CLI::App*, std::string> names;

  CLI::App* command(CLI::App& parent, const std::string& name, const std::string& help) {
    CLI::App* added = parent.add_subcommand(name, help);
    const auto found = names.find(&parent);
    names[added] = found == names.end() ? name : found->second + " " + name;
    return added;
  }
  void database(CLI::App& command) {
    tools::add_value(command, flags, "database-url", "libpq URI of the database", "LOYALTY_DATABASE_URL")->required();
  }
  void json(CLI::App& command) { tools::add_switch(command, flags, "json", "print one JSON object on stdout"); }
  std::string chosen() const {
    const CLI::App* at = &app;
    while (!at->get_subcommands().empty()) at = at->get_subcommands().front();
    const auto found = names.find(at);
    return found == names.end() ? "" : found->second;
  }
};

void define_commands(CommandLine& line) {
  auto& app = line.app;
  auto& flags = line.flags;
  tools::prepare(app);
  app.require_subcommand(1);
  line.database(*line.command(app, "migrate", "apply pending schema migrations"));
  line.database(*line.command(app, "status", "show applied and pending migrations (exit 1 if any is pending)"));

  auto* keys = line.command(app, "keys", "API keys");
  keys->require_subcommand(1);
  auto* create = line.command(*keys, "create", "create an API key (the secret is shown once)");
  line.database(*create);
  tools::add_value(*create, flags, "role", "mall, ingest, admin or finance")
      ->required()
      ->check(tools::one_of({"mall", "ingest", "admin", "finance"}));
  tools::add_value(*create, flags, "name", "who the key is for (1-100 characters)")->required();
  tools::add_value(*create, flags, "expires-at", "when the key stops working (RFC 3339; default never)")
      ->check(tools::rfc3339_time());
  line.json(*create);
  auto* list = line.command(*keys, "list", "list API keys (never a secret)");
  line.database(*list);
  line.json(*list);
  auto* revoke = line.command(*keys, "revoke", "revoke an API key (refused everywhere within 5 s)");
  line.database(*revoke);
  tools::add_positional(*revoke, flags, "KEY_ID", "the key to revoke")->required();
  line.json(*revoke);

  auto* program = line.command(app, "program", "the program document");
  program->require_subcommand(1);
  auto* apply = line.command(*program, "apply", "validate and apply a program document");
  line.database(*apply);
  tools::add_positional(*apply, flags, "FILE", "the program document (YAML or JSON)")
      ->required()
      ->check(CLI::ExistingFile);
  line.json(*apply);
  line.database(*line.command(*program, "show", "print the program in force (JSON)"));

  auto* jobs = line.command(app, "jobs", "scheduled jobs");
  jobs->require_subcommand(1);
  line.command(*jobs, "list", "list the jobs");
  auto* run = line.command(*jobs, "run", "run a job for a moment in time (progress on a terminal)");
  line.database(*run);
  tools::add_positional(*run, flags, "NAME", "the job (see: loyaltyctl jobs list)")->required();
  tools::add_value(*run, flags, "as-of", "the moment to run the job for (RFC 3339; default now)")
      ->check(tools::rfc3339_time());
  tools::add_value(*run, flags, "signing-key",
                   "Ed25519 private key (PEM) that signs the statements close-statements closes",
                   "LOYALTY_SIGNING_KEY");
  line.json(*run);

  auto* imports =
      line.command(app, "import", "bring a program's history in from CSV files (resumable, idempotent by row)");
  imports->require_subcommand(1);
  const std::map<std::string, std::string> import_files{
      {"members", "members (external_id,display_name,phone)"},
      {"balances",
       "opening balances as lots funded from system:migration "
       "(import_id,external_id,asset,amount,expires_at,note)"},
      {"events", "past events (event_id,external_id,type,occurred_at,attributes)"}};
  for (const auto& [name, help] : import_files) {
    auto* command = line.command(*imports, name, "import " + help);
    line.database(*command);
    tools::add_positional(*command, flags, "FILE", "the CSV file (its first line the header)")
        ->required()
        ->check(CLI::ExistingFile);
    tools::add_value(*command, flags, "batch-rows", "rows applied per transaction (default 1000)")
        ->check(tools::integer_between(1, 10000));
    if (name == "events") {
      tools::add_switch(*command, flags, "history-only", "record the events for tier windows and caps; award nothing");
    }
    line.json(*command);
  }

  auto* exporting = line.command(app, "export", "write a signed finance export of a range into a directory");
  line.database(*exporting);
  tools::add_value(*exporting, flags, "from", "start of the range (RFC 3339, inclusive)")
      ->required()
      ->check(tools::rfc3339_time());
  tools::add_value(*exporting, flags, "to", "end of the range (RFC 3339, exclusive)")
      ->required()
      ->check(tools::rfc3339_time());
  tools::add_value(*exporting, flags, "format", "comma-separated formats: csv, jsonl, ledger (default all three)");
  tools::add_value(*exporting, flags, "out", "the directory to write")->required();
  tools::add_value(*exporting, flags, "signing-key", "Ed25519 private key (PEM) that signs manifest.json",
                   "LOYALTY_SIGNING_KEY")
      ->required();
  line.json(*exporting);

  auto* audit = line.command(app, "audit", "the audit hash chain and exports");
  audit->require_subcommand(1);
  line.database(*line.command(*audit, "seal", "seal finished records into the audit hash chain now"));
  auto* verify = line.command(*audit, "verify",
                              "without DIR: recompute the audit hash chain from the database; with DIR: check an "
                              "export offline (exit 0 only if every check passes)");
  tools::add_positional(*verify, flags, "DIR", "an export directory (checked offline, no database needed)");
  tools::add_value(*verify, flags, "database-url", "libpq URI of the database (without DIR)", "LOYALTY_DATABASE_URL");
  tools::add_value(*verify, flags, "public-key", "DIR: the Ed25519 public key (PEM) the manifest must be signed with")
      ->check(CLI::ExistingFile);
  tools::add_value(*verify, flags, "signing-key", "DIR: our private key, whose public half must have signed",
                   "LOYALTY_SIGNING_KEY");
  line.json(*verify);

  auto* signing = line.command(app, "signing-key", "our Ed25519 signing key (exports, statements, partner answers)");
  signing->require_subcommand(1);
  auto* init = line.command(*signing, "init",
                            "make the key, write it where LOYALTY_SIGNING_KEY points (or --out; never over an existing "
                            "file) and register its public half");
  tools::add_value(*init, flags, "out", "where to write the private key (PEM, mode 0600)", "LOYALTY_SIGNING_KEY");
  tools::add_value(*init, flags, "database-url", "libpq URI of the database (registers the public key)",
                   "LOYALTY_DATABASE_URL");
  line.json(*init);
  auto* retire = line.command(*signing, "retire", "take an old signing key off GET /partner/v1/signing-keys");
  line.database(*retire);
  tools::add_positional(*retire, flags, "KEY_ID", "the key to retire")->required();
  line.json(*retire);

  auto* partners = line.command(app, "partners", "partner brands");
  partners->require_subcommand(1);
  auto* reconcile = line.command(*partners, "reconcile",
                                 "compare a partner's CSV of one day with our statement (exit 1 on any difference)");
  line.database(*reconcile);
  tools::add_value(*reconcile, flags, "partner", "the partner's id")->required();
  tools::add_value(*reconcile, flags, "date", "the UTC day, YYYY-MM-DD")->required();
  tools::add_value(*reconcile, flags, "csv",
                   "the partner's CSV (header: kind,id[,partner_member_ref,points,units,cents,right_code])")
      ->required()
      ->check(CLI::ExistingFile);
  line.json(*reconcile);
}

int run_command(const std::string& command, const tools::Flags& flags) {
  const auto& args = flags.positionals();
  if (command == "jobs list") {
    for (const auto& name : api::job_names()) std::printf("%s\n", name.c_str());
    return 0;
  }
  if (command == "signing-key init") return tools::signing_key_init(flags);
  if (command == "signing-key retire") return tools::signing_key_retire(flags);
  if (command == "partners reconcile") return tools::partners_reconcile(flags);
  const std::string url = flags.value("database-url");
  const auto long_running = [&] {
    return db::connect(url, db::SessionLimits{std::chrono::hours(1), std::chrono::seconds(5), std::chrono::hours(1)});
  };
  if (command == "audit seal" || command == "audit verify") {  // `audit verify DIR` works offline
    std::vector<std::string> words{"audit", command.substr(6)};
    words.insert(words.end(), args.begin(), args.end());
    return tools::audit_command(words, flags, [&] {
      if (url.empty()) throw std::runtime_error("set LOYALTY_DATABASE_URL or --database-url");
      return long_running();
    });
  }
  if (command == "migrate") {
    pqxx::connection connection{url};
    return migrate(connection);
  }
  if (command == "export") {
    auto connection = long_running();
    return tools::export_command(*connection, flags, operator_name());
  }
  if (command.starts_with("import ")) {
    auto connection = long_running();
    return tools::import_command(*connection, command.substr(7), flags, operator_name());
  }
  auto connection = db::connect(url);
  if (command == "status") return status(*connection);
  if (command == "keys create") return create_key(*connection, flags);
  if (command == "keys list") return list_keys(*connection, flags);
  if (command == "keys revoke") return revoke_key(*connection, args.at(0), flags);
  if (command == "program apply") return apply_program(*connection, args.at(0), flags);
  if (command == "program show") return show_program(*connection);
  if (command == "jobs run") return run_job(*connection, args.at(0), flags);
  std::fprintf(stderr, "loyaltyctl: %s has no implementation (a bug)\n", command.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (const char* level = std::getenv("LOYALTY_LOG_LEVEL"); level && *level) {
    if (const auto parsed = log::parse_level(level)) log::set_level(*parsed);
  }
  CommandLine line;
  define_commands(line);
  if (const auto status = tools::parse(line.app, argc, argv)) return *status;
  try {
    return run_command(line.chosen(), line.flags);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "loyaltyctl: %s\n", error.what());
    return 1;
  }
}
