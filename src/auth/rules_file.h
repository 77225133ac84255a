// Reading the JSON rules files of the authorizers (--auth-rules, --auth-user-rules): the file's
// text, parsed by the rules' own parser, with errors that name the setting and the file (a bad
// file stops start-up). Pure; thread-safe.
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "kiln/status.h"

namespace kiln::auth {

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
