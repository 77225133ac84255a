// Routing of the search interactions beyond type search: system search ([base]?, POST
// [base]/_search) and compartment search ([base]/Patient/1/Observation, .../*, POST .../_search).
#include <gtest/gtest.h>

#include "rest/router.h"

namespace kiln::rest {
namespace {

TEST(SearchRoutes, SystemSearch) {
  RouteResult r = Route("GET", "/fhir?_type=Patient,Observation", "/fhir");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.interaction.route->kind, InteractionKind::kSearchSystem);
  EXPECT_TRUE(r.interaction.route->supported);
  r = Route("GET", "/fhir/?_id=1", "/fhir");
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.interaction.route->kind, InteractionKind::kSearchSystem);
  r = Route("POST", "/fhir/_search", "/fhir");
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.interaction.route->kind, InteractionKind::kSearchSystem);
  EXPECT_EQ(Route("GET", "/fhir/_search", "/fhir").status.error(), ErrorCode::kMethodNotAllowed);
}

TEST(SearchRoutes, CompartmentSearch) {
  RouteResult r = Route("GET", "/fhir/Patient/p1/Observation?code=x", "/fhir");
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.interaction.route->kind, InteractionKind::kSearchCompartment);
  EXPECT_EQ(r.interaction.type, "Patient");
  EXPECT_EQ(r.interaction.id, "p1");
  EXPECT_EQ(r.interaction.search_type, "Observation");
  EXPECT_EQ(r.interaction.path, "Patient/p1/Observation");

  r = Route("GET", "/fhir/Encounter/e1/*", "/fhir");
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.interaction.search_type, "*");

  r = Route("POST", "/fhir/Patient/p1/Observation/_search", "/fhir");
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.interaction.route->kind, InteractionKind::kSearchCompartment);

  // Whether the first type is a compartment is for the search to say (400/404 with a reason);
  // paths that name no type, or go deeper, are unknown.
  EXPECT_TRUE(Route("GET", "/fhir/Account/a1/Observation", "/fhir").status.ok());
  EXPECT_EQ(Route("GET", "/fhir/Patient/p1/Nothing", "/fhir").status.error(), ErrorCode::kNotFound);
  EXPECT_EQ(Route("GET", "/fhir/Patient/p1/Observation/o1", "/fhir").status.error(),
            ErrorCode::kNotFound);
  EXPECT_EQ(Route("PUT", "/fhir/Patient/p1/Observation", "/fhir").status.error(),
            ErrorCode::kMethodNotAllowed);
}

}  // namespace
}  // namespace kiln::rest
