#include "mall/order.hpp"

#include <set>

namespace loyalty::mall {
namespace {

bool is_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == ':' || c == '-';
}

bool is_sku(std::string_view sku) {
  if (sku.empty() || sku.size() > sku_chars_max) return false;
  for (char c : sku) {
    if (!is_id_char(c) && c != '/') return false;
  }
  return true;
}

std::string at(std::string_view list, std::size_t index, std::string_view field) {
  return std::string(list) + "[" + std::to_string(index) + "]." + std::string(field);
}

void line_issues(const std::vector<OrderLine>& lines, std::vector<FieldIssue>& issues) {
  if (lines.empty() || lines.size() > order_lines_max) {
    issues.push_back({"lines", "from 1 to " + std::to_string(order_lines_max) + " lines"});
  }
  std::set<std::string> skus;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto& line = lines[i];
    if (!is_sku(line.sku))
      issues.push_back({at("lines", i, "sku"), "1 to 64 characters of [A-Za-z0-9_.:/-]"});
    else if (!skus.insert(line.sku).second)
      issues.push_back({at("lines", i, "sku"), "appears twice in the order"});
    if (line.title.empty() || line.title.size() > title_chars_max) {
      issues.push_back({at("lines", i, "title"), "1 to 200 characters"});
    }
    if (line.quantity <= 0) issues.push_back({at("lines", i, "quantity"), "must be greater than zero"});
    if (line.unit_price_cents <= 0) issues.push_back({at("lines", i, "unit_price_cents"), "must be greater than zero"});
  }
}

}  // namespace

const char* status_name(OrderStatus status) {
  switch (status) {
    case OrderStatus::pending_payment: return "pending_payment";
    case OrderStatus::paid: return "paid";
    case OrderStatus::partially_refunded: return "partially_refunded";
    case OrderStatus::refunded: return "refunded";
    case OrderStatus::cancelled: return "cancelled";
    case OrderStatus::expired: return "expired";
  }
  return "unknown";
}

std::optional<OrderStatus> parse_status(std::string_view name) {
  for (auto status : {OrderStatus::pending_payment, OrderStatus::paid, OrderStatus::partially_refunded,
                      OrderStatus::refunded, OrderStatus::cancelled, OrderStatus::expired}) {
    if (name == status_name(status)) return status;
  }
  return std::nullopt;
}

std::string earn_event_id(const std::string& order_id) {
  return "order:" + order_id;
}

bool is_natural_id(std::string_view id, std::size_t chars_max) {
  if (id.empty() || id.size() > chars_max) return false;
  for (char c : id) {
    if (!is_id_char(c)) return false;
  }
  return true;
}

std::vector<FieldIssue> order_issues(const NewOrder& order) {
  std::vector<FieldIssue> issues;
  if (!is_natural_id(order.order_id, order_id_chars_max)) {
    issues.push_back({"order_id", "1 to 120 characters of [A-Za-z0-9_.:-]"});
  }
  if (order.member_id.empty()) issues.push_back({"member_id", "is required"});
  if (order.currency.empty()) issues.push_back({"currency", "is required"});
  line_issues(order.lines, issues);
  if (order.points_to_use < 0) issues.push_back({"points_to_use", "must not be negative"});
  if (order.cash_cents < 0) issues.push_back({"cash_cents", "must not be negative"});
  if (order.ttl < order_ttl_min || order.ttl > order_ttl_max) {
    issues.push_back({"ttl_seconds", "from " + std::to_string(order_ttl_min.count()) + " to " +
                                         std::to_string(order_ttl_max.count()) + " seconds"});
  }
  return issues;
}

std::vector<FieldIssue> refund_issues(const RefundRequest& refund) {
  std::vector<FieldIssue> issues;
  if (!is_natural_id(refund.refund_id, refund_id_chars_max))
    issues.push_back({"refund_id", "1 to 128 characters of [A-Za-z0-9_.:-]"});
  if (refund.lines.empty() || refund.lines.size() > refund_lines_max) {
    issues.push_back({"lines", "from 1 to " + std::to_string(refund_lines_max) + " lines"});
  }
  std::set<std::string> skus;
  for (std::size_t i = 0; i < refund.lines.size(); ++i) {
    const auto& line = refund.lines[i];
    if (!is_sku(line.sku))
      issues.push_back({at("lines", i, "sku"), "1 to 64 characters of [A-Za-z0-9_.:/-]"});
    else if (!skus.insert(line.sku).second)
      issues.push_back({at("lines", i, "sku"), "appears twice in the refund"});
    if (line.quantity <= 0) issues.push_back({at("lines", i, "quantity"), "must be greater than zero"});
  }
  return issues;
}

}  // namespace loyalty::mall
