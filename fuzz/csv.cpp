// CSV from outside (a partner's reconciliation file, an export handed to the verifier): read
// or refused with a problem, never a crash. And what the exports write, the reader reads back:
// every field the reader produced, written as an export cell, reads back as the same text
// (with the apostrophe that neutralises a formula).
#include <cstdint>
#include <string_view>

#include "audit/csv.hpp"
#include "audit/export.hpp"
#include "fuzz/fuzz_check.hpp"
#include "partners/reconcile.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto read = loyalty::audit::read_csv(text);
  for (const auto& record : read.records) {
    for (const auto& field : record) {
      if (field.empty() || field.size() > 1000) continue;
      const std::string cell = loyalty::audit::csv_field(field);
      const auto again = loyalty::audit::read_csv(cell + "\n");
      FUZZ_CHECK(!again.problem && again.records.size() == 1 && again.records[0].size() == 1);
      const std::string& back = again.records[0][0];
      FUZZ_CHECK(back == field || back == "'" + field);
    }
  }
  static const nlohmann::json ours = nlohmann::json::parse(R"([
    {"kind":"exchange_in","id":"ex-1","partner_member_ref":"R1","points":800,"units":100,"cents":800},
    {"kind":"claim","id":"c-1","partner_member_ref":"R1","right_code":"upgrade-size"}])");
  (void)loyalty::partners::reconcile(ours, text);
  return 0;
}
