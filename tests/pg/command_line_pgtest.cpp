// loyaltyd and loyaltyctl as an operator meets them: per-command help, --version, a bad
// setting (from an option or its environment variable) refused with a sentence naming it and
// exit status 2 before anything starts, and `signing-key init` writing where
// LOYALTY_SIGNING_KEY points, never over a key that is there.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "platform/ids.hpp"
#include "tests/support/test_database.hpp"

namespace loyalty::testing {
namespace {

namespace fs = std::filesystem;

struct CommandResult {
  int status = -1;
  std::string output;  // stdout and stderr
};

// Runs a shell command line with the binaries at $LOYALTYD and $LOYALTYCTL and no
// LOYALTY_DATABASE_URL or LOYALTY_SIGNING_KEY unless the line sets them.
CommandResult run(const std::string& line) {
  const std::string tools = std::string(LOYALTY_BINARY_DIR) + "/tools/";
  const std::string command = "env -u LOYALTY_DATABASE_URL -u LOYALTY_SIGNING_KEY LOYALTYD=" + tools +
                              "loyaltyd LOYALTYCTL=" + tools + "loyaltyctl sh -c '" + line + "' 2>&1";
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return result;
  char buffer[4096];
  while (const auto got = fread(buffer, 1, sizeof buffer, pipe)) result.output.append(buffer, got);
  const int status = pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(CommandLine, BothBinariesTellTheirVersion) {
  for (const char* binary : {"$LOYALTYD", "$LOYALTYCTL"}) {
    const auto version = run(std::string(binary) + " --version");
    EXPECT_EQ(version.status, 0) << version.output;
    EXPECT_TRUE(contains(version.output, "loyalty-ledger ")) << version.output;
  }
}

TEST(CommandLine, EachCommandHasItsOwnHelp) {
  const auto top = run("$LOYALTYCTL --help");
  EXPECT_EQ(top.status, 0) << top.output;
  for (const char* command : {"migrate", "keys", "program", "jobs", "export", "audit", "signing-key", "partners"}) {
    EXPECT_TRUE(contains(top.output, command)) << command << "\n" << top.output;
  }
  const auto create = run("$LOYALTYCTL keys create --help");
  EXPECT_EQ(create.status, 0) << create.output;
  EXPECT_TRUE(contains(create.output, "--role")) << create.output;
  EXPECT_TRUE(contains(create.output, "LOYALTY_DATABASE_URL")) << create.output;
  EXPECT_FALSE(contains(create.output, "--public-key")) << create.output;  // another command's
  const auto daemon = run("$LOYALTYD --help");
  EXPECT_EQ(daemon.status, 0) << daemon.output;
  EXPECT_TRUE(contains(daemon.output, "LOYALTY_DB_WORKERS")) << daemon.output;
  EXPECT_TRUE(contains(daemon.output, "--log-level")) << daemon.output;
}

TEST(CommandLine, ABadNumberInAnEnvironmentVariableIsAUsageErrorThatNamesIt) {
  const auto workers = run("LOYALTY_DATABASE_URL=postgresql://nowhere/x LOYALTY_DB_WORKERS=eight $LOYALTYD");
  EXPECT_EQ(workers.status, 2) << workers.output;
  EXPECT_TRUE(contains(workers.output, "--db-workers")) << workers.output;
  EXPECT_TRUE(contains(workers.output, "LOYALTY_DB_WORKERS")) << workers.output;
  EXPECT_TRUE(contains(workers.output, "eight")) << workers.output;
  const auto listen = run("$LOYALTYD --database-url postgresql://nowhere/x --listen 127.0.0.1:99999");
  EXPECT_EQ(listen.status, 2) << listen.output;
  EXPECT_TRUE(contains(listen.output, "--listen")) << listen.output;
  const auto level = run("LOYALTY_LOG_LEVEL=loud $LOYALTYD --database-url postgresql://nowhere/x");
  EXPECT_EQ(level.status, 2) << level.output;
  EXPECT_TRUE(contains(level.output, "LOYALTY_LOG_LEVEL")) << level.output;
  const auto no_database = run("$LOYALTYD");
  EXPECT_EQ(no_database.status, 2) << no_database.output;
  EXPECT_TRUE(contains(no_database.output, "--database-url")) << no_database.output;
}

TEST(CommandLine, AnAddressThatCannotBeServedIsSaidPlainlyWithExitTwo) {
  // A port this test holds, on a database whose schema is current.
  const int held = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(held, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  ASSERT_EQ(::bind(held, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(held, 1), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(::getsockname(held, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::string port = std::to_string(ntohs(address.sin_port));
  const auto taken = run("$LOYALTYD --database-url " + TestDatabase::instance().service_url() +
                         " --scheduler-interval 0 --listen 127.0.0.1:" + port);
  ::close(held);
  EXPECT_EQ(taken.status, 2) << taken.output;
  EXPECT_TRUE(contains(taken.output, "cannot listen on 127.0.0.1:" + port + ": Address already in use"))
      << taken.output;
  EXPECT_FALSE(contains(taken.output, "terminate")) << taken.output;
}

TEST(CommandLine, UsageErrorsOfLoyaltyctlExitTwoAndSayWhy) {
  const auto unknown = run("$LOYALTYCTL frobnicate");
  EXPECT_EQ(unknown.status, 2) << unknown.output;
  EXPECT_TRUE(contains(unknown.output, "frobnicate")) << unknown.output;
  const auto role = run("LOYALTY_DATABASE_URL=postgresql://nowhere/x $LOYALTYCTL keys create --role boss --name x");
  EXPECT_EQ(role.status, 2) << role.output;
  EXPECT_TRUE(contains(role.output, "boss")) << role.output;
  const auto time = run("LOYALTY_DATABASE_URL=postgresql://nowhere/x $LOYALTYCTL jobs run expire-holds --as-of soon");
  EXPECT_EQ(time.status, 2) << time.output;
  EXPECT_TRUE(contains(time.output, "RFC 3339")) << time.output;
  const auto no_database = run("$LOYALTYCTL migrate");
  EXPECT_EQ(no_database.status, 2) << no_database.output;
  EXPECT_TRUE(contains(no_database.output, "--database-url")) << no_database.output;
  // Offline commands need no database.
  const auto jobs = run("$LOYALTYCTL jobs list");
  EXPECT_EQ(jobs.status, 0) << jobs.output;
  EXPECT_TRUE(contains(jobs.output, "expire-holds")) << jobs.output;
}

TEST(CommandLine, SigningKeyInitWritesWhereTheVariablePointsAndNeverOverAKey) {
  const fs::path dir = fs::temp_directory_path() / ("loyalty-cli-" + new_id(""));
  fs::create_directories(dir);
  const std::string key = (dir / "signing-key.pem").string();
  const auto made =
      run("cd " + dir.string() + " && LOYALTY_SIGNING_KEY=" + key + " $LOYALTYCTL signing-key init --json");
  ASSERT_EQ(made.status, 0) << made.output;
  ASSERT_TRUE(fs::exists(key));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}), 1);  // nothing else written
  struct stat info {};
  ASSERT_EQ(::stat(key.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600);
  std::stringstream before;
  before << std::ifstream(key).rdbuf();
  EXPECT_TRUE(contains(before.str(), "BEGIN PRIVATE KEY")) << before.str();
  const auto again = run("LOYALTY_SIGNING_KEY=" + key + " $LOYALTYCTL signing-key init");
  EXPECT_EQ(again.status, 1) << again.output;
  EXPECT_TRUE(contains(again.output, "never overwritten")) << again.output;
  std::stringstream after;
  after << std::ifstream(key).rdbuf();
  EXPECT_EQ(after.str(), before.str());
  // --out wins over the variable; with neither, nothing is written anywhere.
  const std::string other = (dir / "other.pem").string();
  EXPECT_EQ(run("LOYALTY_SIGNING_KEY=" + key + " $LOYALTYCTL signing-key init --out " + other).status, 0);
  EXPECT_TRUE(fs::exists(other));
  const auto neither = run("cd " + dir.string() + " && $LOYALTYCTL signing-key init");
  EXPECT_EQ(neither.status, 2) << neither.output;
  EXPECT_TRUE(contains(neither.output, "LOYALTY_SIGNING_KEY")) << neither.output;
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}), 2);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace loyalty::testing
