#include "audit/verify.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <fstream>

#include "audit/audit_log.h"

namespace kiln::audit {
namespace {

bool IsHexHash(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

VerifyReport VerifyChain(const std::vector<std::string>& files) {
  VerifyReport report;
  std::string prev_hash;  // empty: no line seen yet
  uint64_t prev_seq = 0;
  for (const std::string& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      report.error = file + ": cannot be read";
      return report;
    }
    std::string line;
    uint64_t line_no = 0;
    auto fail = [&](const std::string& why) {
      report.error = file + " line " + std::to_string(line_no) + ": " + why;
      return report;
    };
    while (std::getline(in, line)) {
      ++line_no;
      if (in.eof())  // no newline after it: a line cut short
        return fail("the line is incomplete (no newline at its end)");
      boost::system::error_code ec;
      boost::json::value v = boost::json::parse(line, ec);
      if (ec || !v.is_object()) return fail("not a JSON object");
      const boost::json::object& obj = v.as_object();
      const boost::json::value* seq_v = obj.if_contains("seq");
      const boost::json::value* prev_v = obj.if_contains("prev");
      if (!seq_v || !(seq_v->is_uint64() || (seq_v->is_int64() && seq_v->as_int64() > 0)))
        return fail("no valid \"seq\"");
      if (!prev_v || !prev_v->is_string() || !IsHexHash(prev_v->as_string()))
        return fail("no valid \"prev\" hash");
      uint64_t seq =
          seq_v->is_uint64() ? seq_v->as_uint64() : static_cast<uint64_t>(seq_v->as_int64());
      std::string_view prev(prev_v->as_string());
      if (prev_hash.empty()) {
        // The first line of the chain: at its very beginning it must say so.
        if (seq == 1 && prev != kGenesisHash)
          return fail("seq 1 must start the chain (prev of 64 zeros)");
        if (seq != 1 && prev == kGenesisHash)
          return fail("a chain start (prev of 64 zeros) with seq " + std::to_string(seq));
        report.first_seq = seq;
      } else {
        if (prev != prev_hash)
          return fail(
              "\"prev\" is not the hash of the line before it: a line was changed, "
              "inserted or removed here or just before");
        if (seq != prev_seq + 1)
          return fail("seq " + std::to_string(seq) + " follows seq " + std::to_string(prev_seq));
      }
      prev_hash = Sha256Hex(line);
      prev_seq = seq;
      ++report.lines;
    }
  }
  if (report.lines == 0) {
    report.error = "no audit lines";
    return report;
  }
  report.ok = true;
  report.last_seq = prev_seq;
  report.head = prev_hash;
  return report;
}

}  // namespace kiln::audit
