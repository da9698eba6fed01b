// CSV (RFC 4180): the one reader and the one writer of the project. The exports write with
// csv_record; `loyaltyctl audit verify` and partner reconciliation (and any later import)
// read with CsvReader, so what we write is what we read back, whatever a free-text field holds.
//
// Reading is for files we do not control: a partner's reconciliation file, an export
// directory handed to `loyaltyctl audit verify` (which may have been edited), or a legacy
// system's history given to `loyaltyctl import`. Records are
// read one at a time from a stream, so a file of any size is read in constant memory.
//
// Quoted fields may hold commas, line breaks and doubled quotes (""); lines end in LF or CRLF;
// blank lines are skipped. Anything else is a problem with the record number, never a crash:
// a quote inside an unquoted field, text after a closing quote, an unclosed quote, and fields
// or records beyond the limits below.
#pragma once

#include <cstddef>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace loyalty::audit {

struct CsvLimits {
  std::size_t field_bytes_max = 64 * 1024;
  std::size_t fields_max = 256;  // per record
};

class CsvReader {
 public:
  explicit CsvReader(std::istream& in, CsvLimits limits = {});

  // The next record, or nullopt at the end of the input or at a problem (then problem() says
  // what, with the record's number counted from 1).
  std::optional<std::vector<std::string>> next();
  const std::optional<std::string>& problem() const { return problem_; }
  std::size_t records() const { return records_; }  // records read so far
  // The line (counted from 1) the last record, or the record at the problem, started on: a
  // quoted field may hold line breaks, so records and lines are counted apart.
  std::size_t record_line() const { return record_line_; }
  // After a problem, gives up the faulty record: skips to the end of the line where the problem
  // was found, forgets the problem and answers true, so that reading goes on with the next
  // line (a bulk import rejects the one record). False when the problem left nothing to read
  // after it (a quote still open at the end of the input).
  bool skip_faulty_record();

 private:
  std::optional<std::vector<std::string>> fail(const std::string& what);

  std::istream& in_;
  CsvLimits limits_;
  std::optional<std::string> problem_;
  std::size_t records_ = 0;
  std::size_t line_ = 1;  // of the next character
  std::size_t record_line_ = 0;
  bool problem_at_end_ = false;      // the problem was met at the end of the input
  bool problem_ended_line_ = false;  // the problem was met on a line break
};

// A whole CSV text as its records, or the problem.
struct CsvRecords {
  std::vector<std::vector<std::string>> records;
  std::optional<std::string> problem;
};
CsvRecords read_csv(std::string_view text, CsvLimits limits = {});

// One field, quoted when it holds a comma, a quote, CR or LF (quotes doubled inside). A text
// field that a spreadsheet would run as a formula (it starts with = + - @, a tab or a CR) gets
// a leading apostrophe, so that opening an export never runs what a client wrote in a note or
// a reference (OWASP "CSV injection"); integers ("-500") are amounts and are written as they
// are. The apostrophe is the one change a round trip through CsvReader shows.
std::string csv_field(std::string_view value);

// One record: the fields, separated by commas, ended by LF. (RFC 4180 says CRLF; LF is what
// the Unix tools our operators use expect, and the reader takes both.)
std::string csv_record(const std::vector<std::string>& fields);

}  // namespace loyalty::audit
