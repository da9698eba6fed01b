#include "tests/support/webhook_receiver.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace loyalty::testing {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct WebhookReceiver::State {
  asio::io_context io;
  tcp::acceptor acceptor{io, tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0}};
  mutable std::mutex mutex;
  std::vector<ReceivedWebhook> received;
  int failures_left = 0;
  int failure_status = 500;
  std::chrono::milliseconds delay{0};
  std::atomic<bool> stop{false};
};

namespace {

// One connection: one request (loyaltyd sends `Connection: close`), one answer.
void serve(tcp::socket socket, const std::function<int(ReceivedWebhook&)>& record) {
  beast::error_code error;
  beast::flat_buffer buffer;
  http::request<http::string_body> request;
  http::read(socket, buffer, request, error);
  if (error) return;
  ReceivedWebhook received;
  received.target = std::string(request.target());
  received.id = std::string(request["webhook-id"]);
  received.timestamp = std::string(request["webhook-timestamp"]);
  received.signature = std::string(request["webhook-signature"]);
  received.key_id = std::string(request["X-Key-Id"]);
  received.body = request.body();
  const int status = record(received);
  http::response<http::string_body> response{static_cast<http::status>(status), 11};
  response.set(http::field::connection, "close");
  response.prepare_payload();
  http::write(socket, response, error);
  socket.shutdown(tcp::socket::shutdown_both, error);
}

}  // namespace

WebhookReceiver::WebhookReceiver() : state_(std::make_shared<State>()) {
  thread_ = std::thread([state = state_] {
    while (!state->stop) {
      beast::error_code error;
      tcp::socket socket{state->io};
      state->acceptor.accept(socket, error);
      if (error || state->stop) continue;
      serve(std::move(socket), [&state](ReceivedWebhook& received) {
        std::chrono::milliseconds delay;
        {
          std::lock_guard lock{state->mutex};
          delay = state->delay;
        }
        std::this_thread::sleep_for(delay);
        std::lock_guard lock{state->mutex};
        received.answered = 204;
        if (state->failures_left > 0) {
          --state->failures_left;
          received.answered = state->failure_status;
        }
        state->received.push_back(received);
        return received.answered;
      });
    }
  });
}

WebhookReceiver::~WebhookReceiver() {
  state_->stop = true;
  // Wake the blocking accept with a connection of our own.
  beast::error_code error;
  asio::io_context io;
  tcp::socket poke{io};
  poke.connect(state_->acceptor.local_endpoint(), error);
  poke.close(error);
  thread_.join();
}

std::string WebhookReceiver::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(state_->acceptor.local_endpoint().port()) + path;
}

void WebhookReceiver::fail_next(int count, int status) {
  std::lock_guard lock{state_->mutex};
  state_->failures_left = count;
  state_->failure_status = status;
}

void WebhookReceiver::answer_after(std::chrono::milliseconds delay) {
  std::lock_guard lock{state_->mutex};
  state_->delay = delay;
}

std::vector<ReceivedWebhook> WebhookReceiver::received() const {
  std::lock_guard lock{state_->mutex};
  return state_->received;
}

bool WebhookReceiver::wait_until(const std::function<bool(const std::vector<ReceivedWebhook>&)>& done,
                                 std::chrono::milliseconds limit) const {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done(received())) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done(received());
}

}  // namespace loyalty::testing
