#include "audit/seal.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>
#include <tuple>
#include <vector>

#include "platform/database.hpp"
#include "platform/digest.hpp"
#include "platform/executor.hpp"
#include "platform/log.hpp"

namespace loyalty::audit {
namespace {

// The columns that make up a record, in canonical order. Sealer and verifier select exactly
// these, so a record hashes the same whichever of them reads it. Times are microseconds
// since the epoch (exact: extract() is numeric), so no session setting changes the bytes.
#define LOYALTY_SEAL_ENTRY_COLUMNS                                                                     \
  "e.entry_id, e.kind, e.reverses_entry_id, e.member_id, e.reference, e.reason_code, e.note,"          \
  " e.program_version, e.request_id, e.actor, (extract(epoch FROM e.effective_at) * 1000000)::bigint," \
  " (extract(epoch FROM e.created_at) * 1000000)::bigint"
#define LOYALTY_SEAL_AUDIT_COLUMNS                                                               \
  "a.audit_id, (extract(epoch FROM a.occurred_at) * 1000000)::bigint, a.actor_kind, a.actor_id," \
  " a.actor_name, a.action, a.subject, a.request_id, a.source_address, a.result, a.details::text"
#define LOYALTY_SEAL_POSTING_COLUMNS "p.posting_id, p.account_id, p.asset, p.amount, p.balance_after, p.debt_allowed"

constexpr int entry_column_count = 12;
constexpr int audit_column_count = 11;
constexpr int posting_column_count = 6;

const db::Statement try_lock{"seal.try_lock", "SELECT pg_try_advisory_xact_lock($1)"};
const db::Statement select_horizon{"seal.horizon", "SELECT pg_snapshot_xmin(pg_current_snapshot())::text"};
const db::Statement select_last_leaf{
    "seal.last_leaf",
    "SELECT seq, record_kind, record_id, created_xid::text, encode(chain_sha256, 'hex')"
    " FROM audit_seal_log ORDER BY seq DESC LIMIT 1"};
const db::Statement select_last_seal_id{"seal.last_seal_id", "SELECT coalesce(max(seal_id), 0) FROM audit_seals"};
const db::Statement select_entries{
    "seal.entries", "SELECT e.created_xid::text, " LOYALTY_SEAL_ENTRY_COLUMNS
                    " FROM entries e"
                    " WHERE (e.created_xid, e.entry_id) > ($1::xid8, $2::bigint) AND e.created_xid < $3::xid8"
                    " ORDER BY e.created_xid, e.entry_id LIMIT $4"};
const db::Statement select_audits{
    "seal.audits", "SELECT a.created_xid::text, " LOYALTY_SEAL_AUDIT_COLUMNS
                   " FROM audit_events a"
                   " WHERE (a.created_xid, a.audit_id) > ($1::xid8, $2::bigint) AND a.created_xid < $3::xid8"
                   " ORDER BY a.created_xid, a.audit_id LIMIT $4"};
const db::Statement select_postings_of{"seal.postings_of",
                                       "SELECT p.entry_id, " LOYALTY_SEAL_POSTING_COLUMNS
                                       " FROM postings p"
                                       " WHERE p.entry_id = ANY($1::bigint[]) ORDER BY p.entry_id, p.posting_id"};
const db::Statement insert_seal{"seal.insert_seal",
                                "INSERT INTO audit_seals (seal_id, first_seq, last_seq, head_sha256, sealed_by)"
                                " VALUES ($1, $2, $3, decode($4, 'hex'), $5)"};
const db::Statement insert_leaves{
    "seal.insert_leaves",
    "INSERT INTO audit_seal_log (seq, record_kind, record_id, created_xid, leaf_sha256, chain_sha256, seal_id)"
    " SELECT s.seq, s.kind, s.id, s.xid::xid8, decode(s.leaf, 'hex'), decode(s.chain, 'hex'), $7"
    " FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[])"
    " AS s(seq, kind, id, xid, leaf, chain)"};
const db::Statement select_latest_seal{
    "seal.latest",
    "SELECT seal_id, last_seq, encode(head_sha256, 'hex'), sealed_at FROM audit_seals"
    " ORDER BY seal_id DESC LIMIT 1"};

const db::Statement verify_leaves{
    "seal.verify_leaves",
    "SELECT s.seq, s.record_kind, s.record_id, encode(s.leaf_sha256, 'hex'), encode(s.chain_sha256, 'hex'),"
    " e.entry_id IS NOT NULL, a.audit_id IS NOT NULL, " LOYALTY_SEAL_ENTRY_COLUMNS ", " LOYALTY_SEAL_AUDIT_COLUMNS
    " FROM audit_seal_log s"
    " LEFT JOIN entries e ON s.record_kind = 'entry' AND e.entry_id = s.record_id"
    " LEFT JOIN audit_events a ON s.record_kind = 'audit' AND a.audit_id = s.record_id"
    " WHERE s.seq > $1 AND s.seq <= $1 + $2 ORDER BY s.seq"};
// A bounded seq range (not LIMIT) lets the planner join by index, one chunk at a time.
// Past each kind's last leaf in chain order (the sealer's own cursors), through the
// (created_xid, id) indexes of migrations/0006.
// Past each kind's last leaf in chain order (the sealer's own cursors), as a row comparison
// that the (created_xid, id) indexes of migrations/0006 answer in order (xid8 0 and id 0 come
// before every record: nothing is sealed yet).
const db::Statement select_seal_lag{
    "seal.lag",
    "WITH last_entry AS (SELECT created_xid, record_id FROM audit_seal_log WHERE record_kind = 'entry'"
    "                    ORDER BY seq DESC LIMIT 1),"
    " last_audit AS (SELECT created_xid, record_id FROM audit_seal_log WHERE record_kind = 'audit'"
    "                ORDER BY seq DESC LIMIT 1),"
    " waiting AS ((SELECT e.created_at AS at FROM entries e"
    "              WHERE (e.created_xid, e.entry_id) > (coalesce((SELECT created_xid FROM last_entry), '0'::xid8),"
    "                                                   coalesce((SELECT record_id FROM last_entry), 0))"
    "              ORDER BY e.created_xid, e.entry_id LIMIT $1)"
    "             UNION ALL"
    "             (SELECT a.occurred_at FROM audit_events a"
    "              WHERE (a.created_xid, a.audit_id) > (coalesce((SELECT created_xid FROM last_audit), '0'::xid8),"
    "                                                   coalesce((SELECT record_id FROM last_audit), 0))"
    "              ORDER BY a.created_xid, a.audit_id LIMIT $1))"
    " SELECT count(*), coalesce(extract(epoch FROM clock_timestamp() - min(at)), 0)::float8 FROM waiting"};
const db::Statement select_next_seq{"seal.next_seq", "SELECT min(seq) FROM audit_seal_log WHERE seq > $1"};
const db::Statement verify_postings{
    "seal.verify_postings",
    "SELECT p.entry_id, " LOYALTY_SEAL_POSTING_COLUMNS
    " FROM audit_seal_log s"
    " JOIN postings p ON p.entry_id = s.record_id"
    " WHERE s.record_kind = 'entry' AND s.seq > $1 AND s.seq <= $2 ORDER BY s.seq, p.posting_id"};
const db::Statement verify_seal_heads{"seal.verify_heads",
                                      "SELECT seal_id, last_seq, encode(head_sha256, 'hex') FROM audit_seals"
                                      " WHERE last_seq > $1 AND last_seq <= $2 ORDER BY last_seq"};

const std::string zero_chain(32, '\0');

std::string from_hex(std::string_view hex) {
  const auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(nibble(hex[i]) * 16 + nibble(hex[i + 1]));
  return out;
}

// Canonical bytes: each field is 0xFF (NULL) or 0x01, a 4-byte big-endian length and the
// field's text; counts are 4-byte big-endian.
class Canonical {
 public:
  explicit Canonical(std::string_view kind) { text(kind); }
  void field(const pqxx::field& value) {
    if (value.is_null()) {
      bytes_ += '\xff';
      return;
    }
    text(std::string_view(value.c_str(), value.size()));
  }
  void text(std::string_view value) {
    bytes_ += '\x01';
    count(value.size());
    bytes_.append(value);
  }
  void count(std::size_t n) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes_ += static_cast<char>((n >> shift) & 0xff);
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

using PostingRows = std::map<std::int64_t, std::vector<pqxx::row>>;  // by entry id

std::string leaf_hash(const std::string& canonical) {
  return sha256(std::string(1, '\0') + canonical);
}
std::string chain_hash(const std::string& previous, const std::string& leaf) {
  return sha256(std::string(1, '\x01') + previous + leaf);
}

std::string encode_entry(const pqxx::row& row, int offset, const std::vector<pqxx::row>& postings) {
  Canonical out{"entry"};
  for (int i = 0; i < entry_column_count; ++i) out.field(row[offset + i]);
  out.count(postings.size());
  for (const auto& posting : postings) {
    for (int i = 0; i < posting_column_count; ++i) out.field(posting[1 + i]);
  }
  return out.bytes();
}

std::string encode_audit(const pqxx::row& row, int offset) {
  Canonical out{"audit"};
  for (int i = 0; i < audit_column_count; ++i) out.field(row[offset + i]);
  return out.bytes();
}

// The pair assertion's third check: an entry has two or more postings summing to zero per asset.
std::optional<std::string> entry_imbalance(const std::vector<pqxx::row>& postings) {
  if (postings.size() < 2) return "the entry has fewer than two postings";
  std::map<std::string, __int128> sums;
  for (const auto& posting : postings) sums[posting[3].c_str()] += posting[4].as<std::int64_t>();
  for (const auto& [asset, sum] : sums) {
    if (sum != 0) return "the entry's postings do not sum to zero in " + asset;
  }
  return std::nullopt;
}

PostingRows group_postings(const pqxx::result& rows) {
  PostingRows grouped;
  for (const auto& row : rows) grouped[row[0].as<std::int64_t>()].push_back(row);
  return grouped;
}

std::uint64_t xid_of(const pqxx::field& field) {
  std::uint64_t value = 0;
  std::from_chars(field.c_str(), field.c_str() + field.size(), value);
  return value;
}

// A record waiting to be sealed, in sealing order (xid, kind, id); "audit" sorts before "entry".
struct Candidate {
  std::uint64_t xid = 0;
  std::string kind;
  std::int64_t id = 0;
  pqxx::row row;
  bool operator<(const Candidate& other) const {
    return std::tie(xid, kind, id) < std::tie(other.xid, other.kind, other.id);
  }
};

struct ChainTail {
  std::int64_t seq = 0;
  std::string kind;
  std::int64_t id = 0;
  std::uint64_t xid = 0;
  std::string chain = zero_chain;
};

ChainTail chain_tail(pqxx::transaction_base& txn) {
  ChainTail tail;
  const auto last = db::exec(txn, select_last_leaf);
  if (last.empty()) return tail;
  tail.seq = last[0][0].as<std::int64_t>();
  tail.kind = last[0][1].c_str();
  tail.id = last[0][2].as<std::int64_t>();
  tail.xid = xid_of(last[0][3]);
  tail.chain = from_hex(last[0][4].c_str());
  return tail;
}

std::string join_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += items[i];
  }
  return out + "}";
}

// Reads up to `limit` candidates of each kind after the tail, below the horizon, and
// returns the first `limit` of them in sealing order.
std::vector<Candidate> next_candidates(pqxx::transaction_base& txn, const ChainTail& tail, const std::string& horizon,
                                       int limit) {
  // After (X, audit, I): audit events after (X, I), entries from X on. After (X, entry, I):
  // entries after (X, I), audit events after X.
  std::string entry_xid = std::to_string(tail.xid), audit_xid = entry_xid;
  std::int64_t entry_after = 0, audit_after = 0;
  if (tail.kind == "entry") {
    entry_after = tail.id;
    audit_after = std::numeric_limits<std::int64_t>::max();
  } else if (tail.kind == "audit") {
    audit_after = tail.id;
  }
  std::vector<Candidate> candidates;
  for (const auto& row : db::exec(txn, select_entries, entry_xid, entry_after, horizon, limit)) {
    candidates.push_back({xid_of(row[0]), "entry", row[1].as<std::int64_t>(), row});
  }
  for (const auto& row : db::exec(txn, select_audits, audit_xid, audit_after, horizon, limit)) {
    candidates.push_back({xid_of(row[0]), "audit", row[1].as<std::int64_t>(), row});
  }
  std::sort(candidates.begin(), candidates.end());
  if (candidates.size() > static_cast<std::size_t>(limit)) candidates.resize(static_cast<std::size_t>(limit));
  return candidates;
}

// Seals one batch; returns how many leaves it appended.
std::int64_t seal_batch(pqxx::transaction_base& txn, const std::string& sealed_by, SealReport& report) {
  const std::string horizon = db::exec(txn, select_horizon)[0][0].c_str();
  ChainTail tail = chain_tail(txn);
  report.last_seq = tail.seq;
  report.head_hex = tail.seq ? to_hex(tail.chain) : "";
  const auto candidates = next_candidates(txn, tail, horizon, seal_batch_records_max);
  if (candidates.empty()) return 0;
  std::vector<std::string> entry_ids;
  for (const auto& candidate : candidates) {
    if (candidate.kind == "entry") entry_ids.push_back(std::to_string(candidate.id));
  }
  const PostingRows postings = group_postings(db::exec(txn, select_postings_of, join_array(entry_ids)));
  static const std::vector<pqxx::row> none;
  std::vector<std::string> seqs, kinds, ids, xids, leaves, chains;
  std::string chain = tail.chain;
  std::int64_t seq = tail.seq;
  for (const auto& candidate : candidates) {
    const auto found = postings.find(candidate.id);
    const std::string canonical = candidate.kind == "entry"
                                      ? encode_entry(candidate.row, 1, found == postings.end() ? none : found->second)
                                      : encode_audit(candidate.row, 1);
    const std::string leaf = leaf_hash(canonical);
    chain = chain_hash(chain, leaf);
    seqs.push_back(std::to_string(++seq));
    kinds.push_back(candidate.kind);
    ids.push_back(std::to_string(candidate.id));
    xids.push_back(std::to_string(candidate.xid));
    leaves.push_back(to_hex(leaf));
    chains.push_back(to_hex(chain));
  }
  const std::int64_t seal_id = db::exec(txn, select_last_seal_id)[0][0].as<std::int64_t>() + 1;
  db::exec(txn, insert_seal, seal_id, tail.seq + 1, seq, to_hex(chain), sealed_by);
  db::exec(txn, insert_leaves, join_array(seqs), join_array(kinds), join_array(ids), join_array(xids),
           join_array(leaves), join_array(chains), seal_id);
  report.last_seq = seq;
  report.head_hex = to_hex(chain);
  return static_cast<std::int64_t>(candidates.size());
}

}  // namespace

SealReport seal_pending(pqxx::connection& connection, const std::string& sealed_by,
                        const std::function<void(std::int64_t)>& progress) {
  SealReport report;
  const auto lock_key = static_cast<std::int64_t>(db::routing_key_of("audit:sealer"));
  while (true) {
    // Repeatable read: the horizon and the rows below it come from one snapshot.
    pqxx::transaction<pqxx::repeatable_read> txn{connection, "audit_seal"};
    if (!db::exec(txn, try_lock, lock_key)[0][0].as<bool>()) {
      report.busy = true;
      return report;
    }
    const std::int64_t sealed = seal_batch(txn, sealed_by, report);
    txn.commit();
    report.records += sealed;
    if (progress && sealed > 0) progress(report.records);
    if (sealed < seal_batch_records_max) return report;
  }
}

namespace {

struct VerifyCursor {
  VerifyReport& report;
  std::string chain = zero_chain;
  std::int64_t expected = 0;  // the seq verified last

  bool fail(std::int64_t seq, std::string kind, std::int64_t id, std::string problem) {
    report.ok = false;
    report.first_mismatch = SealMismatch{seq, std::move(kind), id, std::move(problem)};
    return false;
  }

  // Checks one leaf; false (with the mismatch recorded) when it does not verify.
  bool check(const pqxx::row& row, const PostingRows& postings, const std::map<std::int64_t, std::string>& heads) {
    static const std::vector<pqxx::row> none;
    const auto seq = row[0].as<std::int64_t>();
    const std::string kind = row[1].c_str();
    const auto id = row[2].as<std::int64_t>();
    if (seq != expected + 1) {
      return fail(expected + 1, kind, id,
                  "the seal log skips from " + std::to_string(expected) + " to " + std::to_string(seq) +
                      ": sealed leaves were deleted");
    }
    const bool is_entry = kind == "entry";
    if (!(is_entry ? row[5].as<bool>() : row[6].as<bool>()))
      return fail(seq, kind, id, "the sealed record was deleted");
    const auto found = postings.find(id);
    const auto& entry_postings = found == postings.end() ? none : found->second;
    const std::string leaf =
        leaf_hash(is_entry ? encode_entry(row, 7, entry_postings) : encode_audit(row, 7 + entry_column_count));
    if (to_hex(leaf) != row[3].c_str()) {
      return fail(seq, kind, id, "the record (or one of its postings) differs from what was sealed");
    }
    if (is_entry) {
      if (auto imbalance = entry_imbalance(entry_postings)) return fail(seq, kind, id, *imbalance);
    }
    chain = chain_hash(chain, leaf);
    if (to_hex(chain) != row[4].c_str()) return fail(seq, kind, id, "the chain hash stored for this leaf was altered");
    if (const auto head = heads.find(seq); head != heads.end() && head->second != to_hex(chain)) {
      return fail(seq, kind, id, "the seal ending here records a different head");
    }
    expected = seq;
    report.checked_through = seq;
    report.head_hex = to_hex(chain);
    ++report.records_checked;
    return true;
  }
};

}  // namespace

VerifyReport verify_seals(pqxx::transaction_base& txn, const std::function<void(std::int64_t)>& progress) {
  VerifyReport report;
  VerifyCursor cursor{report};
  // A generic plan does not know a chunk is a small seq range and joins whole tables; plan
  // each chunk for its parameters instead (this transaction only).
  txn.exec("SET LOCAL plan_cache_mode = force_custom_plan");
  while (true) {
    std::int64_t after = cursor.expected;
    auto rows = db::exec(txn, verify_leaves, after, verify_chunk_records);
    if (rows.empty()) {
      // Either the end of the chain or a gap of deleted leaves: the next leaf's check tells.
      const auto next = db::exec(txn, select_next_seq, after)[0][0];
      if (next.is_null()) return report;
      after = next.as<std::int64_t>() - 1;
      rows = db::exec(txn, verify_leaves, after, verify_chunk_records);
    }
    const auto last = rows[rows.size() - 1][0].as<std::int64_t>();
    const PostingRows postings = group_postings(db::exec(txn, verify_postings, after, last));
    std::map<std::int64_t, std::string> heads;
    for (const auto& seal : db::exec(txn, verify_seal_heads, after, last)) {
      heads[seal[1].as<std::int64_t>()] = seal[2].c_str();
    }
    for (const auto& row : rows) {
      if (!cursor.check(row, postings, heads)) return report;
    }
    if (progress) progress(report.records_checked);
  }
}

std::optional<SealHead> latest_seal(pqxx::transaction_base& txn) {
  const auto rows = db::exec(txn, select_latest_seal);
  if (rows.empty()) return std::nullopt;
  return SealHead{rows[0][0].as<std::int64_t>(), rows[0][1].as<std::int64_t>(), rows[0][2].c_str(),
                  format_rfc3339(db::time_of(rows[0][3]))};
}

SealLag seal_lag(pqxx::transaction_base& txn) {
  const auto row = db::exec(txn, select_seal_lag, seal_lag_records_counted_max)[0];
  return SealLag{std::min(row[0].as<std::int64_t>(), seal_lag_records_counted_max), std::max(0.0, row[1].as<double>())};
}

Sealer::Sealer(std::string database_url, std::chrono::milliseconds interval)
    : database_url_(std::move(database_url)), interval_(interval) {}

Sealer::~Sealer() {
  stop();
}

void Sealer::start() {
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void Sealer::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void Sealer::run() {
  std::unique_ptr<pqxx::connection> connection;
  while (!stop_) {
    try {
      if (!connection || !connection->is_open()) connection = db::connect(database_url_);
      const SealReport report = seal_pending(*connection, "sealer");
      if (report.records > 0) {
        log::info("sealed", {{"records", report.records}, {"head", report.head_hex}});
      }
    } catch (const std::exception& error) {
      connection.reset();
      log::warn("sealing failed", {{"error", error.what()}});
    }
    for (auto waited = std::chrono::milliseconds(0); waited < interval_ && !stop_;
         waited += std::chrono::milliseconds(100)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

}  // namespace loyalty::audit
