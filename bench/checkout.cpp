// checkout_bench: full mall checkouts per second, end to end over HTTP against loyaltyd.
//
//   checkout_bench --url http://127.0.0.1:PORT --key SECRET --clients N --seconds S [--members M]
//
// One checkout is the mall's whole happy path: POST /v1/orders (2 × 5000 cents paid with
// 100 points and 9900 cents: the order, its lines and a hold of the points) and then
// POST /v1/orders/{id}/pay (the capture, and a mall_purchase event that earns 99 pending
// points on the cash). Set-up (not timed): M members under a random run prefix, each credited
// with 10^9 POINTS. Then N client threads, each with ONE keep-alive HTTP/1.1 connection,
// check out on uniformly random members back to back (closed loop, no think time) until the
// time is up. Latency is per request; a non-2xx status or a broken connection is an error.
// bench/checkout.sh runs it next to pgbench; the result is a human line and one JSON object on
// a line starting "RESULT ".
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "load_common.hpp"

namespace {

using namespace bench;
using json = nlohmann::json;

constexpr int members_default = 1000;
constexpr std::int64_t initial_credit = 1'000'000'000;  // points per member: no checkout ever lacks points
constexpr std::int64_t unit_price_cents = 5000;
constexpr std::int64_t quantity = 2;
constexpr std::int64_t points_per_checkout = 100;       // 1 cent each in the reference program
constexpr std::int64_t cash_cents_per_checkout = quantity * unit_price_cents - points_per_checkout;

LoadOptions parse_options(int argc, char** argv) {
  const CommandLine command_line{
      "checkout_bench",
      "usage: checkout_bench --url http://HOST:PORT --key SECRET --clients N --seconds S [--members M]\n",
      "--url must be http://HOST:PORT"};
  LoadOptions options;
  options.members = members_default;
  parse_load_options(argc, argv, command_line, options);
  return options;
}

class Client {
 public:
  Client(const LoadOptions& options, const std::vector<std::string>& members, std::string prefix, ErrorLog& errors)
      : members_(members), connection_(options), prefix_(std::move(prefix)), errors_(errors),
        random_(std::random_device{}()), pick_(0, members.size() - 1) {}

  // One checkout; true if its two requests both succeeded.
  bool checkout(Tally& tally) {
    const std::string order_id = prefix_ + std::to_string(counter_++);
    const json order{{"order_id", order_id},
                     {"member_id", members_[pick_(random_)]},
                     {"currency", "CNY"},
                     {"lines", json::array({{{"sku", "mug-01"}, {"title", "Aurora mug"}, {"quantity", quantity},
                                             {"unit_price_cents", unit_price_cents}}})},
                     {"points_to_use", points_per_checkout},
                     {"cash_cents", cash_cents_per_checkout}};
    if (!timed_post(connection_, tally, errors_, "POST /v1/orders", "/v1/orders", order.dump()).ok()) return false;
    const json pay{{"payment_ref", "psp-" + order_id}};
    return timed_post(connection_, tally, errors_, "POST /v1/orders/{id}/pay", "/v1/orders/" + order_id + "/pay",
                      pay.dump())
        .ok();
  }

 private:
  const std::vector<std::string>& members_;
  Connection connection_;
  std::string prefix_;
  ErrorLog& errors_;
  std::mt19937_64 random_;
  std::uniform_int_distribution<std::size_t> pick_;
  std::uint64_t counter_ = 0;
};

void report(const LoadOptions& options, const Summary& summary) {
  const double seconds = summary.elapsed_seconds;
  std::printf("clients=%d seconds=%.2f checkouts=%lld checkouts/s=%.1f requests/s=%.1f p50_ms=%.2f p99_ms=%.2f "
              "errors=%lld\n",
              options.clients, seconds, static_cast<long long>(summary.operations),
              per_second(summary.operations, seconds), per_second(summary.requests, seconds), summary.p50_ms,
              summary.p99_ms, static_cast<long long>(summary.errors));
  const nlohmann::ordered_json result{{"workload", "checkout"},
                                      {"clients", options.clients},
                                      {"seconds", rounded(seconds)},
                                      {"checkouts", summary.operations},
                                      {"requests", summary.requests},
                                      {"checkouts_per_second", rounded(per_second(summary.operations, seconds))},
                                      {"requests_per_second", rounded(per_second(summary.requests, seconds))},
                                      {"p50_ms", rounded(summary.p50_ms)},
                                      {"p99_ms", rounded(summary.p99_ms)},
                                      {"errors", summary.errors}};
  std::printf("RESULT %s\n", result.dump().c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const LoadOptions options = parse_options(argc, argv);
  const std::string run = random_run_prefix('c');
  std::fprintf(stderr, "set-up: %d members under %s\n", options.members, run.c_str());
  const MemberSetUp how{initial_credit, "POST /v1/adjustments",
                        [&run](int, int index, std::uint64_t) { return run + "-credit-" + std::to_string(index); }};
  const std::vector<std::string> members = set_up_members(options, run, how);
  if (members.empty()) {
    std::fprintf(stderr, "checkout_bench: no member could be set up\n");
    return 1;
  }
  ErrorLog errors;
  std::vector<Tally> tallies(options.clients);
  std::vector<std::unique_ptr<Client>> clients;
  for (int t = 0; t < options.clients; ++t) {
    clients.push_back(std::make_unique<Client>(options, members, run + "-" + std::to_string(t) + "-", errors));
  }
  const Clock::time_point started =
      run_clients(tallies, options.seconds, [&](int t, Tally& tally) { return clients[t]->checkout(tally); });
  report(options, summarise(tallies, started, errors.count()));
  return errors.count() > 0 ? 3 : 0;
}
