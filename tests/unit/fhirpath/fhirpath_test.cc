// Unit tests of the FHIRPath API: compile errors with positions, evaluation errors, typed output,
// decimals kept exactly, resolve() through contained resources, Bundles and the host's resolver,
// environment variables, and the timing of typical search parameter expressions.

#include <gtest/gtest.h>

#include <chrono>
#include <iostream>

#include "fhir/definitions.h"
#include "fhirpath/fhirpath.h"

namespace kiln::fhirpath {
namespace {

boost::json::value Json(std::string_view text) { return *ParseJson(text); }

std::string Eval(std::string_view expr, const boost::json::value& resource,
                 const EvalContext& ctx = {}) {
  auto e = Compile(expr);
  if (!e.ok()) return "compile: " + e.status().message();
  auto r = Evaluate(*e, resource, ctx);
  if (!r.ok()) return "eval: " + r.status().message();
  return ToTypedJson(*r);
}

const char* kPatient = R"({"resourceType":"Patient","id":"p1","active":true,
  "name":[{"use":"official","family":"Chalmers","given":["Peter","James"]},{"given":["Jim"]}],
  "birthDate":"1974-12-25","_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1974-12-25T14:35:45-05:00"}]},
  "contained":[{"resourceType":"Organization","id":"org","name":"Acme"}],
  "managingOrganization":{"reference":"#org"}})";

TEST(FhirPath, CompileErrorsNamePositions) {
  auto r = Compile("name.where(");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error(), ErrorCode::kInvalid);
  EXPECT_NE(r.status().message().find("position"), std::string::npos) << r.status().message();
  EXPECT_FALSE(Compile("name.foo()").ok());
  EXPECT_FALSE(Compile("name.where()").ok());
  EXPECT_FALSE(Compile("1 +").ok());
  EXPECT_FALSE(Compile("'abc").ok());
  EXPECT_FALSE(Compile("value.as(NotAType)").ok());
  EXPECT_TRUE(Compile("Patient.name.where(use = 'official').given.first()").ok());
}

TEST(FhirPath, NavigationAndTypedOutput) {
  auto p = Json(kPatient);
  EXPECT_EQ(Eval("Patient.name.family", p), R"([{"type":"string","value":"Chalmers"}])");
  EXPECT_EQ(Eval("name.given.count()", p), R"([{"type":"integer","value":3}])");
  EXPECT_EQ(Eval("birthDate", p), R"([{"type":"date","value":"1974-12-25"}])");
  EXPECT_EQ(Eval("birthDate.extension('http://hl7.org/fhir/StructureDefinition/patient-birthTime').value", p),
            R"([{"type":"dateTime","value":"1974-12-25T14:35:45-05:00"}])");
  EXPECT_EQ(Eval("Observation.status", p), "[]");  // another type: empty, not an error
}

TEST(FhirPath, EvaluationErrors) {
  auto p = Json(kPatient);
  EXPECT_EQ(Eval("name.given1", p).substr(0, 5), "eval:");
  EXPECT_EQ(Eval("name.given.substring(1)", p).substr(0, 5), "eval:");  // not a singleton
  EXPECT_EQ(Eval("%nope", p).substr(0, 5), "eval:");
}

TEST(FhirPath, DecimalsKeepTheirText) {
  auto o = Json(R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
    "valueQuantity":{"value":1.50,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"}})");
  EXPECT_EQ(Eval("Observation.value.value.toString()", o), R"([{"type":"string","value":"1.50"}])");
  EXPECT_EQ(Eval("(Observation.value as Quantity) = 1.5 'mg'", o), R"([{"type":"boolean","value":true}])");
  EXPECT_EQ(Eval("(Observation.value as Quantity) > 1 'g'", o), R"([{"type":"boolean","value":false}])");
}

TEST(FhirPath, Resolve) {
  auto p = Json(kPatient);
  EXPECT_EQ(Eval("managingOrganization.resolve().name", p), R"([{"type":"string","value":"Acme"}])");
  auto bundle = Json(R"({"resourceType":"Bundle","type":"collection","entry":[
    {"fullUrl":"http://x/Patient/1","resource":{"resourceType":"Patient","id":"1"}},
    {"fullUrl":"http://x/Observation/2","resource":{"resourceType":"Observation","id":"2",
      "status":"final","code":{"text":"x"},"subject":{"reference":"Patient/1"}}}]})");
  EXPECT_EQ(Eval("Bundle.entry.resource.ofType(Observation).subject.where(resolve() is Patient).reference",
                 bundle),
            R"([{"type":"string","value":"Patient/1"}])");
  auto obs = Json(R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
    "subject":{"reference":"Patient/9"}})");
  auto target = Json(R"({"resourceType":"Patient","id":"9"})");
  EvalContext ctx;
  ctx.resolver = [&](std::string_view ref) -> const boost::json::value* {
    return ref == "Patient/9" ? &target : nullptr;
  };
  EXPECT_EQ(Eval("Observation.subject.resolve().id", obs, ctx), R"([{"type":"id","value":"9"}])");
  EXPECT_EQ(Eval("Observation.subject.where(resolve() is Patient).count()", obs),
            R"([{"type":"integer","value":0}])");
}

TEST(FhirPath, VariablesAndNow) {
  auto p = Json(kPatient);
  EvalContext ctx;
  ctx.variables["who"] = {Item::String("Chalmers")};
  ctx.now = "2024-03-01T10:00:00Z";
  EXPECT_EQ(Eval("name.where(family = %who).exists()", p, ctx), R"([{"type":"boolean","value":true}])");
  EXPECT_EQ(Eval("today()", p, ctx), R"([{"type":"date","value":"2024-03-01"}])");
  EXPECT_EQ(Eval("%resource.id", p), R"([{"type":"id","value":"p1"}])");
}

TEST(FhirPath, EvaluateToTypedJson) {
  auto r = EvaluateToTypedJson("Patient.name.given", kPatient);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, R"([{"type":"string","value":"Peter"},{"type":"string","value":"James"},{"type":"string","value":"Jim"}])");
  EXPECT_FALSE(EvaluateToTypedJson("Patient.name", "{not json").ok());
}

TEST(FhirPath, TimingOfSearchExpressions) {
  auto p = Json(kPatient);
  auto o = Json(R"({"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"29463-7"}]},
    "subject":{"reference":"#p"},"contained":[{"resourceType":"Patient","id":"p"}],
    "valueQuantity":{"value":185,"unit":"lbs","system":"http://unitsofmeasure.org","code":"[lb_av]"}})");
  struct Case {
    const char* expr;
    const boost::json::value* resource;
  } cases[] = {{"Patient.name", &p},
               {"Observation.subject.where(resolve() is Patient)", &o},
               {"(Observation.value as Quantity)", &o},
               {"Patient.name.family | Patient.name.given", &p}};
  for (const Case& c : cases) {
    auto e = Compile(c.expr);
    ASSERT_TRUE(e.ok());
    constexpr int kRuns = 20000;
    auto start = std::chrono::steady_clock::now();
    size_t n = 0;
    for (int i = 0; i < kRuns; ++i) n += Evaluate(*e, *c.resource)->size();
    double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() / kRuns;
    EXPECT_GT(n, 0u);
    std::cout << c.expr << ": " << us << " us per evaluation\n";
  }
}

}  // namespace
}  // namespace kiln::fhirpath

namespace kiln::fhirpath {
namespace {

// Search indexing evaluates these: every R4 SearchParameter expression must compile.
TEST(FhirPath, EverySearchParameterExpressionCompiles) {
  int count = 0;
  for (const fhir::SearchParamDef& sp : fhir::AllSearchParams()) {
    if (sp.expression().empty()) continue;
    auto e = Compile(sp.expression());
    EXPECT_TRUE(e.ok()) << sp.url() << ": " << sp.expression() << "\n  " << e.status().message();
    ++count;
  }
  EXPECT_GT(count, 1000);
}

}  // namespace
}  // namespace kiln::fhirpath

#include <filesystem>
#include <fstream>
#include <sstream>

namespace kiln::fhirpath {
namespace {

// Every search parameter of a resource type evaluates without error on the package's examples.
TEST(FhirPath, SearchParametersEvaluateOnExamples) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(KILN_FHIR_PACKAGE_DIR);
  if (!fs::exists(dir)) GTEST_SKIP() << "no package at " << dir;
  int evaluations = 0, failures = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path());
    std::stringstream ss;
    ss << in.rdbuf();
    auto resource = ParseJson(ss.str());
    if (!resource.ok() || !resource->is_object()) continue;
    const auto* rt = resource->as_object().if_contains("resourceType");
    if (rt == nullptr || !rt->is_string() || !fhir::IsResourceType(rt->as_string())) continue;
    for (const fhir::SearchParamDef& sp : fhir::SearchParamsFor(std::string(rt->as_string()))) {
      if (sp.expression().empty()) continue;
      auto e = Compile(sp.expression());
      ASSERT_TRUE(e.ok());
      auto r = Evaluate(*e, *resource);
      ++evaluations;
      if (!r.ok() && ++failures < 20) {
        ADD_FAILURE() << entry.path().filename() << " " << sp.code() << ": " << r.status().message();
      }
    }
  }
  EXPECT_EQ(failures, 0);
  std::cout << evaluations << " search parameter evaluations on the examples\n";
}

}  // namespace
}  // namespace kiln::fhirpath
