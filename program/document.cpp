#include "program/document.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <regex>
#include <set>

#include "platform/text.hpp"

namespace loyalty::program {
namespace {

using nlohmann::json;

constexpr std::size_t document_items_max = 1000;    // any one list or object of the document
constexpr std::size_t document_problems_max = 100;  // listed in one refusal

// A plain YAML scalar that reads as a decimal number ("1.5", "-2.", "3.0e2").
bool looks_like_decimal(std::string_view text) {
  std::size_t i = text.starts_with('-') ? 1 : 0;
  const std::size_t digits_from = i;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == digits_from || i >= text.size() || text[i] != '.') return false;
  ++i;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    const std::size_t exponent_from = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    if (i == exponent_from) return false;
  }
  return i == text.size();
}

// YAML nodes → JSON values, refusing what the document may not hold: more than
// document_nodes_max values (aliases can make a small text expand exponentially), nesting
// beyond the depth limit, and text that is not UTF-8.
class YamlConverter {
 public:
  explicit YamlConverter(std::size_t depth_max) : depth_max_(depth_max) {}
  std::optional<std::string> problem;

  json convert(const YAML::Node& node, std::size_t depth) {
    if (problem) return nullptr;
    if (++nodes_ > document_nodes_max)
      return refuse("the document has more than " + std::to_string(document_nodes_max) + " values");
    switch (node.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined: return nullptr;
      case YAML::NodeType::Sequence: {
        if (depth + 1 > depth_max_) return refuse(deeper_than());
        json list = json::array();
        for (const auto& item : node) {
          list.push_back(convert(item, depth + 1));
          if (problem) return nullptr;
        }
        return list;
      }
      case YAML::NodeType::Map: {
        if (depth + 1 > depth_max_) return refuse(deeper_than());
        json object = json::object();
        for (const auto& item : node) {
          const std::string key = item.first.as<std::string>();
          if (!is_clean_text(key)) return refuse("the document has a key that is not UTF-8 text");
          object[key] = convert(item.second, depth + 1);
          if (problem) return nullptr;
        }
        return object;
      }
      case YAML::NodeType::Scalar: return scalar(node);
    }
    return nullptr;
  }

 private:
  json refuse(std::string why) {
    if (!problem) problem = std::move(why);
    return nullptr;
  }
  std::string deeper_than() const { return "the document nests deeper than " + std::to_string(depth_max_) + " levels"; }

  json scalar(const YAML::Node& node) {
    const std::string& text = node.Scalar();
    if (!is_clean_text(text)) return refuse("the document has text that is not UTF-8 (or holds NUL)");
    if (node.Tag() == "!") return text;  // quoted: always a string
    if (text == "true") return true;
    if (text == "false") return false;
    if (text == "null" || text == "~") return nullptr;
    std::int64_t integer = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), integer);
    if (!text.empty() && error == std::errc{} && end == text.data() + text.size()) return integer;
    if (looks_like_decimal(text)) {
      // A decimal is always refused later ("must be a whole number"); one beyond double's
      // range stays text, refused the same way.
      const double number = std::strtod(text.c_str(), nullptr);
      if (std::isfinite(number)) return number;
    }
    return text;
  }

  std::size_t depth_max_;
  std::size_t nodes_ = 0;
};

// A conservative count of a YAML text's nesting before yaml-cpp (which recurses) reads it:
// flow collections ('[', '{') outside quotes and comments, plus block levels (each deeper
// indentation still open, and each "- " or "? " opening a line's content).
bool yaml_nests_deeper_than(std::string_view text, std::size_t depth_max) {
  std::vector<std::size_t> indents;
  std::size_t flow = 0;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(at, end - at);
    at = end + 1;
    std::size_t indent = 0;
    while (indent < line.size() && (line[indent] == ' ' || line[indent] == '\t')) ++indent;
    if (indent == line.size() || line[indent] == '#') continue;
    std::size_t block = 0;
    if (flow == 0) {
      while (!indents.empty() && indents.back() > indent) indents.pop_back();
      if (indents.empty() || indents.back() < indent) indents.push_back(indent);
      block = indents.size();
      for (std::size_t i = indent; i + 1 < line.size() && (line[i] == '-' || line[i] == '?') && line[i + 1] == ' ';) {
        ++block;
        i += 2;
        while (i < line.size() && line[i] == ' ') ++i;
      }
    }
    char quote = 0;
    for (std::size_t i = indent; i < line.size(); ++i) {
      const char c = line[i];
      if (quote) {
        if (c == quote) quote = 0;
        continue;
      }
      if (c == '"' || c == '\'')
        quote = c;
      else if (c == '#' && (i == 0 || line[i - 1] == ' '))
        break;
      else if (c == '[' || c == '{')
        ++flow;
      else if ((c == ']' || c == '}') && flow > 0)
        --flow;
      if (block + flow > depth_max) return true;
    }
    if (block + flow > depth_max) return true;
  }
  return false;
}

// Every string and key of a document is short UTF-8 text without NUL (PostgreSQL's jsonb
// refuses NUL, and nothing in a program needs more), and every list is of bounded length.
void check_document_values(const json& value, const std::string& path, std::vector<std::string>& problems) {
  if (problems.size() >= document_problems_max) return;
  const auto fail = [&](const std::string& what) {
    problems.push_back((path.empty() ? "document" : path) + ": " + what);
  };
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    if (text.size() > document_text_bytes_max)
      fail("is longer than " + std::to_string(document_text_bytes_max) + " bytes");
    else if (!is_clean_text(text))
      fail("must be UTF-8 text without NUL characters");
  } else if (value.is_array()) {
    if (value.size() > document_items_max)
      return fail("has more than " + std::to_string(document_items_max) + " items");
    for (std::size_t i = 0; i < value.size(); ++i)
      check_document_values(value[i], path + "[" + std::to_string(i) + "]", problems);
  } else if (value.is_object()) {
    if (value.size() > document_items_max)
      return fail("has more than " + std::to_string(document_items_max) + " fields");
    for (const auto& [key, item] : value.items()) {
      if (key.size() > 64 || !is_clean_text(key)) {
        fail("has a field name that is not short UTF-8 text");
        continue;
      }
      check_document_values(item, path.empty() ? key : path + "." + key, problems);
    }
  }
}

// Reads fields of a JSON object, recording a problem for every field that is missing, of
// the wrong type, or not known.
class Reader {
 public:
  Reader(std::vector<std::string>& problems, std::string path, const json& object, std::set<std::string> known)
      : problems_(problems), path_(std::move(path)), object_(object) {
    if (!object_.is_object()) {
      fail("", "must be an object");
      return;
    }
    for (const auto& [key, value] : object_.items()) {
      if (!known.count(key)) fail(key, "is not a known field");
    }
  }

  void fail(const std::string& field, const std::string& message) {
    problems_.push_back((field.empty() ? path_ : path_ + (path_.empty() ? "" : ".") + field) + ": " + message);
  }
  std::string at(const std::string& field) const { return path_ + (path_.empty() ? "" : ".") + field; }
  bool has(const std::string& field) const { return object_.is_object() && object_.contains(field); }
  const json& raw(const std::string& field) const {
    static const json none;
    return has(field) ? object_.at(field) : none;
  }

  std::string text(const std::string& field, bool required = true, const std::string& fallback = "") {
    if (!has(field)) {
      if (required) fail(field, "is required");
      return fallback;
    }
    if (!object_.at(field).is_string() || object_.at(field).get<std::string>().empty()) {
      fail(field, "must be a non-empty string");
      return fallback;
    }
    return object_.at(field).get<std::string>();
  }

  std::int64_t integer(const std::string& field, bool required = true, std::int64_t fallback = 0, std::int64_t min = 0,
                       std::int64_t max = INT64_MAX) {
    if (!has(field)) {
      if (required) fail(field, "is required");
      return fallback;
    }
    const json& value = object_.at(field);
    if (!value.is_number_integer()) {
      fail(field, "must be a whole number");
      return fallback;
    }
    // nlohmann reads integers beyond int64 as unsigned: never let them wrap into range.
    const bool beyond_int64 = value.is_number_unsigned() && value.get<std::uint64_t>() > INT64_MAX;
    const auto number = beyond_int64 ? INT64_MAX : value.get<std::int64_t>();
    if (beyond_int64 || number < min || number > max) {
      fail(field, "must be from " + std::to_string(min) + " to " + std::to_string(max));
      return fallback;
    }
    return number;
  }

  bool boolean(const std::string& field, bool fallback = false) {
    if (!has(field)) return fallback;
    if (!object_.at(field).is_boolean()) {
      fail(field, "must be true or false");
      return fallback;
    }
    return object_.at(field).get<bool>();
  }

  std::string one_of(const std::string& field, const std::vector<std::string>& choices, bool required,
                     const std::string& fallback) {
    const std::string value = text(field, required, fallback);
    if (has(field) && std::find(choices.begin(), choices.end(), value) == choices.end()) {
      std::string list;
      for (const auto& choice : choices) list += (list.empty() ? "" : ", ") + choice;
      fail(field, "must be one of " + list);
    }
    return value;
  }

 private:
  std::vector<std::string>& problems_;
  std::string path_;
  const json& object_;
};

const std::regex asset_code(R"([A-Z][A-Z0-9_]{0,31})");
const std::regex identifier(R"([a-z0-9][a-z0-9_-]{0,63})");
const std::regex account_name(R"([a-z][a-z0-9_-]{0,31}:[a-z0-9][a-z0-9_-]{0,63})");

// A rule's or campaign's funding account: a program account, never one of the ledger's own
// (system:redemptions, ...) or a partner's clearing account, whose balances mean something else.
void check_funding_account(Reader& r, const std::string& account) {
  if (account.empty()) return;
  if (!std::regex_match(account, account_name)) {
    r.fail("funding_account", "must look like campaign:name");
  } else if (account.starts_with("system:") || account.starts_with("partner:")) {
    r.fail("funding_account", "may not be a system: or partner: account");
  }
}

// A list that may be written as one item (`award: {...}`) or several (`award: [{...}]`).
std::vector<const json*> one_or_many(const json& value) {
  std::vector<const json*> items;
  if (value.is_array()) {
    for (const auto& item : value) items.push_back(&item);
  } else if (!value.is_null()) {
    items.push_back(&value);
  }
  return items;
}

AssetConfig parse_asset(std::vector<std::string>& problems, const std::string& path, const json& value) {
  Reader r{problems, path, value, {"code", "spendable", "expiry", "decay"}};
  AssetConfig asset;
  asset.code = r.text("code");
  if (!asset.code.empty() && !std::regex_match(asset.code, asset_code))
    r.fail("code", "must match [A-Z][A-Z0-9_]{0,31}");
  asset.spendable = r.boolean("spendable");
  if (r.has("expiry")) {
    Reader e{problems, r.at("expiry"), r.raw("expiry"), {"policy", "months", "notice_days"}};
    asset.expiry = ExpiryPolicy{e.one_of("policy", {"end_of_month_after"}, true, ""),
                                static_cast<int>(e.integer("months", true, 0, 1, 1200)),
                                static_cast<int>(e.integer("notice_days", false, 0, 0, 365))};
  }
  if (r.has("decay")) {
    Reader d{problems, r.at("decay"), r.raw("decay"), {"every", "on", "percent"}};
    DecayPolicy decay{d.one_of("every", {"year"}, true, "year"), d.text("on"),
                      static_cast<int>(d.integer("percent", true, 0, 0, 100))};
    if (!decay.on.empty() && !std::regex_match(decay.on, std::regex(R"((0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]))"))) {
      d.fail("on", "must be MM-DD");
    }
    asset.decay = decay;
  }
  return asset;
}

Track parse_track(std::vector<std::string>& problems, const std::string& path, const std::string& name,
                  const json& value) {
  Reader r{problems, path, value, {"metric", "window", "levels", "upgrade", "downgrade"}};
  Track track;
  track.name = name;
  track.metric = r.one_of("metric", {"qualifying_spend_cents", "growth_earned"}, true, "");
  Reader w{problems, r.at("window"), r.raw("window"), {"kind", "days"}};
  track.window.kind = w.one_of("kind", {"rolling", "calendar_year"}, true, "rolling");
  track.window.days = static_cast<int>(w.integer("days", track.window.kind == "rolling", 0, 1, 3660));
  const json& levels = r.raw("levels");
  if (!levels.is_array() || levels.empty())
    r.fail("levels", "must be a non-empty list");
  else {
    for (std::size_t i = 0; i < levels.size(); ++i) {
      Reader l{problems,
               r.at("levels") + "[" + std::to_string(i) + "]",
               levels[i],
               {"code", "threshold", "earn_multiplier_pct"}};
      Level level{l.text("code"), l.integer("threshold"),
                  static_cast<int>(l.integer("earn_multiplier_pct", false, 100, 0, 1000))};
      if (i == 0 && level.threshold != 0) l.fail("threshold", "the first level starts at 0");
      if (i > 0 && level.threshold <= track.levels.back().threshold) l.fail("threshold", "thresholds must rise");
      for (const auto& earlier : track.levels) {
        if (earlier.code == level.code) l.fail("code", "is used twice");
      }
      track.levels.push_back(level);
    }
  }
  track.upgrade = r.one_of("upgrade", {"immediate"}, false, "immediate");
  if (r.has("downgrade")) {
    Reader d{problems, r.at("downgrade"), r.raw("downgrade"), {"guaranteed_days", "max_levels_per_evaluation"}};
    track.guaranteed_days = static_cast<int>(d.integer("guaranteed_days", false, 365, 0, 3660));
    track.max_levels_per_evaluation = static_cast<int>(d.integer("max_levels_per_evaluation", false, 1, 1, 100));
  }
  return track;
}

Rule parse_rule(std::vector<std::string>& problems, const std::string& path, const json& value) {
  Reader r{problems,
           path,
           value,
           {"id", "event", "award", "qualifying_spend", "tier_multiplier", "pending_days", "funding_account", "cap"}};
  Rule rule;
  rule.id = r.text("id");
  if (!rule.id.empty() && !std::regex_match(rule.id, identifier)) r.fail("id", "must match [a-z0-9][a-z0-9_-]{0,63}");
  for (const json* event : one_or_many(r.raw("event"))) {
    if (!event->is_string() || !std::regex_match(event->get<std::string>(), identifier)) {
      r.fail("event", "must be event type names");
    } else {
      rule.events.push_back(event->get<std::string>());
    }
  }
  if (rule.events.empty()) r.fail("event", "names at least one event type");
  const auto awards = one_or_many(r.raw("award"));
  if (awards.empty()) r.fail("award", "is required");
  for (std::size_t i = 0; i < awards.size(); ++i) {
    Reader a{problems,
             r.at("award") + (r.raw("award").is_array() ? "[" + std::to_string(i) + "]" : ""),
             *awards[i],
             {"asset", "fixed", "per_amount_cents", "amount"}};
    Award award;
    award.asset = a.text("asset");
    if (a.has("fixed")) award.fixed = a.integer("fixed", true, 0, 1, 1'000'000'000'000);
    if (a.has("per_amount_cents")) {
      award.per_amount_cents = a.integer("per_amount_cents", true, 1, 1, 1'000'000'000);
      award.amount = a.integer("amount", true, 0, 1, 1'000'000'000);
    }
    if (award.fixed.has_value() == award.per_amount_cents.has_value()) {
      a.fail("", "needs either fixed, or per_amount_cents with amount");
    }
    rule.awards.push_back(award);
  }
  rule.qualifying_spend = r.boolean("qualifying_spend");
  rule.tier_multiplier = r.boolean("tier_multiplier");
  rule.pending_days = static_cast<int>(r.integer("pending_days", false, 0, 0, 365));
  rule.funding_account = r.text("funding_account");
  check_funding_account(r, rule.funding_account);
  if (r.has("cap")) {
    Reader c{problems, r.at("cap"), r.raw("cap"), {"per_member", "period"}};
    rule.cap = Cap{c.integer("per_member", true, 0, 1, 1'000'000),
                   c.one_of("period", {"day", "month", "year", "lifetime"}, true, "")};
  }
  return rule;
}

Campaign parse_campaign(std::vector<std::string>& problems, const std::string& path, const json& value) {
  Reader r{problems, path, value, {"id", "window", "applies_to", "multiplier_pct", "budget_points", "funding_account"}};
  Campaign campaign;
  campaign.id = r.text("id");
  Reader w{problems, r.at("window"), r.raw("window"), {"from", "to"}};
  const auto from = parse_rfc3339(w.text("from"));
  const auto to = parse_rfc3339(w.text("to"));
  if (!from || !to)
    w.fail("", "from and to must be RFC 3339 times");
  else if (*to <= *from)
    w.fail("to", "must be after from");
  if (from) campaign.from = *from;
  if (to) campaign.to = *to;
  for (const json* rule : one_or_many(r.raw("applies_to"))) {
    if (rule->is_string())
      campaign.applies_to.push_back(rule->get<std::string>());
    else
      r.fail("applies_to", "must be rule ids");
  }
  if (campaign.applies_to.empty()) r.fail("applies_to", "names at least one rule");
  campaign.multiplier_pct = static_cast<int>(r.integer("multiplier_pct", true, 100, 1, 10000));
  campaign.budget_points = r.integer("budget_points", true, 0, 0);
  campaign.funding_account = r.text("funding_account");
  check_funding_account(r, campaign.funding_account);
  return campaign;
}

Partner parse_partner(std::vector<std::string>& problems, const std::string& path, const json& value) {
  Reader r{problems, path, value, {"partner_id", "name", "asset", "rates", "limits", "rights"}};
  Partner partner;
  partner.partner_id = r.text("partner_id");
  if (!partner.partner_id.empty() && !std::regex_match(partner.partner_id, identifier)) {
    r.fail("partner_id", "must match [a-z0-9][a-z0-9_-]{0,63}");
  }
  partner.name = r.text("name");
  partner.asset = r.text("asset");
  if (!partner.asset.empty() && !std::regex_match(partner.asset, asset_code))
    r.fail("asset", "must match [A-Z][A-Z0-9_]{0,31}");
  Reader rates{problems,
               r.at("rates"),
               r.raw("rates"),
               {"inbound_points_per_unit", "outbound_units_per_point_milli", "cents_per_point"}};
  partner.inbound_points_per_unit = rates.integer("inbound_points_per_unit", true, 0, 1, partner_rate_max);
  partner.outbound_units_per_point_milli =
      rates.integer("outbound_units_per_point_milli", true, 0, 1, partner_rate_max);
  partner.cents_per_point = rates.integer("cents_per_point", true, 0, 0, partner_rate_max);
  Reader limits{problems, r.at("limits"), r.raw("limits"), {"per_member_daily_points", "per_day_points"}};
  // At most what a statement can state exactly for these rates (program.hpp).
  const std::int64_t daily_max =
      partner_daily_points_max(partner.cents_per_point, partner.outbound_units_per_point_milli);
  partner.per_member_daily_points = limits.integer("per_member_daily_points", true, 0, 1, daily_max);
  partner.per_day_points = limits.integer("per_day_points", true, 0, 1, daily_max);
  const json& rights = r.raw("rights");
  if (!rights.is_null() && !rights.is_array()) r.fail("rights", "must be a list");
  for (std::size_t i = 0; rights.is_array() && i < rights.size(); ++i) {
    Reader g{problems,
             r.at("rights") + "[" + std::to_string(i) + "]",
             rights[i],
             {"code", "title", "min_levels", "quota_per_period", "period"}};
    PartnerRight right;
    right.code = g.text("code");
    right.title = g.text("title");
    Reader m{problems, g.at("min_levels"), g.raw("min_levels"), {"spend", "engagement"}};
    if (m.has("spend")) right.min_spend_level = m.text("spend");
    if (m.has("engagement")) right.min_engagement_level = m.text("engagement");
    if (!right.min_spend_level && !right.min_engagement_level) g.fail("min_levels", "names spend, engagement or both");
    right.quota_per_period = g.integer("quota_per_period", true, 0, 1, partner_rate_max);
    right.period = g.one_of("period", {"day", "month", "year"}, true, "month");
    partner.rights.push_back(right);
  }
  return partner;
}

// Checks that reach across sections: names that must exist, names that must be unique.
void check_references(const Program& program, std::vector<std::string>& problems) {
  for (const char* required : {"POINTS", "GROWTH"}) {
    if (!program.asset(required)) problems.push_back(std::string("assets: must include ") + required);
  }
  std::set<std::string> asset_codes;
  for (const auto& asset : program.assets) {
    if (!asset_codes.insert(asset.code).second) problems.push_back("assets: " + asset.code + " is listed twice");
  }
  std::set<std::string> rule_ids;
  for (std::size_t i = 0; i < program.rules.size(); ++i) {
    const Rule& rule = program.rules[i];
    const std::string at = "rules[" + std::to_string(i) + "]";
    if (!rule_ids.insert(rule.id).second) problems.push_back(at + ".id: " + rule.id + " is used twice");
    for (const Award& award : rule.awards) {
      const AssetConfig* asset = program.asset(award.asset);
      if (!asset && !award.asset.empty())
        problems.push_back(at + ".award.asset: " + award.asset + " is not an asset of the program");
    }
  }
  for (std::size_t i = 0; i < program.campaigns.size(); ++i) {
    for (const auto& rule : program.campaigns[i].applies_to) {
      if (!rule_ids.count(rule)) {
        problems.push_back("campaigns[" + std::to_string(i) + "].applies_to: " + rule + " is not a rule id");
      }
    }
  }
  std::set<std::string> partner_ids;
  for (std::size_t i = 0; i < program.partners.size(); ++i) {
    const Partner& partner = program.partners[i];
    const std::string at = "partners[" + std::to_string(i) + "]";
    if (!partner_ids.insert(partner.partner_id).second) problems.push_back(at + ".partner_id: used twice");
    if (partner.asset == "POINTS" || partner.asset == "GROWTH" || asset_codes.count(partner.asset)) {
      problems.push_back(at + ".asset: a partner's currency must be its own asset");
    }
    for (const auto& right : partner.rights) {
      const auto level_exists = [&](const char* track_name, const std::optional<std::string>& level) {
        if (!level) return;
        const Track* track = program.track(track_name);
        const bool found = track && std::any_of(track->levels.begin(), track->levels.end(),
                                                [&](const Level& l) { return l.code == *level; });
        if (!found)
          problems.push_back(at + ".rights." + right.code + ": " + *level + " is not a " + track_name + " level");
      };
      level_exists("spend", right.min_spend_level);
      level_exists("engagement", right.min_engagement_level);
    }
  }
}

}  // namespace

const AssetConfig* Program::asset(const std::string& code) const {
  for (const auto& asset : assets) {
    if (asset.code == code) return &asset;
  }
  return nullptr;
}

const Track* Program::track(const std::string& name) const {
  for (const auto& track : tracks) {
    if (track.name == name) return &track;
  }
  return nullptr;
}

std::variant<json, DocumentProblems> yaml_to_json(std::string_view yaml_text, std::size_t depth_max) {
  if (yaml_nests_deeper_than(yaml_text, depth_max)) {
    return DocumentProblems{{"the document nests deeper than " + std::to_string(depth_max) + " levels"}};
  }
  try {
    YamlConverter converter{depth_max};
    json document = converter.convert(YAML::Load(std::string(yaml_text)), 0);
    if (converter.problem) return DocumentProblems{{*converter.problem}};
    return document;
  } catch (const YAML::Exception& error) {
    return DocumentProblems{{std::string("the document is not valid YAML: ") + error.what()}};
  }
}

bool json_nests_deeper_than(std::string_view json_text, std::size_t depth_max) {
  bool in_string = false;
  std::size_t depth = 0;
  for (std::size_t i = 0; i < json_text.size(); ++i) {
    const char c = json_text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > depth_max) return true;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return false;
}

std::variant<json, DocumentProblems> json_text_to_document(std::string_view json_text, std::size_t depth_max) {
  if (json_nests_deeper_than(json_text, depth_max)) {
    return DocumentProblems{{"the document nests deeper than " + std::to_string(depth_max) + " levels"}};
  }
  json document = json::parse(json_text, nullptr, false);
  if (document.is_discarded() || !document.is_object()) {
    return DocumentProblems{{"the document must be a JSON object"}};
  }
  return document;
}

std::variant<Program, DocumentProblems> parse_program(const json& document) {
  std::vector<std::string> problems;
  // Text and sizes first: the field checks below (regular expressions among them) only ever
  // meet short, clean text, and a document with thousands of items is refused before any
  // check that looks at pairs of them.
  check_document_values(document, "", problems);
  if (!problems.empty()) return DocumentProblems{problems};
  Reader r{problems,
           "",
           document,
           {"program", "currency", "point_value_cents", "clawback", "assets", "tracks", "rules", "campaigns",
            "partners", "event_window"}};
  Program program;
  if (!document.is_object()) return DocumentProblems{problems};
  program.name = r.text("program");
  program.currency = r.text("currency", false, "CNY");
  if (!std::regex_match(program.currency, std::regex("[A-Z]{3}"))) r.fail("currency", "must be an ISO 4217 code");
  program.point_value_cents = r.integer("point_value_cents", true, 1, 1, 1'000'000);
  program.clawback = r.one_of("clawback", {"allow_negative", "cap_at_balance"}, false, "allow_negative");
  if (r.has("event_window")) {
    Reader w{problems, "event_window", r.raw("event_window"), {"past_days", "future_seconds"}};
    program.event_window.past_days = static_cast<int>(w.integer("past_days", false, 90, 1, 3660));
    program.event_window.future_seconds = static_cast<int>(w.integer("future_seconds", false, 300, 0, 86400));
  }
  const json& assets = r.raw("assets");
  if (!assets.is_array()) r.fail("assets", "must be a list");
  for (std::size_t i = 0; assets.is_array() && i < assets.size(); ++i) {
    program.assets.push_back(parse_asset(problems, "assets[" + std::to_string(i) + "]", assets[i]));
  }
  const json& tracks = r.raw("tracks");
  Reader t{problems, "tracks", tracks, {"spend", "engagement", "multiplier_policy"}};
  for (const char* name : {"spend", "engagement"}) {
    if (!t.has(name))
      t.fail(name, "is required");
    else
      program.tracks.push_back(parse_track(problems, t.at(name), name, t.raw(name)));
  }
  program.multiplier_policy = t.one_of("multiplier_policy", {"max"}, false, "max");
  const json& rules = r.raw("rules");
  if (!rules.is_null() && !rules.is_array()) r.fail("rules", "must be a list");
  for (std::size_t i = 0; rules.is_array() && i < rules.size(); ++i) {
    program.rules.push_back(parse_rule(problems, "rules[" + std::to_string(i) + "]", rules[i]));
  }
  const json& campaigns = r.raw("campaigns");
  if (!campaigns.is_null() && !campaigns.is_array()) r.fail("campaigns", "must be a list");
  for (std::size_t i = 0; campaigns.is_array() && i < campaigns.size(); ++i) {
    program.campaigns.push_back(parse_campaign(problems, "campaigns[" + std::to_string(i) + "]", campaigns[i]));
  }
  const json& partners = r.raw("partners");
  if (!partners.is_null() && !partners.is_array()) r.fail("partners", "must be a list");
  for (std::size_t i = 0; partners.is_array() && i < partners.size(); ++i) {
    program.partners.push_back(parse_partner(problems, "partners[" + std::to_string(i) + "]", partners[i]));
  }
  check_references(program, problems);
  if (problems.size() > document_problems_max) {
    const std::size_t more = problems.size() - document_problems_max;
    problems.resize(document_problems_max);
    problems.push_back("document: and " + std::to_string(more) + " more problems");
  }
  if (!problems.empty()) return DocumentProblems{problems};
  return program;
}

}  // namespace loyalty::program
