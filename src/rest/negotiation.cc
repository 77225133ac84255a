#include "rest/negotiation.h"

#include <charconv>

#include "core/strings.h"
#include "rest/outcome.h"

namespace kiln::rest {
namespace {

using core::EqualsIgnoreCase;
using core::ToLowerAscii;
using core::TrimSpaces;

enum class Kind { kFhirJson, kPlainJson, kAny, kXml, kOther };

Kind Classify(std::string_view media_type) {
  std::string t = ToLowerAscii(TrimSpaces(media_type));
  if (t == "application/fhir+json" || t == "application/json+fhir" || t == "json" ||
      t == "fhir+json")
    return Kind::kFhirJson;
  if (t == "application/json") return Kind::kPlainJson;
  if (t == "*/*" || t == "application/*") return Kind::kAny;
  if (t == "application/fhir+xml" || t == "application/xml+fhir" || t == "application/xml" ||
      t == "text/xml" || t == "xml" || t == "fhir+xml")
    return Kind::kXml;
  return Kind::kOther;
}

// The media type of a header value without parameters; q=0 reported through `refused`.
std::string_view MediaType(std::string_view range, bool* refused) {
  size_t semi = range.find(';');
  std::string_view type = TrimSpaces(range.substr(0, semi));
  if (refused) *refused = false;
  while (semi != std::string_view::npos) {
    size_t next = range.find(';', semi + 1);
    std::string_view param = TrimSpaces(range.substr(semi + 1, next - semi - 1));
    if (refused && param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
      std::string_view q = param.substr(2);
      *refused = q.find_first_not_of("0.") == std::string_view::npos;
    }
    semi = next;
  }
  return type;
}

const char* kPlainJsonType = "application/json; charset=utf-8";

}  // namespace

Result<OutputFormat> NegotiateOutput(std::string_view format_param, std::string_view accept,
                                     std::string_view pretty_param) {
  OutputFormat out{kFhirJson, false};
  if (!pretty_param.empty()) {
    if (pretty_param == "true") {
      out.pretty = true;
    } else if (pretty_param != "false") {
      return Status::Invalid("_pretty must be true or false, not '" + std::string(pretty_param) +
                             "'");
    }
  }
  if (!format_param.empty()) {
    switch (Classify(MediaType(format_param, nullptr))) {
      case Kind::kFhirJson:
      case Kind::kAny:
        return out;
      case Kind::kPlainJson:
        out.content_type = kPlainJsonType;
        return out;
      case Kind::kXml:
        return Status(ErrorCode::kNotAcceptable, "not-supported",
                      "_format=" + std::string(format_param) +
                          ": Kiln serves JSON only (application/fhir+json)");
      case Kind::kOther:
        return Status(ErrorCode::kNotAcceptable, "not-supported",
                      "Unknown _format '" + std::string(format_param) +
                          "'; Kiln serves application/fhir+json");
    }
  }
  accept = TrimSpaces(accept);
  if (accept.empty()) return out;
  bool any_ok = false, plain_json_first = false;
  size_t start = 0;
  while (start <= accept.size()) {
    size_t comma = accept.find(',', start);
    std::string_view range =
        accept.substr(start, comma == std::string_view::npos ? accept.npos : comma - start);
    bool refused = false;
    Kind k = Classify(MediaType(range, &refused));
    if (!refused && (k == Kind::kFhirJson || k == Kind::kAny || k == Kind::kPlainJson)) {
      if (!any_ok && k == Kind::kPlainJson) plain_json_first = true;
      any_ok = true;
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (!any_ok)
    return Status(
        ErrorCode::kNotAcceptable, "not-supported",
        "Accept: " + std::string(accept) + " cannot be served; Kiln serves application/fhir+json");
  if (plain_json_first) out.content_type = kPlainJsonType;
  return out;
}

Status CheckResourceContentType(std::string_view content_type) {
  if (TrimSpaces(content_type).empty()) return Status::Ok();
  switch (Classify(MediaType(content_type, nullptr))) {
    case Kind::kFhirJson:
    case Kind::kPlainJson:
      return Status::Ok();
    case Kind::kXml:
      return Status(ErrorCode::kUnsupportedMediaType, "not-supported",
                    "Content-Type " + std::string(content_type) +
                        ": Kiln accepts JSON only (application/fhir+json)");
    default:
      return Status(ErrorCode::kUnsupportedMediaType, "not-supported",
                    "Content-Type " + std::string(content_type) +
                        " is not supported; send application/fhir+json");
  }
}

ReturnPreference ParsePreferReturn(std::string_view prefer) {
  // Preferences are separated by commas (or semicolons for parameters); return=... is one token.
  size_t start = 0;
  while (start < prefer.size()) {
    size_t end = prefer.find_first_of(",;", start);
    std::string_view token =
        TrimSpaces(prefer.substr(start, end == std::string_view::npos ? prefer.npos : end - start));
    if (token.size() > 7 && EqualsIgnoreCase(token.substr(0, 7), "return=")) {
      std::string_view v = token.substr(7);
      if (!v.empty() && v.front() == '"' && v.back() == '"' && v.size() >= 2)
        v = v.substr(1, v.size() - 2);
      if (EqualsIgnoreCase(v, "minimal")) return ReturnPreference::kMinimal;
      if (EqualsIgnoreCase(v, "OperationOutcome")) return ReturnPreference::kOperationOutcome;
      if (EqualsIgnoreCase(v, "representation")) return ReturnPreference::kRepresentation;
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return ReturnPreference::kRepresentation;
}

std::optional<int64_t> ParseVersionETag(std::string_view etag) {
  etag = TrimSpaces(etag);
  if (etag.size() >= 2 && etag[0] == 'W' && etag[1] == '/') etag.remove_prefix(2);
  if (etag.size() < 3 || etag.front() != '"' || etag.back() != '"') return std::nullopt;
  etag = etag.substr(1, etag.size() - 2);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(etag.data(), etag.data() + etag.size(), v);
  if (ec != std::errc() || p != etag.data() + etag.size() || v < 1) return std::nullopt;
  return v;
}

std::string VersionETag(int64_t version) { return "W/\"" + std::to_string(version) + "\""; }

}  // namespace kiln::rest
