// partner_exchange: signed inbound exchanges per second, end to end over HTTP, verification
// included (HMAC-SHA256 or Ed25519 signature, timestamp window, nonce stored in PostgreSQL,
// key read afresh, key use audited) and the exchange itself (lot, entry, daily limits,
// settlement line), with our Ed25519 signature on every response.
//
//   LOYALTY_BENCH_DATABASE_URL=postgresql://loyalty@127.0.0.1:54329/postgres
//   build/bench/partner_exchange [--clients 16] [--seconds 10] [--members 2000] [--algorithm hmac-sha256|ed25519]
//
// It creates a database of its own on that server (migrated, examples/program.yaml applied),
// runs loyaltyd's Service and Server in this process, and drops the database at the end.
// The clients share the machine's cores with the service and PostgreSQL: read the figure as
// a ratio against bench/run's adjust workload measured the same way, not as an absolute.
#include <unistd.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "api/server.hpp"
#include "api/service.hpp"
#include "ledger/members.hpp"
#include "partners/keys.hpp"
#include "partners/links.hpp"
#include "partners/request_signing.hpp"
#include "partners/signing_keys.hpp"
#include "platform/database.hpp"
#include "platform/digest.hpp"
#include "platform/ids.hpp"
#include "platform/migrator.hpp"
#include "program/store.hpp"

namespace {

using namespace loyalty;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

struct Options {
  int clients = 16;
  int seconds = 10;
  int members = 2000;
  std::string algorithm = "hmac-sha256";
};

struct Credentials {
  std::string key_id;
  std::string secret;       // hmac
  std::string private_pem;  // ed25519
};

std::string with_database(const std::string& url, const std::string& name) {
  const auto scheme = url.find("://");
  const auto slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  return (slash == std::string::npos ? url : url.substr(0, slash)) + "/" + name;
}

// Migrated, the reference program applied, one partner key, `members` linked members.
Credentials prepare(const std::string& url, const Options& options, std::vector<std::string>& refs) {
  pqxx::connection plain{url};
  db::migrate(plain);
  std::ifstream file{std::string(LOYALTY_SOURCE_DIR) + "/examples/program.yaml"};
  std::stringstream text;
  text << file.rdbuf();
  auto connection = db::connect(url);
  Credentials credentials;
  std::string public_pem;
  if (options.algorithm == partners::algorithm_ed25519) {
    credentials.private_pem = partners::generate_ed25519_private_pem();
    public_pem = *partners::public_pem_of(credentials.private_pem);
  }
  db::run_transaction(*connection, "bench_setup", [&](pqxx::transaction_base& txn) {
    (void)program::apply_program(txn, std::get<nlohmann::json>(program::yaml_to_json(text.str())), "bench");
    auto key = partners::create_key(txn, "skyair", options.algorithm,
                                    public_pem.empty() ? std::nullopt : std::optional(public_pem));
    credentials.key_id = key->key_id;
    if (key->secret_base64) credentials.secret = *base64_decode(*key->secret_base64);
    for (int i = 0; i < options.members; ++i) {
      auto member = ledger::create_member(txn, {"bench-" + std::to_string(i), std::nullopt, std::nullopt}, now_utc());
      refs.push_back("SKY-" + std::to_string(i));
      // Linked and confirmed, as a partner confirms a link with the code (POST /partner/v1/links/confirm).
      const auto linked = partners::link_member(txn, member->member_id, "skyair", refs.back(), now_utc());
      (void)partners::confirm_link(txn, "skyair", refs.back(), linked->first.link_code.value_or(""), "bench",
                                   now_utc());
    }
    return 0;
  });
  return credentials;
}

std::string signature_for(const Credentials& credentials, const std::string& message) {
  if (!credentials.private_pem.empty()) return *partners::sign_ed25519(credentials.private_pem, message);
  return base64_encode(partners::hmac_sha256(credentials.secret, message));
}

struct ClientTotals {
  std::int64_t ok = 0, errors = 0;
  std::vector<double> latencies_ms;
};

void run_client(int index, unsigned short port, const Credentials& credentials, const std::vector<std::string>& refs,
                std::chrono::steady_clock::time_point until, ClientTotals& totals) {
  boost::asio::io_context io;
  beast::tcp_stream stream{io};
  stream.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  beast::flat_buffer buffer;
  std::mt19937_64 random{static_cast<std::uint64_t>(index) * 7919 + 17};
  const std::string path = "/partner/v1/exchanges";
  for (std::int64_t n = 0; std::chrono::steady_clock::now() < until; ++n) {
    const std::string body = nlohmann::json{
        {"exchange_id", "b" + std::to_string(index) + "-" + std::to_string(n) + "-" + new_id("").substr(0, 6)},
        {"partner_member_ref", refs[random() % refs.size()]},
        {"partner_units", 1}}.dump();
    const std::string timestamp = std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
    const std::string nonce = new_id("n_");
    http::request<http::string_body> request{http::verb::post, path, 11};
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::content_type, "application/json");
    request.set("X-Partner-Id", "skyair");
    request.set("X-Key-Id", credentials.key_id);
    request.set("X-Timestamp", timestamp);
    request.set("X-Nonce", nonce);
    request.set("X-Signature",
                signature_for(credentials, partners::signing_string({"POST", path, "", timestamp, nonce, body})));
    request.body() = body;
    request.prepare_payload();
    const auto started = std::chrono::steady_clock::now();
    http::write(stream, request);
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    totals.latencies_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
    if (response.result_int() == 201) {
      ++totals.ok;
    } else if (++totals.errors <= 3) {
      std::fprintf(stderr, "status %u: %s\n", response.result_int(), response.body().c_str());
    }
  }
}

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--clients")
      options.clients = std::stoi(value);
    else if (flag == "--seconds")
      options.seconds = std::stoi(value);
    else if (flag == "--members")
      options.members = std::stoi(value);
    else if (flag == "--algorithm")
      options.algorithm = value;
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  const char* admin = std::getenv("LOYALTY_BENCH_DATABASE_URL");
  if (!admin || !*admin) {
    std::fprintf(stderr, "partner_exchange: set LOYALTY_BENCH_DATABASE_URL (a user that may create databases)\n");
    return 2;
  }
  const std::string name = "loyalty_bench_partners_" + std::to_string(::getpid());
  {
    pqxx::connection connection{admin};
    pqxx::nontransaction txn{connection};
    txn.exec("CREATE DATABASE " + name);
  }
  const std::string url = with_database(admin, name);
  int status = 0;
  try {
    std::vector<std::string> refs;
    const Credentials credentials = prepare(url, options, refs);
    api::ServiceOptions service_options;
    service_options.database.database_url = url;
    service_options.rate_limit_per_second = 1e9;
    service_options.rate_limit_burst = 1e9;
    service_options.signing_key_pem = partners::generate_ed25519_private_pem();
    api::Service service{service_options};
    api::Server server{service, "127.0.0.1", 0, 2};
    server.start();
    std::vector<ClientTotals> totals(static_cast<std::size_t>(options.clients));
    std::vector<std::thread> clients;
    const auto started = std::chrono::steady_clock::now();
    const auto until = started + std::chrono::seconds(options.seconds);
    for (int i = 0; i < options.clients; ++i) {
      clients.emplace_back(run_client, i, server.port(), std::cref(credentials), std::cref(refs), until,
                           std::ref(totals[static_cast<std::size_t>(i)]));
    }
    for (auto& client : clients) client.join();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    server.stop();
    ClientTotals all;
    for (auto& t : totals) {
      all.ok += t.ok;
      all.errors += t.errors;
      all.latencies_ms.insert(all.latencies_ms.end(), t.latencies_ms.begin(), t.latencies_ms.end());
    }
    std::sort(all.latencies_ms.begin(), all.latencies_ms.end());
    const auto percentile = [&](double p) {
      return all.latencies_ms.empty() ? 0.0
                                      : all.latencies_ms[static_cast<std::size_t>(p * (all.latencies_ms.size() - 1))];
    };
    std::printf(
        "partner_exchange algorithm=%s clients=%d seconds=%.1f ok=%lld errors=%lld exchanges_per_second=%.0f "
        "p50_ms=%.2f p99_ms=%.2f\n",
        options.algorithm.c_str(), options.clients, elapsed, static_cast<long long>(all.ok),
        static_cast<long long>(all.errors), all.ok / elapsed, percentile(0.5), percentile(0.99));
    status = all.errors == 0 ? 0 : 1;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "partner_exchange: %s\n", error.what());
    status = 1;
  }
  try {
    pqxx::connection connection{admin};
    pqxx::nontransaction txn{connection};
    txn.exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
  } catch (...) {
  }
  return status;
}
