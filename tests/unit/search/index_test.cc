// Index extraction (search/index.h): every resource of the official R4 package indexes without
// error, spot checks of exact entries on the official examples and on small hand-made resources
// for each rule, the shared normalisations, and the time extraction adds to a write.

#include "search/index.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "fhir/definitions.h"
#include "fhirpath/fhirpath.h"

namespace kiln::search {
namespace {

namespace json = boost::json;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;

constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kMicrosPerDay = 86'400 * kMicrosPerSecond;

// Conformance and terminology resources (the package's bulk): indexed too, but reported apart.
const std::set<std::string, std::less<>> kDefinitionalTypes = {
    "StructureDefinition",
    "SearchParameter",
    "ValueSet",
    "CodeSystem",
    "ConceptMap",
    "OperationDefinition",
    "CapabilityStatement",
    "CompartmentDefinition",
    "MessageDefinition",
    "ImplementationGuide",
    "StructureMap",
    "NamingSystem",
    "TerminologyCapabilities",
    "GraphDefinition",
    "ExampleScenario",
};

struct Example {
  std::string file;
  std::string resource_type;
  json::value resource;
};

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every resource file of the package, parsed with fhirpath::ParseJson (decimals keep their
// text), in file name order.
const std::vector<Example>& AllExamples() {
  static const std::vector<Example> examples = [] {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(KILN_FHIR_PACKAGE_DIR)) {
      const std::string name = entry.path().filename().string();
      if (name.ends_with(".json") && name != "package.json") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    std::vector<Example> out;
    for (const auto& file : files) {
      Result<json::value> parsed = fhirpath::ParseJson(ReadFile(file));
      EXPECT_TRUE(parsed.ok()) << file << ": " << parsed.status().message();
      if (!parsed.ok()) continue;
      Example e;
      e.file = file.filename().string();
      e.resource = std::move(parsed).value();
      e.resource_type = std::string(e.resource.at("resourceType").as_string());
      out.push_back(std::move(e));
    }
    return out;
  }();
  return examples;
}

const Example& FindExample(std::string_view file) {
  for (const Example& e : AllExamples()) {
    if (e.file == file) return e;
  }
  ADD_FAILURE() << file << " not found";
  static const Example kNone;
  return kNone;
}

std::vector<IndexEntry> Index(const json::value& resource) {
  Result<std::vector<IndexEntry>> r = ExtractIndex(resource);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r).value() : std::vector<IndexEntry>();
}

std::vector<IndexEntry> IndexJson(std::string_view text) {
  Result<std::vector<IndexEntry>> r = ExtractIndexFromJson(text);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r).value() : std::vector<IndexEntry>();
}

// The values of one parameter (non-composite entries), of one type.
template <typename T>
std::vector<T> Values(const std::vector<IndexEntry>& entries, std::string_view param) {
  std::vector<T> out;
  for (const IndexEntry& e : entries) {
    if (e.param == param && std::holds_alternative<T>(e.value)) out.push_back(std::get<T>(e.value));
  }
  return out;
}

std::vector<std::string> Debug(const std::vector<IndexEntry>& entries, std::string_view param) {
  std::vector<std::string> out;
  for (const IndexEntry& e : entries) {
    if (e.param == param) out.push_back(ToDebugString(e));
  }
  return out;
}

int64_t DayStart(int64_t y, unsigned m, unsigned d) {
  return core::DaysFromCivil(y, m, d) * kMicrosPerDay;
}

int64_t At(int64_t y, unsigned m, unsigned d, int hh, int mm, int ss) {
  return DayStart(y, m, d) + (hh * 3600 + mm * 60 + ss) * kMicrosPerSecond;
}

TokenValue Token(std::string system, std::string code, std::string text = {}) {
  return TokenValue{std::move(system), std::move(code), std::move(text), {}, {}};
}

// --- the whole package ---

TEST(IndexTest, EveryExpressionCompiles) {
  Status status = PrepareAllIndexPlans();
  EXPECT_TRUE(status.ok()) << status.message();
}

TEST(IndexTest, EveryExampleIndexesWithoutError) {
  size_t instances = 0, definitional = 0, instance_entries = 0, definitional_entries = 0;
  std::map<IndexKind, size_t> by_kind;
  std::set<std::string> params_seen;
  for (const Example& e : AllExamples()) {
    Result<std::vector<IndexEntry>> r = ExtractIndex(e.resource);
    ASSERT_TRUE(r.ok()) << e.file << ": " << r.status().message();
    const bool is_definitional = kDefinitionalTypes.contains(e.resource_type);
    (is_definitional ? definitional : instances)++;
    (is_definitional ? definitional_entries : instance_entries) += r->size();
    for (const IndexEntry& entry : *r) {
      ++by_kind[entry.kind()];
      params_seen.insert(e.resource_type + "." + std::string(entry.param));
    }
  }
  EXPECT_GT(instances, 700u);
  EXPECT_GT(definitional, 4000u);
  std::cout << "[ index    ] " << instances << " instance examples -> " << instance_entries
            << " entries; " << definitional << " definitional resources -> " << definitional_entries
            << " entries; " << params_seen.size()
            << " (type, parameter) pairs with values\n[ index    ] by kind:";
  for (const auto& [kind, count] : by_kind) std::cout << " " << ToString(kind) << "=" << count;
  std::cout << "\n";
}

TEST(IndexTest, ConcurrentExtractionsAgree) {
  // Plans are built lazily under call_once: two threads racing on fresh types must agree with a
  // later single-threaded run.
  std::vector<const Example*> sample;
  for (const Example& e : AllExamples()) {
    if (!kDefinitionalTypes.contains(e.resource_type)) sample.push_back(&e);
  }
  std::vector<size_t> counts[2];
  auto run = [&](int t) {
    for (const Example* e : sample) {
      Result<std::vector<IndexEntry>> r = ExtractIndex(e->resource);
      counts[t].push_back(r.ok() ? r->size() : SIZE_MAX);
    }
  };
  std::thread a(run, 0), b(run, 1);
  a.join();
  b.join();
  EXPECT_EQ(counts[0], counts[1]);
}

// --- the official examples ---

TEST(IndexTest, PatientExample) {
  const std::vector<IndexEntry> entries = Index(FindExample("Patient-example.json").resource);

  EXPECT_THAT(Values<StringValue>(entries, "family"),
              ElementsAre(StringValue{"chalmers", "Chalmers"}, StringValue{"windsor", "Windsor"}));
  EXPECT_THAT(Values<StringValue>(entries, "given"),
              ElementsAre(StringValue{"peter", "Peter"}, StringValue{"james", "James"},
                          StringValue{"jim", "Jim"}));
  // name: one entry per part of every HumanName.
  EXPECT_THAT(Values<StringValue>(entries, "name"),
              UnorderedElementsAre(StringValue{"chalmers", "Chalmers"},
                                   StringValue{"peter", "Peter"}, StringValue{"james", "James"},
                                   StringValue{"jim", "Jim"}, StringValue{"windsor", "Windsor"}));
  EXPECT_THAT(Values<DateValue>(entries, "birthdate"),
              ElementsAre(DateValue{DayStart(1974, 12, 25), DayStart(1974, 12, 26)}));
  EXPECT_THAT(Values<TokenValue>(entries, "gender"),
              ElementsAre(Token("http://hl7.org/fhir/administrative-gender", "male")));
  EXPECT_THAT(Values<TokenValue>(entries, "identifier"),
              ElementsAre(TokenValue{"urn:oid:1.2.36.146.595.217.0.1", "12345", "",
                                     "http://terminology.hl7.org/CodeSystem/v2-0203", "MR"}));
  EXPECT_THAT(Values<StringValue>(entries, "address-city"),
              ElementsAre(StringValue{"pleasantville", "PleasantVille"}));
  EXPECT_THAT(Values<StringValue>(entries, "address"),
              UnorderedElementsAre(StringValue{"534 erewhon st", "534 Erewhon St"},
                                   StringValue{"pleasantville", "PleasantVille"},
                                   StringValue{"rainbow", "Rainbow"}, StringValue{"vic", "Vic"},
                                   StringValue{"3999", "3999"},
                                   StringValue{"534 erewhon st peasantville rainbow vic 3999",
                                               "534 Erewhon St PeasantVille, Rainbow, Vic  3999"}));
  // ContactPoint: the value, no system (R4's token table).
  EXPECT_THAT(Values<TokenValue>(entries, "telecom"),
              ElementsAre(Token("", "(03) 5555 6473"), Token("", "(03) 3410 5613"),
                          Token("", "(03) 5555 8834")));
  EXPECT_THAT(Values<TokenValue>(entries, "phone"), Values<TokenValue>(entries, "telecom"));
  EXPECT_THAT(Values<TokenValue>(entries, "email"), IsEmpty());
  EXPECT_THAT(Values<TokenValue>(entries, "active"), ElementsAre(Token("", "true")));
  // No _id entry: stores answer _id from the resource's own row.
  EXPECT_THAT(Values<TokenValue>(entries, "_id"), IsEmpty());
  EXPECT_THAT(Values<ReferenceValue>(entries, "organization"),
              ElementsAre(ReferenceValue{ReferenceKind::kLocal, "Organization", "1", "",
                                         "Organization/1"}));
  // Full text: the narrative for _text, every string that is text for _content: not the
  // identifier's system URL, the birth date and time, ids or references. (The MRN "12345" is
  // there: the narrative says it.)
  ASSERT_EQ(Values<TextValue>(entries, "_text").size(), 1u);
  EXPECT_THAT(Values<TextValue>(entries, "_text")[0].text,
              ::testing::StartsWith("Name Peter James Chalmers (\"Jim\") Address 534 Erewhon"));
  ASSERT_EQ(Values<TextValue>(entries, "_content").size(), 1u);
  const std::string content = Values<TextValue>(entries, "_content")[0].text;
  EXPECT_THAT(content, ::testing::HasSubstr("Chalmers Peter James"));
  EXPECT_THAT(content, ::testing::HasSubstr("534 Erewhon St"));
  for (const char* machinery : {"urn:oid", "1974-12-25", "Organization/1", "example"}) {
    EXPECT_THAT(content, ::testing::Not(::testing::HasSubstr(machinery))) << machinery;
  }
  // :missing is the absence of entries.
  EXPECT_THAT(Debug(entries, "death-date"), IsEmpty());
  EXPECT_THAT(Debug(entries, "general-practitioner"), IsEmpty());
  // Entries come grouped by parameter, in code order.
  for (size_t i = 1; i < entries.size(); ++i) EXPECT_LE(entries[i - 1].param, entries[i].param);
}

TEST(IndexTest, ObservationExample) {
  const std::vector<IndexEntry> entries = Index(FindExample("Observation-example.json").resource);

  EXPECT_THAT(
      Values<TokenValue>(entries, "code"),
      ElementsAre(Token("http://loinc.org", "29463-7", "body weight"),
                  Token("http://loinc.org", "3141-9", "body weight measured"),
                  Token("http://snomed.info/sct", "27113001", "body weight"),
                  Token("http://acme.org/devices/clinical-codes", "body-weight", "body weight")));
  const ReferenceValue patient{ReferenceKind::kLocal, "Patient", "example", "", "Patient/example"};
  EXPECT_THAT(Values<ReferenceValue>(entries, "subject"), ElementsAre(patient));
  // `Observation.subject.where(resolve() is Patient)`: resolves without a store.
  EXPECT_THAT(Values<ReferenceValue>(entries, "patient"), ElementsAre(patient));
  EXPECT_THAT(Values<DateValue>(entries, "date"),
              ElementsAre(DateValue{DayStart(2016, 3, 28), DayStart(2016, 3, 29)}));
  const QuantityValue weight{185.0,     184.5, 185.5, "http://unitsofmeasure.org",
                             "[lb_av]", "lbs", "",    1};
  EXPECT_THAT(Values<QuantityValue>(entries, "value-quantity"), ElementsAre(weight));
  EXPECT_THAT(Values<TokenValue>(entries, "status"),
              ElementsAre(Token("http://hl7.org/fhir/observation-status", "final")));

  // code-value-quantity is made of code and value-quantity (ComposedOfOwnParams), and
  // combo-code-value-quantity is the union of code-value-quantity and component-code-value-quantity
  // (CompositeUnionMembers): neither has entries of its own.
  EXPECT_THAT(Debug(entries, "code-value-quantity"), IsEmpty());
  EXPECT_THAT(Debug(entries, "combo-code-value-quantity"), IsEmpty());
  // No components in this Observation: no component-* groups.
  EXPECT_THAT(Debug(entries, "component-code-value-quantity"), IsEmpty());
  EXPECT_THAT(Debug(entries, "code-value-concept"), IsEmpty());
}

TEST(IndexTest, ObservationComponentsAreGroupedSeparately) {
  const std::vector<IndexEntry> entries =
      Index(FindExample("Observation-blood-pressure.json").resource);
  // Two components (systolic 107, diastolic 60): two groups, each code with its own value.
  std::map<uint32_t, std::vector<std::string>> groups;
  for (const IndexEntry& e : entries) {
    if (e.param != "component-code-value-quantity") continue;
    if (const auto* t = std::get_if<TokenValue>(&e.value)) {
      groups[e.group].push_back(std::to_string(e.component) + ":" + t->code);
    } else if (const auto* q = std::get_if<QuantityValue>(&e.value)) {
      groups[e.group].push_back(std::to_string(e.component) + ":" + std::to_string(int(*q->value)));
    }
  }
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_THAT(groups.begin()->second, ::testing::Contains("0:8480-6"));
  EXPECT_THAT(groups.begin()->second, ::testing::Contains("1:107"));
  EXPECT_THAT(groups.rbegin()->second, ::testing::Contains("0:8462-4"));
  EXPECT_THAT(groups.rbegin()->second, ::testing::Contains("1:60"));
  EXPECT_THAT(groups.rbegin()->second, ::testing::Not(::testing::Contains("1:107")));
}

TEST(IndexTest, ACompositeOverTheResourceItselfHasOneGroup) {
  // code-value-string keeps entries of its own (value-string also indexes CodeableConcept.text):
  // the Observation is its one composite value, holding the codes (component 0) and the string.
  const auto entries = IndexJson(R"({"resourceType":"Observation","status":"final",
      "code":{"coding":[{"system":"http://loinc.org","code":"72166-2"},
                        {"system":"http://snomed.info/sct","code":"229819007"}]},
      "valueString":"never smoked"})");
  std::vector<IndexEntry> composite;
  for (const IndexEntry& e : entries) {
    if (e.param == "code-value-string") composite.push_back(e);
  }
  ASSERT_EQ(composite.size(), 3u);
  for (const IndexEntry& e : composite) EXPECT_EQ(e.group, composite[0].group);
  EXPECT_NE(composite[0].group, 0u);
  EXPECT_EQ(composite[0].component, 0);
  EXPECT_EQ(std::get<TokenValue>(composite[0].value), Token("http://loinc.org", "72166-2"));
  EXPECT_EQ(composite[1].component, 0);
  EXPECT_EQ(composite[2].component, 1);
  EXPECT_EQ(std::get<StringValue>(composite[2].value).exact, "never smoked");
}

TEST(IndexTest, NumberFromRiskAssessment) {
  const std::vector<IndexEntry> entries =
      Index(FindExample("RiskAssessment-riskexample.json").resource);
  std::vector<NumberValue> numbers = Values<NumberValue>(entries, "probability");
  ASSERT_FALSE(numbers.empty());
  for (const NumberValue& n : numbers) {
    ASSERT_TRUE(n.value.has_value());
    EXPECT_LT(n.low, *n.value);
    EXPECT_GT(n.high, *n.value);
  }
}

// --- one rule at a time, on small resources ---

TEST(IndexTest, DateTimeWithTimeZone) {
  const auto entries = IndexJson(R"({"resourceType":"Observation","status":"final",
      "code":{"text":"x"},"effectiveDateTime":"2013-04-02T09:30:10+01:00"})");
  const int64_t low = At(2013, 4, 2, 8, 30, 10);
  EXPECT_THAT(Values<DateValue>(entries, "date"),
              ElementsAre(DateValue{low, low + kMicrosPerSecond}));
  // An instant with milliseconds covers that millisecond.
  const auto report = IndexJson(R"({"resourceType":"DiagnosticReport","status":"final",
      "code":{"text":"x"},"issued":"2013-04-03T15:30:10.123+02:00"})");
  const int64_t issued = At(2013, 4, 3, 13, 30, 10) + 123'000;
  EXPECT_THAT(Values<DateValue>(report, "issued"), ElementsAre(DateValue{issued, issued + 1000}));
  // A time without an offset (invalid R4) is taken as UTC rather than dropped.
  const auto no_zone = IndexJson(R"({"resourceType":"Observation","status":"final",
      "code":{"text":"x"},"effectiveDateTime":"2013-04-02T09:30"})");
  const int64_t t = At(2013, 4, 2, 9, 30, 0);
  EXPECT_THAT(Values<DateValue>(no_zone, "date"),
              ElementsAre(DateValue{t, t + 60 * kMicrosPerSecond}));
  // Year and month precision.
  const auto coarse = IndexJson(R"({"resourceType":"Patient","birthDate":"1974-02"})");
  EXPECT_THAT(Values<DateValue>(coarse, "birthdate"),
              ElementsAre(DateValue{DayStart(1974, 2, 1), DayStart(1974, 3, 1)}));
}

TEST(IndexTest, PeriodWithAnOpenEnd) {
  const auto entries = IndexJson(R"({"resourceType":"Encounter","status":"in-progress",
      "class":{"code":"AMB"},"period":{"start":"2015-01-17T16:00:00+10:00"}})");
  EXPECT_THAT(Values<DateValue>(entries, "date"),
              ElementsAre(DateValue{At(2015, 1, 17, 6, 0, 0), kMaxInstant}));
  const auto open_start = IndexJson(R"({"resourceType":"Encounter","status":"finished",
      "class":{"code":"AMB"},"period":{"end":"2015-01-17"}})");
  EXPECT_THAT(Values<DateValue>(open_start, "date"),
              ElementsAre(DateValue{kMinInstant, DayStart(2015, 1, 18)}));
}

TEST(IndexTest, TimingUsesItsOuterLimits) {
  const auto entries = IndexJson(R"({"resourceType":"CarePlan","status":"active",
      "intent":"plan","subject":{"reference":"Patient/1"},
      "activity":[{"detail":{"status":"scheduled","scheduledTiming":{
        "event":["2020-03-05","2020-01-10T10:00:00Z"],
        "repeat":{"boundsPeriod":{"start":"2020-02-01","end":"2020-04-30"}}}}},
       {"detail":{"status":"scheduled","scheduledString":"every morning"}}]})");
  EXPECT_THAT(Values<DateValue>(entries, "activity-date"),
              ElementsAre(DateValue{At(2020, 1, 10, 10, 0, 0), DayStart(2020, 5, 1)}));
}

TEST(IndexTest, CanonicalReferenceWithVersion) {
  const auto entries = IndexJson(R"({"resourceType":"QuestionnaireResponse",
      "status":"completed","questionnaire":"http://example.org/fhir/Questionnaire/q1|2.0"})");
  EXPECT_THAT(Values<ReferenceValue>(entries, "questionnaire"),
              ElementsAre(ReferenceValue{ReferenceKind::kCanonical, "Questionnaire", "", "2.0",
                                         "http://example.org/fhir/Questionnaire/q1"}));
}

TEST(IndexTest, ReferenceKinds) {
  const auto entries = IndexJson(R"({"resourceType":"Observation","status":"final",
      "code":{"text":"x"},
      "contained":[{"resourceType":"Patient","id":"p1"}],
      "subject":{"reference":"#p1"},
      "performer":[{"reference":"http://other.org/fhir/Practitioner/7/_history/3"},
                   {"reference":"urn:uuid:6f1a7d0c-7b4e-4c8a-9d6e-2c1b0f5e3a11","type":"Device"},
                   {"identifier":{"system":"http://npi","value":"123"}},
                   {"display":"only a name"}]})");
  const ReferenceValue contained{ReferenceKind::kContained, "Patient", "p1", "", "#p1"};
  EXPECT_THAT(Values<ReferenceValue>(entries, "subject"), ElementsAre(contained));
  // resolve() finds the contained Patient, so `patient` has it too.
  EXPECT_THAT(Values<ReferenceValue>(entries, "patient"), ElementsAre(contained));
  EXPECT_THAT(Values<ReferenceValue>(entries, "performer"),
              ElementsAre(ReferenceValue{ReferenceKind::kAbsolute, "Practitioner", "7", "3",
                                         "http://other.org/fhir/Practitioner/7/_history/3"},
                          ReferenceValue{ReferenceKind::kAbsolute, "Device", "", "",
                                         "urn:uuid:6f1a7d0c-7b4e-4c8a-9d6e-2c1b0f5e3a11"}));
  // The logical reference is a token under the same parameter, for :identifier.
  EXPECT_THAT(Values<TokenValue>(entries, "performer"), ElementsAre(Token("http://npi", "123")));

  // resolve() on an absolute reference: the stub from the reference text says Patient.
  const auto absolute = IndexJson(R"({"resourceType":"Observation","status":"final",
      "code":{"text":"x"},"subject":{"reference":"https://h.org/fhir/Patient/9"}})");
  EXPECT_THAT(Values<ReferenceValue>(absolute, "patient"),
              ElementsAre(ReferenceValue{ReferenceKind::kAbsolute, "Patient", "9", "",
                                         "https://h.org/fhir/Patient/9"}));
  const auto group = IndexJson(R"({"resourceType":"Observation","status":"final",
      "code":{"text":"x"},"subject":{"reference":"Group/4"}})");
  EXPECT_THAT(Values<ReferenceValue>(group, "patient"), IsEmpty());
  EXPECT_EQ(Values<ReferenceValue>(group, "subject").size(), 1u);
}

TEST(IndexTest, AccentFoldedString) {
  const auto entries = IndexJson(R"({"resourceType":"Patient",
      "name":[{"family":"Müller","given":["Zoë","Łukasz"]},{"family":"Carreño Quiñones"}]})");
  EXPECT_THAT(Values<StringValue>(entries, "family"),
              ElementsAre(StringValue{"muller", "Müller"},
                          StringValue{"carreno quinones", "Carreño Quiñones"},
                          // Each further word of a family name, for the default starts-with.
                          StringValue{"quinones", ""}));
  EXPECT_THAT(Values<StringValue>(entries, "given"),
              ElementsAre(StringValue{"zoe", "Zoë"}, StringValue{"lukasz", "Łukasz"}));
}

TEST(IndexTest, NumberPrecisionRange) {
  // MolecularSequence.variant.start (integer) and a decimal written with trailing zeros.
  const auto entries = IndexJson(R"({"resourceType":"MolecularSequence","coordinateSystem":0,
      "variant":[{"start":100}]})");
  EXPECT_THAT(Values<NumberValue>(entries, "variant-start"),
              ElementsAre(NumberValue{100.0, 99.5, 100.5}));
  const auto decimal = IndexJson(R"({"resourceType":"RiskAssessment","status":"final",
      "subject":{"reference":"Patient/1"},
      "prediction":[{"probabilityDecimal":0.020},{"probabilityRange":{"low":{"value":1},
      "high":{"value":5}}},{"probabilityRange":{"low":{"value":7}}}]})");
  std::vector<NumberValue> numbers = Values<NumberValue>(decimal, "probability");
  ASSERT_EQ(numbers.size(), 3u);
  EXPECT_DOUBLE_EQ(*numbers[0].value, 0.02);
  EXPECT_DOUBLE_EQ(numbers[0].low, 0.0195);
  EXPECT_DOUBLE_EQ(numbers[0].high, 0.0205);
  EXPECT_EQ(numbers[1], (NumberValue{std::nullopt, 0.5, 5.5}));
  EXPECT_EQ(numbers[2], (NumberValue{std::nullopt, 6.5, INFINITY}));
}

TEST(IndexTest, QuantityRulesAndUcumCanonicalUnits) {
  const auto entries = IndexJson(R"({"resourceType":"Observation","status":"final",
      "code":{"text":"x"},"valueQuantity":{"value":5.0,"comparator":"<","unit":"mg",
      "system":"http://unitsofmeasure.org","code":"mg"}})");
  EXPECT_THAT(Values<QuantityValue>(entries, "value-quantity"),
              ElementsAre(QuantityValue{5.0, -INFINITY, 5.05, "http://unitsofmeasure.org", "mg",
                                        "mg", "g", 1e-3}));
  // Money: the currency is the code, ISO 4217 the system.
  const auto money = IndexJson(R"({"resourceType":"ChargeItem","status":"billable",
      "code":{"text":"x"},"subject":{"reference":"Patient/1"},
      "priceOverride":{"value":40.00,"currency":"EUR"}})");
  EXPECT_THAT(Values<QuantityValue>(money, "price-override"),
              ElementsAre(QuantityValue{40.0, 39.995, 40.005, "urn:iso:std:iso:4217", "EUR", "EUR",
                                        "", 1}));
  // Range (Condition.onset): its bounds, no value.
  const auto range = IndexJson(R"({"resourceType":"Condition","subject":{"reference":"Patient/1"},
      "onsetRange":{"low":{"value":30,"system":"http://unitsofmeasure.org","code":"a","unit":"yr"},
      "high":{"value":40,"system":"http://unitsofmeasure.org","code":"a","unit":"yr"}}})");
  EXPECT_THAT(Values<QuantityValue>(range, "onset-age"),
              ElementsAre(QuantityValue{std::nullopt, 29.5, 40.5, "http://unitsofmeasure.org", "a",
                                        "yr", "s", 31557600}));
}

TEST(IndexTest, CompositeNeedsEveryComponent) {
  const auto entries = IndexJson(R"({"resourceType":"Observation","status":"final",
      "code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},
      "valueString":"high"})");
  EXPECT_THAT(Debug(entries, "code-value-quantity"), IsEmpty());
  EXPECT_THAT(Debug(entries, "code-value-string"),
              ElementsAre("code-value-string#1.0 token http://loinc.org|8867-4",
                          "code-value-string#1.1 string \"high\" exact=\"high\""));
}

TEST(IndexTest, CompositeComponentsSeeTheResource) {
  // chromosome-variant-coordinate: `%resource.referenceSeq.chromosome ; start ; end` per variant.
  const auto entries = IndexJson(R"({"resourceType":"MolecularSequence","coordinateSystem":0,
      "referenceSeq":{"chromosome":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/chromosome-human","code":"1"}]}},
      "variant":[{"start":10,"end":11},{"start":20,"end":21}]})");
  std::vector<std::string> debug = Debug(entries, "chromosome-variant-coordinate");
  ASSERT_EQ(debug.size(), 6u);
  EXPECT_THAT(debug[0], ::testing::EndsWith(
                            ".0 token http://terminology.hl7.org/CodeSystem/chromosome-human|1"));
  EXPECT_THAT(debug[1], ::testing::EndsWith(".1 number 10 [9.5, 10.5)"));
  EXPECT_THAT(debug[2], ::testing::EndsWith(".2 number 11 [10.5, 11.5)"));
  EXPECT_THAT(debug[4], ::testing::EndsWith(".1 number 20 [19.5, 20.5)"));
  EXPECT_NE(debug[0].substr(0, debug[0].find(' ')), debug[3].substr(0, debug[3].find(' ')));
}

TEST(IndexTest, BundleCompositionOnlyForDocuments) {
  // `Bundle.entry[0].resource`: indexed only when it is of the parameter's target type.
  const auto document = IndexJson(R"({"resourceType":"Bundle","type":"document","entry":[
      {"resource":{"resourceType":"Composition","id":"c1"}}]})");
  EXPECT_THAT(Values<ReferenceValue>(document, "composition"),
              ElementsAre(ReferenceValue{ReferenceKind::kLocal, "Composition", "c1", "",
                                         "Composition/c1"}));
  EXPECT_THAT(Values<ReferenceValue>(document, "message"), IsEmpty());
  const auto searchset = IndexJson(R"({"resourceType":"Bundle","type":"searchset","entry":[
      {"resource":{"resourceType":"Patient","id":"p1"}}]})");
  EXPECT_THAT(Values<ReferenceValue>(searchset, "composition"), IsEmpty());
}

TEST(IndexTest, ResourceParameters) {
  const auto entries = IndexJson(R"({"resourceType":"Patient","id":"p1",
      "meta":{"versionId":"3","lastUpdated":"2024-05-06T07:08:09.123456Z",
        "source":"http://sender.org#req1",
        "profile":["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient|3.1.1"],
        "tag":[{"system":"http://tags","code":"t1","display":"Tag One"}],
        "security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]},
      "language":"en-AU","gender":"unknown"})");
  // The store's own row answers _id and _lastUpdated: no entries.
  EXPECT_THAT(Values<TokenValue>(entries, "_id"), IsEmpty());
  EXPECT_THAT(Values<DateValue>(entries, "_lastUpdated"), IsEmpty());
  EXPECT_THAT(Values<TokenValue>(entries, "_tag"),
              ElementsAre(Token("http://tags", "t1", "tag one")));
  EXPECT_THAT(Values<TokenValue>(entries, "_security"),
              ElementsAre(Token("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R")));
  EXPECT_THAT(Values<UriValue>(entries, "_profile"),
              ElementsAre(UriValue{
                  "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient|3.1.1"}));
  EXPECT_THAT(Values<UriValue>(entries, "_source"),
              ElementsAre(UriValue{"http://sender.org#req1"}));
  EXPECT_THAT(Values<TokenValue>(entries, "gender"),
              ElementsAre(Token("http://hl7.org/fhir/administrative-gender", "unknown")));
  // No narrative: no _text entry (the parameter is missing).
  EXPECT_THAT(Debug(entries, "_text"), IsEmpty());
}

TEST(IndexTest, TokenTextAndIdentifierTypes) {
  const auto entries = IndexJson(R"({"resourceType":"Condition","subject":{"reference":"Patient/1"},
      "code":{"coding":[{"system":"http://snomed.info/sct","code":"39065001",
        "display":"Burn of ear"}],"text":"Brûlure de l'oreille"},
      "identifier":[{"system":"urn:sys","value":"A1","type":{"text":"Local id","coding":[
        {"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR"},
        {"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"PI"}]}}]})");
  EXPECT_THAT(Values<TokenValue>(entries, "code"),
              ElementsAre(Token("http://snomed.info/sct", "39065001", "burn of ear"),
                          Token("", "", "brulure de loreille")));
  EXPECT_THAT(Values<TokenValue>(entries, "identifier"),
              ElementsAre(TokenValue{"urn:sys", "A1", "local id",
                                     "http://terminology.hl7.org/CodeSystem/v2-0203", "MR"},
                          TokenValue{"urn:sys", "A1", "local id",
                                     "http://terminology.hl7.org/CodeSystem/v2-0203", "PI"}));
}

TEST(IndexTest, UnionParametersAreFoundFromTheExpressionsAndGetNoEntries) {
  EXPECT_THAT(UnionMembers("combo-code"), ElementsAre("code", "component-code"));
  EXPECT_THAT(UnionMembers("combo-value-quantity"),
              ElementsAre("component-value-quantity", "value-quantity"));
  EXPECT_THAT(UnionMembers("combo-value-concept"),
              ElementsAre("component-value-concept", "value-concept"));
  EXPECT_THAT(UnionMembers("combo-data-absent-reason"),
              ElementsAre("component-data-absent-reason", "data-absent-reason"));
  EXPECT_THAT(UnionMembers("code"), IsEmpty());
  // Composites are not unions of plain parameters, even the combo- ones (some are unions of
  // composites: CompositeUnionMembers).
  EXPECT_THAT(UnionMembers("combo-code-value-quantity"), IsEmpty());
  const auto entries = IndexJson(R"({"resourceType":"Observation","status":"final",
      "code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},
      "component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},
        "valueQuantity":{"value":120,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]})");
  EXPECT_THAT(Debug(entries, "combo-code"), IsEmpty());
  EXPECT_THAT(Debug(entries, "combo-value-quantity"), IsEmpty());
  EXPECT_THAT(Values<TokenValue>(entries, "code"),
              ElementsAre(Token("http://loinc.org", "85354-9")));
  EXPECT_THAT(Values<TokenValue>(entries, "component-code"),
              ElementsAre(Token("http://loinc.org", "8480-6")));
}

TEST(IndexTest, CompositesMadeOfTheirComponentsOwnParametersAreFoundAndGetNoEntries) {
  // The Observation itself is the one composite value, and each component is a parameter of it.
  EXPECT_TRUE(ComposedOfOwnParams("code-value-quantity"));  // value-quantity's SampledData term
                                                            // gives no entries
  EXPECT_TRUE(ComposedOfOwnParams("code-value-concept"));
  // Values from one repeating element must pair up: grouped entries stay.
  EXPECT_FALSE(ComposedOfOwnParams("component-code-value-quantity"));
  EXPECT_FALSE(ComposedOfOwnParams("combo-code-value-quantity"));
  EXPECT_FALSE(ComposedOfOwnParams("context-type-value"));
  // value-string also indexes (value as CodeableConcept).text, which the component does not.
  EXPECT_FALSE(ComposedOfOwnParams("code-value-string"));
  // value.as(DateTime) is not spelled as value-date's (Observation.value as dateTime).
  EXPECT_FALSE(ComposedOfOwnParams("code-value-date"));
  EXPECT_FALSE(ComposedOfOwnParams("code"));
  // combo-code-value-quantity is a union of composites instead (next test).
  const auto entries = IndexJson(R"({"resourceType":"Observation","status":"final",
      "code":{"coding":[{"system":"http://loinc.org","code":"72166-2"}]},
      "valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"266919005"}]}})");
  EXPECT_THAT(Debug(entries, "code-value-concept"), IsEmpty());
  EXPECT_THAT(Values<TokenValue>(entries, "code"),
              ElementsAre(Token("http://loinc.org", "72166-2")));
  EXPECT_THAT(Values<TokenValue>(entries, "value-concept"),
              ElementsAre(Token("http://snomed.info/sct", "266919005")));
}

TEST(IndexTest, CompositesThatAreUnionsOfCompositesAreFoundAndGetNoEntries) {
  // Observation | Observation.component: the Observation's own pair and each component's.
  auto codes = [](std::string_view code) {
    std::vector<std::string> out;
    for (const auto* def : CompositeUnionMembers(code)) out.emplace_back(def->code());
    return out;
  };
  EXPECT_THAT(codes("combo-code-value-quantity"),
              ElementsAre("code-value-quantity", "component-code-value-quantity"));
  EXPECT_THAT(codes("combo-code-value-concept"),
              ElementsAre("code-value-concept", "component-code-value-concept"));
  // One term each, or no composite of the same components for a term.
  EXPECT_THAT(codes("code-value-quantity"), IsEmpty());
  EXPECT_THAT(codes("component-code-value-quantity"), IsEmpty());
  EXPECT_THAT(codes("code-value-string"), IsEmpty());
  EXPECT_THAT(codes("combo-code"), IsEmpty());  // a union, but not of composites
  const auto entries = IndexJson(R"({"resourceType":"Observation","status":"final",
      "code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},
      "valueQuantity":{"value":1,"system":"http://unitsofmeasure.org","code":"1"},
      "component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},
        "valueQuantity":{"value":120,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
        {"code":{"coding":[{"system":"http://loinc.org","code":"8517-0"}]},
        "valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"1"}]}}]})");
  EXPECT_THAT(Debug(entries, "combo-code-value-quantity"), IsEmpty());
  EXPECT_THAT(Debug(entries, "combo-code-value-concept"), IsEmpty());
  // The members' entries are there: the component's group, the Observation's own code and value.
  EXPECT_THAT(Debug(entries, "component-code-value-quantity"), SizeIs(2));
  EXPECT_THAT(Debug(entries, "component-code-value-concept"), SizeIs(2));
  EXPECT_THAT(Values<TokenValue>(entries, "code"),
              ElementsAre(Token("http://loinc.org", "85354-9")));
  EXPECT_THAT(Values<QuantityValue>(entries, "value-quantity"), SizeIs(1));
}

TEST(IndexTest, ATextThatRepeatsADisplayGetsNoEntryOfItsOwn) {
  // "Body Height" normalises as the display does: :text finds the coding's entry already.
  const auto entries = IndexJson(R"({"resourceType":"Observation","status":"final",
      "code":{"coding":[{"system":"http://loinc.org","code":"8302-2","display":"Body height"}],
        "text":"Body Height"}})");
  EXPECT_THAT(Values<TokenValue>(entries, "code"),
              ElementsAre(Token("http://loinc.org", "8302-2", "body height")));
  // A text with no coding, or differing from every display, keeps its entry.
  const auto text_only = IndexJson(R"({"resourceType":"Observation","status":"final",
      "code":{"coding":[{"system":"http://loinc.org","code":"8302-2","display":"Body height"},
        {"system":"urn:x","code":"h"}],"text":"Height lying"}})");
  EXPECT_THAT(Values<TokenValue>(text_only, "code"),
              ElementsAre(Token("http://loinc.org", "8302-2", "body height"), Token("urn:x", "h"),
                          Token("", "", "height lying")));
}

TEST(IndexTest, UriParameter) {
  const auto entries = IndexJson(R"({"resourceType":"ValueSet","status":"draft",
      "url":"http://acme.org/fhir/ValueSet/123"})");
  EXPECT_THAT(Values<UriValue>(entries, "url"),
              ElementsAre(UriValue{"http://acme.org/fhir/ValueSet/123"}));
}

// --- errors ---

TEST(IndexTest, RejectsWhatIsNotAResource) {
  EXPECT_EQ(ExtractIndexFromJson("[1]").status().error(), ErrorCode::kInvalid);
  EXPECT_EQ(ExtractIndexFromJson("{").status().error(), ErrorCode::kInvalid);
  EXPECT_EQ(ExtractIndexFromJson(R"({"id":"1"})").status().error(), ErrorCode::kInvalid);
  EXPECT_EQ(ExtractIndexFromJson(R"({"resourceType":"Nope"})").status().error(),
            ErrorCode::kInvalid);
  EXPECT_EQ(ExtractIndexFromJson(R"({"resourceType":"DomainResource"})").status().error(),
            ErrorCode::kInvalid);
}

TEST(IndexTest, AFailingExpressionNamesTheParameter) {
  // onsetAge given twice (not valid R4): `Condition.onset.as(Age)` needs a single value.
  Result<std::vector<IndexEntry>> r = ExtractIndexFromJson(R"({"resourceType":"Condition",
      "subject":{"reference":"Patient/1"},"onsetAge":[{"value":1},{"value":2}]})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error(), ErrorCode::kUnprocessable);
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("'onset-age' of Condition"));
}

TEST(IndexTest, MalformedValuesAreSkipped) {
  const auto entries = IndexJson(R"({"resourceType":"Patient","birthDate":"1974-13-40",
      "name":[{"family":"Ok"}]})");
  EXPECT_THAT(Debug(entries, "birthdate"), IsEmpty());
  EXPECT_EQ(Values<StringValue>(entries, "family").size(), 1u);
}

// --- shared normalisations ---

TEST(IndexNormalizeTest, Strings) {
  EXPECT_EQ(NormalizeString("Müller"), "muller");
  EXPECT_EQ(NormalizeString("Mu\u0308ller"), "muller");  // decomposed
  EXPECT_EQ(NormalizeString("ŁÓDŹ"), "lodz");
  EXPECT_EQ(NormalizeString("Straße"), "strasse");
  EXPECT_EQ(NormalizeString("Ærøskøbing"), "aeroskobing");
  EXPECT_EQ(NormalizeString("Œuvre Čapek Ţara Şimşek"), "oeuvre capek tara simsek");
  EXPECT_EQ(NormalizeString("  Jean-Luc \t O'Brien\u00a0 "), "jean luc obrien");
  EXPECT_EQ(NormalizeString("St. Mary’s"), "st marys");
  EXPECT_EQ(NormalizeString("ΑΒΓ Жук"), "αβγ жук");
  EXPECT_EQ(NormalizeString("東京"), "東京");
  EXPECT_EQ(NormalizeString("a\xff"
                            "b"),
            "ab");  // invalid UTF-8 byte dropped
  EXPECT_EQ(NormalizeString("..."), "");
}

// All-ASCII texts take a table-driven path; one non-ASCII letter sends a text down the general
// path, which must agree on the ASCII part: every ASCII character, alone and between letters and
// separators, normalises the same both ways.
TEST(IndexNormalizeTest, AsciiPathAgreesWithTheGeneralPath) {
  std::vector<std::string> texts = {"", " ", "a", "A b", "  x  y  ", "O'Brien", "a-b_c.d"};
  for (int c = 0; c < 0x80; ++c) {
    const std::string ch(1, static_cast<char>(c));
    for (const std::string& around : {std::string(), std::string("Ab"), std::string(" "),
                                      std::string("x-"), std::string("'")}) {
      texts.push_back(ch);
      texts.push_back(around + ch);
      texts.push_back(ch + around);
      texts.push_back(around + ch + around + ch);
    }
  }
  for (const std::string& text : texts) {
    // "é" folds to "e", after a space when the text ended on separators after some letters.
    std::string general = NormalizeString(text + "\xc3\xa9");
    ASSERT_FALSE(general.empty());
    ASSERT_EQ(general.back(), 'e');
    general.pop_back();
    if (!general.empty() && general.back() == ' ') general.pop_back();
    EXPECT_EQ(NormalizeString(text), general) << "text of " << text.size() << " bytes";
  }
}

TEST(IndexNormalizeTest, NumberRanges) {
  auto check = [](std::string_view text, double value, double low, double high) {
    std::optional<NumberRange> r = ParseNumberRange(text);
    ASSERT_TRUE(r.has_value()) << text;
    EXPECT_DOUBLE_EQ(r->value, value) << text;
    EXPECT_DOUBLE_EQ(r->low, low) << text;
    EXPECT_DOUBLE_EQ(r->high, high) << text;
  };
  check("100", 100, 99.5, 100.5);
  check("100.00", 100, 99.995, 100.005);
  check("1e2", 100, 50, 150);
  check("1.00e2", 100, 99.5, 100.5);
  check("-1.5", -1.5, -1.55, -1.45);
  check("0.001", 0.001, 0.0005, 0.0015);
  for (std::string_view bad : {"", "1.", ".5", "abc", "1e", "--1", "1 "}) {
    EXPECT_FALSE(ParseNumberRange(bad).has_value()) << bad;
  }
}

TEST(IndexNormalizeTest, UcumCanonicalUnits) {
  ASSERT_TRUE(CanonicalUcumUnit("mg").has_value());
  EXPECT_EQ(CanonicalUcumUnit("mg")->code, "g");
  EXPECT_DOUBLE_EQ(CanonicalUcumUnit("mg")->factor, 1e-3);
  EXPECT_EQ(CanonicalUcumUnit("cm")->code, "m");
  EXPECT_EQ(CanonicalUcumUnit("min")->code, "s");
  EXPECT_FALSE(CanonicalUcumUnit("Cel").has_value());
  EXPECT_FALSE(CanonicalUcumUnit("mmol/L").has_value());
}

// --- cost ---

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// Reports µs per resource (median of 5 runs per resource) over the instance examples, and for
// the two examples the task names. Figures only: a loose bound guards against a disaster.
TEST(IndexTest, CostPerResource) {
  using Clock = std::chrono::steady_clock;
  std::vector<double> per_resource;
  std::map<std::string, double> named;
  for (const Example& e : AllExamples()) {
    if (kDefinitionalTypes.contains(e.resource_type)) continue;
    (void)ExtractIndex(e.resource);  // warm: plans are built on first use
    std::vector<double> runs;
    for (int i = 0; i < 5; ++i) {
      const auto start = Clock::now();
      Result<std::vector<IndexEntry>> r = ExtractIndex(e.resource);
      runs.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
      ASSERT_TRUE(r.ok());
    }
    const double median = Percentile(runs, 0.5);
    per_resource.push_back(median);
    if (e.file == "Patient-example.json" || e.file == "Observation-example.json" ||
        e.file == "Observation-blood-pressure.json") {
      named[e.file] = median;
    }
  }
  const double p50 = Percentile(per_resource, 0.5), p99 = Percentile(per_resource, 0.99);
  std::cout << "[ index    ] " << per_resource.size() << " instance examples: median " << p50
            << " us, p90 " << Percentile(per_resource, 0.9) << " us, p99 " << p99 << " us, max "
            << Percentile(per_resource, 1.0) << " us\n";
  for (const auto& [file, us] : named)
    std::cout << "[ index    ] " << file << ": " << us << " us\n";
  EXPECT_LT(p50, 1000.0);
}

}  // namespace
}  // namespace kiln::search
