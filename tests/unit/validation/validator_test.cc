// Focused cases for each rule of the structural validator: for every rule at least one resource
// that passes and one that fails, checking the issue's exact FHIRPath expression and IssueType.

#include "validation/validator.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "validation/element_index.h"
#include "validation/primitives.h"

namespace kiln::validation {
namespace {

namespace json = boost::json;

std::vector<Issue> Check(std::string_view text, const Options& options = {}) {
  json::parse_options parse_options;
  parse_options.max_depth = 100000;
  return Validate(json::parse(text, {}, parse_options), options);
}

std::string Describe(const std::vector<Issue>& issues) {
  std::string out;
  for (const Issue& issue : issues) {
    out += "\n  [" + std::string(issue.severity == Severity::kError ? "error" : "not error") + " " +
           issue.code + "] " + issue.expression + " -- " + issue.diagnostics;
  }
  return out.empty() ? " (no issues)" : out;
}

std::vector<Issue> ErrorsOf(const std::vector<Issue>& issues) {
  std::vector<Issue> errors;
  for (const Issue& issue : issues) {
    if (issue.severity == Severity::kError) errors.push_back(issue);
  }
  return errors;
}

// No errors (warnings are allowed).
::testing::AssertionResult Valid(std::string_view text, const Options& options = {}) {
  const std::vector<Issue> issues = Check(text, options);
  if (ErrorsOf(issues).empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected no errors, got:" << Describe(issues);
}

// Exactly one error, with this expression and code.
::testing::AssertionResult Invalid(std::string_view text, std::string_view expression,
                                   std::string_view code, const Options& options = {}) {
  const std::vector<Issue> errors = ErrorsOf(Check(text, options));
  if (errors.size() == 1 && errors[0].expression == expression && errors[0].code == code &&
      !errors[0].diagnostics.empty()) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "expected one [" << code << "] error at " << expression << ", got:" << Describe(errors);
}

// --- The resource itself ---

TEST(ValidatorTest, RootMustBeAResourceObject) {
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient"})"));
  EXPECT_TRUE(Invalid(R"([1])", "", "structure"));
  EXPECT_TRUE(Invalid(R"("Patient")", "", "structure"));
  EXPECT_TRUE(Invalid(R"({"id":"1"})", "", "required"));
  EXPECT_TRUE(Invalid(R"({"resourceType":7})", "", "structure"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Foo"})", "", "structure"));
  // Abstract types are not resource types of their own.
  EXPECT_TRUE(Invalid(R"({"resourceType":"DomainResource"})", "", "structure"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"HumanName"})", "", "structure"));
}

TEST(ValidatorTest, DiagnosticsNameTheElement) {
  const std::vector<Issue> issues = Check(R"({"resourceType":"Patient","birthDate":"2023-02-30"})");
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].severity, Severity::kError);
  EXPECT_EQ(issues[0].code, "value");
  EXPECT_EQ(issues[0].expression, "Patient.birthDate");
  EXPECT_EQ(issues[0].diagnostics, "Patient.birthDate: '2023-02-30' is not a valid date");
}

// --- Elements known at their paths ---

TEST(ValidatorTest, UnknownElements) {
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","active":true})"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","foo":1})", "Patient.foo", "structure"));
  // Case matters.
  EXPECT_TRUE(
      Invalid(R"({"resourceType":"Patient","Active":true})", "Patient.Active", "structure"));
  // resourceType only where a resource starts.
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","name":[{"resourceType":"Patient"}]})",
                      "Patient.name[0].resourceType", "structure"));
}

TEST(ValidatorTest, BackboneElementsUseNestedPaths) {
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","contact":[{"name":{"family":"Doe"},
      "relationship":[{"text":"friend"}]}]})"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","contact":[{"family":"Doe"}]})",
                      "Patient.contact[0].family", "structure"));
}

TEST(ValidatorTest, DatatypesUseTheirOwnDefinitions) {
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","name":[{"given":["A","B"],"use":"official",
      "period":{"start":"2020"}}]})"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","name":[{"given":["A"],"first":"B"}]})",
                      "Patient.name[0].first", "structure"));
  // Element-typed children inside a datatype (Timing.repeat).
  EXPECT_TRUE(Valid(R"({"resourceType":"MedicationRequest","status":"active","intent":"order",
      "subject":{"reference":"Patient/1"},"medicationCodeableConcept":{"text":"x"},
      "dosageInstruction":[{"timing":{"repeat":{"frequency":2,"period":1,"periodUnit":"d"}}}]})"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"MedicationRequest","status":"active","intent":"order",
      "subject":{"reference":"Patient/1"},"medicationCodeableConcept":{"text":"x"},
      "dosageInstruction":[{"timing":{"repeat":{"every":2}}}]})",
                      "MedicationRequest.dosageInstruction[0].timing.repeat.every", "structure"));
}

TEST(ValidatorTest, ContentReferencesContinueAtTheReferencedElement) {
  EXPECT_TRUE(Valid(R"({"resourceType":"Questionnaire","status":"draft","item":[{"linkId":"1",
      "type":"group","item":[{"linkId":"1.1","type":"string","text":"Name?"}]}]})"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Questionnaire","status":"draft","item":[{"linkId":"1",
      "type":"group","item":[{"linkId":"1.1","type":"string","label":"x"}]}]})",
                      "Questionnaire.item[0].item[0].label", "structure"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Questionnaire","status":"draft","item":[{"linkId":"1",
      "type":"group","item":[{"type":"string"}]}]})",
                      "Questionnaire.item[0].item[0].linkId", "required"));
  EXPECT_TRUE(Valid(R"({"resourceType":"Bundle","type":"collection","entry":[{
      "link":[{"relation":"self","url":"http://example.org/Patient/1"}]}]})"));
}

// --- Choice elements ---

TEST(ValidatorTest, ChoiceElementsUseTheTypeSuffix) {
  EXPECT_TRUE(Valid(R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
      "valueQuantity":{"value":1.5,"unit":"mg"}})"));
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","deceasedBoolean":false})"));
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","deceasedDateTime":"2020-01-01"})"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
      "valueQuantity":{"value":"1.5"}})",
                      "Observation.valueQuantity.value", "value"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","deceasedString":"yes"})",
                      "Patient.deceasedString", "structure"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","deceasedboolean":true})",
                      "Patient.deceasedboolean", "structure"));
  EXPECT_TRUE(
      Invalid(R"({"resourceType":"Patient","deceased":true})", "Patient.deceased", "structure"));
}

TEST(ValidatorTest, OnlyOneTypePerChoiceElement) {
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","deceasedBoolean":true,
      "deceasedDateTime":"2020-01-01"})",
                      "Patient.deceasedDateTime", "structure"));
  // A value and its own extension are one choice, not two.
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","deceasedBoolean":true,
      "_deceasedBoolean":{"id":"x"}})"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","deceasedBoolean":true,
      "_deceasedDateTime":{"id":"x"}})",
                      "Patient.deceasedDateTime", "structure"));
}

// --- Primitive extensions ---

TEST(ValidatorTest, PrimitiveExtensions) {
  constexpr std::string_view kExtension =
      R"({"extension":[{"url":"http://example.org/e","valueString":"x"}]})";
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","birthDate":"1970-01-01","_birthDate":)" +
                    std::string(kExtension) + "}"));
  // The extension alone stands for the element.
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","_birthDate":)" + std::string(kExtension) + "}"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","_birthDate":"1970"})", "Patient.birthDate",
                      "structure"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","_birthDate":{"value":"1970"}})",
                      "Patient.birthDate.value", "structure"));
  EXPECT_TRUE(
      Invalid(R"({"resourceType":"Patient","_birthDate":{}})", "Patient.birthDate", "structure"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","birthDate":"1970","_birthDate":null})",
                      "Patient.birthDate", "structure"));
  // Only primitive elements have them.
  EXPECT_TRUE(
      Invalid(R"({"resourceType":"Patient","_name":[{"id":"x"}]})", "Patient._name", "structure"));
  EXPECT_TRUE(
      Invalid(R"({"resourceType":"Patient","_foo":{"id":"x"}})", "Patient._foo", "structure"));
}

TEST(ValidatorTest, PrimitiveExtensionArraysAreAligned) {
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","name":[{"given":["A",null,"C"],
      "_given":[null,{"extension":[{"url":"http://e","valueString":"b"}]},{"id":"c"}]}]})"));
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","name":[{
      "_given":[{"extension":[{"url":"http://e","valueString":"a"}]}]}]})"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","name":[{"given":["A","B"],
      "_given":[{"id":"a"}]}]})",
                      "Patient.name[0].given", "structure"));
  // null without an extension to stand for.
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","name":[{"given":["A",null]}]})",
                      "Patient.name[0].given[1]", "structure"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","name":[{"given":["A",null],
      "_given":[{"id":"a"},null]}]})",
                      "Patient.name[0].given[1]", "structure"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","name":[{
      "_given":[{"extension":[{"url":"http://e","valueString":"a"}]},null]}]})",
                      "Patient.name[0].given[1]", "structure"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","name":[{"given":["A"],"_given":{"id":"a"}}]})",
                      "Patient.name[0].given", "structure"));
}

TEST(ValidatorTest, ElementsNeedAValueOrChildrenOtherThanId) {
  // ele-1: an id alone is not content.
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","name":[{"id":"n1"}]})", "Patient.name[0]",
                      "invariant"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","_birthDate":{"id":"b"}})", "Patient.birthDate",
                      "invariant"));
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","birthDate":"1970","_birthDate":{"id":"b"}})"));
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","name":[{"id":"n1","text":"x"}]})"));
  // Resources are not elements: an id alone is a (poor but) valid resource.
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","id":"p"})"));
}

TEST(ValidatorTest, SystemTypedElementsTakeNoExtensions) {
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","name":[{"text":"x","id":"n",
      "_id":{"extension":[{"url":"http://e","valueString":"a"}]}}]})",
                      "Patient.name[0]._id", "structure"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","extension":[{"url":"http://e",
      "valueString":"x","_url":{"extension":[{"url":"http://e","valueString":"a"}]}}]})",
                      "Patient.extension[0]._url", "structure"));
  // Resource.id can have them.
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","id":"p",
      "_id":{"extension":[{"url":"http://e","valueString":"a"}]}})"));
}

// --- Cardinality ---

TEST(ValidatorTest, SingleElementsAreNotArrays) {
  EXPECT_TRUE(
      Invalid(R"({"resourceType":"Patient","active":[true]})", "Patient.active", "structure"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","maritalStatus":[{"text":"x"}]})",
                      "Patient.maritalStatus", "structure"));
}

TEST(ValidatorTest, RepeatingElementsAreArraysEvenWithOneItem) {
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","name":[{"family":"Doe"}]})"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","name":{"family":"Doe"}})", "Patient.name",
                      "structure"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","name":[{"given":"A"}]})",
                      "Patient.name[0].given", "structure"));
}

TEST(ValidatorTest, RequiredElements) {
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","link":[{"other":{"reference":"Patient/2"},
      "type":"seealso"}]})"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","link":[{"type":"seealso"}]})",
                      "Patient.link[0].other", "required"));
  const std::vector<Issue> issues = Check(R"({"resourceType":"Observation"})");
  ASSERT_EQ(issues.size(), 2u) << Describe(issues);
  EXPECT_EQ(issues[0].expression, "Observation.code");
  EXPECT_EQ(issues[0].code, "required");
  EXPECT_EQ(issues[1].expression, "Observation.status");
  // A required choice element is named without its type.
  EXPECT_TRUE(Invalid(R"({"resourceType":"Questionnaire","status":"draft","item":[{"linkId":"1",
      "type":"string","enableWhen":[{"question":"0","operator":"exists"}]}]})",
                      "Questionnaire.item[0].enableWhen[0].answer", "required"));
  // An extension on a required primitive is enough (e.g. a data-absent-reason).
  EXPECT_TRUE(Valid(R"({"resourceType":"Observation","code":{"text":"x"},"_status":{
      "extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason",
      "valueCode":"unknown"}]}})"));
}

TEST(ValidatorTest, NoRepeatingElementHasAFiniteMaximumAboveOne) {
  // The "more items than max" rule exists for profiles; R4's core definitions only use 1 and *,
  // which the array rules above cover. Guard the assumption.
  for (const fhir::TypeDef& type : fhir::AllTypes()) {
    for (const fhir::ElementDef& element : type.elements()) {
      EXPECT_TRUE(element.max() <= 1) << element.path();
    }
  }
}

// --- Nothing empty ---

TEST(ValidatorTest, EmptyValuesAndNull) {
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","name":[{}]})", "Patient.name[0]", "structure"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","maritalStatus":{}})", "Patient.maritalStatus",
                      "structure"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","name":[]})", "Patient.name", "structure"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","gender":""})", "Patient.gender", "value"));
  EXPECT_TRUE(
      Invalid(R"({"resourceType":"Patient","gender":null})", "Patient.gender", "structure"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","maritalStatus":null})", "Patient.maritalStatus",
                      "structure"));
  EXPECT_TRUE(
      Invalid(R"({"resourceType":"Patient","name":[null]})", "Patient.name[0]", "structure"));
}

// --- Primitive datatypes ---

TEST(ValidatorTest, Boolean) {
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","active":false})"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","active":"yes"})", "Patient.active", "value"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","active":"true"})", "Patient.active", "value"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","active":1})", "Patient.active", "value"));
}

TEST(ValidatorTest, Integer) {
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","multipleBirthInteger":2})"));
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","multipleBirthInteger":-2147483648})"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","multipleBirthInteger":1.0})",
                      "Patient.multipleBirthInteger", "value"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","multipleBirthInteger":1e2})",
                      "Patient.multipleBirthInteger", "value"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","multipleBirthInteger":"2"})",
                      "Patient.multipleBirthInteger", "value"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","multipleBirthInteger":2147483648})",
                      "Patient.multipleBirthInteger", "value"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","multipleBirthInteger":18446744073709551615})",
                      "Patient.multipleBirthInteger", "value"));
}

TEST(ValidatorTest, UnsignedAndPositiveInt) {
  EXPECT_TRUE(Valid(R"({"resourceType":"Bundle","type":"searchset","total":0})"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Bundle","type":"searchset","total":-1})", "Bundle.total",
                      "value"));
  constexpr std::string_view kPrefix =
      R"({"resourceType":"MedicationRequest","status":"active","intent":"order",
      "subject":{"reference":"Patient/1"},"medicationCodeableConcept":{"text":"x"},
      "dosageInstruction":[{"timing":{"repeat":{"count":)";
  EXPECT_TRUE(Valid(std::string(kPrefix) + "1}}}]}"));
  EXPECT_TRUE(Invalid(std::string(kPrefix) + "0}}}]}",
                      "MedicationRequest.dosageInstruction[0].timing.repeat.count", "value"));
}

TEST(ValidatorTest, Decimal) {
  for (const std::string_view value : {"1.5", "1e2", "-0.001", "7", "1.50E-3"}) {
    EXPECT_TRUE(Valid(R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
        "valueQuantity":{"value":)" +
                      std::string(value) + "}}"))
        << value;
  }
  EXPECT_TRUE(Invalid(R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
      "valueQuantity":{"value":true}})",
                      "Observation.valueQuantity.value", "value"));
}

TEST(ValidatorTest, StringAndMarkdown) {
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","name":[{"family":"O'Neil \t\r\n x"}]})"));
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","name":[{"family":"Zo\u00eb \u5f20"}]})"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","name":[{"family":"a\fb"}]})",
                      "Patient.name[0].family", "value"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","name":[{"family":7}]})",
                      "Patient.name[0].family", "value"));
  // R4 says SHOULD NOT for other control characters and whitespace-only strings: warnings.
  const std::vector<Issue> issues =
      Check(R"({"resourceType":"Patient","name":[{"family":"a\u0001b","given":["  "]}]})");
  ASSERT_EQ(issues.size(), 2u) << Describe(issues);
  EXPECT_EQ(issues[0].severity, Severity::kWarning);
  EXPECT_EQ(issues[0].expression, "Patient.name[0].family");
  EXPECT_EQ(issues[1].severity, Severity::kWarning);
  EXPECT_EQ(issues[1].expression, "Patient.name[0].given[0]");
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","name":[{"family":")" +
                          std::string(1024 * 1024 + 1, 'a') + R"("}]})",
                      "Patient.name[0].family", "value"));
}

TEST(ValidatorTest, Code) {
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","language":"en-US"})"));
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","language":"a b"})"));
  EXPECT_TRUE(
      Invalid(R"({"resourceType":"Patient","language":" en"})", "Patient.language", "value"));
  EXPECT_TRUE(
      Invalid(R"({"resourceType":"Patient","language":"a  b"})", "Patient.language", "value"));
  EXPECT_TRUE(
      Invalid(R"({"resourceType":"Patient","language":"en\n"})", "Patient.language", "value"));
}

TEST(ValidatorTest, IdRuleForResourceIdAndIdElements) {
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","id":"a.B-1","meta":{"versionId":"2"}})"));
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","id":")" + std::string(64, 'a') + R"("})"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","id":")" + std::string(65, 'a') + R"("})",
                      "Patient.id", "value"));
  // Resource.id is declared System.String in R4, but the rule is the id datatype's.
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","id":"a_b"})", "Patient.id", "value"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","id":1})", "Patient.id", "value"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","meta":{"versionId":"a b"}})",
                      "Patient.meta.versionId", "value"));
  // Element ids are plain strings.
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","name":[{"id":"n_1","family":"x"}]})"));
}

TEST(ValidatorTest, UriUrlCanonical) {
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","implicitRules":"http://example.org/rules"})"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","implicitRules":"http://example.org/a b"})",
                      "Patient.implicitRules", "value"));
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","meta":{"profile":[
      "http://example.org/StructureDefinition/p|1.0"]}})"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","meta":{"profile":["a\tb"]}})",
                      "Patient.meta.profile[0]", "value"));
}

std::string WithExtensionValue(std::string_view key, std::string_view value) {
  return R"({"resourceType":"Patient","extension":[{"url":"http://example.org/e",")" +
         std::string(key) + "\":" + std::string(value) + "}]}";
}

TEST(ValidatorTest, OidAndUuid) {
  EXPECT_TRUE(Valid(WithExtensionValue("valueOid", R"("urn:oid:1.2.840.10008")")));
  EXPECT_TRUE(Invalid(WithExtensionValue("valueOid", R"("urn:oid:3.1")"),
                      "Patient.extension[0].valueOid", "value"));
  EXPECT_TRUE(Invalid(WithExtensionValue("valueOid", R"("1.2.3")"), "Patient.extension[0].valueOid",
                      "value"));
  EXPECT_TRUE(
      Valid(WithExtensionValue("valueUuid", R"("urn:uuid:c757873d-ec9a-4326-a141-556f43239520")")));
  EXPECT_TRUE(
      Invalid(WithExtensionValue("valueUuid", R"("urn:uuid:C757873D-EC9A-4326-A141-556F43239520")"),
              "Patient.extension[0].valueUuid", "value"));
  EXPECT_TRUE(Invalid(WithExtensionValue("valueUuid", R"("c757873d-ec9a-4326-a141-556f43239520")"),
                      "Patient.extension[0].valueUuid", "value"));
}

TEST(ValidatorTest, Base64Binary) {
  const auto photo = [](std::string_view data) {
    return R"({"resourceType":"Patient","photo":[{"contentType":"image/png","data":")" +
           std::string(data) + R"("}]})";
  };
  EXPECT_TRUE(Valid(photo("YWJj")));
  EXPECT_TRUE(Valid(photo("YWJj ZA==")));
  EXPECT_TRUE(Valid(photo("YW+/")));
  EXPECT_TRUE(Invalid(photo("YWJ"), "Patient.photo[0].data", "value"));
  EXPECT_TRUE(Invalid(photo("YW Jj"), "Patient.photo[0].data", "value"));
  EXPECT_TRUE(Invalid(photo("YWJ!"), "Patient.photo[0].data", "value"));
}

TEST(ValidatorTest, Date) {
  for (const std::string_view date :
       {"1974", "1974-12", "1974-12-25", "2024-02-29", "2000-02-29", "0001-01-01"}) {
    EXPECT_TRUE(Valid(R"({"resourceType":"Patient","birthDate":")" + std::string(date) + "\"}"))
        << date;
  }
  for (const std::string_view date :
       {"2023-02-30", "2023-02-29", "1900-02-29", "1974-13", "1974-04-31", "0000", "74-12-25",
        "1974-1-5", "1974-12-25T10:00:00Z"}) {
    EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","birthDate":")" + std::string(date) + "\"}",
                        "Patient.birthDate", "value"))
        << date;
  }
  EXPECT_TRUE(
      Invalid(R"({"resourceType":"Patient","birthDate":19741225})", "Patient.birthDate", "value"));
}

TEST(ValidatorTest, DateTime) {
  for (const std::string_view value :
       {"2020", "2020-01", "2020-01-01", "2020-01-01T10:00:00Z", "2020-01-01T23:59:60.123+14:00",
        "2020-01-01T00:00:00-13:59"}) {
    EXPECT_TRUE(
        Valid(R"({"resourceType":"Patient","deceasedDateTime":")" + std::string(value) + "\"}"))
        << value;
  }
  for (const std::string_view value :
       {"2020-01-01T10:00:00", "2020-01-01T24:00:00Z", "2020-01-01T10:00Z",
        "2020-01-01T10:00:00+14:30", "2020-01-01T10:00:00+15:00", "2020-01T10:00:00Z",
        "2020-01-01 10:00:00Z", "2020-02-30T10:00:00Z", "2020-01-01T10:00:00.Z"}) {
    EXPECT_TRUE(
        Invalid(R"({"resourceType":"Patient","deceasedDateTime":")" + std::string(value) + "\"}",
                "Patient.deceasedDateTime", "value"))
        << value;
  }
}

TEST(ValidatorTest, Instant) {
  EXPECT_TRUE(
      Valid(R"({"resourceType":"Patient","meta":{"lastUpdated":"2020-01-01T10:00:00.123Z"}})"));
  for (const std::string_view value : {"2020-01-01", "2020-01-01T10:00:00", "2020-01-01T10:00Z"}) {
    EXPECT_TRUE(Invalid(
        R"({"resourceType":"Patient","meta":{"lastUpdated":")" + std::string(value) + "\"}}",
        "Patient.meta.lastUpdated", "value"))
        << value;
  }
}

TEST(ValidatorTest, Time) {
  EXPECT_TRUE(Valid(WithExtensionValue("valueTime", R"("23:59:59.5")")));
  EXPECT_TRUE(Invalid(WithExtensionValue("valueTime", R"("24:00:00")"),
                      "Patient.extension[0].valueTime", "value"));
  EXPECT_TRUE(Invalid(WithExtensionValue("valueTime", R"("10:00")"),
                      "Patient.extension[0].valueTime", "value"));
  EXPECT_TRUE(Invalid(WithExtensionValue("valueTime", R"("10:00:00Z")"),
                      "Patient.extension[0].valueTime", "value"));
}

TEST(ValidatorTest, NarrativeXhtml) {
  constexpr std::string_view kGood =
      R"({"resourceType":"Patient","text":{"status":"generated",
      "div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Jane</p></div>"}})";
  constexpr std::string_view kScript =
      R"({"resourceType":"Patient","text":{"status":"generated",
      "div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><script>alert(1)</script></div>"}})";
  EXPECT_TRUE(Valid(kGood));
  const std::vector<Issue> errors = ErrorsOf(Check(kScript));
  ASSERT_FALSE(errors.empty());
  for (const Issue& issue : errors) EXPECT_EQ(issue.expression, "Patient.text.div");
  Options no_narrative;
  no_narrative.check_narrative = false;
  EXPECT_TRUE(Valid(kScript, no_narrative));
  // Still a string, and xhtml takes no extensions.
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","text":{"status":"generated","div":1}})",
                      "Patient.text.div", "value", no_narrative));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","text":{"status":"generated",
      "div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>","_div":{"id":"a"}}})",
                      "Patient.text.div", "structure"));
}

// --- Resources inside resources ---

TEST(ValidatorTest, ContainedResources) {
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","contained":[{"resourceType":"Organization",
      "id":"org","name":"Acme"}],"managingOrganization":{"reference":"#org"}})"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","contained":[{"resourceType":"Organization",
      "id":"org","nam":"Acme"}]})",
                      "Patient.contained[0].nam", "structure"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","contained":[{"id":"org"}]})",
                      "Patient.contained[0]", "required"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","contained":[{"resourceType":"Foo"}]})",
                      "Patient.contained[0]", "structure"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","contained":[{"resourceType":"Organization",
      "id":"org","name":"Acme","contained":[{"resourceType":"Patient","id":"p"}]}]})",
                      "Patient.contained[0].contained", "invariant"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","contained":[{"resourceType":"Organization",
      "id":"org","meta":{"versionId":"1"}}]})",
                      "Patient.contained[0].meta.versionId", "invariant"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","contained":[{"resourceType":"Organization",
      "id":"org","meta":{"lastUpdated":"2020-01-01T00:00:00Z"}}]})",
                      "Patient.contained[0].meta.lastUpdated", "invariant"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","contained":[{"resourceType":"Organization",
      "id":"org","meta":{"security":[{"code":"R"}]}}]})",
                      "Patient.contained[0].meta.security", "invariant"));
  // Other meta elements are fine on contained resources, and the container's are too.
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","meta":{"versionId":"3"},"contained":[{
      "resourceType":"Organization","id":"org","meta":{"tag":[{"code":"x"}]}}]})"));
}

TEST(ValidatorTest, BundleAndParametersResources) {
  EXPECT_TRUE(Valid(R"({"resourceType":"Bundle","type":"collection","entry":[
      {"fullUrl":"urn:uuid:c757873d-ec9a-4326-a141-556f43239520",
       "resource":{"resourceType":"Patient","active":true}}]})"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Bundle","type":"collection","entry":[
      {"resource":{"resourceType":"Patient","active":"yes"}}]})",
                      "Bundle.entry[0].resource.active", "value"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Parameters","parameter":[{"name":"p",
      "resource":{"resourceType":"Observation","status":"final"}}]})",
                      "Parameters.parameter[0].resource.code", "required"));
  // Each entry has its own contained resources.
  EXPECT_TRUE(Invalid(R"({"resourceType":"Bundle","type":"collection","entry":[
      {"resource":{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o"}],
                   "managingOrganization":{"reference":"#o"}}},
      {"resource":{"resourceType":"Patient","managingOrganization":{"reference":"#o"}}}]})",
                      "Bundle.entry[1].resource.managingOrganization.reference", "invariant"));
}

// --- Extensions ---

TEST(ValidatorTest, Extensions) {
  EXPECT_TRUE(Valid(WithExtensionValue("valueString", R"("x")")));
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","modifierExtension":[{
      "url":"http://example.org/m","valueBoolean":true}]})"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","extension":[{"valueString":"x"}]})",
                      "Patient.extension[0].url", "required"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","extension":[{"url":"http://example.org/e"}]})",
                      "Patient.extension[0]", "invariant"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","extension":[{"url":"http://example.org/e",
      "valueString":"x","extension":[{"url":"a","valueString":"y"}]}]})",
                      "Patient.extension[0]", "invariant"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","modifierExtension":[{"url":"http://m"}]})",
                      "Patient.modifierExtension[0]", "invariant"));
  // Absolute urls, except the parts of a complex extension.
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","extension":[{"url":"just-a-name",
      "valueString":"x"}]})",
                      "Patient.extension[0].url", "value"));
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","extension":[{"url":"http://example.org/c",
      "extension":[{"url":"lang","valueCode":"nl"},{"url":"content","valueString":"x"}]}]})"));
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","extension":[{"url":"urn:oid:1.2.3",
      "valueString":"x"}]})"));
  EXPECT_TRUE(
      Invalid(WithExtensionValue("valueFoo", "1"), "Patient.extension[0].valueFoo", "structure"));
  // Extensions on a primitive and inside datatypes follow the same rules.
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","_active":{"extension":[{"url":"http://e"}]}})",
                      "Patient.active.extension[0]", "invariant"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","name":[{"extension":[{"url":"http://e"}]}]})",
                      "Patient.name[0].extension[0]", "invariant"));
}

// --- Required bindings ---

TEST(ValidatorTest, RequiredBindingOnCode) {
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","gender":"female"})"));
  EXPECT_TRUE(
      Invalid(R"({"resourceType":"Patient","gender":"f"})", "Patient.gender", "code-invalid"));
  EXPECT_TRUE(Invalid(R"({"resourceType":"Patient","name":[{"use":"nick"}]})",
                      "Patient.name[0].use", "code-invalid"));
  Options no_bindings;
  no_bindings.check_bindings = false;
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","gender":"f"})", no_bindings));
  // Preferred and extensible bindings are not enforced.
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","language":"xx-nowhere"})"));
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","maritalStatus":{"coding":[{
      "system":"http://example.org","code":"q"}]}})"));
}

TEST(ValidatorTest, RequiredBindingOnCodeableConcept) {
  constexpr std::string_view kPrefix =
      R"({"resourceType":"Condition","subject":{"reference":"Patient/1"},"clinicalStatus":)";
  const auto condition = [&](std::string_view status) {
    return std::string(kPrefix) + std::string(status) + "}";
  };
  EXPECT_TRUE(Valid(condition(R"({"coding":[{
      "system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]})")));
  // One coding from the value set is enough.
  EXPECT_TRUE(Valid(condition(R"({"coding":[{"system":"http://example.org","code":"x"},{
      "system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]})")));
  EXPECT_TRUE(Invalid(condition(R"({"coding":[{
      "system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"wrong"}]})"),
                      "Condition.clinicalStatus", "code-invalid"));
  EXPECT_TRUE(Invalid(condition(R"({"coding":[{"system":"http://example.org","code":"active"}]})"),
                      "Condition.clinicalStatus", "code-invalid"));
  EXPECT_TRUE(
      Invalid(condition(R"({"text":"active"})"), "Condition.clinicalStatus", "code-invalid"));
}

// --- References ---

std::string ObservationSubject(std::string_view reference_members) {
  return R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
      "contained":[{"resourceType":"Patient","id":"p1"}],"subject":{)" +
         std::string(reference_members) + "}}";
}

TEST(ValidatorTest, ReferenceSyntax) {
  for (const std::string_view reference :
       {"Patient/123", "Patient/a.b-C", "Patient/1/_history/2", "http://example.org/fhir/Patient/1",
        "https://example.org/Patient/1/_history/1", "#p1",
        "urn:uuid:c757873d-ec9a-4326-a141-556f43239520", "urn:oid:1.2.3",
        "Patient?identifier=http://e|1", "http://example.org/some/thing"}) {
    EXPECT_TRUE(Valid(ObservationSubject(R"("reference":")" + std::string(reference) + "\"")))
        << reference;
  }
  for (const std::string_view reference :
       {"Foo/1", "Patient/", "Patient", "Patient/a_b", "patient/1", "Patient/1/_history/",
        "urn:uuid:123", "urn:oid:1.02", "#a_b", "Patient?"}) {
    EXPECT_TRUE(Invalid(ObservationSubject(R"("reference":")" + std::string(reference) + "\""),
                        "Observation.subject.reference", "value"))
        << reference;
  }
  EXPECT_TRUE(Invalid(ObservationSubject(R"("reference":"Patient/1 ")"),
                      "Observation.subject.reference", "value"));
}

TEST(ValidatorTest, LocalReferencesNeedAContainedTarget) {
  EXPECT_TRUE(Invalid(ObservationSubject(R"("reference":"#p2")"), "Observation.subject.reference",
                      "invariant"));
  // "#" alone refers to the container, from a contained resource.
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","id":"p","contained":[{
      "resourceType":"RelatedPerson","id":"r","patient":{"reference":"#"}}]})"));
  // Contained resources may refer to each other.
  EXPECT_TRUE(Valid(R"({"resourceType":"Patient","contained":[
      {"resourceType":"Organization","id":"o1","partOf":{"reference":"#o2"}},
      {"resourceType":"Organization","id":"o2"}]})"));
}

TEST(ValidatorTest, ReferenceTargetTypes) {
  EXPECT_TRUE(Valid(ObservationSubject(R"("reference":"Group/1")")));
  EXPECT_TRUE(Invalid(ObservationSubject(R"("reference":"Medication/1")"),
                      "Observation.subject.reference", "structure"));
  EXPECT_TRUE(Invalid(ObservationSubject(R"("reference":"http://example.org/fhir/Medication/1")"),
                      "Observation.subject.reference", "structure"));
  EXPECT_TRUE(Valid(ObservationSubject(R"("reference":"Patient/1","type":"Patient")")));
  EXPECT_TRUE(Valid(ObservationSubject(
      R"("type":"http://hl7.org/fhir/StructureDefinition/Patient","identifier":{"value":"1"})")));
  EXPECT_TRUE(Invalid(ObservationSubject(R"("type":"Medication","display":"x")"),
                      "Observation.subject.type", "structure"));
  EXPECT_TRUE(Invalid(ObservationSubject(R"("reference":"Patient/1","type":"Group")"),
                      "Observation.subject.type", "value"));
  // "Resource" targets take anything.
  EXPECT_TRUE(Valid(R"({"resourceType":"Observation","status":"final","code":{"text":"x"},
      "focus":[{"reference":"Medication/1"}]})"));
  EXPECT_TRUE(Valid(WithExtensionValue("valueReference", R"({"reference":"Medication/1"})")));
}

// --- Limits ---

TEST(ValidatorTest, IssuesAreCapped) {
  std::string resource = R"({"resourceType":"Patient")";
  for (int i = 0; i < 500; ++i) resource += ",\"x" + std::to_string(i) + "\":1";
  resource += "}";
  const std::vector<Issue> issues = Check(resource);
  ASSERT_EQ(issues.size(), 101u);
  EXPECT_EQ(issues[0].expression, "Patient.x0");
  EXPECT_EQ(issues[100].code, "too-costly");
}

TEST(ValidatorTest, DeepNestingIsRefusedWithoutCrashing) {
  std::string resource = R"({"resourceType":"Patient","extension":[)";
  constexpr int kDepth = 5000;
  for (int i = 0; i < kDepth; ++i) resource += R"({"url":"http://e","extension":[)";
  resource += R"({"url":"http://e","valueString":"x"})";
  for (int i = 0; i < kDepth; ++i) resource += "]}";
  resource += "]}";
  const std::vector<Issue> issues = Check(resource);
  ASSERT_EQ(issues.size(), 1u) << Describe(issues);
  EXPECT_EQ(issues[0].code, "structure");
  EXPECT_NE(issues[0].diagnostics.find("nested too deeply"), std::string::npos);
}

TEST(ValidatorTest, ReportsEveryProblemInDocumentOrder) {
  const std::vector<Issue> issues = Check(R"({"resourceType":"Patient","active":"yes",
      "name":[{"given":[""]}],"gender":"f","birthDate":"1970-02-31","foo":1})");
  ASSERT_EQ(issues.size(), 5u) << Describe(issues);
  EXPECT_EQ(issues[0].expression, "Patient.active");
  EXPECT_EQ(issues[1].expression, "Patient.name[0].given[0]");
  EXPECT_EQ(issues[2].expression, "Patient.gender");
  EXPECT_EQ(issues[3].expression, "Patient.birthDate");
  EXPECT_EQ(issues[4].expression, "Patient.foo");
}

// --- Internals ---

TEST(ValidatorTest, IndexFitsThePerObjectBitset) {
  // validator.cc keeps a 128-bit set of the children seen per object.
  EXPECT_LE(internal::ElementIndex::Get().max_children(), 128u);
  EXPECT_NE(internal::ElementIndex::Get().TypeContext("Patient"), nullptr);
  EXPECT_EQ(internal::ElementIndex::Get().TypeContext("Nope"), nullptr);
}

TEST(PrimitivesTest, NamesRoundTrip) {
  for (const std::string_view name :
       {"boolean",      "integer", "unsignedInt", "positiveInt", "decimal",   "string", "markdown",
        "code",         "id",      "uri",         "url",         "canonical", "oid",    "uuid",
        "base64Binary", "instant", "date",        "dateTime",    "time",      "xhtml"}) {
    EXPECT_EQ(internal::PrimitiveName(internal::PrimitiveFromName(name)), name);
  }
  EXPECT_EQ(internal::PrimitiveFromName("Quantity"), internal::Primitive::kNone);
  EXPECT_EQ(internal::PrimitiveFromName("integer64"), internal::Primitive::kNone);  // R5 only
}

TEST(PrimitivesTest, UriScheme) {
  EXPECT_TRUE(internal::HasUriScheme("http://x"));
  EXPECT_TRUE(internal::HasUriScheme("urn:oid:1.2"));
  EXPECT_TRUE(internal::HasUriScheme("a+b.c-d:x"));
  EXPECT_FALSE(internal::HasUriScheme("lang"));
  EXPECT_FALSE(internal::HasUriScheme("1http://x"));
  EXPECT_FALSE(internal::HasUriScheme("Patient/1:2"));
  EXPECT_FALSE(internal::HasUriScheme(":x"));
}

}  // namespace
}  // namespace kiln::validation
