#include "patch/json_tree.h"

#include <algorithm>
#include <boost/json/basic_parser_impl.hpp>
#include <cstdlib>

#include "core/strings.h"

namespace kiln::patch {

Json Json::Bool(bool b) {
  Json j;
  j.kind_ = Kind::kBool;
  j.boolean_ = b;
  return j;
}

Json Json::Number(std::string text) {
  Json j;
  j.kind_ = Kind::kNumber;
  j.text_ = std::move(text);
  return j;
}

Json Json::String(std::string text) {
  Json j;
  j.kind_ = Kind::kString;
  j.text_ = std::move(text);
  return j;
}

Json Json::Array() {
  Json j;
  j.kind_ = Kind::kArray;
  return j;
}

Json Json::Object() {
  Json j;
  j.kind_ = Kind::kObject;
  return j;
}

Json* Json::Find(std::string_view key) {
  for (Member& m : members_)
    if (m.first == key) return &m.second;
  return nullptr;
}

const Json* Json::Find(std::string_view key) const {
  for (const Member& m : members_)
    if (m.first == key) return &m.second;
  return nullptr;
}

Json& Json::Set(std::string_view key, Json value) {
  if (Json* existing = Find(key)) {
    *existing = std::move(value);
    return *existing;
  }
  members_.emplace_back(std::string(key), std::move(value));
  return members_.back().second;
}

bool Json::Erase(std::string_view key) {
  auto it = std::find_if(members_.begin(), members_.end(),
                         [&](const Member& m) { return m.first == key; });
  if (it == members_.end()) return false;
  members_.erase(it);
  return true;
}

std::string Json::Serialize() const {
  std::string out;
  SerializeTo(out);
  return out;
}

void Json::SerializeTo(std::string& out) const {
  switch (kind_) {
    case Kind::kNull:
      out += "null";
      return;
    case Kind::kBool:
      out += boolean_ ? "true" : "false";
      return;
    case Kind::kNumber:
      out += text_;
      return;
    case Kind::kString:
      out.push_back('"');
      core::AppendJsonEscaped(out, text_);
      out.push_back('"');
      return;
    case Kind::kArray:
      out.push_back('[');
      for (size_t i = 0; i < items_.size(); ++i) {
        if (i > 0) out.push_back(',');
        items_[i].SerializeTo(out);
      }
      out.push_back(']');
      return;
    case Kind::kObject:
      out.push_back('{');
      for (size_t i = 0; i < members_.size(); ++i) {
        if (i > 0) out.push_back(',');
        out.push_back('"');
        core::AppendJsonEscaped(out, members_[i].first);
        out += "\":";
        members_[i].second.SerializeTo(out);
      }
      out.push_back('}');
      return;
  }
}

namespace {

bool NumbersEqual(const std::string& a, const std::string& b) {
  if (a == b) return true;
  // Numerically equal (RFC 6902 4.6): 1.50 and 1.5, 1e2 and 100.
  return std::strtold(a.c_str(), nullptr) == std::strtold(b.c_str(), nullptr);
}

}  // namespace

bool Equal(const Json& a, const Json& b) {
  if (a.kind_ != b.kind_) return false;
  switch (a.kind_) {
    case Json::Kind::kNull:
      return true;
    case Json::Kind::kBool:
      return a.boolean_ == b.boolean_;
    case Json::Kind::kNumber:
      return NumbersEqual(a.text_, b.text_);
    case Json::Kind::kString:
      return a.text_ == b.text_;
    case Json::Kind::kArray:
      if (a.items_.size() != b.items_.size()) return false;
      for (size_t i = 0; i < a.items_.size(); ++i)
        if (!Equal(a.items_[i], b.items_[i])) return false;
      return true;
    case Json::Kind::kObject:
      if (a.members_.size() != b.members_.size()) return false;
      for (const Json::Member& m : a.members_) {
        const Json* other = b.Find(m.first);
        if (other == nullptr || !Equal(m.second, *other)) return false;
      }
      return true;
  }
  return false;
}

namespace {

namespace json = boost::json;

// SAX handler building a Json tree; numbers keep their source text.
class TreeHandler {
 public:
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

  Json root;
  std::string problem;  // set when the handler refuses the document (duplicate member)

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code& ec) { return Open(Json::Object(), ec); }
  bool on_object_end(std::size_t, json::error_code& ec) { return Close(ec); }
  bool on_array_begin(json::error_code& ec) { return Open(Json::Array(), ec); }
  bool on_array_end(std::size_t, json::error_code& ec) { return Close(ec); }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code& ec) {
    key_.append(s.data(), s.size());
    if (stack_.back().Find(key_) != nullptr) {
      problem = "duplicate JSON property '" + key_ + "'";
      ec = json::error::extra_data;
      return false;
    }
    keys_.push_back(std::move(key_));
    key_.clear();
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    str_.append(s.data(), s.size());
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code& ec) {
    str_.append(s.data(), s.size());
    Json v = Json::String(std::move(str_));
    str_.clear();
    return Add(std::move(v), ec);
  }
  bool on_number_part(json::string_view s, json::error_code&) {
    num_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(int64_t, json::string_view s, json::error_code& ec) { return Num(s, ec); }
  bool on_uint64(uint64_t, json::string_view s, json::error_code& ec) { return Num(s, ec); }
  bool on_double(double, json::string_view s, json::error_code& ec) { return Num(s, ec); }
  bool on_bool(bool b, json::error_code& ec) { return Add(Json::Bool(b), ec); }
  bool on_null(json::error_code& ec) { return Add(Json::Null(), ec); }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  bool Num(json::string_view s, json::error_code& ec) {
    num_.append(s.data(), s.size());
    Json v = Json::Number(std::move(num_));
    num_.clear();
    return Add(std::move(v), ec);
  }
  bool Open(Json container, json::error_code&) {
    stack_.push_back(std::move(container));
    return true;
  }
  bool Close(json::error_code& ec) {
    Json done = std::move(stack_.back());
    stack_.pop_back();
    return Add(std::move(done), ec);
  }
  bool Add(Json v, json::error_code&) {
    if (stack_.empty()) {
      root = std::move(v);
      return true;
    }
    Json& parent = stack_.back();
    if (parent.is_array()) {
      parent.items().push_back(std::move(v));
    } else {
      parent.members().emplace_back(std::move(keys_.back()), std::move(v));
      keys_.pop_back();
    }
    return true;
  }

  std::vector<Json> stack_;
  std::vector<std::string> keys_;  // the pending member name of each open object
  std::string key_, str_, num_;
};

}  // namespace

Result<Json> ParseJson(std::string_view text, std::string_view what) {
  json::parse_options options;
  options.max_depth = 128;
  json::basic_parser<TreeHandler> parser(options);
  json::error_code ec;
  size_t consumed = parser.write_some(false, text.data(), text.size(), ec);
  TreeHandler& h = parser.handler();
  if (!h.problem.empty())
    return Status(ErrorCode::kInvalid, "structure", std::string(what) + " has a " + h.problem);
  if (ec) {
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos)
      return Status(ErrorCode::kInvalid, "structure", std::string(what) + " is empty");
    return Status(ErrorCode::kInvalid, "structure",
                  std::string(what) + " is not valid JSON (" + ec.message() + ")");
  }
  if (text.find_first_not_of(" \t\r\n", consumed) != std::string_view::npos)
    return Status(ErrorCode::kInvalid, "structure",
                  std::string(what) + " is not valid JSON (unexpected data after the value)");
  return std::move(h.root);
}

}  // namespace kiln::patch
