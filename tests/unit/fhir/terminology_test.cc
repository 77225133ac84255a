// fhir::CheckCode over the value sets tools/gen_definitions.mjs expands at build time: known
// codes of a few value sets, the compiled-in expansions against an independent reading of the
// package's ValueSets and CodeSystems (with Boost.JSON), every required binding accounted for
// (expanded, or listed in docs/terminology.md), and the codes of the official examples.

#include "fhir/terminology.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "fhir/definitions.h"
#include "fhir/definitions_tables.h"
#include "fhir/terminology_tables.h"

namespace kiln::fhir {
namespace {

namespace json = boost::json;

using ::testing::IsEmpty;

constexpr std::string_view kGender = "http://hl7.org/fhir/ValueSet/administrative-gender";
constexpr std::string_view kGenderSystem = "http://hl7.org/fhir/administrative-gender";

std::string ReadFile(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The package's resources in files named `prefix`-*.json whose resourceType is `prefix`.
std::vector<json::object> ReadPackage(std::string_view prefix) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(KILN_FHIR_PACKAGE_DIR)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(std::string(prefix) + "-") && name.ends_with(".json")) {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<json::object> out;
  for (const auto& file : files) {
    json::object resource = json::parse(ReadFile(file)).as_object();
    if (resource.at("resourceType").as_string() == prefix) out.push_back(std::move(resource));
  }
  return out;
}

std::map<std::string, json::object> ByUrl(std::vector<json::object> resources) {
  std::map<std::string, json::object> out;
  for (json::object& r : resources) {
    std::string url(r.at("url").as_string());
    out.emplace(std::move(url), std::move(r));
  }
  return out;
}

std::string_view Str(uint32_t id) {
  const internal::StringRef& ref = internal::kStrings[id];
  return std::string_view(internal::kStringPool + ref.offset, ref.size);
}

std::span<const internal::ValueSetDef> ValueSets() {
  return std::span<const internal::ValueSetDef>(internal::kValueSets, internal::kValueSetCount);
}

const internal::ValueSetDef* FindValueSet(std::string_view url) {
  for (const internal::ValueSetDef& vs : ValueSets()) {
    if (Str(vs.url) == url) return &vs;
  }
  return nullptr;
}

using CodeSet = std::set<std::pair<std::string, std::string>>;  // (system, code)

CodeSet TableCodes(const internal::ValueSetDef& vs) {
  CodeSet out;
  for (uint32_t i = 0; i < vs.code_count; ++i) {
    const internal::ValueSetCode& c = internal::kValueSetCodes[vs.codes + i];
    out.emplace(Str(c.system), Str(c.code));
  }
  return out;
}

TEST(TerminologyTest, AdministrativeGender) {
  for (std::string_view code : {"male", "female", "other", "unknown"}) {
    EXPECT_EQ(CheckCode(kGender, kGenderSystem, code), CodeCheck::kInValueSet) << code;
    EXPECT_EQ(CheckCode(kGender, "", code), CodeCheck::kInValueSet) << code;
  }
  EXPECT_EQ(CheckCode(kGender, kGenderSystem, "man"), CodeCheck::kNotInValueSet);
  EXPECT_EQ(CheckCode(kGender, "", "man"), CodeCheck::kNotInValueSet);
  EXPECT_EQ(CheckCode(kGender, "", "Male"), CodeCheck::kNotInValueSet);  // case-sensitive
  EXPECT_EQ(CheckCode(kGender, "", ""), CodeCheck::kNotInValueSet);
  EXPECT_EQ(CheckCode(kGender, "", "mal"), CodeCheck::kNotInValueSet);
  EXPECT_EQ(CheckCode(kGender, "", "males"), CodeCheck::kNotInValueSet);
  // The right code from the wrong system, sorting before and after the right one.
  EXPECT_EQ(CheckCode(kGender, "http://example.org", "male"), CodeCheck::kNotInValueSet);
  EXPECT_EQ(CheckCode(kGender, "http://hl7.org/fhir/a", "male"), CodeCheck::kNotInValueSet);
  EXPECT_EQ(CheckCode(kGender, "http://hl7.org/fhir/gender", "male"), CodeCheck::kNotInValueSet);
  EXPECT_EQ(CheckCode(kGender, "http://snomed.info/sct", "female"), CodeCheck::kNotInValueSet);
  EXPECT_EQ(CheckCode(kGender, "http://zzz", "unknown"), CodeCheck::kNotInValueSet);
}

TEST(TerminologyTest, ObservationStatusWithANestedCode) {
  constexpr std::string_view kStatus = "http://hl7.org/fhir/ValueSet/observation-status";
  constexpr std::string_view kSystem = "http://hl7.org/fhir/observation-status";
  // "corrected" is nested under "amended" in the code system.
  for (std::string_view code : {"registered", "preliminary", "final", "amended", "corrected",
                                "cancelled", "entered-in-error", "unknown"}) {
    EXPECT_EQ(CheckCode(kStatus, kSystem, code), CodeCheck::kInValueSet) << code;
  }
  EXPECT_EQ(CheckCode(kStatus, "", "done"), CodeCheck::kNotInValueSet);
  EXPECT_EQ(CheckCode(kStatus, "", "active"), CodeCheck::kNotInValueSet);
  EXPECT_EQ(TableCodes(*FindValueSet(kStatus)).size(), 8u);
}

TEST(TerminologyTest, DeeplyNestedCodes) {
  // issue-type nests codes three levels deep (invalid > structure, processing > ...).
  constexpr std::string_view kIssueType = "http://hl7.org/fhir/ValueSet/issue-type";
  for (std::string_view code :
       {"invalid", "structure", "required", "value", "invariant", "security", "login", "processing",
        "not-found", "transient", "throttled", "informational"}) {
    EXPECT_EQ(CheckCode(kIssueType, "http://hl7.org/fhir/issue-type", code), CodeCheck::kInValueSet)
        << code;
  }
  EXPECT_EQ(CheckCode(kIssueType, "", "error"), CodeCheck::kNotInValueSet);
}

TEST(TerminologyTest, AbstractCodesAreLeftOut) {
  // Questionnaire item types: "question" is notSelectable, its children are the real types.
  constexpr std::string_view kItemType = "http://hl7.org/fhir/ValueSet/item-type";
  EXPECT_EQ(CheckCode(kItemType, "", "question"), CodeCheck::kNotInValueSet);
  for (std::string_view code : {"group", "display", "boolean", "decimal", "choice", "reference"}) {
    EXPECT_EQ(CheckCode(kItemType, "http://hl7.org/fhir/item-type", code), CodeCheck::kInValueSet)
        << code;
  }
}

TEST(TerminologyTest, ListedConcepts) {
  // Six codes listed out of the twenty of v3-Confidentiality.
  constexpr std::string_view kConfidentiality =
      "http://terminology.hl7.org/ValueSet/v3-ConfidentialityClassification";
  constexpr std::string_view kSystem = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality";
  for (std::string_view code : {"U", "L", "M", "N", "R", "V"}) {
    EXPECT_EQ(CheckCode(kConfidentiality, kSystem, code), CodeCheck::kInValueSet) << code;
  }
  EXPECT_EQ(CheckCode(kConfidentiality, kSystem, "ETH"), CodeCheck::kNotInValueSet);
  EXPECT_EQ(CheckCode(kConfidentiality, kSystem, "_Confidentiality"), CodeCheck::kNotInValueSet);
  EXPECT_EQ(CheckCode(kConfidentiality, kSystem, "u"), CodeCheck::kNotInValueSet);

  // Listed concepts of a code system the package lacks (UCUM) are enough to expand the set.
  constexpr std::string_view kUnitsOfTime = "http://hl7.org/fhir/ValueSet/units-of-time";
  for (std::string_view code : {"s", "min", "h", "d", "wk", "mo", "a"}) {
    EXPECT_EQ(CheckCode(kUnitsOfTime, "http://unitsofmeasure.org", code), CodeCheck::kInValueSet)
        << code;
  }
  EXPECT_EQ(CheckCode(kUnitsOfTime, "", "sec"), CodeCheck::kNotInValueSet);
  EXPECT_EQ(CheckCode(kUnitsOfTime, "", "ms"), CodeCheck::kNotInValueSet);
}

TEST(TerminologyTest, SeveralSystems) {
  // all-types: the union of the data-types, resource-types and abstract-types code systems.
  constexpr std::string_view kAllTypes = "http://hl7.org/fhir/ValueSet/all-types";
  EXPECT_EQ(CheckCode(kAllTypes, "http://hl7.org/fhir/resource-types", "Patient"),
            CodeCheck::kInValueSet);
  EXPECT_EQ(CheckCode(kAllTypes, "http://hl7.org/fhir/data-types", "HumanName"),
            CodeCheck::kInValueSet);
  EXPECT_EQ(CheckCode(kAllTypes, "", "Patient"), CodeCheck::kInValueSet);
  EXPECT_EQ(CheckCode(kAllTypes, "", "string"), CodeCheck::kInValueSet);
  EXPECT_EQ(CheckCode(kAllTypes, "http://hl7.org/fhir/data-types", "Patient"),
            CodeCheck::kNotInValueSet);
  EXPECT_EQ(CheckCode(kAllTypes, "http://hl7.org/fhir/resource-types", "string"),
            CodeCheck::kNotInValueSet);
  EXPECT_EQ(CheckCode(kAllTypes, "", "patient"), CodeCheck::kNotInValueSet);
}

TEST(TerminologyTest, NotExpandable) {
  // External code systems: BCP 13, UCUM, ISO 4217; a LOINC answer list the package lacks.
  for (std::string_view url :
       {"http://hl7.org/fhir/ValueSet/mimetypes", "http://hl7.org/fhir/ValueSet/ucum-units",
        "http://hl7.org/fhir/ValueSet/currencies", "http://loinc.org/vs/LL379-9"}) {
    EXPECT_EQ(CheckCode(url, "", "application/fhir+json"), CodeCheck::kNotExpandable) << url;
    const internal::ValueSetDef* vs = FindValueSet(url);
    ASSERT_NE(vs, nullptr) << url;
    EXPECT_NE(Str(vs->reason), "") << url;
    EXPECT_EQ(vs->code_count, 0u) << url;
  }
  // Unknown value sets, value sets of non-required bindings, versioned URLs.
  EXPECT_EQ(CheckCode("", "", "male"), CodeCheck::kNotExpandable);
  EXPECT_EQ(CheckCode("http://example.org/ValueSet/nope", "", "male"), CodeCheck::kNotExpandable);
  EXPECT_EQ(CheckCode("http://hl7.org/fhir/ValueSet/languages", "", "en"),
            CodeCheck::kNotExpandable);
  EXPECT_EQ(CheckCode(std::string(kGender) + "|4.0.1", "", "male"), CodeCheck::kNotExpandable);
  EXPECT_EQ(CheckCode("http://hl7.org/fhir/ValueSet/administrative-gende", "", "male"),
            CodeCheck::kNotExpandable);
  EXPECT_EQ(CheckCode("http://hl7.org/fhir/ValueSet/administrative-genderz", "", "male"),
            CodeCheck::kNotExpandable);
}

TEST(TerminologyTest, TablesAreSortedForBinarySearch) {
  const std::span<const internal::ValueSetDef> sets = ValueSets();
  ASSERT_FALSE(sets.empty());
  for (size_t i = 1; i < sets.size(); ++i) {
    EXPECT_LT(Str(sets[i - 1].url), Str(sets[i].url));
  }
  for (const internal::ValueSetDef& vs : sets) {
    for (uint32_t i = 1; i < vs.code_count; ++i) {
      const internal::ValueSetCode& a = internal::kValueSetCodes[vs.codes + i - 1];
      const internal::ValueSetCode& b = internal::kValueSetCodes[vs.codes + i];
      EXPECT_LT(std::make_pair(Str(a.code), Str(a.system)),
                std::make_pair(Str(b.code), Str(b.system)))
          << Str(vs.url);
    }
  }
}

// Every required binding of every type has its value set in the tables: expanded (and then every
// code of the expansion is found through CheckCode), or not expandable for a reason that
// docs/terminology.md gives users.
TEST(TerminologyTest, EveryRequiredBindingIsExpandedOrDocumented) {
  const std::filesystem::path docs_path =
      std::filesystem::path(__FILE__).parent_path() / "../../../docs/terminology.md";
  const std::string docs = ReadFile(docs_path);
  ASSERT_FALSE(docs.empty()) << docs_path;

  std::set<std::string_view> bound;
  size_t expanded = 0;
  size_t codes = 0;
  for (const TypeDef& type : AllTypes()) {
    for (const ElementDef& element : type.elements()) {
      if (element.binding_strength() != BindingStrength::kRequired) continue;
      const std::string_view url = element.binding_value_set();
      if (!bound.insert(url).second) continue;
      SCOPED_TRACE(std::string(element.path()) + " " + std::string(url));
      const internal::ValueSetDef* vs = FindValueSet(url);
      ASSERT_NE(vs, nullptr);
      const std::string_view reason = Str(vs->reason);
      if (!reason.empty()) {
        EXPECT_NE(docs.find("| " + std::string(url) + " | It " + std::string(reason) + ". |"),
                  std::string::npos)
            << "docs/terminology.md is out of date: run tools/gen_definitions.mjs with --docs";
        continue;
      }
      ++expanded;
      EXPECT_GT(vs->code_count, 0u);
      for (const auto& [system, code] : TableCodes(*vs)) {
        ++codes;
        EXPECT_EQ(CheckCode(url, system, code), CodeCheck::kInValueSet) << system << " " << code;
        EXPECT_EQ(CheckCode(url, "", code), CodeCheck::kInValueSet) << code;
        EXPECT_EQ(CheckCode(url, system, code + "x"), CodeCheck::kNotInValueSet) << code;
        EXPECT_EQ(CheckCode(url, system + "x", code), CodeCheck::kNotInValueSet) << code;
        EXPECT_EQ(CheckCode(url, "a", code), CodeCheck::kNotInValueSet) << code;
      }
    }
  }
  // Nothing in the tables that no required binding uses.
  EXPECT_EQ(bound.size(), ValueSets().size());
  EXPECT_EQ(bound.size(), 225u);
  EXPECT_EQ(expanded, 221u);
  EXPECT_EQ(codes, 2096u);
}

// An independent expansion of the ValueSets whose compose has no filters: listed concepts, whole
// code systems (nested concepts included; notSelectable/abstract and retired left out), imports
// and excludes. Returns nullopt for anything else.
class PackageExpander {
 public:
  PackageExpander()
      : value_sets_(ByUrl(ReadPackage("ValueSet"))),
        code_systems_(ByUrl(ReadPackage("CodeSystem"))) {}

  std::optional<CodeSet> Expand(std::string_view url) {
    const auto vs = value_sets_.find(std::string(url));
    if (vs == value_sets_.end()) return std::nullopt;
    const json::object& compose = vs->second.at("compose").as_object();
    CodeSet out;
    for (const json::value& include : compose.at("include").as_array()) {
      std::optional<CodeSet> codes = Include(include.as_object());
      if (!codes) return std::nullopt;
      out.insert(codes->begin(), codes->end());
    }
    if (const json::value* excludes = compose.if_contains("exclude")) {
      for (const json::value& exclude : excludes->as_array()) {
        std::optional<CodeSet> codes = Include(exclude.as_object());
        if (!codes) return std::nullopt;
        for (const auto& code : *codes) out.erase(code);
      }
    }
    return out;
  }

 private:
  std::optional<CodeSet> Include(const json::object& include) {
    if (include.contains("filter")) return std::nullopt;
    std::vector<CodeSet> parts;
    if (const json::value* system = include.if_contains("system")) {
      const std::string system_url(system->as_string());
      const auto cs = code_systems_.find(system_url);
      const bool complete =
          cs != code_systems_.end() && cs->second.at("content").as_string() == "complete";
      std::map<std::string, bool> usable;  // code -> usable, for complete local code systems
      if (complete) Walk(cs->second.at("concept").as_array(), usable);
      CodeSet codes;
      if (const json::value* concepts = include.if_contains("concept")) {
        for (const json::value& c : concepts->as_array()) {
          const std::string code(c.at("code").as_string());
          if (!complete || usable.at(code)) codes.emplace(system_url, code);
        }
      } else {
        if (!complete) return std::nullopt;
        for (const auto& [code, ok] : usable) {
          if (ok) codes.emplace(system_url, code);
        }
      }
      parts.push_back(std::move(codes));
    }
    if (const json::value* imports = include.if_contains("valueSet")) {
      for (const json::value& canonical : imports->as_array()) {
        const std::string_view url = canonical.as_string();
        std::optional<CodeSet> codes = Expand(url.substr(0, url.find('|')));
        if (!codes) return std::nullopt;
        parts.push_back(std::move(*codes));
      }
    }
    if (parts.empty()) return std::nullopt;
    CodeSet out = parts.front();
    for (size_t i = 1; i < parts.size(); ++i) {
      CodeSet both;
      std::ranges::set_intersection(out, parts[i], std::inserter(both, both.end()));
      out = std::move(both);
    }
    return out;
  }

  static void Walk(const json::array& concepts, std::map<std::string, bool>& usable) {
    for (const json::value& v : concepts) {
      const json::object& entry = v.as_object();
      bool ok = true;
      if (const json::value* properties = entry.if_contains("property")) {
        for (const json::value& p : properties->as_array()) {
          const std::string_view code = p.at("code").as_string();
          if ((code == "notSelectable" || code == "abstract") &&
              p.as_object().contains("valueBoolean") && p.at("valueBoolean").as_bool()) {
            ok = false;
          }
          if (code == "status" && p.as_object().contains("valueCode") &&
              p.at("valueCode").as_string() == "retired") {
            ok = false;
          }
        }
      }
      usable.emplace(std::string(entry.at("code").as_string()), ok);
      if (const json::value* children = entry.if_contains("concept")) {
        Walk(children->as_array(), usable);
      }
    }
  }

  std::map<std::string, json::object> value_sets_;
  std::map<std::string, json::object> code_systems_;
};

TEST(TerminologyTest, ExpansionsMatchThePackage) {
  PackageExpander expander;
  size_t compared = 0;
  for (const internal::ValueSetDef& vs : ValueSets()) {
    if (vs.reason != 0) continue;
    SCOPED_TRACE(std::string(Str(vs.url)));
    std::optional<CodeSet> expected = expander.Expand(Str(vs.url));
    if (!expected) continue;  // uses filters; none of the required value sets does in R4
    ++compared;
    EXPECT_EQ(TableCodes(vs), *expected);
  }
  EXPECT_EQ(compared, 221u);
}

// The `code` and CodeableConcept elements with a required binding in an example resource, found by
// walking its JSON along the definitions: inline backbone elements, complex data types, choice
// elements, contentReference and contained resources.
class ExampleCodes {
 public:
  struct Use {
    std::string path;  // element path, e.g. "Patient.gender", "HumanName.use"
    std::string value_set;
    std::string system;  // "" for `code` elements
    std::string code;
  };

  void WalkResource(const json::object& resource) {
    const TypeDef* type = FindType(resource.at("resourceType").as_string());
    ASSERT_NE(type, nullptr);
    Walk(*type, type->name(), resource);
  }

  std::vector<Use> uses;

 private:
  void Walk(const TypeDef& type, std::string_view path, const json::object& object) {
    for (const auto& [key, value] : object) {
      if (key.starts_with("_") || key == "resourceType") continue;
      std::string type_code;
      const ElementDef* element = Resolve(type, path, key, type_code);
      ASSERT_NE(element, nullptr) << path << "." << key;
      if (value.is_array()) {
        for (const json::value& item : value.as_array()) Visit(type, *element, type_code, item);
      } else {
        Visit(type, *element, type_code, value);
      }
    }
  }

  // The element `key` names under `path` and the type its value has.
  static const ElementDef* Resolve(const TypeDef& type, std::string_view path, std::string_view key,
                                   std::string& type_code) {
    const ElementDef* element = type.FindElement(std::string(path) + "." + std::string(key));
    if (element != nullptr) {
      if (!element->types().empty()) type_code = element->types().front().code();
      return element;
    }
    for (const ElementDef& e : type.elements()) {  // a choice: "valueQuantity" for "value[x]"
      if (!e.is_choice() || !e.path().starts_with(path) || e.path().size() <= path.size() ||
          e.path()[path.size()] != '.' ||
          e.path().substr(path.size() + 1).find('.') != std::string_view::npos) {
        continue;
      }
      const std::string_view prefix = e.name().substr(0, e.name().size() - 3);
      if (!key.starts_with(prefix)) continue;
      for (const ElementType& t : e.types()) {
        std::string name(t.code());
        name[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(name[0])));
        if (key.substr(prefix.size()) == name) {
          type_code = t.code();
          return &e;
        }
      }
    }
    return nullptr;
  }

  void Visit(const TypeDef& type, const ElementDef& element, std::string_view type_code,
             const json::value& value) {
    if (!element.content_reference().empty()) {
      // "#Questionnaire.item": the same definition, one level deeper.
      const std::string_view target = element.content_reference().substr(1);
      const ElementDef* definition = type.FindElement(target);
      ASSERT_NE(definition, nullptr) << target;
      if (value.is_object()) Walk(type, target, value.as_object());
      return;
    }
    if (type_code == "code" && element.binding_strength() == BindingStrength::kRequired &&
        value.is_string()) {
      uses.push_back({std::string(element.path()), std::string(element.binding_value_set()), "",
                      std::string(value.as_string())});
      return;
    }
    if (type_code == "CodeableConcept" &&
        element.binding_strength() == BindingStrength::kRequired && value.is_object()) {
      // The official examples give one coding per required CodeableConcept.
      if (const json::value* codings = value.as_object().if_contains("coding")) {
        for (const json::value& coding : codings->as_array()) {
          const json::object& c = coding.as_object();
          uses.push_back({std::string(element.path()), std::string(element.binding_value_set()),
                          std::string(c.at("system").as_string()),
                          std::string(c.at("code").as_string())});
        }
      }
    }
    if (!value.is_object()) return;
    if (type_code == "BackboneElement" || type_code == "Element") {
      Walk(type, element.path(), value.as_object());
    } else if (type_code == "Resource") {
      WalkResource(value.as_object());
    } else if (const TypeDef* data_type = FindType(type_code)) {
      Walk(*data_type, data_type->name(), value.as_object());
    }
  }
};

// The codes the official examples of these resource types use in required-binding `code` and
// CodeableConcept elements (their own and their data types', e.g. HumanName.use) are all in the
// expansions.
TEST(TerminologyTest, OfficialExamplesUseExpandedCodes) {
  ExampleCodes examples;
  for (std::string_view type :
       {"Patient", "Observation", "Encounter", "Condition", "AllergyIntolerance",
        "MedicationRequest", "Procedure", "DiagnosticReport", "Immunization", "CarePlan",
        "Questionnaire", "QuestionnaireResponse", "Practitioner", "Organization", "Bundle"}) {
    for (const json::object& resource : ReadPackage(type)) examples.WalkResource(resource);
  }
  std::map<std::string, size_t> checked_by_path;
  std::vector<std::string> not_found;
  for (const ExampleCodes::Use& use : examples.uses) {
    switch (CheckCode(use.value_set, use.system, use.code)) {
      case CodeCheck::kInValueSet:
        ++checked_by_path[use.path];
        break;
      case CodeCheck::kNotInValueSet:
        not_found.push_back(use.path + " = " + use.code);
        break;
      case CodeCheck::kNotExpandable:
        break;  // e.g. Attachment.contentType (MIME types)
    }
  }
  EXPECT_THAT(not_found, IsEmpty());
  EXPECT_GT(checked_by_path["Patient.gender"], 15u);
  EXPECT_GT(checked_by_path["Observation.status"], 50u);
  EXPECT_GT(checked_by_path["HumanName.use"], 10u);
  EXPECT_GT(checked_by_path["Bundle.type"], 20u);
  EXPECT_GT(checked_by_path["Condition.clinicalStatus"], 5u);
  EXPECT_GT(checked_by_path["AllergyIntolerance.verificationStatus"], 0u);
  EXPECT_GT(checked_by_path["Quantity.comparator"] + checked_by_path["Questionnaire.item.type"],
            0u);
}

}  // namespace
}  // namespace kiln::fhir

namespace kiln::fhir {
namespace {

TEST(SubsumptionTest, FollowsTheHierarchyOfPackageCodeSystems) {
  const std::string act = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
  auto below = Subsumed(act, "IMP", /*below=*/true);
  ASSERT_TRUE(below.has_value());
  EXPECT_EQ(below->front(), "IMP");
  auto has = [](const std::vector<std::string_view>& codes, std::string_view code) {
    return std::find(codes.begin(), codes.end(), code) != codes.end();
  };
  EXPECT_TRUE(has(*below, "ACUTE"));
  EXPECT_TRUE(has(*below, "NONAC"));
  EXPECT_FALSE(has(*below, "AMB"));
  auto above = Subsumed(act, "ACUTE", /*below=*/false);
  ASSERT_TRUE(above.has_value());
  EXPECT_TRUE(has(*above, "IMP"));
  EXPECT_TRUE(has(*above, "_ActEncounterCode"));
  EXPECT_FALSE(has(*above, "AMB"));
  // Systems without a hierarchy in the package: unknown.
  EXPECT_FALSE(Subsumed("http://snomed.info/sct", "404684003", true).has_value());
}

}  // namespace
}  // namespace kiln::fhir
