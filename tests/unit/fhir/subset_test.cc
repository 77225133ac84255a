#include "fhir/subset.h"

#include <gtest/gtest.h>

namespace kiln::fhir {
namespace {

constexpr std::string_view kTag =
    R"({"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue","code":"SUBSETTED"})";

std::string Meta(std::string_view extra = "") {
  return std::string(R"("meta":{"versionId":"1","lastUpdated":"2024-01-01T00:00:00Z")") +
         std::string(extra) + "}";
}

std::string Tagged() { return Meta(",\"tag\":[" + std::string(kTag) + "]"); }

const std::string kPatient =
    R"({"resourceType":"Patient","id":"p1",)" + Meta() +
    R"(,"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Peter</div>"},)"
    R"("extension":[{"url":"http://x","valueString":"a"}],"active":true,)"
    R"("name":[{"family":"Chalmers"}],"birthDate":"1974-12-25","_birthDate":{"id":"b"},)"
    R"("maritalStatus":{"text":"M"},"multipleBirthInteger":2,)"
    R"("contact":[{"name":{"family":"Du Marché"}}],)"
    R"("link":[{"id":"l1","other":{"reference":"Patient/p2"},"type":"seealso"}]})";

Subset Mode(SubsetMode mode) { return Subset{mode, {}}; }

Subset Elements(std::vector<std::string> names) {
  return Subset{SubsetMode::kElements, std::move(names)};
}

TEST(Subset, SummaryKeepsSummaryElementsRecursivelyAndTags) {
  EXPECT_EQ(SubsetResource(kPatient, Mode(SubsetMode::kSummary)),
            R"({"resourceType":"Patient","id":"p1",)" + Tagged() +
                R"(,"active":true,"name":[{"family":"Chalmers"}],"birthDate":"1974-12-25",)"
                R"("_birthDate":{"id":"b"},"link":[{"other":{"reference":"Patient/p2"},)"
                R"("type":"seealso"}]})");
}

TEST(Subset, SummaryKeepsMandatoryElements) {
  // Observation.code is summary; Observation.status is mandatory and summary;
  // Observation.component.code is mandatory inside a summary backbone; interpretation is neither.
  const std::string obs =
      R"({"resourceType":"Observation","id":"o",)" + Meta() +
      R"(,"status":"final","category":[{"text":"c"}],"code":{"text":"w"},)"
      R"("valueQuantity":{"value":72.50,"unit":"kg"},"interpretation":[{"text":"H"}],)"
      R"("component":[{"code":{"text":"x"},"valueString":"y","interpretation":[{"text":"N"}]}]})";
  EXPECT_EQ(
      SubsetResource(obs, Mode(SubsetMode::kSummary)),
      R"({"resourceType":"Observation","id":"o",)" + Tagged() +
          R"(,"status":"final","code":{"text":"w"},"valueQuantity":{"value":72.50,"unit":"kg"},)"
          R"("component":[{"code":{"text":"x"},"valueString":"y"}]})");
}

TEST(Subset, TextKeepsNarrativeAndMandatoryTopLevel) {
  const std::string obs = R"({"resourceType":"Observation","id":"o",)" + Meta() +
                          R"(,"text":{"status":"empty","div":"<div>x</div>"},"status":"final",)"
                          R"("code":{"text":"w"},"subject":{"reference":"Patient/p"}})";
  EXPECT_EQ(SubsetResource(obs, Mode(SubsetMode::kText)),
            R"({"resourceType":"Observation","id":"o",)" + Tagged() +
                R"(,"text":{"status":"empty","div":"<div>x</div>"},"status":"final",)"
                R"("code":{"text":"w"}})");
}

TEST(Subset, DataDropsOnlyText) {
  const std::string p = R"({"resourceType":"Patient","id":"p",)" + Meta() +
                        R"(,"text":{"status":"empty","div":"<div>x</div>"},"gender":"male"})";
  EXPECT_EQ(SubsetResource(p, Mode(SubsetMode::kData)),
            R"({"resourceType":"Patient","id":"p",)" + Tagged() + R"(,"gender":"male"})");
}

TEST(Subset, NothingDroppedMeansNoTag) {
  const std::string p = R"({"resourceType":"Patient","id":"p",)" + Meta() + R"(,"gender":"male"})";
  EXPECT_EQ(SubsetResource(p, Mode(SubsetMode::kData)), p);
  EXPECT_EQ(SubsetResource(p, Elements({"gender"})), p);
}

TEST(Subset, ElementsKeepListedChoiceAndPrimitiveSiblings) {
  EXPECT_EQ(SubsetResource(kPatient, Elements({"birthDate", "multipleBirth"})),
            R"({"resourceType":"Patient","id":"p1",)" + Tagged() +
                R"(,"birthDate":"1974-12-25","_birthDate":{"id":"b"},"multipleBirthInteger":2})");
  EXPECT_EQ(
      SubsetResource(kPatient, Elements({"multipleBirthInteger", "link"})),
      R"({"resourceType":"Patient","id":"p1",)" + Tagged() +
          R"(,"multipleBirthInteger":2,"link":[{"id":"l1","other":{"reference":"Patient/p2"},)"
          R"("type":"seealso"}]})");
}

TEST(Subset, ElementsKeepMandatoryOnes) {
  const std::string obs = R"({"resourceType":"Observation","id":"o",)" + Meta() +
                          R"(,"status":"final","code":{"text":"w"},"subject":{"reference":"P/1"},)"
                          R"("issued":"2020-01-01T00:00:00Z"})";
  EXPECT_EQ(SubsetResource(obs, Elements({"subject"})),
            R"({"resourceType":"Observation","id":"o",)" + Tagged() +
                R"(,"status":"final","code":{"text":"w"},"subject":{"reference":"P/1"}})");
}

TEST(Subset, AddsToExistingTagsOnce) {
  const std::string p = R"({"resourceType":"Patient","id":"p","meta":{"tag":[{"code":"a"}]},)"
                        R"("text":{"status":"empty","div":"<div>x</div>"}})";
  const std::string once = SubsetResource(p, Mode(SubsetMode::kData));
  EXPECT_EQ(once, R"({"resourceType":"Patient","id":"p","meta":{"tag":[{"code":"a"},)" +
                      std::string(kTag) + "]}}");
  // Already tagged (e.g. stored that way): not tagged twice.
  const std::string stored = R"({"resourceType":"Patient","id":"p","meta":{"tag":[)" +
                             std::string(kTag) + R"(]},"text":{"status":"empty","div":"<div/>"}})";
  EXPECT_EQ(SubsetResource(stored, Mode(SubsetMode::kData)),
            R"({"resourceType":"Patient","id":"p","meta":{"tag":[)" + std::string(kTag) + "]}}");
}

TEST(Subset, AddsMetaWhenMissing) {
  EXPECT_EQ(SubsetResource(R"({"resourceType":"Patient","id":"p","text":{"div":"x"}})",
                           Mode(SubsetMode::kData)),
            R"({"resourceType":"Patient","id":"p","meta":{"tag":[)" + std::string(kTag) + "]}}");
}

TEST(Subset, ToleratesWhitespaceAndTricksInStrings) {
  const std::string p =
      "{ \"resourceType\" : \"Patient\" , \"id\":\"p\", \"text\" : {\"div\":\"} ] \\\" {\"} ,"
      " \"gender\" : \"male\" }";
  EXPECT_EQ(SubsetResource(p, Mode(SubsetMode::kData)),
            R"({"resourceType":"Patient","id":"p","meta":{"tag":[)" + std::string(kTag) +
                R"(]},"gender":"male"})");
}

TEST(Subset, LeavesWhatItCannotReadAlone) {
  EXPECT_EQ(SubsetResource("not json", Mode(SubsetMode::kSummary)), "not json");
  EXPECT_EQ(SubsetResource(R"({"resourceType":"Nope","x":1})", Mode(SubsetMode::kSummary)),
            R"({"resourceType":"Nope","x":1})");
  EXPECT_EQ(SubsetResource(R"({"resourceType":"Patient","x":)", Mode(SubsetMode::kSummary)),
            R"({"resourceType":"Patient","x":)");
}

}  // namespace
}  // namespace kiln::fhir
