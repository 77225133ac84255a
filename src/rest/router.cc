#include "rest/router.h"

#include <array>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "core/ids.h"
#include "fhir/definitions.h"

namespace kiln::rest {
namespace {

constexpr std::array<RouteDef, 18> kRoutes = {{
    {InteractionKind::kCapabilities, Level::kSystem, "GET", "", "capabilities", true},
    {InteractionKind::kHistorySystem, Level::kSystem, "GET", "history-system", "history-system",
     true},
    {InteractionKind::kSearchSystem, Level::kSystem, "GET", "search-system", "search-system", true},
    // No FHIR interaction code of its own: the CapabilityStatement lists rest.compartment.
    {InteractionKind::kSearchCompartment, Level::kInstance, "GET", "", "search-compartment", true},
    {InteractionKind::kBatchOrTransaction, Level::kSystem, "POST", "transaction", "bundle", true},
    {InteractionKind::kCreate, Level::kType, "POST", "create", "create", true},
    {InteractionKind::kSearchType, Level::kType, "GET", "search-type", "search-type", true},
    {InteractionKind::kHistoryType, Level::kType, "GET", "history-type", "history-type", true},
    {InteractionKind::kConditionalUpdate, Level::kType, "PUT", "", "conditional-update", true},
    {InteractionKind::kConditionalDelete, Level::kType, "DELETE", "", "conditional-delete", true},
    {InteractionKind::kConditionalPatch, Level::kType, "PATCH", "", "conditional-patch", true},
    {InteractionKind::kRead, Level::kInstance, "GET", "read", "read", true},
    {InteractionKind::kVRead, Level::kInstance, "GET", "vread", "vread", true},
    {InteractionKind::kUpdate, Level::kInstance, "PUT", "update", "update", true},
    {InteractionKind::kPatch, Level::kInstance, "PATCH", "patch", "patch", true},
    {InteractionKind::kDelete, Level::kInstance, "DELETE", "delete", "delete", true},
    {InteractionKind::kHistoryInstance, Level::kInstance, "GET", "history-instance",
     "history-instance", true},
    {InteractionKind::kValidate, Level::kSystem, "POST", "validate", "validate", true},
}};

const RouteDef& RouteFor(InteractionKind kind) {
  for (const RouteDef& r : kRoutes)
    if (r.kind == kind) return r;
  return kRoutes[0];  // unreachable: every kind is in the table
}

// The path shapes FHIR uses, with the interaction each method maps to there.
struct Shape {
  std::vector<std::pair<const char*, InteractionKind>> methods;
};

RouteResult Pick(std::string_view method, const Shape& shape, Interaction interaction) {
  RouteResult result;
  for (const auto& [m, kind] : shape.methods) {
    if (method == m) {
      interaction.route = &RouteFor(kind);
      result.interaction = std::move(interaction);
      return result;
    }
  }
  for (const auto& [m, kind] : shape.methods) {
    if (!result.allow.empty()) result.allow += ", ";
    result.allow += m;
  }
  result.status =
      Status(ErrorCode::kMethodNotAllowed, "not-supported",
             "Method " + std::string(method) + " is not allowed here; allowed: " + result.allow);
  return result;
}

RouteResult Fail(Status s) {
  RouteResult r;
  r.status = std::move(s);
  return r;
}

}  // namespace

std::span<const RouteDef> Routes() { return kRoutes; }

std::string_view Interaction::Param(std::string_view name) const {
  for (const auto& [k, v] : params)
    if (k == name) return v;
  return {};
}

bool Interaction::HasParam(std::string_view name) const {
  for (const auto& [k, v] : params)
    if (k == name) return true;
  return false;
}

namespace {

// Clients (curl, browsers, many FHIR libraries) send characters RFC 3986 does not allow in a URL
// unencoded, above all FHIR's '|' in token searches (`identifier=system|value`) and the brackets
// of UCUM units (`near=...|10|[mi_i]`, `value-quantity=5||[lb_av]`). Percent-encode
// them so the strict URL parser accepts what every FHIR server is expected to.
std::string_view Lenient(std::string_view target, std::string& buffer) {
  auto needs = [](unsigned char c) {
    return c == '|' || c == '"' || c == '<' || c == '>' || c == '`' || c == '{' || c == '}' ||
           c == '^' || c == '\\' || c == ' ' || c == '[' || c == ']' || c >= 0x80;
  };
  size_t i = 0;
  while (i < target.size() && !needs(static_cast<unsigned char>(target[i]))) ++i;
  if (i == target.size()) return target;
  static const char kHex[] = "0123456789ABCDEF";
  buffer.assign(target.substr(0, i));
  for (; i < target.size(); ++i) {
    auto c = static_cast<unsigned char>(target[i]);
    if (needs(c)) {
      buffer.push_back('%');
      buffer.push_back(kHex[c >> 4]);
      buffer.push_back(kHex[c & 0xf]);
    } else {
      buffer.push_back(static_cast<char>(c));
    }
  }
  return buffer;
}

}  // namespace

RouteResult Route(std::string_view method, std::string_view target, std::string_view base_path) {
  std::string buffer;
  auto parsed = boost::urls::parse_origin_form(Lenient(target, buffer));
  if (!parsed) return Fail(Status::Invalid("Malformed request target"));
  const boost::urls::url_view& url = *parsed;

  std::vector<std::string> segments;
  for (auto seg : url.segments()) segments.emplace_back(seg);
  // Strip the base path ("/fhir" -> one segment "fhir").
  std::vector<std::string> base;
  {
    std::string_view b = base_path;
    while (!b.empty()) {
      if (b.front() == '/') {
        b.remove_prefix(1);
        continue;
      }
      size_t slash = b.find('/');
      base.emplace_back(b.substr(0, slash));
      if (slash == std::string_view::npos) break;
      b.remove_prefix(slash);
    }
  }
  if (segments.size() < base.size())
    return Fail(
        Status::NotFound("Not a FHIR endpoint; the FHIR base is " + std::string(base_path)));
  for (size_t i = 0; i < base.size(); ++i)
    if (segments[i] != base[i])
      return Fail(
          Status::NotFound("Not a FHIR endpoint; the FHIR base is " + std::string(base_path)));
  segments.erase(segments.begin(), segments.begin() + static_cast<long>(base.size()));
  // A trailing slash ("/fhir/Patient/") is the same resource as without it.
  if (!segments.empty() && segments.back().empty()) segments.pop_back();

  Interaction in;
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i) in.path += '/';
    in.path += segments[i];
  }
  for (auto p : url.params()) in.params.emplace_back(p.key, p.has_value ? p.value : "");

  using K = InteractionKind;
  const size_t n = segments.size();
  if (n == 0)
    return Pick(method, {{{"GET", K::kSearchSystem}, {"POST", K::kBatchOrTransaction}}}, in);
  if (n == 1 && segments[0] == "_search") return Pick(method, {{{"POST", K::kSearchSystem}}}, in);
  if (n == 1 && segments[0] == "metadata") return Pick(method, {{{"GET", K::kCapabilities}}}, in);
  if (n == 1 && segments[0] == "_history") return Pick(method, {{{"GET", K::kHistorySystem}}}, in);
  if (n == 1 && segments[0] == "$validate") return Pick(method, {{{"POST", K::kValidate}}}, in);

  const std::string& type = segments[0];
  if (!fhir::IsResourceType(type)) {
    if (n == 1 && !type.empty() && type[0] == '$')
      return Fail(Status(ErrorCode::kNotImplemented, "not-supported",
                         "Operation " + type + " is not supported"));
    return Fail(Status::NotFound("Unknown resource type '" + type + "'"));
  }
  in.type = type;
  if (n == 1)
    return Pick(method,
                {{{"GET", K::kSearchType},
                  {"POST", K::kCreate},
                  {"PUT", K::kConditionalUpdate},
                  {"DELETE", K::kConditionalDelete},
                  {"PATCH", K::kConditionalPatch}}},
                std::move(in));
  if (n == 2 && segments[1] == "_history")
    return Pick(method, {{{"GET", K::kHistoryType}}}, std::move(in));
  if (n == 2 && segments[1] == "$validate")
    return Pick(method, {{{"POST", K::kValidate}}}, std::move(in));
  if (n == 2 && segments[1] == "_search")
    return Pick(method, {{{"POST", K::kSearchType}}}, std::move(in));
  if (!segments[1].empty() && segments[1][0] == '$')
    return Fail(Status(ErrorCode::kNotImplemented, "not-supported",
                       "Operation " + segments[1] + " is not supported"));

  const std::string& id = segments[1];
  if (!core::IsValidId(id))
    return Fail(Status::Invalid("Invalid resource id '" + id +
                                "': an id is 1-64 characters of A-Z, a-z, 0-9, '-' and '.'"));
  in.id = id;
  if (n == 2)
    return Pick(
        method,
        {{{"GET", K::kRead}, {"PUT", K::kUpdate}, {"DELETE", K::kDelete}, {"PATCH", K::kPatch}}},
        std::move(in));
  if (n == 3 && segments[2] == "$validate")
    return Pick(method, {{{"POST", K::kValidate}}}, std::move(in));
  if (segments[2] == "*" || fhir::IsResourceType(segments[2])) {
    // [base]/[compartment]/[id]/[type]: whether `type` names a compartment is the search's to say.
    in.search_type = segments[2];
    if (n == 3) return Pick(method, {{{"GET", K::kSearchCompartment}}}, std::move(in));
    if (n == 4 && segments[3] == "_search")
      return Pick(method, {{{"POST", K::kSearchCompartment}}}, std::move(in));
    return Fail(Status::NotFound("Unknown path under " + type + "/" + id + "/" + segments[2]));
  }
  if (segments[2] != "_history")
    return Fail(Status::NotFound("Unknown path under " + type + "/" + id));
  if (n == 3) return Pick(method, {{{"GET", K::kHistoryInstance}}}, std::move(in));
  if (n == 4) {
    in.vid = segments[3];
    return Pick(method, {{{"GET", K::kVRead}}}, std::move(in));
  }
  return Fail(Status::NotFound("Unknown path under " + type + "/" + id + "/_history"));
}

}  // namespace kiln::rest
