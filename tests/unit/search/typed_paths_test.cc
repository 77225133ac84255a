// The compiled search parameter paths (fhirpath::TypedPath) against the general FHIRPath
// evaluator, which stays the reference: over every resource of the official R4 examples and of
// the Synthea bundles (shared/testdata/synthea/bundles), every search parameter of the
// resource's type must give the same Items (same JSON nodes, types and definitions, same order),
// and ExtractIndex() must give the same entries (same order, same values) with the compiled
// paths as with the evaluator alone.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "fhir/definitions.h"
#include "fhirpath/fhirpath.h"
#include "search/index.h"
#include "search/index_internal.h"

namespace kiln::search {
namespace {

namespace json = boost::json;

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::filesystem::path> JsonFiles(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.ends_with(".json") && name != "package.json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// The documents, parsed as IndexFor() parses a stored resource (decimals kept as text).
struct Corpus {
  std::vector<json::value> documents;
  std::vector<std::pair<std::string, const json::value*>> resources;  // name, resource
};

const Corpus& AllResources() {
  static const Corpus corpus = [] {
    Corpus c;
    std::vector<std::filesystem::path> examples = JsonFiles(KILN_FHIR_PACKAGE_DIR);
    std::vector<std::filesystem::path> bundles =
        JsonFiles(std::filesystem::path(KILN_TESTDATA_DIR) / "synthea" / "bundles");
    c.documents.reserve(examples.size() + bundles.size());
    for (const auto& file : examples) {
      Result<json::value> parsed = fhirpath::ParseJson(ReadFile(file));
      if (parsed.ok() && parsed->is_object()) c.documents.push_back(std::move(parsed).value());
    }
    const size_t first_bundle = c.documents.size();
    for (const auto& file : bundles) {
      Result<json::value> parsed = fhirpath::ParseJson(ReadFile(file));
      if (parsed.ok() && parsed->is_object()) c.documents.push_back(std::move(parsed).value());
    }
    for (size_t i = 0; i < c.documents.size(); ++i) {
      const json::value& doc = c.documents[i];
      if (i < first_bundle) {
        c.resources.emplace_back(examples[i].filename().string(), &doc);
        continue;
      }
      // Synthea: each entry is imported (and indexed) as a resource of its own.
      const json::value* entries = doc.as_object().if_contains("entry");
      if (entries == nullptr || !entries->is_array()) continue;
      for (const json::value& e : entries->as_array()) {
        const json::value* r = e.is_object() ? e.as_object().if_contains("resource") : nullptr;
        if (r != nullptr && r->is_object()) c.resources.emplace_back("synthea entry", r);
      }
    }
    return c;
  }();
  return corpus;
}

const fhir::TypeDef* TypeOf(const json::value& resource) {
  const json::value* rt = resource.as_object().if_contains("resourceType");
  if (rt == nullptr || !rt->is_string()) return nullptr;
  const fhir::TypeDef* type = fhir::FindType(rt->as_string());
  return type != nullptr && type->is_resource() ? type : nullptr;
}

// Items are the same when they are the same node of the same JSON with the same typing, or the
// same System value.
bool SameItem(const fhirpath::Item& a, const fhirpath::Item& b) {
  if (a.kind != b.kind) return false;
  if (a.kind == fhirpath::ValueKind::kElement) {
    return a.node == b.node && a.extras == b.extras && a.type_name == b.type_name &&
           a.def == b.def && a.def_path == b.def_path;
  }
  return fhirpath::ToString(a) == fhirpath::ToString(b);
}

TEST(TypedPaths, GiveTheEvaluatorsItemsForEveryParameterOnEveryResource) {
  const Corpus& corpus = AllResources();
  ASSERT_GT(corpus.resources.size(), 10000u);  // ~2,900 examples + 10,682 Synthea entries
  const fhirpath::EvalContext context;         // resolve() finds contained and Bundle entries
  size_t compiled = 0, declined = 0, evaluations = 0, items = 0, failures = 0;
  std::map<const fhir::TypeDef*,
           std::vector<std::pair<fhirpath::Expression, std::unique_ptr<const fhirpath::TypedPath>>>>
      plans;
  for (const auto& [name, resource] : corpus.resources) {
    const fhir::TypeDef* type = TypeOf(*resource);
    if (type == nullptr) continue;
    auto [it, fresh] = plans.try_emplace(type);
    if (fresh) {
      for (const fhir::SearchParamDef& def : type->search_params()) {
        if (def.expression().empty()) continue;
        Result<fhirpath::Expression> expression = fhirpath::Compile(def.expression());
        if (!expression.ok()) continue;
        auto typed = fhirpath::TypedPath::Make(*expression, *type);
        if (typed == nullptr) {
          ++declined;
          continue;
        }
        ++compiled;
        it->second.emplace_back(std::move(expression).value(), std::move(typed));
      }
    }
    for (const auto& [expression, typed] : it->second) {
      ++evaluations;
      Result<fhirpath::Collection> expected = fhirpath::Evaluate(expression, *resource, context);
      std::optional<fhirpath::Collection> got = typed->Evaluate(*resource, context);
      ASSERT_EQ(expected.ok(), got.has_value())
          << name << ": " << expression.text()
          << (expected.ok() ? "" : " evaluator: " + expected.status().message());
      if (!got) {
        ++failures;
        continue;
      }
      ASSERT_EQ(expected->size(), got->size()) << name << ": " << expression.text();
      for (size_t i = 0; i < got->size(); ++i) {
        ASSERT_TRUE(SameItem((*expected)[i], (*got)[i]))
            << name << ": " << expression.text() << " item " << i;
      }
      items += got->size();
    }
  }
  std::cout << "[ typed paths ] " << compiled << " (type, parameter) expressions compiled, "
            << declined << " left to the evaluator; " << evaluations << " evaluations, " << items
            << " items, " << failures << " evaluator failures reproduced\n";
  EXPECT_GT(items, 100000u);
  EXPECT_GT(compiled, 5 * declined);
}

TEST(TypedPaths, ExtractIndexGivesTheSameEntriesAsTheEvaluatorAlone) {
  const Corpus& corpus = AllResources();
  size_t resources = 0, entries = 0;
  for (const auto& [name, resource] : corpus.resources) {
    Result<std::vector<IndexEntry>> expected =
        index_internal::ExtractIndexWith(*resource, /*typed_paths=*/false);
    Result<std::vector<IndexEntry>> got =
        index_internal::ExtractIndexWith(*resource, /*typed_paths=*/true);
    ASSERT_EQ(expected.ok(), got.ok()) << name;
    if (!expected.ok()) {
      EXPECT_EQ(expected.status().message(), got.status().message()) << name;
      continue;
    }
    ++resources;
    ASSERT_EQ(expected->size(), got->size()) << name;
    for (size_t i = 0; i < got->size(); ++i) {
      ASSERT_TRUE((*expected)[i] == (*got)[i])
          << name << " entry " << i << ": expected " << ToDebugString((*expected)[i]) << "\n got "
          << ToDebugString((*got)[i]);
    }
    entries += got->size();
  }
  std::cout << "[ typed paths ] " << resources << " resources, " << entries
            << " identical index entries\n";
  EXPECT_GT(entries, 100000u);
}

// The shapes the corpus rarely has: as() on several items fails in the evaluator, and the compiled
// path hands that case back; `|` drops repeated values; a type filter that selects nothing.
TEST(TypedPaths, HandBackWhatTheEvaluatorRejectsAndKeepUnionSemantics) {
  Result<json::value> resource = fhirpath::ParseJson(R"({"resourceType": "Observation",
      "status": "final", "code": {"text": "x"}, "valueQuantity": {"value": 1.50},
      "valueString": "two values", "category": [{"text": "a"}, {"text": "a"}],
      "subject": {"reference": "Patient/1"}, "performer": [{"reference": "Patient/1"},
      {"reference": "Practitioner/2"}, {"reference": "#c"}],
      "contained": [{"resourceType": "Patient", "id": "c"}]})");
  ASSERT_TRUE(resource.ok());
  const fhir::TypeDef* type = fhir::FindType("Observation");
  ASSERT_NE(type, nullptr);
  fhirpath::EvalContext context;
  context.resolver = [](std::string_view ref) -> const json::value* {
    static const json::value patient = json::object{{"resourceType", "Patient"}};
    return ref.starts_with("Patient/") ? &patient : nullptr;
  };
  for (std::string_view text :
       {"Observation.value.as(Quantity)", "Observation.value.as(String)",
        "Observation.value.ofType(Quantity)", "(Observation.value as Quantity)",
        "Observation.category | Observation.category", "Observation.category.text",
        "Observation.code | Observation.category | Observation.code",
        "Observation.performer.where(resolve() is Patient)",
        "Observation.performer.where(resolve() is Practitioner)", "Patient.name",
        "Observation.value.as(Quantity).value",
        "Observation.subject.where(resolve() is Patient)"}) {
    Result<fhirpath::Expression> expression = fhirpath::Compile(text);
    ASSERT_TRUE(expression.ok()) << text;
    auto typed = fhirpath::TypedPath::Make(*expression, *type);
    ASSERT_NE(typed, nullptr) << text;
    Result<fhirpath::Collection> expected = fhirpath::Evaluate(*expression, *resource, context);
    std::optional<fhirpath::Collection> got = typed->Evaluate(*resource, context);
    ASSERT_EQ(expected.ok(), got.has_value()) << text;
    if (!got) continue;
    ASSERT_EQ(expected->size(), got->size()) << text;
    for (size_t i = 0; i < got->size(); ++i) {
      EXPECT_TRUE(SameItem((*expected)[i], (*got)[i])) << text << " item " << i;
    }
  }
  // The as() failure is the evaluator's to report.
  auto as = fhirpath::Compile("Observation.value.as(Quantity)");
  EXPECT_FALSE(fhirpath::TypedPath::Make(*as, *type)->Evaluate(*resource, context).has_value());
  // Shapes that depend on the data are left to the evaluator.
  for (std::string_view text : {"Observation.value.first()", "Observation.code.coding[0]",
                                "Observation.contained.id", "Observation.extension('x')"}) {
    auto expression = fhirpath::Compile(text);
    ASSERT_TRUE(expression.ok()) << text;
    EXPECT_EQ(fhirpath::TypedPath::Make(*expression, *type), nullptr) << text;
  }
}

}  // namespace
}  // namespace kiln::search
