// The program document as YAML and as JSON: refused with problems, or read whole; a document
// that is read can always be written again (it is stored as jsonb and hashed from its dump).
#include <cstdint>
#include <string_view>
#include <variant>

#include "fuzz/fuzz_check.hpp"
#include "program/document.hpp"

namespace {

void validate(const std::variant<nlohmann::json, loyalty::program::DocumentProblems>& read) {
  const auto* document = std::get_if<nlohmann::json>(&read);
  if (!document) return;
  (void)document->dump();
  const auto program = loyalty::program::parse_program(*document);
  if (const auto* problems = std::get_if<loyalty::program::DocumentProblems>(&program)) {
    FUZZ_CHECK(!problems->problems.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  validate(loyalty::program::yaml_to_json(text));
  validate(loyalty::program::json_text_to_document(text));
  return 0;
}
