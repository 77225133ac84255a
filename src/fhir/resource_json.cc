#include "fhir/resource_json.h"

#include <algorithm>
#include <boost/json/basic_parser_impl.hpp>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/strings.h"

namespace kiln::fhir {
namespace {

namespace json = boost::json;
using core::AppendJsonEscaped;

// True if one of the 8 bytes of `w` may need escaping in JSON (a control character, '"' or
// '\\'); may say true for a clean word (then the byte loop decides), never false for one that
// needs it.
bool MayNeedEscape(uint64_t w) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL, kHigh = 0x8080808080808080ULL;
  auto has_zero = [](uint64_t v) { return ((v - kOnes) & ~v & kHigh) != 0; };
  const bool control = ((w - 0x20 * kOnes) & ~w & kHigh) != 0;
  return control || has_zero(w ^ ('"' * kOnes)) || has_zero(w ^ ('\\' * kOnes));
}

// AppendJsonEscaped with the leading run that needs no escaping found 8 bytes at a time: strings
// and names are most of a resource and almost never need escaping, and the byte loop was a
// visible part of preparing a resource. Same output: the run is what the loop would copy.
void AppendEscaped(std::string& out, std::string_view text) {
  size_t clean = 0;
  for (uint64_t w; clean + 8 <= text.size(); clean += 8) {
    std::memcpy(&w, text.data() + clean, 8);
    if (MayNeedEscape(w)) break;
  }
  if (clean + 8 > text.size()) {
    // The last bytes (member names are mostly shorter than 8), padded with spaces, which never
    // need escaping.
    uint64_t w = 0x2020202020202020ULL;
    std::memcpy(&w, text.data() + clean, text.size() - clean);
    if (!MayNeedEscape(w)) clean = text.size();
  }
  out.append(text.data(), clean);
  if (clean < text.size()) AppendJsonEscaped(out, text.substr(clean));
}

// Where the value of the member being parsed goes.
enum class Sink { kNormal, kResourceType, kId, kMeta, kDiscard };

struct Frame {
  bool is_object = false;
  size_t count = 0;           // values (arrays) or members (objects) written so far
  size_t first_key = 0;       // objects: where their member names start in Handler::keys_
  Sink sink = Sink::kNormal;  // for objects: the sink of the value that opened it
};

// SAX handler that re-emits compact JSON into the PreparedResource's pieces.
class Handler {
 public:
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

  PreparedResource result;
  std::string problem;  // set when the handler itself refuses the document
  std::string problem_path;
  bool saw_resource_type = false;
  bool root_is_object = false;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }

  bool on_object_begin(json::error_code& ec) {
    if (frames_.empty()) {
      root_is_object = true;
      frames_.push_back(Frame{true, 0, keys_.size(), Sink::kNormal});
      return true;
    }
    if (!BeginValue(ec, /*is_object=*/true)) return false;
    frames_.push_back(Frame{true, 0, keys_.size(), sink_});
    out_->push_back('{');
    return true;
  }

  bool on_object_end(std::size_t, json::error_code&) {
    Sink closing = frames_.back().sink;
    const size_t first_key = frames_.back().first_key;
    if (first_key < keys_.size()) {
      key_text_.resize(keys_[first_key].offset);
      keys_.resize(first_key);
    }
    frames_.pop_back();
    if (frames_.empty()) return true;  // end of the resource
    if (frames_.size() == 1) {
      // closing a top-level member's object value (meta's braces are RenderResource's job)
      if (closing != Sink::kMeta) out_->push_back('}');
      EndTopLevelValue();
      return true;
    }
    out_->push_back('}');
    return true;
  }

  bool on_array_begin(json::error_code& ec) {
    if (frames_.empty()) return Fail(ec, "The body must be a JSON object (a FHIR resource)", "");
    if (!BeginValue(ec, false)) return false;
    frames_.push_back(Frame{false, 0, keys_.size(), sink_});
    out_->push_back('[');
    return true;
  }

  bool on_array_end(std::size_t, json::error_code&) {
    frames_.pop_back();
    out_->push_back(']');
    if (frames_.size() == 1) EndTopLevelValue();
    return true;
  }

  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    return true;
  }

  bool on_key(json::string_view s, std::size_t, json::error_code& ec) {
    // A name the parser delivered in one piece is used where it lies (most are).
    std::string_view key(s.data(), s.size());
    if (!key_.empty()) {
      key_.append(key);
      key = key_;
    }
    Frame& f = frames_.back();
    for (size_t k = f.first_key; k < keys_.size(); ++k) {
      if (std::string_view(key_text_).substr(keys_[k].offset, keys_[k].size) == key) {
        const std::string name(key);
        return Fail(ec, "Duplicate JSON property '" + name + "'", Path() + name);
      }
    }
    keys_.push_back({key_text_.size(), key.size()});
    key_text_ += key;
    if (frames_.size() == 1) {
      // A top-level member of the resource.
      if (key == "resourceType") {
        sink_ = Sink::kResourceType;
      } else if (key == "id") {
        sink_ = Sink::kId;
      } else if (key == "meta") {
        sink_ = Sink::kMeta;
      } else {
        sink_ = Sink::kNormal;
        out_ = &result.body_rest;
        AppendMember(*out_, key, /*leading_comma=*/true);
      }
    } else if (frames_.size() == 2 && f.sink == Sink::kMeta) {
      // A member of meta: versionId and lastUpdated belong to the server.
      if (key == "versionId" || key == "lastUpdated") {
        sink_ = Sink::kDiscard;
        out_ = &discard_;
      } else {
        sink_ = Sink::kMeta;
        out_ = &result.meta_rest;
        AppendMember(*out_, key, true);
      }
    } else {
      AppendMember(*out_, key, f.count++ > 0);
    }
    key_.clear();
    return true;
  }

  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    str_.append(s.data(), s.size());
    return true;
  }

  bool on_string(json::string_view s, std::size_t, json::error_code& ec) {
    std::string_view text(s.data(), s.size());  // in one piece (most are): used where it lies
    if (!str_.empty()) {
      str_.append(text);
      text = str_;
    }
    if (frames_.size() == 1 && sink_ == Sink::kResourceType) {
      result.resource_type.assign(text);
      saw_resource_type = true;
      str_.clear();
      return true;
    }
    if (frames_.size() == 1 && sink_ == Sink::kId) {
      result.id.assign(text);
      result.has_id = true;
      str_.clear();
      return true;
    }
    if (!BeginValue(ec, false)) return false;
    out_->push_back('"');
    AppendEscaped(*out_, text);
    out_->push_back('"');
    str_.clear();
    if (frames_.size() == 1) EndTopLevelValue();
    return true;
  }

  bool on_number_part(json::string_view s, json::error_code&) {
    num_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(int64_t, json::string_view s, json::error_code& ec) { return Number(s, ec); }
  bool on_uint64(uint64_t, json::string_view s, json::error_code& ec) { return Number(s, ec); }
  bool on_double(double, json::string_view s, json::error_code& ec) { return Number(s, ec); }

  bool on_bool(bool b, json::error_code& ec) { return Literal(b ? "true" : "false", ec); }
  bool on_null(json::error_code& ec) { return Literal("null", ec); }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  bool Fail(json::error_code& ec, std::string message, std::string path) {
    if (problem.empty()) {
      problem = std::move(message);
      problem_path = std::move(path);
    }
    ec = json::error::extra_data;  // any error stops the parser; `problem` says what it was
    return false;
  }

  std::string Path() const {
    return result.resource_type.empty() ? std::string() : result.resource_type + ".";
  }

  static void AppendMember(std::string& out, std::string_view key, bool leading_comma) {
    if (leading_comma) out.push_back(',');
    out.push_back('"');
    AppendEscaped(out, key);
    out += "\":";
  }

  // Called before any value is written; checks the value's kind where the server cares and
  // writes the separating comma inside arrays.
  bool BeginValue(json::error_code& ec, bool is_object) {
    if (frames_.empty()) return Fail(ec, "The body must be a JSON object (a FHIR resource)", "");
    if (frames_.size() == 1) {
      if (sink_ == Sink::kResourceType)
        return Fail(ec, "resourceType must be a string", "resourceType");
      if (sink_ == Sink::kId) return Fail(ec, "id must be a string", Path() + "id");
      if (sink_ == Sink::kMeta) {
        if (!is_object) return Fail(ec, "meta must be a JSON object", Path() + "meta");
        out_ = &discard_;  // meta's own braces are written by RenderResource
      }
      return true;
    }
    Frame& f = frames_.back();
    if (!f.is_object && f.count++ > 0) out_->push_back(',');
    return true;
  }

  void EndTopLevelValue() {
    sink_ = Sink::kNormal;
    out_ = &discard_;
  }

  bool Number(json::string_view s, json::error_code& ec) {
    num_.append(s.data(), s.size());
    if (!BeginValue(ec, false)) return false;
    out_->append(num_);  // the exact text the client sent
    num_.clear();
    if (frames_.size() == 1) EndTopLevelValue();
    return true;
  }

  bool Literal(std::string_view text, json::error_code& ec) {
    if (!BeginValue(ec, false)) return false;
    out_->append(text);
    if (frames_.size() == 1) EndTopLevelValue();
    return true;
  }

  // The member names of the open objects, innermost object's last, to refuse duplicates: one
  // buffer for the whole parse rather than a vector of strings per object (the allocations and
  // copies of those were a visible part of preparing a resource).
  struct KeyRef {
    size_t offset, size;  // in key_text_
  };
  std::vector<KeyRef> keys_;
  std::string key_text_;
  std::vector<Frame> frames_;
  Sink sink_ = Sink::kNormal;
  std::string* out_ = &discard_;
  std::string discard_;
  std::string key_, str_, num_;  // the parts of a name, string or number delivered in pieces
};

// 1-based line and column of byte `offset` in `text`, for parse error messages.
std::string Position(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  size_t line = 1, col = 1;
  for (size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

}  // namespace

Result<PreparedResource> PrepareResource(std::string_view body) {
  json::parse_options options;
  options.max_depth = 128;  // deep Questionnaire item trees are legitimate
  json::basic_parser<Handler> parser(options);
  json::error_code ec;
  size_t consumed = parser.write_some(false, body.data(), body.size(), ec);
  Handler& h = parser.handler();
  if (!h.problem.empty())
    return Status(ErrorCode::kInvalid, "structure", h.problem, h.problem_path);
  if (ec) {
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos)
      return Status(ErrorCode::kInvalid, "structure",
                    "The request body is empty; a resource was expected");
    return Status(
        ErrorCode::kInvalid, "structure",
        "The body is not valid JSON (" + ec.message() + " at " + Position(body, consumed) + ")");
  }
  if (body.find_first_not_of(" \t\r\n", consumed) != std::string_view::npos)
    return Status(ErrorCode::kInvalid, "structure",
                  "The body is not valid JSON (unexpected data after the resource at " +
                      Position(body, consumed) + ")");
  if (!h.root_is_object)
    return Status(ErrorCode::kInvalid, "structure",
                  "The body must be a JSON object (a FHIR resource)");
  if (!h.saw_resource_type || h.result.resource_type.empty())
    return Status(ErrorCode::kInvalid, "required", "The resource has no resourceType",
                  "resourceType");
  return std::move(h.result);
}

std::string RenderResource(const PreparedResource& r, std::string_view id, int64_t version,
                           std::string_view last_updated) {
  std::string out;
  out.reserve(64 + r.resource_type.size() + id.size() + last_updated.size() + r.meta_rest.size() +
              r.body_rest.size());
  out += "{\"resourceType\":\"";
  core::AppendJsonEscaped(out, r.resource_type);
  out += "\",\"id\":\"";
  core::AppendJsonEscaped(out, id);
  out += "\",\"meta\":{\"versionId\":\"";
  out += std::to_string(version);
  out += "\",\"lastUpdated\":\"";
  out += last_updated;
  out += '"';
  out += r.meta_rest;
  out += '}';
  out += r.body_rest;
  out += '}';
  return out;
}

std::string PrettyPrint(std::string_view in) {
  std::string out;
  out.reserve(in.size() * 2);
  int indent = 0;
  bool in_string = false;
  auto newline = [&] {
    out.push_back('\n');
    out.append(static_cast<size_t>(indent) * 2, ' ');
  };
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < in.size()) {
        out.push_back(in[++i]);
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case ' ':
      case '\t':
      case '\r':
      case '\n':
        break;
      case '"':
        in_string = true;
        out.push_back(c);
        break;
      case '{':
      case '[': {
        size_t j = in.find_first_not_of(" \t\r\n", i + 1);
        if (j != std::string_view::npos && (in[j] == '}' || in[j] == ']')) {
          out.push_back(c);
          out.push_back(in[j]);
          i = j;
        } else {
          out.push_back(c);
          ++indent;
          newline();
        }
        break;
      }
      case '}':
      case ']':
        --indent;
        newline();
        out.push_back(c);
        break;
      case ',':
        out.push_back(',');
        newline();
        break;
      case ':':
        out += ": ";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

}  // namespace kiln::fhir
