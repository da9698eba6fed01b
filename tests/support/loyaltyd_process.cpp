#include "tests/support/loyaltyd_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace loyalty::testing {

LoyaltydProcess::LoyaltydProcess(const std::string& database_url, const std::string& name,
                                 const std::vector<std::string>& arguments) {
  log_path_ = "/tmp/loyalty-" + name + "-" + std::to_string(getpid()) + ".log";
  const std::string binary = std::string(LOYALTY_BINARY_DIR) + "/tools/loyaltyd";
  std::vector<std::string> words{binary, "--listen", "127.0.0.1:0", "--scheduler-interval", "0"};
  words.insert(words.end(), arguments.begin(), arguments.end());
  pid_ = fork();
  if (pid_ == 0) {
    const int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(log, STDERR_FILENO);
    setenv("LOYALTY_DATABASE_URL", database_url.c_str(), 1);
    std::vector<char*> argv;
    for (auto& word : words) argv.push_back(word.data());
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
}

LoyaltydProcess::~LoyaltydProcess() {
  if (pid_ > 0 && !exited_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

void LoyaltydProcess::kill_now() {
  if (pid_ <= 0 || exited_) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  exited_ = true;
}

unsigned short LoyaltydProcess::wait_until_serving() {
  const std::regex serving{R"re("msg":"serving".*"url":"http://127\.0\.0\.1:([0-9]+)")re"};
  for (int i = 0; i < 300; ++i) {
    std::smatch match;
    const std::string text = log();
    if (std::regex_search(text, match, serving)) return static_cast<unsigned short>(std::stoi(match[1]));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return 0;
}

void LoyaltydProcess::terminate() {
  kill(pid_, SIGTERM);
}

int LoyaltydProcess::wait_for_exit(std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

std::string LoyaltydProcess::log() const {
  std::ifstream in{log_path_};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace loyalty::testing
