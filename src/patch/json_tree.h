// A small mutable JSON tree for the patch engines. Boost.JSON 1.81's DOM turns every non-integer
// number into a double, so a patch that touches one element of an Observation would silently
// rewrite `1.50` elsewhere as `1.5`; this tree keeps every number as the exact text it was
// written with, and object members in their original order. Value type; not synchronised.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "kiln/status.h"

namespace kiln::patch {

class Json {
 public:
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  using Member = std::pair<std::string, Json>;

  Json() = default;
  static Json Null() { return Json(); }
  static Json Bool(bool b);
  static Json Number(std::string text);  // `text` must be a valid JSON number
  static Json String(std::string text);
  static Json Array();
  static Json Object();

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_object() const { return kind_ == Kind::kObject; }
  bool is_array() const { return kind_ == Kind::kArray; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_number() const { return kind_ == Kind::kNumber; }
  bool boolean() const { return boolean_; }
  // The string's content (unescaped), or a number's source text.
  const std::string& text() const { return text_; }

  std::vector<Json>& items() { return items_; }
  const std::vector<Json>& items() const { return items_; }
  std::vector<Member>& members() { return members_; }
  const std::vector<Member>& members() const { return members_; }

  // Objects: the member called `key`, or nullptr.
  Json* Find(std::string_view key);
  const Json* Find(std::string_view key) const;
  // Objects: sets `key` (kept in place if present, appended otherwise); returns the value.
  Json& Set(std::string_view key, Json value);
  // Objects: removes `key`; false if it was absent.
  bool Erase(std::string_view key);

  // Compact JSON; numbers as their source text.
  std::string Serialize() const;
  void SerializeTo(std::string& out) const;

  // RFC 6902 `test` equality: same kind, numbers numerically equal, objects with the same members
  // in any order, arrays element by element.
  friend bool Equal(const Json& a, const Json& b);

 private:
  Kind kind_ = Kind::kNull;
  bool boolean_ = false;
  std::string text_;
  std::vector<Json> items_;
  std::vector<Member> members_;
};

// Parses one JSON document. Fails with kInvalid ("structure") when `text` is not JSON, has data
// after the value, or an object repeats a member name. `what` names the document in messages
// ("The patch document").
Result<Json> ParseJson(std::string_view text, std::string_view what);

}  // namespace kiln::patch
