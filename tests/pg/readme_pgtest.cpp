// The README's first requests, run as written against a running service: a reader's first
// five minutes must work on any day. The shell block after the "readme-first-request" marker
// runs under bash with KEY (an admin key) and BASE (the service's URL) set, as the README says.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "platform/ids.hpp"
#include "tests/support/service_fixture.hpp"

namespace loyalty::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string readme() {
  std::ifstream in{std::string(LOYALTY_SOURCE_DIR) + "/README.md"};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The fenced ```sh block that follows the marker, without its fences ("" when there is none).
std::string first_request_block(const std::string& text) {
  const auto marker = text.find("<!-- readme-first-request:");
  if (marker == std::string::npos) return "";
  const auto open = text.find("```sh\n", marker);
  if (open == std::string::npos) return "";
  const auto start = open + 6;
  const auto close = text.find("\n```", start);
  if (close == std::string::npos) return "";
  return text.substr(start, close - start + 1);
}

struct ShellResult {
  int status = -1;
  std::string output;
};

ShellResult run_block(const std::string& block, const std::string& key, const std::string& base) {
  const fs::path script = fs::temp_directory_path() / ("readme-" + new_id("") + ".sh");
  std::ofstream(script) << block;
  const std::string command = "KEY='" + key + "' BASE='" + base + "' bash -eu -o pipefail " + script.string() + " 2>&1";
  ShellResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe) {
    char buffer[4096];
    while (const auto got = fread(buffer, 1, sizeof buffer, pipe)) result.output.append(buffer, got);
    const int status = pclose(pipe);
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  fs::remove(script);
  return result;
}

class Readme : public ServiceTest {};

TEST_F(Readme, TheFirstRequestsHoldNoFixedTime) {
  const std::string block = first_request_block(readme());
  ASSERT_FALSE(block.empty()) << "README.md has no readme-first-request block";
  // A fixed occurred_at stops working 90 days later (occurred_at_out_of_range).
  EXPECT_FALSE(std::regex_search(block, std::regex("[0-9]{4}-[0-9]{2}-[0-9]{2}T"))) << block;
}

TEST_F(Readme, TheFirstRequestsRunAsWrittenAndTheMemberEarns) {
  const std::string block = first_request_block(readme());
  ASSERT_FALSE(block.empty());
  const auto result =
      run_block(block, service().secret(api::Role::admin), "http://127.0.0.1:" + std::to_string(service().port()));
  ASSERT_EQ(result.status, 0) << result.output;
  // The last answer is the member's balances: the delivery's points, pending for now.
  const auto last_line = result.output.substr(result.output.rfind('{', result.output.rfind("\"member_id\"")));
  const json balances = json::parse(last_line, nullptr, false);
  ASSERT_TRUE(balances.is_object()) << result.output;
  EXPECT_EQ(balances["balances"]["POINTS"]["total"], 50000) << result.output;
  EXPECT_EQ(balances["balances"]["GROWTH"]["total"], 500) << result.output;
}

}  // namespace
}  // namespace loyalty::testing
