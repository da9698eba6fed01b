// loyaltyctl import members|balances|events FILE.csv: bringing a program's history in
// (importing/import_file.hpp, docs/operations/import.md). A progress line on a terminal,
// rejected rows on stderr (the first import_rejects_shown; all of them in FILE.rejected.csv),
// a summary on stdout (one JSON object with --json).
#include <unistd.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "importing/import_file.hpp"
#include "tools/flags.hpp"

namespace loyalty::tools {
namespace {

constexpr std::size_t import_rejects_shown = 20;

std::string duration_text(double seconds) {
  const auto whole = static_cast<long long>(seconds);
  char text[32];
  std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", whole / 3600, whole / 60 % 60, whole % 60);
  return text;
}

void show_progress(const importing::ImportProgress& progress) {
  const auto& report = progress.report;
  const double rate = report.seconds > 0 ? static_cast<double>(report.rows) / report.seconds : 0;
  std::string eta = "-";
  if (progress.bytes_total > 0 && progress.bytes_read > 0 && progress.bytes_read <= progress.bytes_total) {
    const double fraction = static_cast<double>(progress.bytes_read) / static_cast<double>(progress.bytes_total);
    eta = duration_text(report.seconds * (1 - fraction) / fraction);
  }
  std::fprintf(stderr, "\rimport %s: %lld rows (%lld applied, %lld skipped, %lld rejected), %.0f rows/s, ETA %s   ",
               report.kind.c_str(), static_cast<long long>(report.rows), static_cast<long long>(report.applied),
               static_cast<long long>(report.skipped), static_cast<long long>(report.rejected), rate, eta.c_str());
}

nlohmann::json report_json(const importing::ImportReport& report) {
  return nlohmann::json{
      {"kind", report.kind},
      {"file", report.file},
      {"file_sha256", report.file_sha256},
      {"rows", report.rows},
      {"applied", report.applied},
      {"skipped", report.skipped},
      {"rejected", report.rejected},
      {"resumed_after_line", report.resumed_after_line},
      {"batches", report.batches},
      {"rejected_file", report.rejected_file ? nlohmann::json(*report.rejected_file) : nlohmann::json()},
      {"seconds", report.seconds},
      {"rows_per_second", report.seconds > 0 ? static_cast<double>(report.rows) / report.seconds : 0.0}};
}

}  // namespace

int import_command(pqxx::connection& connection, const std::string& kind, const Flags& flags,
                   const std::string& actor) {
  importing::ImportOptions options;
  options.kind = kind == "members"    ? importing::Kind::members
                 : kind == "balances" ? importing::Kind::balances
                                      : importing::Kind::events;
  options.file = flags.positionals().at(0);
  options.history_only = flags.on("history-only");
  if (flags.on("batch-rows")) options.batch_rows = std::stoi(flags.value("batch-rows"));
  options.actor = actor;
  const bool terminal = isatty(STDERR_FILENO);
  std::size_t shown = 0;
  importing::ImportObserver observer;
  if (terminal) observer.progress = show_progress;
  observer.rejected = [&](std::size_t line, const std::string& reason) {
    if (shown++ < import_rejects_shown) {
      std::fprintf(stderr, "%sline %zu: %s\n", terminal ? "\r\033[K" : "", line, reason.c_str());
    }
  };
  const auto outcome = importing::import_file(connection, options, observer);
  if (terminal) std::fprintf(stderr, "\n");
  if (const auto* problem = std::get_if<importing::FileProblem>(&outcome)) {
    std::fprintf(stderr, "loyaltyctl: %s (nothing was imported)\n", problem->message.c_str());
    return 2;
  }
  const auto& report = std::get<importing::ImportReport>(outcome);
  if (shown > import_rejects_shown) {
    std::fprintf(stderr, "... and %zu more rejected rows\n", shown - import_rejects_shown);
  }
  if (flags.on("json")) {
    std::printf("%s\n", report_json(report).dump().c_str());
  } else {
    std::printf("%s: %lld rows, %lld applied, %lld skipped, %lld rejected in %.1f s%s%s\n", report.file.c_str(),
                static_cast<long long>(report.rows), static_cast<long long>(report.applied),
                static_cast<long long>(report.skipped), static_cast<long long>(report.rejected), report.seconds,
                report.rejected_file ? "; rejected rows are in " : "",
                report.rejected_file ? report.rejected_file->c_str() : "");
    if (report.resumed_after_line > 0) {
      std::printf("resumed after line %lld of an earlier run\n", static_cast<long long>(report.resumed_after_line));
    }
  }
  return report.rejected > 0 ? 1 : 0;
}

}  // namespace loyalty::tools
