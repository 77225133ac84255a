#include "auth/rules_file.h"

#include <boost/json/parse.hpp>

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

Status ParseRulesDocument(std::string_view text, std::string_view member, std::string_view shape,
                          const std::function<Status(const boost::json::object&)>& body) {
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(text, ec);
  if (ec) return RulesError("", "not valid JSON (" + ec.message() + ")");
  if (!doc.is_object()) return RulesError("", "the rules must be a JSON object");
  const boost::json::object& top = doc.as_object();
  if (Status s = CheckRulesVersion(top); !s.ok()) return s;
  const std::string name(member);
  bool found = false;
  for (const auto& [key, value] : top) {
    if (key == "version" || key == "description") continue;
    if (key != member)
      return RulesError(std::string(key),
                        "unknown member (the rules have version, " + name + ", description)");
    found = true;
    if (!value.is_object() || value.as_object().empty())
      return RulesError(name, "must be a non-empty object: " + std::string(shape));
    if (Status s = body(value.as_object()); !s.ok()) return s;
  }
  if (!found) return RulesError("", RulesQuoted(member) + " is missing");
  return Status::Ok();
}

}  // namespace kiln::auth
