// What every handler knows about the request it serves.
#pragma once

#include <boost/beast/http.hpp>

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "ledger/journal.hpp"
#include "platform/log.hpp"
#include "platform/time.hpp"

namespace loyalty::api {

namespace http = boost::beast::http;
using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;

enum class Role { mall, ingest, admin, finance };
const char* role_name(Role role);
std::optional<Role> parse_role(std::string_view name);

struct Caller {
  std::string key_id;
  std::string name;
  Role role = Role::mall;
};

// A partner whose signed request verified.
struct PartnerCaller {
  std::string partner_id;
  std::string key_id;
};

enum class Encoding { json, protobuf };

struct RequestContext {
  const HttpRequest& http;
  std::string request_id;
  std::string source_address;
  std::string route;                          // "POST /v1/holds/{hold_id}/capture"
  std::map<std::string, std::string> params;  // from the path
  std::map<std::string, std::string> query;
  Encoding body_encoding = Encoding::json;
  Encoding reply_encoding = Encoding::json;
  std::optional<Caller> caller;
  std::optional<PartnerCaller> partner;
  Timestamp received_at;

  const std::string& param(const std::string& name) const { return params.at(name); }
  std::optional<std::string> query_value(const std::string& name) const;
  std::optional<std::string> header(std::string_view name) const;
  // Recorded on ledger entries: the request id and the key that asked.
  ledger::Origin origin() const;
  // On every log line of the request: its id and the key that asked (once authenticated).
  log::RequestTags log_tags() const {
    return {request_id, caller    ? std::string_view(caller->key_id)
                        : partner ? std::string_view(partner->key_id)
                                  : std::string_view()};
  }
};

}  // namespace loyalty::api
