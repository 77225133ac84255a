#include <gtest/gtest.h>

#include "patch/patch.h"

namespace kiln::patch {
namespace {

// A Parameters resource with one operation built from `parts` (JSON part objects).
std::string Op(std::string_view parts) {
  return R"({"resourceType":"Parameters","parameter":[{"name":"operation","part":[)" +
         std::string(parts) + "]}]}";
}

std::string Apply(std::string_view resource, std::string_view params) {
  auto r = ApplyFhirPathPatch(resource, params);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : "";
}

Status Fails(std::string_view resource, std::string_view params) {
  auto r = ApplyFhirPathPatch(resource, params);
  EXPECT_FALSE(r.ok()) << *r;
  return r.ok() ? Status() : r.status();
}

TEST(FhirPathPatch, ReplaceKeepsOtherDecimals) {
  EXPECT_EQ(
      Apply(
          R"({"resourceType":"Observation","status":"final","valueQuantity":{"value":1.50}})",
          Op(R"({"name":"type","valueCode":"replace"},{"name":"path","valueString":"Observation.status"},
                  {"name":"value","valueCode":"amended"})")),
      R"({"resourceType":"Observation","status":"amended","valueQuantity":{"value":1.50}})");
}

TEST(FhirPathPatch, ReplaceWithADecimalKeepsItsText) {
  EXPECT_EQ(
      Apply(
          R"({"resourceType":"Observation","valueQuantity":{"value":1.50}})",
          Op(R"({"name":"type","valueCode":"replace"},{"name":"path","valueString":"Observation.value.value"},
                  {"name":"value","valueDecimal":2.500})")),
      R"({"resourceType":"Observation","valueQuantity":{"value":2.500}})");
}

TEST(FhirPathPatch, AddChoiceNamesTheMemberByType) {
  EXPECT_EQ(Apply(R"({"resourceType":"Patient"})",
                  Op(R"({"name":"type","valueCode":"add"},{"name":"path","valueString":"Patient"},
                        {"name":"name","valueString":"deceased"},{"name":"value","valueBoolean":true})")),
            R"({"resourceType":"Patient","deceasedBoolean":true})");
}

TEST(FhirPathPatch, ReplaceChoiceMayChangeItsType) {
  EXPECT_EQ(
      Apply(
          R"({"resourceType":"Patient","deceasedBoolean":true,"active":true})",
          Op(R"({"name":"type","valueCode":"replace"},{"name":"path","valueString":"Patient.deceased"},
                        {"name":"value","valueDateTime":"2020-01-01"})")),
      R"({"resourceType":"Patient","deceasedDateTime":"2020-01-01","active":true})");
}

TEST(FhirPathPatch, AddToARepeatingElementAppends) {
  EXPECT_EQ(
      Apply(R"({"resourceType":"Patient","name":[{"family":"A"}]})",
            Op(R"({"name":"type","valueCode":"add"},{"name":"path","valueString":"Patient.name[0]"},
                        {"name":"name","valueString":"given"},{"name":"value","valueString":"B"})")),
      R"({"resourceType":"Patient","name":[{"family":"A","given":["B"]}]})");
}

TEST(FhirPathPatch, AddToAPresentSingleElementFails) {
  Status s = Fails(R"({"resourceType":"Patient","active":true})",
                   Op(R"({"name":"type","valueCode":"add"},{"name":"path","valueString":"Patient"},
                         {"name":"name","valueString":"active"},{"name":"value","valueBoolean":false})"));
  EXPECT_EQ(s.error(), ErrorCode::kUnprocessable);
  EXPECT_NE(s.message().find("already present"), std::string::npos) << s.message();
}

TEST(FhirPathPatch, AddUnknownElementFails) {
  Status s = Fails(R"({"resourceType":"Patient"})",
                   Op(R"({"name":"type","valueCode":"add"},{"name":"path","valueString":"Patient"},
                         {"name":"name","valueString":"colour"},{"name":"value","valueString":"red"})"));
  EXPECT_EQ(s.error(), ErrorCode::kUnprocessable);
  EXPECT_NE(s.message().find("not an element of Patient"), std::string::npos) << s.message();
}

TEST(FhirPathPatch, PrimitiveExtensionsTravelWithTheirValue) {
  const char* patient =
      R"({"resourceType":"Patient","name":[{"given":["A","B","C"],"_given":[null,{"id":"b"},null]}]})";
  EXPECT_EQ(Apply(patient, Op(R"({"name":"type","valueCode":"delete"},
                                 {"name":"path","valueString":"Patient.name[0].given[1]"})")),
            R"({"resourceType":"Patient","name":[{"given":["A","C"]}]})");
  EXPECT_EQ(
      Apply(patient, Op(R"({"name":"type","valueCode":"move"},
                                 {"name":"path","valueString":"Patient.name[0].given"},
                                 {"name":"source","valueInteger":1},{"name":"destination","valueInteger":0})")),
      R"({"resourceType":"Patient","name":[{"given":["B","A","C"],"_given":[{"id":"b"},null,null]}]})");
  EXPECT_EQ(
      Apply(patient, Op(R"({"name":"type","valueCode":"insert"},
                                 {"name":"path","valueString":"Patient.name[0].given"},
                                 {"name":"index","valueInteger":0},{"name":"value","valueString":"Z"})")),
      R"({"resourceType":"Patient","name":[{"given":["Z","A","B","C"],"_given":[null,null,{"id":"b"},null]}]})");
  EXPECT_EQ(
      Apply(
          R"({"resourceType":"Patient","birthDate":"2000","_birthDate":{"id":"x"}})",
          Op(R"({"name":"type","valueCode":"delete"},{"name":"path","valueString":"Patient.birthDate"})")),
      R"({"resourceType":"Patient"})");
}

TEST(FhirPathPatch, DeleteLeavesNoEmptyObjects) {
  EXPECT_EQ(
      Apply(
          R"({"resourceType":"Patient","birthDate":"2000","_birthDate":{"extension":[{"url":"http://e","valueString":"x"}]}})",
          Op(R"({"name":"type","valueCode":"delete"},
                        {"name":"path","valueString":"Patient.birthDate.extension[0]"})")),
      R"({"resourceType":"Patient","birthDate":"2000"})");
  EXPECT_EQ(
      Apply(R"({"resourceType":"Patient","contact":[{"name":{"text":"a"}},{"gender":"male"}]})",
            Op(R"({"name":"type","valueCode":"delete"},
                        {"name":"path","valueString":"Patient.contact[0].name.text"})")),
      R"({"resourceType":"Patient","contact":[{"gender":"male"}]})");
}

TEST(FhirPathPatch, AddExtensionToAPrimitive) {
  EXPECT_EQ(
      Apply(
          R"({"resourceType":"Patient","birthDate":"2000"})",
          Op(R"({"name":"type","valueCode":"add"},{"name":"path","valueString":"Patient.birthDate"},
                  {"name":"name","valueString":"extension"},
                  {"name":"value","valueExtension":{"url":"http://e","valueString":"x"}})")),
      R"({"resourceType":"Patient","birthDate":"2000","_birthDate":{"extension":[{"url":"http://e","valueString":"x"}]}})");
}

TEST(FhirPathPatch, InsertIntoAnEmptyList) {
  EXPECT_EQ(
      Apply(
          R"({"resourceType":"Patient"})",
          Op(R"({"name":"type","valueCode":"insert"},{"name":"path","valueString":"Patient.identifier"},
                        {"name":"index","valueInteger":0},{"name":"value","valueIdentifier":{"value":"1"}})")),
      R"({"resourceType":"Patient","identifier":[{"value":"1"}]})");
  Status s = Fails(
      R"({"resourceType":"Patient"})",
      Op(R"({"name":"type","valueCode":"insert"},{"name":"path","valueString":"Patient.identifier"},
                         {"name":"index","valueInteger":1},{"name":"value","valueIdentifier":{"value":"1"}})"));
  EXPECT_EQ(s.error(), ErrorCode::kUnprocessable);
}

TEST(FhirPathPatch, AnonymousValuesFollowTheDefinitions) {
  // contact.telecom repeats, contact.name does not: parts become an array and an object.
  EXPECT_EQ(
      Apply(R"({"resourceType":"Patient"})",
            Op(R"({"name":"type","valueCode":"add"},{"name":"path","valueString":"Patient"},
                        {"name":"name","valueString":"contact"},
                        {"name":"value","part":[{"name":"name","valueHumanName":{"text":"N"}},
                                                {"name":"telecom","valueContactPoint":{"value":"1"}}]})")),
      R"({"resourceType":"Patient","contact":[{"name":{"text":"N"},"telecom":[{"value":"1"}]}]})");
}

TEST(FhirPathPatch, ContainedResources) {
  EXPECT_EQ(
      Apply(
          R"({"resourceType":"Observation","contained":[{"resourceType":"Patient","id":"p","active":true}]})",
          Op(R"({"name":"type","valueCode":"replace"},
                  {"name":"path","valueString":"Observation.contained[0].active"},{"name":"value","valueBoolean":false})")),
      R"({"resourceType":"Observation","contained":[{"resourceType":"Patient","id":"p","active":false}]})");
  EXPECT_EQ(
      Apply(R"({"resourceType":"Observation"})",
            Op(R"({"name":"type","valueCode":"add"},{"name":"path","valueString":"Observation"},
                        {"name":"name","valueString":"contained"},
                        {"name":"value","resource":{"resourceType":"Patient","id":"q"}})")),
      R"({"resourceType":"Observation","contained":[{"resourceType":"Patient","id":"q"}]})");
}

TEST(FhirPathPatch, DeleteOfNothingIsFineButOfSeveralIsNot) {
  EXPECT_EQ(
      Apply(
          R"({"resourceType":"Patient"})",
          Op(R"({"name":"type","valueCode":"delete"},{"name":"path","valueString":"Patient.birthDate"})")),
      R"({"resourceType":"Patient"})");
  Status s = Fails(
      R"({"resourceType":"Patient","name":[{"family":"A"},{"family":"B"}]})",
      Op(R"({"name":"type","valueCode":"delete"},{"name":"path","valueString":"Patient.name"})"));
  EXPECT_EQ(s.error(), ErrorCode::kUnprocessable);
  EXPECT_NE(s.message().find("Patch operation 1 (delete at Patient.name)"), std::string::npos)
      << s.message();
}

TEST(FhirPathPatch, ReplaceOfNothingFails) {
  Status s = Fails(
      R"({"resourceType":"Patient"})",
      Op(R"({"name":"type","valueCode":"replace"},{"name":"path","valueString":"Patient.birthDate"},
                         {"name":"value","valueDate":"2000"})"));
  EXPECT_EQ(s.error(), ErrorCode::kUnprocessable);
}

TEST(FhirPathPatch, MoveOutOfRangeFails) {
  Status s =
      Fails(R"({"resourceType":"Patient","name":[{"family":"A"},{"family":"B"}]})",
            Op(R"({"name":"type","valueCode":"move"},{"name":"path","valueString":"Patient.name"},
                         {"name":"source","valueInteger":0},{"name":"destination","valueInteger":2})"));
  EXPECT_EQ(s.error(), ErrorCode::kUnprocessable);
}

TEST(FhirPathPatch, MalformedParametersAreInvalid) {
  for (
      std::string_view params : {
          R"({"resourceType":"Patient"})",
          R"({"resourceType":"Parameters","parameter":[{"name":"op"}]})",
          R"({"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type","valueCode":"zap"},{"name":"path","valueString":"Patient"}]}]})",
          R"({"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type","valueCode":"delete"}]}]})",
          R"({"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type","valueCode":"delete"},{"name":"path","valueString":"Patient.("}]}]})",
          R"({"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type","valueCode":"add"},{"name":"path","valueString":"Patient"},{"name":"value","valueString":"x"}]}]})",
          R"({"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type","valueCode":"insert"},{"name":"path","valueString":"Patient.name"},{"name":"value","valueString":"x"}]}]})",
          R"({"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type","valueCode":"replace"},{"name":"path","valueString":"Patient.name"}]}]})",
          R"({"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type","valueCode":"move"},{"name":"path","valueString":"Patient.name"},{"name":"source","valueInteger":-1},{"name":"destination","valueInteger":0}]}]})",
      }) {
    Status s = Fails(R"({"resourceType":"Patient"})", params);
    EXPECT_EQ(s.error(), ErrorCode::kInvalid) << params << ": " << s.message();
  }
}

}  // namespace
}  // namespace kiln::patch
