#include "api/reply.hpp"

namespace loyalty::api {
namespace {

const char* title_of(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

}  // namespace

Reply Reply::text(int status, std::string body, std::string content_type) {
  Reply reply;
  reply.status = status;
  reply.raw_body = std::move(body);
  reply.raw_content_type = std::move(content_type);
  return reply;
}

Reply figure_overflow(std::string_view document, const std::overflow_error& overflow) {
  return problem(422, "amount_overflow", "the " + std::string(document) + " cannot be given: " + overflow.what());
}

Reply problem(int status, std::string_view code, std::string detail) {
  v1::Problem body;
  body.set_type("https://loyalty-ledger.dev/problems/" + std::string(code));
  body.set_title(title_of(status));
  body.set_status(status);
  body.set_detail(std::move(detail));
  body.set_code(std::string(code));
  Reply reply = Reply::of(status, std::move(body));
  reply.is_problem = true;
  return reply;
}

Reply validation_failed(std::vector<v1::FieldProblem> errors) {
  std::string detail = "the request is not valid:";
  for (std::size_t i = 0; i < errors.size(); ++i) {
    detail += (i ? "; " : " ") + errors[i].field() + " " + errors[i].detail();
  }
  v1::Problem body;
  body.set_type("https://loyalty-ledger.dev/problems/validation_failed");
  body.set_title("Unprocessable Content");
  body.set_status(422);
  body.set_detail(detail);
  body.set_code("validation_failed");
  for (auto& error : errors) *body.add_errors() = std::move(error);
  Reply reply = Reply::of(422, std::move(body));
  reply.is_problem = true;
  return reply;
}

Reply refusal_reply(ledger::Refusal refusal) {
  using ledger::Refusal;
  switch (refusal) {
    case Refusal::member_not_found: return problem(404, "member_not_found", "no member has this id");
    case Refusal::external_id_taken: return problem(409, "conflict", "a member with this external_id exists already");
    case Refusal::asset_unknown: return problem(422, "validation_failed", "asset: unknown asset");
    case Refusal::asset_not_allowed:
      return problem(422, "validation_failed", "asset: this operation does not accept this asset");
    case Refusal::amount_not_positive: return problem(422, "validation_failed", "amount: must be greater than zero");
    case Refusal::amount_is_zero: return problem(422, "validation_failed", "amount: must not be zero");
    case Refusal::amount_overflow:
      return problem(422, "amount_overflow", "the resulting balance would exceed the largest amount (2^63-1)");
    case Refusal::insufficient_points:
      return problem(422, "insufficient_points", "the member's available points do not cover this amount");
    case Refusal::insufficient_balance:
      return problem(422, "insufficient_balance", "the member's available balance does not cover this amount");
    case Refusal::reason_code_unknown:
      return problem(422, "validation_failed", "reason_code: not one of the adjustment reason codes");
    case Refusal::ttl_out_of_range:
      return problem(422, "validation_failed", "ttl_seconds: must be between 1 and 604800");
    case Refusal::hold_not_found: return problem(404, "not_found", "no hold has this id");
    case Refusal::hold_not_open: return problem(409, "hold_not_open", "the hold is no longer open");
    case Refusal::hold_expired:
      return problem(409, "hold_expired", "the hold expired and cannot be captured or voided");
    case Refusal::capture_exceeds_hold: return problem(422, "validation_failed", "amount: more than the hold holds");
  }
  return problem(500, "internal_error", "unmapped refusal");
}

void Validation::fail(std::string field, std::string detail) {
  v1::FieldProblem error;
  error.set_field(std::move(field));
  error.set_detail(std::move(detail));
  errors_.push_back(std::move(error));
}

}  // namespace loyalty::api
