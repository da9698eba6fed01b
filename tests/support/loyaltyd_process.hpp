// loyaltyd as a child process of a test, its stderr in a file of its own: for tests that need
// the real binary (a graceful stop, several nodes on one database).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace loyalty::testing {

class LoyaltydProcess {
 public:
  // Starts build/tools/loyaltyd on 127.0.0.1:0 against `database_url`, with `arguments` added.
  LoyaltydProcess(const std::string& database_url, const std::string& name, const std::vector<std::string>& arguments);
  ~LoyaltydProcess();  // SIGKILL if still running
  LoyaltydProcess(const LoyaltydProcess&) = delete;
  LoyaltydProcess& operator=(const LoyaltydProcess&) = delete;

  // The port it serves on, from its "serving" log line (0 if it never served in 30 s).
  unsigned short wait_until_serving();
  void terminate();
  // SIGKILL, as a crash would: nothing is finished or cleaned up.
  void kill_now();
  // The exit status, or -1 when it is still running after `limit`.
  int wait_for_exit(std::chrono::seconds limit);
  std::string log() const;

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  std::string log_path_;
};

}  // namespace loyalty::testing
