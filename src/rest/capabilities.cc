#include "rest/capabilities.h"

#include <map>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/strings.h"
#include "fhir/definitions.h"
#include "rest/router.h"

namespace kiln::rest {
namespace {

// rest.security for SMART on FHIR (App Launch 1.0 section "Declaring support for OAuth2
// endpoints"; 2.0 prefers .well-known/smart-configuration, which Kiln serves as well).
void AppendSecurity(std::string& out, const SecurityInfo& s) {
  out +=
      "\"security\":{\"extension\":[{\"url\":"
      "\"http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris\","
      "\"extension\":[";
  bool first = true;
  for (const auto& [name, url] :
       {std::pair<const char*, const std::string*>{"authorize", &s.authorize_url},
        {"token", &s.token_url},
        {"introspect", &s.introspect_url},
        {"revoke", &s.revoke_url},
        {"register", &s.register_url},
        {"manage", &s.manage_url}}) {
    if (url->empty()) continue;
    if (!first) out += ',';
    first = false;
    out += "{\"url\":\"";
    out += name;
    out += "\",\"valueUri\":" + core::JsonQuote(*url) + "}";
  }
  out +=
      "]}],\"service\":[{\"coding\":[{\"system\":"
      "\"http://terminology.hl7.org/CodeSystem/restful-security-service\",\"code\":"
      "\"SMART-on-FHIR\",\"display\":\"SMART-on-FHIR\"}],\"text\":\"OAuth2 bearer tokens "
      "(JWT) using the SMART App Launch profile\"}],\"description\":\"Every request except "
      "GET /metadata and GET /.well-known/smart-configuration needs an OAuth2 bearer token "
      "(RFC 6750) issued by the authorization server named in "
      ".well-known/smart-configuration; SMART v1 and v2 scopes are enforced per resource "
      "type.\"},";
}

bool Supported(InteractionKind kind) {
  for (const RouteDef& r : Routes())
    if (r.kind == kind) return r.supported;
  return false;
}

// Appends the supported interactions of the system level, or of the type and instance levels,
// as [{"code":...},...].
void AppendInteractions(std::string& out, bool system_level) {
  out += '[';
  bool first = true;
  for (const RouteDef& r : Routes()) {
    if ((r.level == Level::kSystem) != system_level || !r.supported || *r.fhir_code == '\0' ||
        r.kind == InteractionKind::kValidate)
      continue;
    if (!first) out += ',';
    first = false;
    out += "{\"code\":\"";
    out += r.fhir_code;
    out += "\"}";
    // One route serves both: POST [base] with a Bundle of type transaction or batch.
    if (r.kind == InteractionKind::kBatchOrTransaction) out += ",{\"code\":\"batch\"}";
  }
  out += ']';
}

// The search parameters the store can execute today: every parameter of the basic types and the
// composites, full text (_text, _content), Location's near and _list. _query and _filter are not
// listed. Chains and _has work on every reference parameter; R4 has
// no element for that here (SearchParameter.chain lives on the SearchParameter resource), so
// rest.documentation says it.
void AppendSearchParams(std::string& out, const fhir::TypeDef& type) {
  out += ",\"searchParam\":[";
  bool first = true;
  for (const fhir::SearchParamDef& p : type.search_params()) {
    const bool full_text = p.code() == "_text" || p.code() == "_content";
    const bool special = p.code() == "near" || p.code() == "_list";
    if ((p.type() == fhir::SearchParamType::kSpecial && !special) ||
        (p.expression().empty() && !full_text && !special))
      continue;
    if (!first) out += ',';
    first = false;
    out += "{\"name\":";
    out += core::JsonQuote(p.code());
    out += ",\"definition\":";
    out += core::JsonQuote(p.url());
    out += ",\"type\":\"";
    out += fhir::ToString(p.type());
    out += "\"}";
  }
  out += ']';
}

// searchInclude: every reference parameter of the type, "Type:*" and "*" (all of them). Kiln
// follows every reference parameter, with or without :iterate.
void AppendSearchIncludes(std::string& out, const fhir::TypeDef& type) {
  out += ",\"searchInclude\":[\"*\",";
  out += core::JsonQuote(std::string(type.name()) + ":*");
  for (const fhir::SearchParamDef& p : type.search_params()) {
    if (p.type() != fhir::SearchParamType::kReference) continue;
    out += ',';
    out += core::JsonQuote(std::string(type.name()) + ":" + std::string(p.code()));
  }
  out += ']';
}

// searchRevInclude of each type: "Source:param" for every reference parameter of every type that
// may point at it (its targets name the type, or it has no declared targets).
std::map<std::string_view, std::vector<std::string>> RevIncludesByTarget() {
  std::map<std::string_view, std::vector<std::string>> by_target;
  for (const fhir::TypeDef& source : fhir::ResourceTypes()) {
    for (const fhir::SearchParamDef& p : source.search_params()) {
      if (p.type() != fhir::SearchParamType::kReference) continue;
      std::string value = std::string(source.name()) + ":" + std::string(p.code());
      for (const fhir::TypeDef& target : fhir::ResourceTypes()) {
        if (p.targets().empty() || p.targets().Contains(target.name())) {
          by_target[target.name()].push_back(value);
        }
      }
    }
  }
  return by_target;
}

void AppendStrings(std::string& out, std::string_view name,
                   const std::vector<std::string>& values) {
  if (values.empty()) return;
  out += ",\"";
  out += name;
  out += "\":[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += core::JsonQuote(values[i]);
  }
  out += ']';
}

// rest.searchParam: the parameters every type has, which a system search ([base]?...) takes.
void AppendSystemSearchParams(std::string& out) {
  const fhir::TypeDef* resource = fhir::FindType("DomainResource");
  if (resource != nullptr) AppendSearchParams(out, *resource);
}

}  // namespace

std::string BuildCapabilityStatement(std::string_view base_url, std::string_view software_version,
                                     int conditional_delete_max, const SecurityInfo& security) {
  // Instance- and type-level interactions are the same for every resource type.
  std::string type_interactions;
  AppendInteractions(type_interactions, false);
  const bool conditional_read = Supported(InteractionKind::kRead);
  std::string per_type = ",\"versioning\":\"versioned\",\"readHistory\":";
  per_type += Supported(InteractionKind::kVRead) ? "true" : "false";
  per_type += ",\"updateCreate\":";
  per_type += Supported(InteractionKind::kUpdate) ? "true" : "false";
  per_type += ",\"conditionalCreate\":";
  // If-None-Exist rides on create and needs search.
  per_type += Supported(InteractionKind::kCreate) && Supported(InteractionKind::kSearchType)
                  ? "true"
                  : "false";
  per_type += ",\"conditionalRead\":\"";
  per_type += conditional_read ? "full-support" : "not-supported";
  per_type += "\",\"conditionalUpdate\":";
  per_type += Supported(InteractionKind::kConditionalUpdate) ? "true" : "false";
  per_type += ",\"conditionalDelete\":\"";
  per_type += !Supported(InteractionKind::kConditionalDelete) ? "not-supported"
              : conditional_delete_max > 1                    ? "multiple"
                                                              : "single";
  per_type += "\"";

  std::string out;
  out.reserve(64 * 1024);
  out += "{\"resourceType\":\"CapabilityStatement\",\"id\":\"kiln\",\"status\":\"active\",";
  out += "\"date\":\"" + core::FormatInstant(core::NowMicros()) + "\",";
  out += "\"publisher\":\"Kiln\",\"kind\":\"instance\",";
  out += "\"software\":{\"name\":\"Kiln\",\"version\":" + core::JsonQuote(software_version) + "},";
  out += "\"implementation\":{\"description\":\"Kiln FHIR R4 server\",\"url\":" +
         core::JsonQuote(base_url) + "},";
  out += "\"fhirVersion\":\"";
  out += fhir::FhirVersion();
  out += "\",\"format\":[\"application/fhir+json\",\"json\"],";
  out += "\"rest\":[{\"mode\":\"server\",";
  if (security.smart) AppendSecurity(out, security);
  const bool searches = Supported(InteractionKind::kSearchType);
  if (searches) {
    out +=
        "\"documentation\":\"Search supports chained parameters to any depth "
        "(subject:Patient.name=x, subject.organization.name=x) and reverse chaining with _has, "
        "nested, over local references to current resources.\",";
  }
  out += "\"resource\":[";
  const std::map<std::string_view, std::vector<std::string>> rev_includes =
      searches ? RevIncludesByTarget() : std::map<std::string_view, std::vector<std::string>>();
  bool first = true;
  for (const fhir::TypeDef& t : fhir::ResourceTypes()) {
    if (!first) out += ',';
    first = false;
    out += "{\"type\":\"";
    out += t.name();
    out += "\",\"profile\":\"";
    out += t.url();
    out += "\",\"interaction\":";
    out += type_interactions;
    out += per_type;
    if (searches) {
      AppendSearchIncludes(out, t);
      if (auto it = rev_includes.find(t.name()); it != rev_includes.end()) {
        AppendStrings(out, "searchRevInclude", it->second);
      }
      AppendSearchParams(out, t);
    }
    if (Supported(InteractionKind::kValidate)) {
      out +=
          ",\"operation\":[{\"name\":\"validate\",\"definition\":"
          "\"http://hl7.org/fhir/OperationDefinition/Resource-validate\"}]";
    }
    out += '}';
  }
  out += "],\"interaction\":";
  AppendInteractions(out, true);
  if (Supported(InteractionKind::kSearchSystem)) AppendSystemSearchParams(out);
  if (Supported(InteractionKind::kSearchCompartment)) {
    std::vector<std::string> compartments;
    for (const fhir::CompartmentDef& c : fhir::Compartments()) compartments.emplace_back(c.url());
    AppendStrings(out, "compartment", compartments);
  }
  if (Supported(InteractionKind::kValidate)) {
    out +=
        ",\"operation\":[{\"name\":\"validate\",\"definition\":"
        "\"http://hl7.org/fhir/OperationDefinition/Resource-validate\"}]";
  }
  out += "}]}";
  return out;
}

}  // namespace kiln::rest
