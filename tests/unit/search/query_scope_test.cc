// Binding of what a search ranges over (compartments, system search) and of the result
// parameters that shape the answer (_summary, _elements, includes) in combination.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "search/query.h"

namespace kiln::search {
namespace {

SearchParams P(std::string_view query) {
  SearchParams params;
  size_t start = 0;
  while (!query.empty() && start <= query.size()) {
    size_t amp = query.find('&', start);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view pair = query.substr(start, amp - start);
    const size_t eq = pair.find('=');
    params.emplace_back(std::string(pair.substr(0, eq)),
                        eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1)));
    start = amp + 1;
  }
  return params;
}

std::string Errors(const Status& status) {
  std::string out;
  for (const Issue& issue : status.issues()) {
    if (!out.empty()) out += " / ";
    out += issue.diagnostics;
  }
  return out;
}

// The bound query as debug text, or "error: ..." with every issue.
std::string Debug(const std::vector<std::string>& types, std::string_view query,
                  const QueryOptions& options = {}) {
  Result<Query> q = ParseQuery(types, P(query), options);
  if (!q.ok()) return "error: " + Errors(q.status());
  return ToDebugString(*q);
}

QueryOptions In(std::string type, std::string id) {
  QueryOptions options;
  options.compartment = CompartmentRef{std::move(type), std::move(id)};
  return options;
}

TEST(QueryCompartmentTest, MembersBind) {
  EXPECT_EQ(Debug({"Observation"}, "code=x", In("Patient", "p1")),
            "Observation in Patient/p1 (token code x) _count=20");
  EXPECT_EQ(Debug({"Encounter", "Observation"}, "_type=Observation", In("Encounter", "e1")),
            "Observation in Encounter/e1 _count=20");
  // The Encounter compartment holds the Encounter itself ({def}).
  EXPECT_EQ(Debug({"Encounter"}, "", In("Encounter", "e1")), "Encounter in Encounter/e1 _count=20");
}

TEST(QueryCompartmentTest, NonMembersAndUnknownCompartments) {
  EXPECT_EQ(Debug({"Device"}, "", In("Patient", "p1")),
            "error: Device is not in the Patient compartment");
  EXPECT_EQ(Debug({"Device", "Medication", "Observation"}, "", In("Patient", "p1")),
            "error: Device, Medication are not in the Patient compartment");
  EXPECT_EQ(Debug({"Observation"}, "", In("Account", "a1")), "error: Account is not a compartment");
}

TEST(QuerySummaryTest, CountMeansNoEntriesAndATotal) {
  EXPECT_EQ(Debug({"Patient"}, "_summary=count"),
            "Patient _count=0 _total=accurate _summary=count");
  EXPECT_EQ(Debug({"Patient"}, "_summary=count&_total=estimate"),
            "Patient _count=0 _total=estimate _summary=count");
  EXPECT_EQ(Debug({"Patient"}, "_summary=count&_total=none"),
            "error: _summary=count: cannot be combined with _total=none");
  EXPECT_EQ(Debug({"Patient"}, "_summary=count&_revinclude=Observation:subject"),
            "error: _summary=count: cannot be combined with _include or _revinclude");
}

TEST(QuerySummaryTest, ElementsDoNotMixWithSummaries) {
  EXPECT_EQ(Debug({"Patient"}, "_summary=count&_elements=name"),
            "error: _elements: cannot be combined with _summary=count (ask for a summary or for "
            "elements, not both)");
  EXPECT_EQ(Debug({"Patient"}, "_summary=true&_elements=name"),
            "error: _elements: cannot be combined with _summary=true (ask for a summary or for "
            "elements, not both)");
  EXPECT_EQ(Debug({"Patient"}, "_summary=false&_elements=name"),
            "Patient _count=20 _summary=false _elements=name");
}

TEST(QueryIncludeCapTest, FromOptions) {
  QueryOptions options;
  options.max_includes = 7;
  Result<Query> q = ParseQuery({"Patient"}, P("_revinclude=Observation:subject"), options);
  ASSERT_TRUE(q.ok()) << Errors(q.status());
  EXPECT_EQ(q->max_includes, 7);
}

}  // namespace
}  // namespace kiln::search
