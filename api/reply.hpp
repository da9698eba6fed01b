// What a handler answers: a status and a protobuf message (a resource, or a Problem), or a
// raw text body (metrics). Encoding to JSON or binary happens once, at the edge.
#pragma once

#include <google/protobuf/message.h>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/proto/loyalty/v1/loyalty.pb.h"
#include "ledger/result.hpp"

namespace loyalty::api {

struct Reply {
  int status = 200;
  std::shared_ptr<const google::protobuf::Message> message;  // null for raw replies
  bool is_problem = false;
  std::string raw_body;  // used when message is null
  std::string raw_content_type;
  std::vector<std::pair<std::string, std::string>> headers;
  bool keep_writes = true;  // false: a success that must not commit (an idempotent replay)
  // Why a request failed (a 500's exception), for the request's log line; never sent.
  std::string failure;
  // A raw body too big to hold in memory (an export file): `body_bytes` long, sent piece by
  // piece as the server writes it, each piece asked of `body_source` ("" once it is all sent).
  // raw_body stays empty.
  std::function<boost::asio::awaitable<std::string>()> body_source;
  std::int64_t body_bytes = 0;

  bool succeeded() const { return status >= 200 && status < 300; }

  template <typename M>
  static Reply of(int status, M message) {
    Reply reply;
    reply.status = status;
    reply.message = std::make_shared<M>(std::move(message));
    return reply;
  }
  static Reply text(int status, std::string body, std::string content_type);
};

// RFC 9457 problems with stable codes (docs/API.md lists them all).
Reply problem(int status, std::string_view code, std::string detail);
Reply validation_failed(std::vector<v1::FieldProblem> errors);
// A figure its document cannot state (a report's beyond int64, a statement's beyond 2^53): the
// document ("report", "statement") is refused with 422 amount_overflow naming the figure.
Reply figure_overflow(std::string_view document, const std::overflow_error& overflow);
// The HTTP answer to a ledger refusal; the one place refusals become status codes.
Reply refusal_reply(ledger::Refusal refusal);

// Collects field problems for one request so that all of them are reported at once.
class Validation {
 public:
  void fail(std::string field, std::string detail);
  bool ok() const { return errors_.empty(); }
  Reply reply() const { return validation_failed(errors_); }

 private:
  std::vector<v1::FieldProblem> errors_;
};

}  // namespace loyalty::api
