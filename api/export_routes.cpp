// POST /v1/exports, GET /v1/exports/{export_id}, GET /v1/exports/{export_id}/files/{name}
// (role finance), GET /v1/exports (admin, finance). An export is recorded as `running` in the request's transaction and
// built afterwards by this process's export thread, on its own connection, in one repeatable-read transaction, into the
// database (audit::DatabaseSink) — so any process serving the database can hand the files out. audit/export.hpp
// describes the files.
#include <boost/asio/awaitable.hpp>

#include <memory>
#include <stdexcept>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "api/proto/loyalty/v1/finance.pb.h"
#include "api/routes.hpp"
#include "api/service.hpp"
#include "audit/export.hpp"
#include "platform/database.hpp"
#include "platform/ids.hpp"
#include "platform/log.hpp"

namespace loyalty::api {
namespace asio = boost::asio;
namespace {

constexpr std::chrono::days export_range_max{3660};

const db::Statement insert_export{
    "api.insert_export",
    "INSERT INTO exports (export_id, range_from, range_to, formats, status, requested_by, runner_key)"
    " VALUES ($1, $2, $3, $4::text[], 'running', $5, $6)"};
const db::Statement finish_export{
    "api.finish_export",
    "UPDATE exports SET status = $2, finished_at = clock_timestamp(), error = $3 WHERE export_id = $1"};
#define LOYALTY_EXPORT_COLUMNS                                                                               \
  "export_id, status, range_from, range_to, array_to_string(formats, ','), created_at, finished_at, error,"  \
  " status = 'running' AND NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted" \
  "   AND l.objsubid = 1 AND ((l.classid::bigint << 32) | l.objid::bigint) = runner_key)"
const db::Statement select_export{"api.select_export",
                                  "SELECT " LOYALTY_EXPORT_COLUMNS " FROM exports WHERE export_id = $1"};
// Newest first, before the cursor's (created_at, export_id).
const db::Statement select_exports{
    "api.select_exports", "SELECT " LOYALTY_EXPORT_COLUMNS
                          " FROM exports"
                          " WHERE $1::timestamptz IS NULL OR (created_at, export_id) < ($1::timestamptz, $2::text)"
                          " ORDER BY created_at DESC, export_id DESC LIMIT $3"};
#undef LOYALTY_EXPORT_COLUMNS

// An export left `running` by a process that is gone (its runner key unheld) counts as failed.
const db::Statement count_exports_by_status{
    "api.count_exports",
    "SELECT count(*) FILTER (WHERE status = 'running' AND NOT orphaned),"
    " count(*) FILTER (WHERE status = 'failed' OR orphaned), count(*) FILTER (WHERE status = 'done')"
    " FROM (SELECT status, status = 'running' AND NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory'"
    "   AND l.granted AND l.objsubid = 1 AND ((l.classid::bigint << 32) | l.objid::bigint) = runner_key) AS orphaned"
    "   FROM exports) e"};

// The runner's presence: a session lock held for the life of the process.
const db::Statement hold_presence{"api.export_presence", "SELECT pg_advisory_lock($1)"};
const db::Statement select_export_files{
    "api.select_export_files", "SELECT name, bytes, sha256 FROM export_files WHERE export_id = $1 ORDER BY name"};

struct ExportJob {
  std::string export_id;
  Timestamp from, to;
  audit::ExportFormats formats;
  SigningKey signing_key;  // the service's, which signs the manifest
};

// One thread per process builds exports in the order they were asked for.
class ExportRunner {
 public:
  ~ExportRunner() {
    {
      std::lock_guard lock{mutex_};
      stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  // The key this process's exports are recorded with, its session lock taken on a connection
  // of its own the first time (so that the lock is held before any export names the key).
  std::int64_t presence_key(const std::string& database_url) {
    std::lock_guard lock{mutex_};
    if (!presence_ || !presence_->is_open()) {
      presence_ = db::connect(database_url);
      pqxx::nontransaction txn{*presence_};
      db::exec(txn, hold_presence, presence_key_);
    }
    return presence_key_;
  }

  void submit(ExportJob job, std::string database_url) {
    std::lock_guard lock{mutex_};
    database_url_ = std::move(database_url);
    queue_.push_back(std::move(job));
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    wake_.notify_all();
  }

 private:
  void run() {
    while (true) {
      ExportJob job;
      std::string url;
      {
        std::unique_lock lock{mutex_};
        wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;
        job = std::move(queue_.front());
        queue_.pop_front();
        url = database_url_;
      }
      build(job, url);
    }
  }

  static void build(const ExportJob& job, const std::string& url) {
    try {
      auto connection =
          db::connect(url, db::SessionLimits{std::chrono::hours(1), std::chrono::seconds(5), std::chrono::hours(1)});
      pqxx::transaction<pqxx::repeatable_read> txn{*connection, "export"};
      audit::DatabaseSink sink{txn, job.export_id};
      audit::write_export(txn, job.from, job.to, job.formats, sink, job.signing_key);
      db::exec(txn, finish_export, job.export_id, "done", nullptr);
      txn.commit();
    } catch (const std::exception& error) {
      log::error("export failed", {{"export_id", job.export_id}, {"error", error.what()}});
      try {
        auto connection = db::connect(url);
        pqxx::work txn{*connection, "export_failed"};
        db::exec(txn, finish_export, job.export_id, "failed", std::string(error.what()));
        txn.commit();
      } catch (const std::exception&) {
        // The export stays `running`; its requester sees no files and may ask again.
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<ExportJob> queue_;
  // 48 random bits: no two processes share a key (the lock is the process's; see get_export).
  const std::int64_t presence_key_ = [] {
    std::int64_t key = 0;
    for (const unsigned char byte : random_bytes(6)) key = key << 8 | byte;
    return key;
  }();
  std::unique_ptr<pqxx::connection> presence_;
  std::string database_url_;
  bool stop_ = false;
  std::thread thread_;
};

ExportRunner& runner() {
  static ExportRunner instance;
  return instance;
}

std::string formats_array(const audit::ExportFormats& formats) {
  std::string out = "{";
  for (const auto& name : formats.names()) out += (out.size() > 1 ? "," : "") + name;
  return out + "}";
}

asio::awaitable<Reply> create_export(Service& service, RequestContext& context) {
  v1::CreateExportRequest request;
  if (auto bad = parse_body(context, request)) co_return *bad;
  Validation validation;
  const auto from = parse_rfc3339(request.from());
  const auto to = parse_rfc3339(request.to());
  if (!from) validation.fail("from", "is required, an RFC 3339 time");
  if (!to) validation.fail("to", "is required, an RFC 3339 time");
  if (from && to && (*to <= *from || *to - *from > export_range_max)) {
    validation.fail("to", "must be after from, and the range at most 3660 days");
  }
  std::string unknown;
  const auto formats = audit::parse_formats({request.formats().begin(), request.formats().end()}, &unknown);
  if (!formats)
    validation.fail("formats", "one or more of csv, jsonl, ledger" + (unknown.empty() ? "" : "; not " + unknown));
  if (!validation.ok()) co_return validation.reply();
  if (!service.signing_key()) {
    co_return problem(503, "signing_key_unavailable", "this server has no Ed25519 signing key (LOYALTY_SIGNING_KEY)");
  }
  const std::string export_id = new_id("exp_");
  const std::string requested_by = context.caller ? context.caller->key_id : "anonymous";
  std::int64_t runner_key = 0;
  try {
    runner_key = runner().presence_key(service.options().database.database_url);
  } catch (const std::exception& error) {
    log::warn("export runner cannot reach the database", {{"error", error.what()}});
    co_return problem(503, "database_unavailable", "the database is unreachable; retry shortly");
  }
  Reply reply =
      co_await service.write(context, db::routing_key_of(export_id), request, false, [&](pqxx::transaction_base& txn) {
        db::exec(txn, insert_export, export_id, db::sql_time(*from), db::sql_time(*to), formats_array(*formats),
                 requested_by, runner_key);
        v1::Export message;
        message.set_export_id(export_id);
        message.set_status("running");
        message.set_from(format_rfc3339(*from));
        message.set_to(format_rfc3339(*to));
        for (const auto& name : formats->names()) message.add_formats(name);
        message.set_created_at(format_rfc3339(context.received_at));
        return Reply::of(202, std::move(message));
      });
  // A replay answers the first request's export; only a new one is built.
  if (reply.status == 202 && reply.keep_writes) {
    runner().submit({export_id, *from, *to, *formats, service.signing_key()}, service.options().database.database_url);
  }
  co_return reply;
}

// An export from a row of select_export's columns, with its files.
v1::Export export_message(pqxx::transaction_base& txn, const pqxx::row& row) {
  const std::string export_id = row[0].c_str();
  v1::Export message;
  message.set_export_id(export_id);
  message.set_status(row[1].c_str());
  // Nobody holds the lock of the process that was building it: that process stopped.
  const bool orphaned = row[8].as<bool>();
  if (orphaned) message.set_status("failed");
  message.set_from(format_rfc3339(db::time_of(row[2])));
  message.set_to(format_rfc3339(db::time_of(row[3])));
  std::string_view names = row[4].c_str();
  while (!names.empty()) {
    const auto comma = names.find(',');
    message.add_formats(std::string(names.substr(0, comma)));
    names = comma == std::string_view::npos ? std::string_view{} : names.substr(comma + 1);
  }
  message.set_created_at(format_rfc3339(db::time_of(row[5])));
  if (!row[6].is_null()) message.set_finished_at(format_rfc3339(db::time_of(row[6])));
  if (!row[7].is_null()) message.set_error(row[7].c_str());
  if (orphaned) message.set_error("the process building this export stopped before it finished; ask for it again");
  for (const auto& file : db::exec(txn, select_export_files, export_id)) {
    auto* item = message.add_files();
    item->set_name(file[0].c_str());
    item->set_bytes(file[1].as<std::int64_t>());
    item->set_sha256(file[2].c_str());
    item->set_url("/v1/exports/" + export_id + "/files/" + file[0].c_str());
  }
  return message;
}

asio::awaitable<Reply> list_exports(Service& service, RequestContext& context) {
  int limit = 0;
  std::optional<KeyCursor> cursor;
  if (auto bad = parse_key_page(context, limit, cursor)) co_return *bad;
  const std::optional<std::string> before_time =
      cursor ? std::optional(format_rfc3339(Timestamp{std::chrono::microseconds{cursor->number}})) : std::nullopt;
  const std::optional<std::string> before_id = cursor ? std::optional(cursor->text) : std::nullopt;
  co_return co_await service.read(db::routing_key_of("exports"), [&](pqxx::transaction_base& txn) {
    // One row more than asked tells whether there is a next page.
    const auto rows = db::exec(txn, select_exports, db::nullable(before_time), db::nullable(before_id), limit + 1);
    v1::ExportList message;
    for (int i = 0; i < limit && i < static_cast<int>(rows.size()); ++i) {
      *message.add_items() = export_message(txn, rows[i]);
    }
    if (static_cast<int>(rows.size()) > limit) {
      const auto& last = rows[limit - 1];
      message.set_next_cursor(
          encode_cursor(KeyCursor{db::time_of(last[5]).time_since_epoch().count(), last[0].c_str()}));
    }
    return Reply::of(200, std::move(message));
  });
}

asio::awaitable<Reply> get_export(Service& service, RequestContext& context) {
  const std::string export_id = context.param("export_id");
  co_return co_await service.read(db::routing_key_of(export_id), [&](pqxx::transaction_base& txn) {
    const auto rows = db::exec(txn, select_export, export_id);
    if (rows.empty()) return problem(404, "not_found", "no export has this id");
    return Reply::of(200, export_message(txn, rows[0]));
  });
}

std::string content_type_of(const std::string& name) {
  if (name.ends_with(".json")) return "application/json";
  if (name.ends_with(".jsonl")) return "application/x-ndjson";
  if (name.ends_with(".csv")) return "text/csv; charset=utf-8";
  return "text/plain; charset=utf-8";
}

asio::awaitable<Reply> get_export_file(Service& service, RequestContext& context) {
  const std::string export_id = context.param("export_id");
  const std::string name = context.param("name");
  const auto if_none_match = context.header("If-None-Match");
  co_return co_await service.read(db::routing_key_of(export_id), [&](pqxx::transaction_base& txn) {
    const auto file = audit::stored_file(txn, export_id, name);
    if (!file) return problem(404, "not_found", "this export has no file by that name (or is not finished)");
    // The file's sha256 (as manifest.json lists it) is its strong ETag: a file never changes.
    const std::string etag = "\"" + file->sha256_hex + "\"";
    Reply reply;
    if (if_none_match && (if_none_match->find(etag) != std::string::npos || *if_none_match == "*")) {
      reply = Reply::text(304, "", content_type_of(name));
    } else {
      // Streamed: one stored chunk per read, asked for as the previous one has been written, so
      // a file of any size costs one chunk of memory (files never change once stored). The first
      // chunk is read here: a file that cannot be read at all fails before its header is sent.
      auto first = audit::read_stored_chunk(txn, export_id, name, 0);
      if (!first && file->bytes > 0) throw std::runtime_error("export " + export_id + " lacks chunk 0 of " + name);
      reply = Reply::text(200, "", content_type_of(name));
      reply.body_bytes = file->bytes;
      reply.body_source = [&service, export_id, name, first = std::make_shared<std::string>(first.value_or("")),
                           next = std::make_shared<int>(0)]() -> asio::awaitable<std::string> {
        const int chunk = (*next)++;
        if (chunk == 0) co_return std::move(*first);
        const Reply piece = co_await service.read(db::routing_key_of(export_id), [&](pqxx::transaction_base& txn) {
          const auto bytes = audit::read_stored_chunk(txn, export_id, name, chunk);
          if (!bytes)
            throw std::runtime_error("export " + export_id + " lacks chunk " + std::to_string(chunk) + " of " + name);
          return Reply::text(200, *bytes, "");
        });
        if (!piece.succeeded())
          throw std::runtime_error("reading chunk " + std::to_string(chunk) + " of " + name + " failed");
        co_return piece.raw_body;
      };
      // Names are the export's own (entries.csv, manifest.json...): plain ASCII, no quoting needed.
      reply.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + export_id + "-" + name + "\"");
    }
    reply.headers.emplace_back("ETag", etag);
    return reply;
  });
}

}  // namespace

ExportCounts count_exports(pqxx::transaction_base& txn) {
  const auto row = db::exec(txn, count_exports_by_status)[0];
  return ExportCounts{row[0].as<std::int64_t>(), row[1].as<std::int64_t>(), row[2].as<std::int64_t>()};
}

void add_export_routes(Router& router, Service& service) {
  using http::verb;
  router.add(verb::post, "/v1/exports", {Role::finance},
             [&service](RequestContext& c) { return create_export(service, c); });
  router.add(verb::get, "/v1/exports", {Role::admin, Role::finance},
             [&service](RequestContext& c) { return list_exports(service, c); });
  router.add(verb::get, "/v1/exports/{export_id}", {Role::finance},
             [&service](RequestContext& c) { return get_export(service, c); });
  router.add(verb::get, "/v1/exports/{export_id}/files/{name}", {Role::finance},
             [&service](RequestContext& c) { return get_export_file(service, c); });
}

}  // namespace loyalty::api
