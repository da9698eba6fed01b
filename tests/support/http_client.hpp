// A small synchronous HTTP/1.1 client for the tests (one keep-alive connection per object).
#pragma once

#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace loyalty::testing {

struct HttpResult {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  nlohmann::json json() const;                 // the body parsed (null if it is not JSON)
  std::string header(const std::string& name) const;
};

class HttpClient {
 public:
  explicit HttpClient(unsigned short port);
  ~HttpClient();

  // Sends one request; `headers` are added as given (e.g. {"Idempotency-Key", "k1"}).
  HttpResult request(const std::string& method, const std::string& target, const std::string& body = "",
                     const std::map<std::string, std::string>& headers = {});

 private:
  struct Connection;
  unsigned short port_;
  std::unique_ptr<Connection> connection_;
};

}  // namespace loyalty::testing
