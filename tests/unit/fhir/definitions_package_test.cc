// Cross-checks the compiled-in definition tables against the package they were generated from:
// every type, element, search parameter and compartment entry is read back from the package's
// JSON (with Boost.JSON, independently of tools/gen_definitions.mjs) and compared field by field.

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "fhir/definitions.h"

namespace kiln::fhir {
namespace {

namespace json = boost::json;

constexpr std::string_view kCorePrefix = "http://hl7.org/fhir/StructureDefinition/";
constexpr std::string_view kFhirTypeExtension =
    "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type";
constexpr std::string_view kRegexExtension = "http://hl7.org/fhir/StructureDefinition/regex";

// The package's resources whose file name starts with `prefix` + "-", in file name order.
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
    std::ifstream in(file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    json::object resource = json::parse(text.str()).as_object();
    if (resource.at("resourceType").as_string() == prefix) out.push_back(std::move(resource));
  }
  return out;
}

std::string_view StringOr(const json::object& o, std::string_view key, std::string_view dflt = "") {
  const json::value* v = o.if_contains(key);
  return v != nullptr ? std::string_view(v->as_string()) : dflt;
}

bool BoolOr(const json::object& o, std::string_view key, bool dflt = false) {
  const json::value* v = o.if_contains(key);
  return v != nullptr ? v->as_bool() : dflt;
}

std::vector<std::string> Strings(const json::object& o, std::string_view key) {
  std::vector<std::string> out;
  if (const json::value* v = o.if_contains(key)) {
    for (const json::value& item : v->as_array()) out.emplace_back(item.as_string());
  }
  return out;
}

std::vector<std::string> ToVector(NameList names) {
  return std::vector<std::string>(names.begin(), names.end());
}

std::string_view ExtensionValue(const json::object& o, std::string_view url, std::string_view key) {
  if (const json::value* extensions = o.if_contains("extension")) {
    for (const json::value& e : extensions->as_array()) {
      if (e.at("url").as_string() == url) return e.at(key).as_string();
    }
  }
  return "";
}

std::string TypeName(std::string_view url) {
  return std::string(url.starts_with(kCorePrefix) ? url.substr(kCorePrefix.size()) : url);
}

TEST(DefinitionsPackageTest, TypesAndElementsMatchThePackage) {
  size_t types = 0;
  size_t elements = 0;
  for (const json::object& sd : ReadPackage("StructureDefinition")) {
    if (StringOr(sd, "derivation") == "constraint") continue;
    ++types;
    const std::string_view name = sd.at("type").as_string();
    SCOPED_TRACE(std::string(name));
    const TypeDef* type = FindType(name);
    ASSERT_NE(type, nullptr);
    EXPECT_EQ(type->url(), StringOr(sd, "url"));
    EXPECT_EQ(ToString(type->kind()), StringOr(sd, "kind"));
    EXPECT_EQ(type->is_abstract(), BoolOr(sd, "abstract"));
    EXPECT_EQ(type->base(), TypeName(StringOr(sd, "baseDefinition")));
    EXPECT_EQ(IsResourceType(name),
              sd.at("kind").as_string() == "resource" && !type->is_abstract());

    const json::array& snapshot = sd.at("snapshot").at("element").as_array();
    ASSERT_EQ(type->elements().size(), snapshot.size());
    for (size_t i = 0; i < snapshot.size(); ++i) {
      ++elements;
      const json::object& e = snapshot[i].as_object();
      const ElementDef& element = type->elements()[i];
      SCOPED_TRACE(std::string(e.at("path").as_string()));
      EXPECT_EQ(element.path(), e.at("path").as_string());
      EXPECT_EQ(element.min(), e.at("min").to_number<uint32_t>());
      const std::string_view max = e.at("max").as_string();
      EXPECT_EQ(element.max(), max == "*" ? -1 : std::stoi(std::string(max)));
      EXPECT_EQ(element.content_reference(), StringOr(e, "contentReference"));
      EXPECT_EQ(element.is_summary(), BoolOr(e, "isSummary"));
      EXPECT_EQ(element.is_modifier(), BoolOr(e, "isModifier"));
      if (const json::value* binding = e.if_contains("binding")) {
        EXPECT_EQ(ToString(element.binding_strength()), binding->at("strength").as_string());
        const std::string_view value_set = StringOr(binding->as_object(), "valueSet");
        EXPECT_EQ(element.binding_value_set(), value_set.substr(0, value_set.find('|')));
      } else {
        EXPECT_EQ(element.binding_strength(), BindingStrength::kNone);
        EXPECT_EQ(element.binding_value_set(), "");
      }

      const json::value* types_json = e.if_contains("type");
      const size_t type_count = types_json != nullptr ? types_json->as_array().size() : 0;
      ASSERT_EQ(element.types().size(), type_count);
      for (size_t t = 0; t < type_count; ++t) {
        const json::object& tj = types_json->as_array()[t].as_object();
        const ElementType& et = element.types()[t];
        EXPECT_EQ(et.code(), tj.at("code").as_string());
        EXPECT_EQ(ToVector(et.profiles()), Strings(tj, "profile"));
        std::vector<std::string> targets;
        for (const std::string& url : Strings(tj, "targetProfile")) {
          targets.push_back(TypeName(url));
        }
        EXPECT_EQ(ToVector(et.target_types()), targets);
        EXPECT_EQ(et.fhir_type(), ExtensionValue(tj, kFhirTypeExtension, "valueUrl"));
        EXPECT_EQ(et.regex(), ExtensionValue(tj, kRegexExtension, "valueString"));
      }
    }
  }
  EXPECT_EQ(types, AllTypes().size());
  EXPECT_EQ(elements, 7790u);
}

TEST(DefinitionsPackageTest, SearchParamsMatchThePackage) {
  size_t count = 0;
  for (const json::object& sp : ReadPackage("SearchParameter")) {
    if (BoolOr(sp, "experimental")) continue;
    ++count;
    const std::string_view url = sp.at("url").as_string();
    SCOPED_TRACE(std::string(url));
    const SearchParamDef* param = FindSearchParamByUrl(url);
    ASSERT_NE(param, nullptr);
    EXPECT_EQ(param->code(), sp.at("code").as_string());
    EXPECT_EQ(ToString(param->type()), sp.at("type").as_string());
    EXPECT_EQ(param->expression(), StringOr(sp, "expression"));
    EXPECT_EQ(ToString(param->xpath_usage()), StringOr(sp, "xpathUsage"));
    EXPECT_EQ(ToVector(param->bases()), Strings(sp, "base"));
    EXPECT_EQ(ToVector(param->targets()), Strings(sp, "target"));
    EXPECT_EQ(ToVector(param->modifiers()), Strings(sp, "modifier"));
    EXPECT_EQ(ToVector(param->comparators()), Strings(sp, "comparator"));
    EXPECT_EQ(ToVector(param->chains()), Strings(sp, "chain"));
    const auto optional_bool = [&](std::string_view key) -> std::optional<bool> {
      const json::value* v = sp.if_contains(key);
      return v != nullptr ? std::optional<bool>(v->as_bool()) : std::nullopt;
    };
    EXPECT_EQ(param->multiple_or(), optional_bool("multipleOr"));
    EXPECT_EQ(param->multiple_and(), optional_bool("multipleAnd"));
    const json::value* components = sp.if_contains("component");
    const size_t component_count = components != nullptr ? components->as_array().size() : 0;
    ASSERT_EQ(param->components().size(), component_count);
    for (size_t i = 0; i < component_count; ++i) {
      const json::object& c = components->as_array()[i].as_object();
      EXPECT_EQ(param->components()[i].definition(), c.at("definition").as_string());
      EXPECT_EQ(param->components()[i].expression(), c.at("expression").as_string());
    }
    for (const std::string& base : Strings(sp, "base")) {
      EXPECT_EQ(FindSearchParam(base, param->code()), param) << base;
    }
  }
  EXPECT_EQ(count, AllSearchParams().size());
}

TEST(DefinitionsPackageTest, CompartmentsMatchThePackage) {
  size_t count = 0;
  for (const json::object& cd : ReadPackage("CompartmentDefinition")) {
    if (cd.at("id").as_string().starts_with("example")) continue;
    ++count;
    const std::string_view code = cd.at("code").as_string();
    const CompartmentDef* compartment = FindCompartment(code);
    ASSERT_NE(compartment, nullptr) << code;
    EXPECT_EQ(compartment->url(), cd.at("url").as_string());
    for (const json::value& r : cd.at("resource").as_array()) {
      const json::object& entry = r.as_object();
      EXPECT_EQ(ToVector(CompartmentParams(code, entry.at("code").as_string())),
                Strings(entry, "param"))
          << code << " " << entry.at("code").as_string();
    }
  }
  EXPECT_EQ(count, Compartments().size());
}

}  // namespace
}  // namespace kiln::fhir
