#include "fhir/definitions.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace kiln::fhir {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

std::vector<std::string> ToVector(NameList names) {
  return std::vector<std::string>(names.begin(), names.end());
}

std::vector<std::string> TypeCodes(const ElementDef& element) {
  std::vector<std::string> codes;
  for (const ElementType& type : element.types()) codes.emplace_back(type.code());
  return codes;
}

TEST(DefinitionsTest, Version) { EXPECT_EQ(FhirVersion(), "4.0.1"); }

TEST(DefinitionsTest, ResourceTypes) {
  // R4 has 146 concrete resource types (the 148 codes of the resource-types code system minus
  // Resource and DomainResource).
  const std::span<const TypeDef> resources = ResourceTypes();
  EXPECT_EQ(resources.size(), 146u);
  EXPECT_TRUE(std::ranges::is_sorted(resources, {}, &TypeDef::name));
  EXPECT_TRUE(std::ranges::all_of(resources, &TypeDef::is_resource));
  EXPECT_EQ(resources.front().name(), "Account");
  EXPECT_EQ(resources.back().name(), "VisionPrescription");

  EXPECT_TRUE(IsResourceType("Patient"));
  EXPECT_TRUE(IsResourceType("Parameters"));
  EXPECT_TRUE(IsResourceType("Bundle"));
  EXPECT_FALSE(IsResourceType("Foo"));
  EXPECT_FALSE(IsResourceType("patient"));
  EXPECT_FALSE(IsResourceType(""));
  EXPECT_FALSE(IsResourceType("Resource"));
  EXPECT_FALSE(IsResourceType("DomainResource"));
  EXPECT_FALSE(IsResourceType("HumanName"));
  EXPECT_FALSE(IsResourceType("string"));
}

TEST(DefinitionsTest, AllTypes) {
  const std::span<const TypeDef> all = AllTypes();
  EXPECT_EQ(all.size(), 214u);
  std::set<std::string_view> names;
  for (const TypeDef& type : all) {
    EXPECT_TRUE(names.insert(type.name()).second) << type.name();
    EXPECT_EQ(FindType(type.name()), &type);
    ASSERT_FALSE(type.elements().empty()) << type.name();
    EXPECT_EQ(type.elements().front().path(), type.name());
  }
  EXPECT_EQ(std::ranges::count(all, TypeKind::kPrimitiveType, &TypeDef::kind), 20);
  EXPECT_EQ(FindType("Foo"), nullptr);
  EXPECT_EQ(FindType(""), nullptr);
}

TEST(DefinitionsTest, TypeProperties) {
  const TypeDef* patient = FindType("Patient");
  ASSERT_NE(patient, nullptr);
  EXPECT_EQ(patient->name(), "Patient");
  EXPECT_EQ(patient->kind(), TypeKind::kResource);
  EXPECT_FALSE(patient->is_abstract());
  EXPECT_EQ(patient->base(), "DomainResource");
  EXPECT_EQ(patient->url(), "http://hl7.org/fhir/StructureDefinition/Patient");

  const TypeDef* domain = FindType("DomainResource");
  ASSERT_NE(domain, nullptr);
  EXPECT_TRUE(domain->is_abstract());
  EXPECT_FALSE(domain->is_resource());
  EXPECT_EQ(domain->base(), "Resource");
  EXPECT_EQ(FindType("Resource")->base(), "");
  EXPECT_EQ(FindType("Bundle")->base(), "Resource");

  EXPECT_EQ(FindType("HumanName")->kind(), TypeKind::kComplexType);
  EXPECT_EQ(FindType("Age")->base(), "Quantity");
  EXPECT_EQ(FindType("code")->kind(), TypeKind::kPrimitiveType);
  EXPECT_EQ(FindType("code")->base(), "string");
  EXPECT_TRUE(FindType("BackboneElement")->is_abstract());
  EXPECT_EQ(FindType("MetadataResource")->kind(), TypeKind::kLogical);
  EXPECT_EQ(ToString(TypeKind::kPrimitiveType), "primitive-type");
}

TEST(DefinitionsTest, Elements) {
  const TypeDef* patient = FindType("Patient");
  ASSERT_NE(patient, nullptr);
  EXPECT_EQ(patient->elements().size(), 45u);

  const ElementDef* name = patient->FindElement("Patient.name");
  ASSERT_NE(name, nullptr);
  EXPECT_EQ(name->path(), "Patient.name");
  EXPECT_EQ(name->name(), "name");
  EXPECT_EQ(name->min(), 0u);
  EXPECT_EQ(name->max(), -1);
  EXPECT_TRUE(name->is_array());
  EXPECT_TRUE(name->is_summary());
  EXPECT_FALSE(name->is_modifier());
  EXPECT_THAT(TypeCodes(*name), ElementsAre("HumanName"));

  // Paths are per type.
  EXPECT_EQ(patient->FindElement("Patient.name.given"), nullptr);
  EXPECT_NE(FindElement("HumanName.given"), nullptr);
  EXPECT_EQ(FindElement("Patient.nope"), nullptr);
  EXPECT_EQ(FindElement("Nope.name"), nullptr);

  const ElementDef* active = FindElement("Patient.active");
  ASSERT_NE(active, nullptr);
  EXPECT_TRUE(active->is_modifier());
  EXPECT_EQ(active->max(), 1);
  EXPECT_FALSE(active->is_array());

  const ElementDef* status = FindElement("Observation.status");
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(status->min(), 1u);

  // Inherited elements appear under the type's own path.
  const ElementDef* id = FindElement("Patient.id");
  ASSERT_NE(id, nullptr);
  ASSERT_EQ(id->types().size(), 1u);
  EXPECT_EQ(id->types()[0].code(), "http://hl7.org/fhirpath/System.String");
  EXPECT_EQ(id->types()[0].fhir_type(), "string");

  // Every element is found by its own path.
  for (const TypeDef& type : AllTypes()) {
    for (const ElementDef& element : type.elements()) {
      EXPECT_EQ(type.FindElement(element.path()), &element) << element.path();
    }
  }
}

TEST(DefinitionsTest, ChoiceElement) {
  const ElementDef* value = FindElement("Observation.value[x]");
  ASSERT_NE(value, nullptr);
  EXPECT_TRUE(value->is_choice());
  EXPECT_EQ(value->name(), "value[x]");
  EXPECT_THAT(TypeCodes(*value),
              UnorderedElementsAre("Quantity", "CodeableConcept", "string", "boolean", "integer",
                                   "Range", "Ratio", "SampledData", "time", "dateTime", "Period"));
  EXPECT_TRUE(value->HasType("Quantity"));
  EXPECT_FALSE(value->HasType("Reference"));
  EXPECT_FALSE(FindElement("Observation.status")->is_choice());
}

TEST(DefinitionsTest, ReferenceTargets) {
  const ElementDef* subject = FindElement("Observation.subject");
  ASSERT_NE(subject, nullptr);
  ASSERT_EQ(subject->types().size(), 1u);
  EXPECT_EQ(subject->types()[0].code(), "Reference");
  EXPECT_THAT(ToVector(subject->types()[0].target_types()),
              ElementsAre("Patient", "Group", "Device", "Location"));

  // canonical targets, and Reference(Any).
  const ElementDef* questionnaire = FindElement("QuestionnaireResponse.questionnaire");
  ASSERT_NE(questionnaire, nullptr);
  EXPECT_EQ(questionnaire->types()[0].code(), "canonical");
  EXPECT_THAT(ToVector(questionnaire->types()[0].target_types()), ElementsAre("Questionnaire"));
  EXPECT_THAT(ToVector(FindElement("Provenance.target")->types()[0].target_types()),
              ElementsAre("Resource"));

  // Type profiles stay URLs.
  const ElementDef* low = FindElement("Range.low");
  ASSERT_NE(low, nullptr);
  EXPECT_THAT(ToVector(low->types()[0].profiles()),
              ElementsAre("http://hl7.org/fhir/StructureDefinition/SimpleQuantity"));
}

TEST(DefinitionsTest, Bindings) {
  const ElementDef* gender = FindElement("Patient.gender");
  ASSERT_NE(gender, nullptr);
  EXPECT_EQ(gender->binding_strength(), BindingStrength::kRequired);
  // The package writes ".../administrative-gender|4.0.1"; the version is stripped.
  EXPECT_EQ(gender->binding_value_set(), "http://hl7.org/fhir/ValueSet/administrative-gender");
  EXPECT_EQ(ToString(gender->binding_strength()), "required");

  const ElementDef* marital = FindElement("Patient.maritalStatus");
  ASSERT_NE(marital, nullptr);
  EXPECT_EQ(marital->binding_strength(), BindingStrength::kExtensible);
  EXPECT_EQ(marital->binding_value_set(), "http://hl7.org/fhir/ValueSet/marital-status");

  const ElementDef* name = FindElement("Patient.name");
  EXPECT_EQ(name->binding_strength(), BindingStrength::kNone);
  EXPECT_EQ(name->binding_value_set(), "");
}

TEST(DefinitionsTest, ContentReference) {
  const ElementDef* item = FindElement("Questionnaire.item.item");
  ASSERT_NE(item, nullptr);
  EXPECT_EQ(item->content_reference(), "#Questionnaire.item");
  EXPECT_TRUE(item->types().empty());
  EXPECT_EQ(FindElement("Questionnaire.item")->content_reference(), "");
}

TEST(DefinitionsTest, PrimitiveRegex) {
  const ElementDef* value = FindElement("id.value");
  ASSERT_NE(value, nullptr);
  ASSERT_EQ(value->types().size(), 1u);
  EXPECT_EQ(value->types()[0].regex(), "[A-Za-z0-9\\-\\.]{1,64}");
  EXPECT_EQ(FindElement("boolean.value")->types()[0].regex(), "true|false");
  EXPECT_EQ(FindElement("Patient.name")->types()[0].regex(), "");
}

TEST(DefinitionsTest, SearchParams) {
  // 1,400 SearchParameter files, of which 24 are experimental (examples, extension-based).
  EXPECT_EQ(AllSearchParams().size(), 1376u);
  EXPECT_TRUE(std::ranges::is_sorted(AllSearchParams(), {}, &SearchParamDef::url));

  const SearchParamList patient = SearchParamsFor("Patient");
  std::vector<std::string> codes;
  for (const SearchParamDef& param : patient) codes.emplace_back(param.code());
  EXPECT_TRUE(std::ranges::is_sorted(codes));
  for (const char* code :
       {"name", "birthdate", "identifier", "family", "given", "gender", "general-practitioner",
        "_id", "_lastUpdated", "_profile", "_security", "_source", "_tag", "_text", "_content"}) {
    EXPECT_NE(std::ranges::find(codes, code), codes.end()) << code;
  }

  const SearchParamDef* name = FindSearchParam("Patient", "name");
  ASSERT_NE(name, nullptr);
  EXPECT_EQ(name->type(), SearchParamType::kString);
  EXPECT_EQ(name->url(), "http://hl7.org/fhir/SearchParameter/Patient-name");
  EXPECT_EQ(name->expression(), "Patient.name");
  EXPECT_EQ(name->xpath_usage(), XPathUsage::kNormal);
  EXPECT_THAT(ToVector(name->bases()), ElementsAre("Patient"));

  const SearchParamDef* id = FindSearchParam("Patient", "_id");
  ASSERT_NE(id, nullptr);
  EXPECT_EQ(id->type(), SearchParamType::kToken);
  EXPECT_EQ(id->expression(), "Resource.id");
  EXPECT_THAT(ToVector(id->bases()), ElementsAre("Resource"));
  EXPECT_EQ(FindSearchParam("Patient", "_lastUpdated")->type(), SearchParamType::kDate);

  // One definition, several bases.
  const SearchParamDef* birthdate = FindSearchParam("Patient", "birthdate");
  ASSERT_NE(birthdate, nullptr);
  EXPECT_EQ(birthdate, FindSearchParam("Person", "birthdate"));
  EXPECT_THAT(ToVector(birthdate->bases()), ElementsAre("Patient", "Person", "RelatedPerson"));
  EXPECT_THAT(ToVector(birthdate->comparators()),
              ElementsAre("eq", "ne", "gt", "ge", "lt", "le", "sa", "eb", "ap"));
  EXPECT_TRUE(birthdate->comparators().Contains("ge"));

  // Bundle, Binary and Parameters are not DomainResources: no _text.
  EXPECT_NE(FindSearchParam("Bundle", "_id"), nullptr);
  EXPECT_EQ(FindSearchParam("Bundle", "_text"), nullptr);
  EXPECT_NE(FindSearchParam("Patient", "_text"), nullptr);

  EXPECT_EQ(FindSearchParam("Patient", "nope"), nullptr);
  EXPECT_EQ(FindSearchParam("Foo", "_id"), nullptr);
  EXPECT_TRUE(SearchParamsFor("Foo").empty());
  EXPECT_TRUE(SearchParamsFor("HumanName").empty());

  // Every resource type has the Resource parameters; all lists resolve to their own entries.
  size_t links = 0;
  for (const TypeDef& type : ResourceTypes()) {
    EXPECT_NE(type.FindSearchParam("_lastUpdated"), nullptr) << type.name();
    for (const SearchParamDef& param : type.search_params()) {
      EXPECT_EQ(type.FindSearchParam(param.code()), &param);
      ++links;
    }
  }
  EXPECT_GT(links, 3000u);
}

TEST(DefinitionsTest, ReferenceSearchParam) {
  const SearchParamDef* subject = FindSearchParam("Observation", "subject");
  ASSERT_NE(subject, nullptr);
  EXPECT_EQ(subject->type(), SearchParamType::kReference);
  EXPECT_EQ(subject->expression(), "Observation.subject");
  EXPECT_THAT(ToVector(subject->targets()),
              UnorderedElementsAre("Patient", "Group", "Device", "Location"));
  EXPECT_EQ(FindSearchParam("Patient", "phonetic")->xpath_usage(), XPathUsage::kPhonetic);
}

TEST(DefinitionsTest, CompositeSearchParam) {
  const SearchParamDef* param = FindSearchParam("Observation", "code-value-quantity");
  ASSERT_NE(param, nullptr);
  EXPECT_EQ(param->type(), SearchParamType::kComposite);
  EXPECT_EQ(param->multiple_or(), std::optional<bool>(false));
  EXPECT_EQ(param->multiple_and(), std::nullopt);
  ASSERT_EQ(param->components().size(), 2u);
  EXPECT_EQ(param->components()[0].definition(),
            "http://hl7.org/fhir/SearchParameter/clinical-code");
  EXPECT_EQ(param->components()[0].expression(), "code");
  EXPECT_EQ(param->components()[1].definition(),
            "http://hl7.org/fhir/SearchParameter/Observation-value-quantity");
  EXPECT_EQ(param->components()[1].expression(), "value.as(Quantity)");

  const SearchParamDef* code = FindSearchParamByUrl(param->components()[0].definition());
  ASSERT_NE(code, nullptr);
  EXPECT_EQ(code, FindSearchParam("Observation", "code"));
  EXPECT_EQ(FindSearchParamByUrl("http://example.org/nope"), nullptr);

  // Every component resolves.
  size_t composites = 0;
  for (const SearchParamDef& p : AllSearchParams()) {
    if (p.type() != SearchParamType::kComposite) {
      EXPECT_TRUE(p.components().empty());
      continue;
    }
    ++composites;
    EXPECT_GE(p.components().size(), 2u) << p.url();
    for (const SearchParamComponent& c : p.components()) {
      EXPECT_NE(FindSearchParamByUrl(c.definition()), nullptr) << c.definition();
    }
  }
  EXPECT_EQ(composites, 46u);
}

TEST(DefinitionsTest, SearchParamTypeNames) {
  EXPECT_EQ(ToString(SearchParamType::kQuantity), "quantity");
  EXPECT_EQ(ParseSearchParamType("token"), SearchParamType::kToken);
  EXPECT_EQ(ParseSearchParamType("special"), SearchParamType::kSpecial);
  EXPECT_EQ(ParseSearchParamType("Token"), std::nullopt);
}

TEST(DefinitionsTest, Compartments) {
  std::vector<std::string> codes;
  for (const CompartmentDef& c : Compartments()) codes.emplace_back(c.code());
  EXPECT_THAT(codes,
              ElementsAre("Device", "Encounter", "Patient", "Practitioner", "RelatedPerson"));

  EXPECT_THAT(ToVector(CompartmentParams("Patient", "Observation")),
              ElementsAre("subject", "performer"));
  EXPECT_THAT(ToVector(CompartmentParams("Patient", "Patient")), ElementsAre("link"));
  EXPECT_THAT(ToVector(CompartmentParams("Encounter", "Encounter")), ElementsAre("{def}"));
  EXPECT_THAT(ToVector(CompartmentParams("Patient", "CodeSystem")), IsEmpty());
  EXPECT_THAT(ToVector(CompartmentParams("Patient", "Foo")), IsEmpty());
  EXPECT_THAT(ToVector(CompartmentParams("Foo", "Observation")), IsEmpty());

  const CompartmentDef* patient = FindCompartment("Patient");
  ASSERT_NE(patient, nullptr);
  EXPECT_EQ(patient->url(), "http://hl7.org/fhir/CompartmentDefinition/patient");
  EXPECT_EQ(patient->members().size(), 66u);
  EXPECT_EQ(FindCompartment("patient"), nullptr);

  // Every compartment parameter is a search parameter of the member type.
  for (const CompartmentDef& c : Compartments()) {
    for (const CompartmentMember& m : c.members()) {
      EXPECT_FALSE(m.params().empty());
      for (std::string_view code : m.params()) {
        if (code != "{def}") {
          EXPECT_NE(FindSearchParam(m.resource_type(), code), nullptr)
              << c.code() << " " << m.resource_type() << " " << code;
        }
      }
    }
  }
}

}  // namespace
}  // namespace kiln::fhir
