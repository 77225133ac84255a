#include "rest/capabilities.h"

#include "core/clock.h"
#include "core/strings.h"
#include "fhir/definitions.h"
#include "rest/router.h"

namespace kiln::rest {
namespace {

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
  }
  out += ']';
}

// The search parameters the store can execute today: every parameter of the basic types and the
// composites. Special parameters (near, _text, _content, _list) come later and are not listed.
void AppendSearchParams(std::string& out, const fhir::TypeDef& type) {
  out += ",\"searchParam\":[";
  bool first = true;
  for (const fhir::SearchParamDef& p : type.search_params()) {
    if (p.type() == fhir::SearchParamType::kSpecial || p.expression().empty()) continue;
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

}  // namespace

std::string BuildCapabilityStatement(std::string_view base_url, std::string_view software_version,
                                     int conditional_delete_max) {
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
              : conditional_delete_max > 1                      ? "multiple"
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
  out += "\"rest\":[{\"mode\":\"server\",\"resource\":[";
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
    if (Supported(InteractionKind::kSearchType)) AppendSearchParams(out, t);
    if (Supported(InteractionKind::kValidate)) {
      out +=
          ",\"operation\":[{\"name\":\"validate\",\"definition\":"
          "\"http://hl7.org/fhir/OperationDefinition/Resource-validate\"}]";
    }
    out += '}';
  }
  out += "],\"interaction\":";
  AppendInteractions(out, true);
  if (Supported(InteractionKind::kValidate)) {
    out +=
        ",\"operation\":[{\"name\":\"validate\",\"definition\":"
        "\"http://hl7.org/fhir/OperationDefinition/Resource-validate\"}]";
  }
  out += "}]}";
  return out;
}

}  // namespace kiln::rest
