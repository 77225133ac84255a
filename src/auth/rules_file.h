// What the JSON rules files of the authorizers (--auth-rules, --auth-user-rules) share: reading
// the file, parsed by the rules' own parser, with errors that name the setting and the file (a
// bad file stops start-up), and the pieces of their parsers' messages and checks. Pure;
// thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <string_view>

#include "kiln/status.h"

namespace kiln::auth {

// 'name', for messages (built by appending: g++ 12 warns wrongly about "'" + std::string).
std::string RulesQuoted(std::string_view s);

// kInvalid "where: what" ("what" alone when `where` is empty), where is the path in the file.
Status RulesError(const std::string& where, const std::string& what);

// The file's "version" member must be 1 (FHIR Works writes 1.0).
Status CheckRulesVersion(const boost::json::object& top);

// The shape every rules file has: a JSON object with "version" (CheckRulesVersion), an optional
// "description", and `member`, a non-empty object (`shape` says what it maps, for the message),
// handed to `body` when the walk over the members meets it. Any other member, a missing or empty
// `member`, or what `body` returns is the error.
Status ParseRulesDocument(std::string_view text, std::string_view member, std::string_view shape,
                          const std::function<Status(const boost::json::object&)>& body);

template <typename Rules>
Result<Rules> LoadRulesFile(std::string_view setting, const std::string& path,
                            Result<Rules> (*parse)(std::string_view)) {
  const std::string where = "Invalid configuration: " + std::string(setting) + " " + path + ": ";
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Invalid(where + "cannot read the file");
  std::ostringstream text;
  text << in.rdbuf();
  Result<Rules> rules = parse(text.str());
  if (!rules.ok()) return Status::Invalid(where + rules.status().message());
  return rules;
}

}  // namespace kiln::auth
