#include "auth/rules_file.h"

namespace kiln::auth {

std::string RulesQuoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '\'';
  out += s;
  out += '\'';
  return out;
}

Status RulesError(const std::string& where, const std::string& what) {
  return Status::Invalid((where.empty() ? "" : where + ": ") + what);
}

Status CheckRulesVersion(const boost::json::object& top) {
  const boost::json::value* v = top.if_contains("version");
  if (v == nullptr) return RulesError("", "'version' is missing (this format is version 1)");
  if ((v->is_int64() && v->as_int64() == 1) || (v->is_uint64() && v->as_uint64() == 1) ||
      (v->is_double() && v->as_double() == 1.0))
    return Status::Ok();
  return RulesError("version", "only version 1 of this format is known");
}

}  // namespace kiln::auth
