// A webhook endpoint inside a test: a real HTTP server on 127.0.0.1 that records every
// delivery and answers as the test tells it (fail the next N, answer slowly).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace loyalty::testing {

struct ReceivedWebhook {
  std::string target;
  std::string id;         // webhook-id
  std::string timestamp;  // webhook-timestamp
  std::string signature;  // webhook-signature
  std::string key_id;     // X-Key-Id
  std::string body;
  int answered = 0;  // the status it was given
};

class WebhookReceiver {
 public:
  WebhookReceiver();
  ~WebhookReceiver();
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  std::string url(const std::string& path = "/hooks") const;
  // The next `count` deliveries are answered `status` instead of 204.
  void fail_next(int count, int status = 500);
  // Every answer waits this long first.
  void answer_after(std::chrono::milliseconds delay);
  std::vector<ReceivedWebhook> received() const;
  // Waits until `done(received())` holds, at most `limit`; answers whether it did.
  bool wait_until(const std::function<bool(const std::vector<ReceivedWebhook>&)>& done,
                  std::chrono::milliseconds limit) const;

 private:
  struct State;
  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace loyalty::testing
