#include "search/query.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/definitions.h"

namespace kiln::search {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string PercentDecode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && HexValue(text[i + 1]) >= 0 &&
        HexValue(text[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// "a=1&b=2" -> {{"a","1"},{"b","2"}}, percent-decoded ('+' stays '+', as the tests mean it).
SearchParams P(std::string_view query) {
  SearchParams params;
  size_t start = 0;
  while (start <= query.size() && !query.empty()) {
    size_t amp = query.find('&', start);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view pair = query.substr(start, amp - start);
    const size_t eq = pair.find('=');
    params.emplace_back(PercentDecode(pair.substr(0, eq)),
                        eq == std::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1)));
    start = amp + 1;
  }
  return params;
}

std::vector<std::string> Types(std::string_view type) {
  if (type.empty()) return {};
  return {std::string(type)};
}

Result<Query> Bound(std::string_view type, std::string_view query, QueryOptions options = {}) {
  return ParseQuery(Types(type), P(query), options);
}

std::string Diagnostics(const Status& status) {
  std::string out;
  for (const Issue& issue : status.issues()) {
    if (!out.empty()) out += " / ";
    out += issue.diagnostics;
  }
  return out;
}

// The whole bound query as text, or "error: ..." with every issue.
std::string Debug(std::string_view type, std::string_view query, QueryOptions options = {}) {
  Result<Query> q = Bound(type, query, options);
  if (!q.ok()) return "error: " + Diagnostics(q.status());
  return ToDebugString(*q);
}

// The first criterion as text, or "error: ...".
std::string First(std::string_view type, std::string_view query) {
  Result<Query> q = Bound(type, query);
  if (!q.ok()) return "error: " + Diagnostics(q.status());
  if (q->criteria.empty()) return "no criteria";
  return ToDebugString(q->criteria[0]);
}

// The diagnostics of a failed query; "" when it binds.
std::string Error(std::string_view type, std::string_view query, QueryOptions options = {}) {
  Result<Query> q = Bound(type, query, options);
  return q.ok() ? "" : Diagnostics(q.status());
}

// The only criterion of a query (a copy: the Result is usually a temporary).
Criterion Only(const Result<Query>& q) {
  EXPECT_TRUE(q.ok()) << Diagnostics(q.status());
  if (!q.ok() || q->criteria.size() != 1) {
    ADD_FAILURE() << "expected one criterion";
    return Criterion{};
  }
  return q->criteria[0];
}

template <typename T>
T TermAs(const Criterion& c, size_t i = 0) {
  if (c.terms.size() <= i || !std::holds_alternative<T>(c.terms[i])) {
    ADD_FAILURE() << "unexpected terms: " << ToDebugString(c);
    return T{};
  }
  return std::get<T>(c.terms[i]);
}

// ---------------------------------------------------------------------------------------------
// Parse (stage 1)

TEST(QueryParseTest, SplitsNamesIntoSegments) {
  Result<ParsedRequest> r =
      Parse(P("subject:Patient.organization.name:exact=x&_has:Observation:patient:code=1"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_THAT(r->params, SizeIs(2));
  const std::vector<NameSegment>& chain = r->params[0].path;
  ASSERT_THAT(chain, SizeIs(3));
  EXPECT_EQ(chain[0].code, "subject");
  EXPECT_EQ(chain[0].modifier, "Patient");
  EXPECT_EQ(chain[1].code, "organization");
  EXPECT_EQ(chain[1].modifier, "");
  EXPECT_EQ(chain[2].code, "name");
  EXPECT_EQ(chain[2].modifier, "exact");
  const std::vector<NameSegment>& has = r->params[1].path;
  ASSERT_THAT(has, SizeIs(2));
  EXPECT_TRUE(has[0].is_has());
  EXPECT_EQ(has[0].has_type, "Observation");
  EXPECT_EQ(has[0].has_param, "patient");
  EXPECT_EQ(has[1].code, "code");
}

TEST(QueryParseTest, SplitsValuesOnUnescapedCommasKeepingEscapes) {
  Result<ParsedRequest> r = Parse({{"code", "a,b\\,c,d\\\\,e"}});
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->params[0].alternatives, ElementsAre("a", "b\\,c", "d\\\\", "e"));
}

TEST(QueryParseTest, RejectsMalformedNames) {
  EXPECT_THAT(Parse(P("subject..name=x")).status().message(), HasSubstr("empty chain link"));
  EXPECT_THAT(Parse(P("subject.=x")).status().message(), HasSubstr("empty chain link"));
  EXPECT_THAT(Parse(P("name:=x")).status().message(), HasSubstr("empty modifier"));
  EXPECT_THAT(Parse(P("_has:Observation:patient=x")).status().message(),
              HasSubstr("_has:[type]:[reference parameter]:[parameter]"));
  EXPECT_THAT(Parse(P("_has=x")).status().message(), HasSubstr("_has takes the form"));
  EXPECT_THAT(Parse({{"", "x"}}).status().message(), HasSubstr("empty name"));
}

TEST(QueryParseTest, StagesRunSeparately) {
  Result<ParsedRequest> parsed = Parse(P("name=peter&_count=5"));
  ASSERT_TRUE(parsed.ok());
  Result<Query> q = Bind(std::move(*parsed), {"Patient"}, {});
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(ToDebugString(*q), "Patient (string name \"peter\") _count=5");
  EXPECT_THAT(q->applied, SizeIs(2));
}

TEST(QueryEnumTest, Names) {
  EXPECT_EQ(ToString(Prefix::kAp), "ap");
  EXPECT_EQ(ToString(Prefix::kSa), "sa");
  EXPECT_EQ(ToString(Modifier::kNotIn), "not-in");
  EXPECT_EQ(ToString(Modifier::kOfType), "of-type");
  EXPECT_EQ(ToString(Modifier::kType), "[type]");
  EXPECT_EQ(ToString(DatePrecision::kFraction), "fraction");
  EXPECT_EQ(ToString(TotalMode::kEstimate), "estimate");
  EXPECT_EQ(ToString(SummaryMode::kFalse), "false");
  EXPECT_EQ(ToString(ContainedMode::kBoth), "both");
  EXPECT_EQ(ToString(ContainedType::kContained), "contained");
}

// ---------------------------------------------------------------------------------------------
// The example from the task: every stage of a typical query.

TEST(QueryBindTest, TypicalObservationQuery) {
  EXPECT_EQ(Debug("Observation",
                  "subject:Patient.name=peter&date=ge2020-01-01&code=http://loinc.org|1234-5,"
                  "http://loinc.org|999&_sort=-date&_count=50"),
            "Observation (chain subject:Patient [Patient] (string name \"peter\")) "
            "(date date ge 2020-01-01 [2020-01-01T00:00:00Z,2020-01-02T00:00:00Z)) "
            "(token code http://loinc.org|1234-5 OR http://loinc.org|999) _sort=-date _count=50");
}

// ---------------------------------------------------------------------------------------------
// number

TEST(QueryNumberTest, PrefixAndImplicitRange) {
  EXPECT_EQ(First("RiskAssessment", "probability=gt0.8"),
            "(number probability gt 0.8 [0.75,0.85))");
  EXPECT_EQ(First("RiskAssessment", "probability=gt8e-1"),
            "(number probability gt 0.8 [0.75,0.85))");
}

TEST(QueryNumberTest, PrecisionFromSignificantFigures) {
  // R4 3.1.1.4.6: 100 has 3 significant figures, 100.00 five, 1e2 one. (R4's own example,
  // ImmunizationRecommendation?dose-number, has no definition in R4's package.)
  EXPECT_EQ(First("RiskAssessment", "probability=100"), "(number probability eq 100 [99.5,100.5))");
  EXPECT_EQ(First("RiskAssessment", "probability=100.00"),
            "(number probability eq 100.00 [99.995,100.005))");
  EXPECT_EQ(First("RiskAssessment", "probability=1e2"), "(number probability eq 1e2 [50,150))");
  EXPECT_EQ(First("RiskAssessment", "probability=1.00e2"),
            "(number probability eq 100 [99.5,100.5))");
  EXPECT_EQ(First("RiskAssessment", "probability=0.5"), "(number probability eq 0.5 [0.45,0.55))");
  EXPECT_EQ(First("RiskAssessment", "probability=0.050"),
            "(number probability eq 0.050 [0.0495,0.0505))");
  EXPECT_EQ(First("RiskAssessment", "probability=-100"),
            "(number probability eq -100 [-100.5,-99.5))");
  EXPECT_EQ(First("RiskAssessment", "probability=0"), "(number probability eq 0 [-0.5,0.5))");
  EXPECT_EQ(First("RiskAssessment", "probability=2"), "(number probability eq 2 [1.5,2.5))");
  EXPECT_EQ(First("RiskAssessment", "probability=19.9"),
            "(number probability eq 19.9 [19.85,19.95))");
  EXPECT_EQ(First("RiskAssessment", "probability=10"), "(number probability eq 10 [9.5,10.5))");
}

TEST(QueryNumberTest, DecimalText) {
  auto value = [](std::string_view text) {
    return TermAs<NumberTerm>(Only(Bound("RiskAssessment", "probability=" + std::string(text))))
        .value;
  };
  EXPECT_EQ(value("1").ToString(), "1");
  EXPECT_EQ(value("007").ToString(), "7");  // leading zeros are not significant
  EXPECT_EQ(value("-0.0").ToString(), "0.0");
  EXPECT_EQ(value("12e-4").ToString(), "0.0012");
  EXPECT_EQ(value("1.5e10").ToPlainString(), "15000000000");
  EXPECT_EQ(value("-2.50").ToDouble(), -2.5);
  EXPECT_EQ(value("1e400").ToDouble(), HUGE_VAL);
}

TEST(QueryNumberTest, DecimalIsExact) {
  Result<Query> q = Bound("RiskAssessment", "probability=ne1.50E+3");
  const NumberTerm& n = TermAs<NumberTerm>(Only(q));
  EXPECT_EQ(n.prefix, Prefix::kNe);
  EXPECT_FALSE(n.value.negative);
  EXPECT_EQ(n.value.digits, "150");
  EXPECT_EQ(n.value.exponent, 1);
  EXPECT_EQ(n.value.ToString(), "1.50e3");
  EXPECT_EQ(n.value.ToPlainString(), "1500");
  EXPECT_DOUBLE_EQ(n.value.ToDouble(), 1500);
  EXPECT_EQ(n.low.ToPlainString(), "1495");
  EXPECT_EQ(n.high.ToPlainString(), "1505");
  EXPECT_DOUBLE_EQ(n.low.ToDouble(), 1495);
}

TEST(QueryNumberTest, EveryPrefix) {
  const std::pair<std::string_view, Prefix> cases[] = {
      {"eq", Prefix::kEq}, {"ne", Prefix::kNe}, {"gt", Prefix::kGt},
      {"lt", Prefix::kLt}, {"ge", Prefix::kGe}, {"le", Prefix::kLe},
      {"sa", Prefix::kSa}, {"eb", Prefix::kEb}, {"ap", Prefix::kAp},
  };
  for (const auto& [text, prefix] : cases) {
    Result<Query> q = Bound("RiskAssessment", "probability=" + std::string(text) + "5");
    EXPECT_EQ(TermAs<NumberTerm>(Only(q)).prefix, prefix) << text;
  }
}

TEST(QueryNumberTest, RejectsMalformedNumbers) {
  EXPECT_EQ(Error("RiskAssessment", "probability=abc"),
            "probability=abc: 'ab' is not a prefix (eq, ne, gt, lt, ge, le, sa, eb, ap)");
  EXPECT_EQ(Error("RiskAssessment", "probability=1.2.3"), "probability=1.2.3: not a number");
  EXPECT_EQ(Error("RiskAssessment", "probability=.5"), "probability=.5: not a number");
  EXPECT_EQ(Error("RiskAssessment", "probability=gt"),
            "probability=gt: a value is needed after the prefix");
  EXPECT_EQ(Error("RiskAssessment", "probability=1e99999"), "probability=1e99999: not a number");
  Result<Query> q = Bound("RiskAssessment", "probability=zz5");
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().error(), ErrorCode::kInvalid);
  EXPECT_EQ(q.status().issues()[0].code, "value");
  EXPECT_EQ(q.status().issues()[0].severity, Severity::kError);
}

TEST(QueryNumberTest, OnlyMissingModifier) {
  EXPECT_EQ(First("RiskAssessment", "probability:missing=true"),
            "(number probability:missing true)");
  EXPECT_EQ(Error("RiskAssessment", "probability:exact=5"),
            "probability:exact=5: modifier ':exact' cannot be used on number parameter "
            "'probability'");
}

// ---------------------------------------------------------------------------------------------
// date

TEST(QueryDateTest, PartialDatesAreRanges) {
  EXPECT_EQ(First("Patient", "birthdate=2020"),
            "(date birthdate eq 2020 [2020-01-01T00:00:00Z,2021-01-01T00:00:00Z))");
  EXPECT_EQ(First("Patient", "birthdate=2020-02"),
            "(date birthdate eq 2020-02 [2020-02-01T00:00:00Z,2020-03-01T00:00:00Z))");
  EXPECT_EQ(First("Patient", "birthdate=2020-12"),
            "(date birthdate eq 2020-12 [2020-12-01T00:00:00Z,2021-01-01T00:00:00Z))");
  EXPECT_EQ(First("Patient", "birthdate=2020-02-29"),
            "(date birthdate eq 2020-02-29 [2020-02-29T00:00:00Z,2020-03-01T00:00:00Z))");
}

TEST(QueryDateTest, Precision) {
  auto precision = [](std::string_view value) {
    Result<Query> q = Bound("Observation", "date=" + std::string(value));
    return TermAs<DateTerm>(Only(q)).precision;
  };
  EXPECT_EQ(precision("2020"), DatePrecision::kYear);
  EXPECT_EQ(precision("2020-01"), DatePrecision::kMonth);
  EXPECT_EQ(precision("2020-01-01"), DatePrecision::kDay);
  EXPECT_EQ(precision("2020-01-01T10:00Z"), DatePrecision::kMinute);
  EXPECT_EQ(precision("2020-01-01T10:00:00Z"), DatePrecision::kSecond);
  EXPECT_EQ(precision("2020-01-01T10:00:00.5Z"), DatePrecision::kFraction);
}

TEST(QueryDateTest, TimesAndZones) {
  EXPECT_EQ(First("Observation", "date=2020-01-01T10:00+02:00"),
            "(date date eq 2020-01-01T10:00+02:00 "
            "[2020-01-01T08:00:00Z,2020-01-01T08:01:00Z))");
  EXPECT_EQ(First("Observation", "date=lt2013-01-14T10:00:05Z"),
            "(date date lt 2013-01-14T10:00:05Z [2013-01-14T10:00:05Z,2013-01-14T10:00:06Z))");
  EXPECT_EQ(First("Observation", "date=2013-01-14T10:00:05.123Z"),
            "(date date eq 2013-01-14T10:00:05.123Z "
            "[2013-01-14T10:00:05.123Z,2013-01-14T10:00:05.124Z))");
  EXPECT_EQ(First("Observation", "date=2020-01-01T00:30-05:30"),
            "(date date eq 2020-01-01T00:30-05:30 "
            "[2020-01-01T06:00:00Z,2020-01-01T06:01:00Z))");
  // A '+' that form decoding turned into a space.
  EXPECT_EQ(First("Observation", "date=2020-01-01T10:00 01:00"),
            "(date date eq 2020-01-01T10:00 01:00 "
            "[2020-01-01T09:00:00Z,2020-01-01T09:01:00Z))");
}

TEST(QueryDateTest, TimeWithoutZoneIsUtc) {
  Result<Query> q = Bound("Observation", "date=2020-01-01T10:00");
  const DateTerm& d = TermAs<DateTerm>(Only(q));
  EXPECT_FALSE(d.has_time_zone);
  EXPECT_EQ(d.high - d.low, 60 * 1000000LL);
  Result<Query> z = Bound("Observation", "date=2020-01-01T10:00Z");
  const DateTerm& dz = TermAs<DateTerm>(Only(z));
  EXPECT_TRUE(dz.has_time_zone);
  EXPECT_EQ(d.low, dz.low);
}

TEST(QueryDateTest, RejectsImpossibleDates) {
  EXPECT_EQ(Error("Patient", "birthdate=2021-02-29"),
            "birthdate=2021-02-29: not a valid date: 2021-02 has 28 days");
  EXPECT_EQ(Error("Patient", "birthdate=2023-02-30"),
            "birthdate=2023-02-30: not a valid date: 2023-02 has 28 days");
  EXPECT_EQ(Error("Patient", "birthdate=2023-04-31"),
            "birthdate=2023-04-31: not a valid date: 2023-04 has 30 days");
  EXPECT_EQ(Error("Patient", "birthdate=2020-13"),
            "birthdate=2020-13: not a valid date: no month 13");
  EXPECT_EQ(Error("Observation", "date=2020-01-01T24:00Z"),
            "date=2020-01-01T24:00Z: not a valid date: no time 24:00");
  EXPECT_EQ(Error("Observation", "date=2020-01-01T10:00+15:00"),
            "date=2020-01-01T10:00+15:00: not a valid date: time zone offsets go up to 14:00");
  for (std::string_view bad :
       {"2020-1-1", "20", "2020-01-01T10", "2020-01-01T10:00:5Z", "2020-01-01Z",
        "2020-01-01T10:00:00.Z", "0000", "23 May 2009", "2020-01-01T10:00:00+0100"}) {
    EXPECT_THAT(Error("Observation", "date=" + std::string(bad)), HasSubstr("not a valid date"))
        << bad;
  }
}

TEST(QueryDateTest, PrefixesOnDates) {
  EXPECT_EQ(First("Observation", "date=sa2013-03-14"),
            "(date date sa 2013-03-14 [2013-03-14T00:00:00Z,2013-03-15T00:00:00Z))");
  EXPECT_EQ(TermAs<DateTerm>(Only(Bound("Observation", "date=eb2013"))).prefix, Prefix::kEb);
  EXPECT_EQ(TermAs<DateTerm>(Only(Bound("Observation", "date=ap2013"))).prefix, Prefix::kAp);
  EXPECT_EQ(First("Observation", "_lastUpdated=gt2010-10-01"),
            "(date _lastUpdated gt 2010-10-01 [2010-10-01T00:00:00Z,2010-10-02T00:00:00Z))");
  EXPECT_EQ(Error("Observation", "date=xx2010"),
            "date=xx2010: 'xx' is not a prefix (eq, ne, gt, lt, ge, le, sa, eb, ap)");
}

TEST(QueryDateTest, RangeAcrossTwoParametersIsAnd) {
  Result<Query> q = Bound("Procedure", "date=ge2010-01-01&date=le2011-12-31");
  ASSERT_TRUE(q.ok());
  ASSERT_THAT(q->criteria, SizeIs(2));
  EXPECT_EQ(std::get<DateTerm>(q->criteria[0].terms[0]).prefix, Prefix::kGe);
  EXPECT_EQ(std::get<DateTerm>(q->criteria[1].terms[0]).prefix, Prefix::kLe);
}

// ---------------------------------------------------------------------------------------------
// string

TEST(QueryStringTest, DefaultAndModifiers) {
  EXPECT_EQ(First("Patient", "given=eve"), "(string given \"eve\")");
  EXPECT_EQ(First("Patient", "given:contains=eve"), "(string given:contains \"eve\")");
  EXPECT_EQ(First("Patient", "given:exact=Eve"), "(string given:exact \"Eve\")");
  EXPECT_EQ(First("Patient", "name:text=Eve"), "(string name:text \"Eve\")");
  // Prefix-like text is just text for strings.
  EXPECT_EQ(First("Patient", "family=gtx"), "(string family \"gtx\")");
  EXPECT_EQ(First("Patient", "address=1 Main St|Springfield"),
            "(string address \"1 Main St|Springfield\")");
}

TEST(QueryStringTest, RejectsTokenModifiers) {
  EXPECT_EQ(Error("Patient", "name:not=x"),
            "name:not=x: modifier ':not' cannot be used on string parameter 'name'");
  EXPECT_EQ(Error("Patient", "name:below=x"),
            "name:below=x: modifier ':below' cannot be used on string parameter 'name'");
  EXPECT_EQ(Error("Patient", "name:Patient=x"),
            "name:Patient=x: a resource type modifier (:Patient) applies to reference "
            "parameters only; 'name' is a string parameter");
}

TEST(QueryStringTest, UnknownModifierIsRejectedEvenWhenLenient) {
  Result<Query> q = Bound("Patient", "name:foo=x");
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().issues()[0].code, "not-supported");
  EXPECT_EQ(q.status().message(), "name:foo=x: unknown modifier ':foo'");
}

// ---------------------------------------------------------------------------------------------
// token

TEST(QueryTokenTest, Forms) {
  EXPECT_EQ(First("Condition", "code=ha125"), "(token code ha125)");
  EXPECT_EQ(First("Condition", "code=http://acme.org/conditions/codes|ha125"),
            "(token code http://acme.org/conditions/codes|ha125)");
  EXPECT_EQ(First("Condition", "code=|ha125"), "(token code |ha125)");
  EXPECT_EQ(First("Condition", "code=http://acme.org/conditions/codes|"),
            "(token code http://acme.org/conditions/codes|)");

  const TokenTerm& any = TermAs<TokenTerm>(Only(Bound("Condition", "code=ha125")));
  EXPECT_FALSE(any.system.has_value());
  EXPECT_EQ(any.code, "ha125");
  const TokenTerm& none = TermAs<TokenTerm>(Only(Bound("Condition", "code=|ha125")));
  EXPECT_EQ(none.system, "");
  const TokenTerm& sys = TermAs<TokenTerm>(Only(Bound("Condition", "code=http://x|")));
  EXPECT_EQ(sys.system, "http://x");
  EXPECT_FALSE(sys.code.has_value());
}

TEST(QueryTokenTest, RejectsBadForms) {
  EXPECT_EQ(Error("Condition", "code=|"),
            "code=|: a token needs a system, a code or both around the '|'");
  EXPECT_EQ(Error("Condition", "code=a|b|c"),
            "code=a|b|c: a token is code, system|code, |code or system| (escape a literal '|' "
            "as '\\|')");
}

TEST(QueryTokenTest, PrefixLikeCodesAreCodes) {
  EXPECT_EQ(First("Condition", "code=ge5"), "(token code ge5)");
}

TEST(QueryTokenTest, Modifiers) {
  EXPECT_EQ(First("Condition", "code:text=headache"), "(token code:text \"headache\")");
  EXPECT_EQ(First("Patient", "gender:not=male"), "(token gender:not male)");
  EXPECT_EQ(First("Condition", "code:below=126851005"), "(token code:below 126851005)");
  EXPECT_EQ(First("Condition", "code:above=http://snomed.info/sct|126851005"),
            "(token code:above http://snomed.info/sct|126851005)");
  EXPECT_EQ(First("Condition", "code:in=http://acme.org/fhir/ValueSet/cardiac-conditions"),
            "(token code:in http://acme.org/fhir/ValueSet/cardiac-conditions)");
  EXPECT_EQ(First("Condition", "code:not-in=ValueSet/123"), "(token code:not-in ValueSet/123)");
  EXPECT_EQ(First("DocumentReference", "contenttype:below=text/xml"),
            "(token contenttype:below text/xml)");
  const UriTerm& vs = TermAs<UriTerm>(Only(
      Bound("Condition", "code:in=http%3A%2F%2Fsnomed.info%2Fsct%3Ffhir_vs%3Disa%2F126851005")));
  EXPECT_EQ(vs.uri, "http://snomed.info/sct?fhir_vs=isa/126851005");
}

TEST(QueryTokenTest, OfTypeOnIdentifiers) {
  EXPECT_EQ(First("Patient",
                  "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|446053"),
            "(token identifier:of-type http://terminology.hl7.org/CodeSystem/v2-0203|MR|446053)");
  const IdentifierTypeTerm& t =
      TermAs<IdentifierTypeTerm>(Only(Bound("Patient", "identifier:of-type=http://x|MR|446053")));
  EXPECT_EQ(t.type_system, "http://x");
  EXPECT_EQ(t.type_code, "MR");
  EXPECT_EQ(t.value, "446053");
  EXPECT_THAT(Error("Patient", "identifier:of-type=MR|446053"),
              HasSubstr(":of-type takes system|code|value"));
  EXPECT_THAT(Error("Patient", "identifier:of-type=http://x||446053"),
              HasSubstr("all three present"));
  EXPECT_EQ(Error("Patient", "gender:of-type=a|b|c"),
            "gender:of-type=a|b|c: :of-type applies to identifiers; 'gender' does not search an "
            "Identifier");
}

TEST(QueryTokenTest, IdHasNoSystem) {
  EXPECT_EQ(First("Patient", "_id=23"), "(token _id 23)");
  const TokenTerm& t = TermAs<TokenTerm>(Only(Bound("Patient", "_id=a|b")));
  EXPECT_FALSE(t.system.has_value());
  EXPECT_EQ(t.code, "a|b");
}

TEST(QueryTokenTest, RejectsStringModifiers) {
  EXPECT_EQ(Error("Patient", "gender:exact=male"),
            "gender:exact=male: modifier ':exact' cannot be used on token parameter 'gender'");
  EXPECT_EQ(Error("Patient", "gender:contains=ma"),
            "gender:contains=ma: modifier ':contains' cannot be used on token parameter "
            "'gender'");
}

TEST(QueryTokenTest, BooleansAndTags) {
  EXPECT_EQ(First("Patient", "active=true"), "(token active true)");
  EXPECT_EQ(First("Condition", "_tag=http://acme.org/codes|needs-review"),
            "(token _tag http://acme.org/codes|needs-review)");
  EXPECT_EQ(
      First("Condition", "_security=http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R"),
      "(token _security http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R)");
}

// ---------------------------------------------------------------------------------------------
// quantity

TEST(QueryQuantityTest, Forms) {
  EXPECT_EQ(First("Observation", "value-quantity=5.4|http://unitsofmeasure.org|mg"),
            "(quantity value-quantity eq 5.4 [5.35,5.45) http://unitsofmeasure.org|mg)");
  EXPECT_EQ(First("Observation", "value-quantity=5.40e-3|http://unitsofmeasure.org|g"),
            "(quantity value-quantity eq 0.00540 [0.005395,0.005405) "
            "http://unitsofmeasure.org|g)");
  EXPECT_EQ(First("Observation", "value-quantity=5.4||mg"),
            "(quantity value-quantity eq 5.4 [5.35,5.45) ||mg)");
  EXPECT_EQ(First("Observation", "value-quantity=5.4"),
            "(quantity value-quantity eq 5.4 [5.35,5.45))");
  EXPECT_EQ(First("Observation", "value-quantity=le5.4|http://unitsofmeasure.org|mg"),
            "(quantity value-quantity le 5.4 [5.35,5.45) http://unitsofmeasure.org|mg)");
  EXPECT_EQ(First("Observation", "value-quantity=ap5.4|http://unitsofmeasure.org|mg"),
            "(quantity value-quantity ap 5.4 [5.35,5.45) http://unitsofmeasure.org|mg)");
}

TEST(QueryQuantityTest, Units) {
  const QuantityTerm& a =
      TermAs<QuantityTerm>(Only(Bound("Observation", "value-quantity=5.4||mg")));
  EXPECT_FALSE(a.system.has_value());
  EXPECT_EQ(a.code, "mg");
  const QuantityTerm& b = TermAs<QuantityTerm>(Only(Bound("Observation", "value-quantity=5.4")));
  EXPECT_FALSE(b.system.has_value());
  EXPECT_EQ(b.code, "");
  const QuantityTerm& c = TermAs<QuantityTerm>(
      Only(Bound("Observation", "value-quantity=5.4|http://unitsofmeasure.org|mm\\|Hg")));
  EXPECT_EQ(c.system, "http://unitsofmeasure.org");
  EXPECT_EQ(c.code, "mm|Hg");
}

TEST(QueryQuantityTest, RejectsBadForms) {
  EXPECT_EQ(Error("Observation", "value-quantity=5.4|mg"),
            "value-quantity=5.4|mg: a quantity is [prefix]number, [prefix]number|system|code or "
            "[prefix]number||code");
  EXPECT_EQ(Error("Observation", "value-quantity=x|http://unitsofmeasure.org|mg"),
            "value-quantity=x|http://unitsofmeasure.org|mg: not a number");
  EXPECT_EQ(Error("Observation", "value-quantity=5.4|http://unitsofmeasure.org|"),
            "value-quantity=5.4|http://unitsofmeasure.org|: a quantity's unit needs a code after "
            "the second '|'");
  EXPECT_EQ(Error("Observation", "value-quantity:below=5"),
            "value-quantity:below=5: modifier ':below' cannot be used on quantity parameter "
            "'value-quantity'");
}

// ---------------------------------------------------------------------------------------------
// reference

TEST(QueryReferenceTest, Forms) {
  EXPECT_EQ(First("Observation", "subject=Patient/23"), "(reference subject Patient/23)");
  EXPECT_EQ(First("Observation", "subject=23"), "(reference subject 23)");
  EXPECT_EQ(First("Observation", "subject:Patient=23"), "(reference subject:Patient Patient/23)");
  EXPECT_EQ(First("Observation", "subject=Patient/23/_history/2"),
            "(reference subject Patient/23/_history/2)");
  EXPECT_EQ(First("Observation", "subject=http://example.org/fhir/Patient/123"),
            "(reference subject http://example.org/fhir/Patient/123)");
  // A parameter with one target types a bare id.
  EXPECT_EQ(First("Procedure", "location=42"), "(reference location Location/42)");
  EXPECT_EQ(First("Patient", "organization=1,Organization/2"),
            "(reference organization Organization/1 OR Organization/2)");
  // The shared clinical `patient` parameter may point at Patient or Group: a bare id stays so.
  EXPECT_EQ(First("Encounter", "patient=1"), "(reference patient 1)");
}

TEST(QueryReferenceTest, AbsoluteUrlsKeepTheirTail) {
  const ReferenceTerm& r = TermAs<ReferenceTerm>(
      Only(Bound("Observation", "subject=http://example.org/fhir/Patient/123/_history/4")));
  EXPECT_EQ(r.kind, ReferenceTerm::Kind::kUrl);
  EXPECT_EQ(r.url, "http://example.org/fhir/Patient/123/_history/4");
  EXPECT_EQ(r.type, "Patient");
  EXPECT_EQ(r.id, "123");
  EXPECT_EQ(r.version, "4");
  const ReferenceTerm& u =
      TermAs<ReferenceTerm>(Only(Bound("Observation", "subject=urn:uuid:123e4567-e89b")));
  EXPECT_EQ(u.kind, ReferenceTerm::Kind::kUrl);
  EXPECT_EQ(u.type, "");
}

TEST(QueryReferenceTest, Canonical) {
  const ReferenceTerm& r = TermAs<ReferenceTerm>(Only(
      Bound("CarePlan", "instantiates-canonical=http://example.org/fhir/PlanDefinition/p1|2.0")));
  EXPECT_EQ(r.kind, ReferenceTerm::Kind::kCanonical);
  EXPECT_EQ(r.url, "http://example.org/fhir/PlanDefinition/p1");
  EXPECT_EQ(r.version, "2.0");
  EXPECT_EQ(First("PlanDefinition", "definition:below=http://acme.com/some-profile|1"),
            "(reference definition:below http://acme.com/some-profile|1)");
}

TEST(QueryReferenceTest, TypesMustBeTargets) {
  EXPECT_EQ(Error("Observation", "subject=Medication/1"),
            "subject=Medication/1: 'subject' cannot refer to Medication (its targets are "
            "Device, Group, Location, Patient)");
  EXPECT_EQ(Error("Observation", "subject:Medication=1"),
            "subject:Medication=1: 'subject' cannot refer to Medication (its targets are "
            "Device, Group, Location, Patient)");
  EXPECT_EQ(Error("Observation", "subject:Patient=Group/1"),
            "subject:Patient=Group/1: the value names Group but the modifier says Patient");
  EXPECT_EQ(Error("Observation", "subject:Patient=http://x/fhir/Patient/1"),
            "subject:Patient=http://x/fhir/Patient/1: a resource type modifier (:Patient) takes "
            "an id or Patient/[id], not a URL");
  EXPECT_EQ(Error("Observation", "subject=Foo/1"), "subject=Foo/1: 'Foo' is not a resource type");
  EXPECT_EQ(Error("Observation", "subject=Patient/1/2"),
            "subject=Patient/1/2: a reference is [type]/[id], [type]/[id]/_history/[version], an "
            "id or an absolute URL");
  EXPECT_EQ(Error("Observation", "subject=a b"),
            "subject=a b: not a valid id (1 to 64 letters, digits, '-' and '.')");
}

TEST(QueryReferenceTest, Identifier) {
  const Criterion& c =
      Only(Bound("Observation", "subject:identifier=http://acme.org/fhir/identifier/mrn|123456"));
  EXPECT_EQ(c.modifier, Modifier::kIdentifier);
  EXPECT_EQ(ToDebugString(c),
            "(reference subject:identifier http://acme.org/fhir/identifier/mrn|123456)");
  EXPECT_TRUE(std::holds_alternative<TokenTerm>(c.terms[0]));
}

TEST(QueryReferenceTest, Hierarchies) {
  EXPECT_EQ(First("Procedure", "location:below=42"), "(reference location:below Location/42)");
  EXPECT_EQ(First("MedicationAdministration", "context:above=21"), "(reference context:above 21)");
}

TEST(QueryReferenceTest, RejectsOtherModifiers) {
  EXPECT_EQ(Error("Observation", "subject:text=x"),
            "subject:text=x: modifier ':text' cannot be used on reference parameter 'subject'");
  EXPECT_EQ(Error("Observation", "subject:exact=x"),
            "subject:exact=x: modifier ':exact' cannot be used on reference parameter 'subject'");
}

// ---------------------------------------------------------------------------------------------
// uri

TEST(QueryUriTest, ExactAboveBelow) {
  EXPECT_EQ(First("ValueSet", "url=http://acme.org/fhir/ValueSet/123"),
            "(uri url http://acme.org/fhir/ValueSet/123)");
  EXPECT_EQ(First("ValueSet", "url:below=http://acme.org/fhir/"),
            "(uri url:below http://acme.org/fhir/)");
  EXPECT_EQ(First("ValueSet", "url:above=http://acme.org/fhir/ValueSet/123/_history/5"),
            "(uri url:above http://acme.org/fhir/ValueSet/123/_history/5)");
  EXPECT_EQ(First("ValueSet", "url=urn:oid:1.2.3.4.5"), "(uri url urn:oid:1.2.3.4.5)");
}

TEST(QueryUriTest, CanonicalVersionIsSplit) {
  const UriTerm& u =
      TermAs<UriTerm>(Only(Bound("ValueSet", "url=http://hl7.org/fhir/ValueSet/example|3.0")));
  EXPECT_EQ(u.uri, "http://hl7.org/fhir/ValueSet/example");
  EXPECT_EQ(u.version, "3.0");
  EXPECT_EQ(First("Patient", "_source=http://example.org/feeds/adt"),
            "(uri _source http://example.org/feeds/adt)");
  EXPECT_EQ(First("DiagnosticReport", "_profile=Profile/lipid"), "(uri _profile Profile/lipid)");
  EXPECT_EQ(First("DiagnosticReport", "_profile=http://hl7.org/fhir/StructureDefinition/lipid"),
            "(uri _profile http://hl7.org/fhir/StructureDefinition/lipid)");
}

TEST(QueryUriTest, CommaSeparatedUrlsAndEscapedComma) {
  // R4 3.1.1.4.19's example: the two URLs mean the same; with \, it is one URL.
  EXPECT_EQ(First("ValueSet",
                  "url=http://acme.org/fhir/ValueSet/123,http://acme.org/fhir/ValueSet/124%2C"
                  "ValueSet/125"),
            "(uri url http://acme.org/fhir/ValueSet/123 OR http://acme.org/fhir/ValueSet/124 OR "
            "ValueSet/125)");
  const Criterion& c = Only(Bound("ValueSet", "url=http://acme.org/fhir/ValueSet/124\\,125"));
  ASSERT_THAT(c.terms, SizeIs(1));
  EXPECT_EQ(std::get<UriTerm>(c.terms[0]).uri, "http://acme.org/fhir/ValueSet/124,125");
}

TEST(QueryUriTest, RejectsStringModifiers) {
  EXPECT_EQ(Error("ValueSet", "url:exact=x"),
            "url:exact=x: modifier ':exact' cannot be used on uri parameter 'url'");
}

// ---------------------------------------------------------------------------------------------
// composite

TEST(QueryCompositeTest, ComponentsFollowTheirDefinitions) {
  const Criterion& c = Only(
      Bound("Observation",
            "code-value-quantity=http://loinc.org|2823-3$gt5.4|http://unitsofmeasure.org|mmol/L"));
  ASSERT_THAT(c.components, SizeIs(2));
  EXPECT_EQ(c.components[0].def->type(), fhir::SearchParamType::kToken);
  EXPECT_EQ(c.components[1].def->type(), fhir::SearchParamType::kQuantity);
  EXPECT_EQ(ToDebugString(c),
            "(composite code-value-quantity http://loinc.org|2823-3$gt 5.4 [5.35,5.45) "
            "http://unitsofmeasure.org|mmol/L)");
  const CompositeTerm& t = TermAs<CompositeTerm>(c);
  ASSERT_THAT(t.components, SizeIs(2));
  EXPECT_EQ(std::get<QuantityTerm>(t.components[1]).prefix, Prefix::kGt);
}

TEST(QueryCompositeTest, MoreExamples) {
  EXPECT_EQ(First("Observation", "component-code-value-quantity=http://loinc.org|8480-6$lt60"),
            "(composite component-code-value-quantity http://loinc.org|8480-6$lt 60 [59.5,60.5))");
  EXPECT_EQ(First("Group", "characteristic-value=gender$mixed,owner$Eve"),
            "(composite characteristic-value gender$mixed OR owner$Eve)");
  EXPECT_EQ(First("Questionnaire", "context-type-value=focus$http://snomed.info/sct|408934002"),
            "(composite context-type-value focus$http://snomed.info/sct|408934002)");
  EXPECT_EQ(First("Observation", "code-value-date=http://loinc.org|1$ge2020"),
            "(composite code-value-date http://loinc.org|1$ge 2020 "
            "[2020-01-01T00:00:00Z,2021-01-01T00:00:00Z))");
  // An escaped '$' stays in its component.
  EXPECT_EQ(First("Group", "characteristic-value=gen\\$der$mixed"),
            "(composite characteristic-value gen\\$der$mixed)");
}

TEST(QueryCompositeTest, Errors) {
  EXPECT_EQ(Error("Observation", "code-value-quantity=http://loinc.org|2823-3"),
            "code-value-quantity=http://loinc.org|2823-3: 'code-value-quantity' takes 2 values "
            "joined by '$', not 1");
  EXPECT_EQ(Error("Observation", "code-value-quantity=a$b$c"),
            "code-value-quantity=a$b$c: 'code-value-quantity' takes 2 values joined by '$', not 3");
  EXPECT_EQ(Error("Observation", "code-value-quantity=a$x"),
            "code-value-quantity=a$x: component 2 (value-quantity): not a number");
  EXPECT_EQ(Error("Observation", "code-value-quantity=$5"),
            "code-value-quantity=$5: component 1 (code) is empty");
  EXPECT_EQ(Error("Observation", "code-value-quantity:missing=true"),
            "code-value-quantity:missing=true: modifier ':missing' cannot be used on composite "
            "parameter 'code-value-quantity'");
  EXPECT_EQ(Error("Observation", "code-value-quantity:exact=a$1"),
            "code-value-quantity:exact=a$1: modifier ':exact' cannot be used on composite "
            "parameter 'code-value-quantity'");
}

// ---------------------------------------------------------------------------------------------
// special and full text

TEST(QuerySpecialTest, Near) {
  EXPECT_EQ(First("Location", "near=42.256500|-83.694810|11.20|km"),
            "(special near 42.2565|-83.6948|11.20|km)");
  const NearTerm& n = TermAs<NearTerm>(Only(Bound("Location", "near=42.2565|-83.6948")));
  EXPECT_FALSE(n.distance.has_value());
  EXPECT_EQ(n.units, "km");
  EXPECT_EQ(Error("Location", "near=95|0"),
            "near=95|0: near: latitude must be within +/-90 and longitude within +/-180");
  EXPECT_THAT(Error("Location", "near=42"), HasSubstr("near is latitude|longitude"));
  EXPECT_THAT(Error("Location", "near=1|2|-3"), HasSubstr("non-negative"));
}

TEST(QuerySpecialTest, TextAndContentAreStrings) {
  EXPECT_EQ(First("Condition", "_text=(bone OR liver) and metastases"),
            "(string _text \"(bone OR liver) and metastases\")");
  EXPECT_EQ(First("Condition", "_content=cancer"), "(string _content \"cancer\")");
}

TEST(QuerySpecialTest, List) {
  EXPECT_EQ(First("Patient", "_list=42"), "(special _list \"42\")");
  EXPECT_EQ(First("AllergyIntolerance", "_list=$current-allergies"),
            "(special _list \"$current-allergies\")");
}

TEST(QuerySpecialTest, FilterIsUnsupported) {
  Result<Query> q = Bound("Observation", "_filter=code eq http://loinc.org|1234-5&code=x");
  ASSERT_TRUE(q.ok());
  ASSERT_THAT(q->ignored, SizeIs(1));
  EXPECT_EQ(q->ignored[0].name, "_filter");
  EXPECT_EQ(q->ignored[0].reason, "_filter is not supported");
  EXPECT_THAT(q->criteria, SizeIs(1));
  EXPECT_EQ(Error("Observation", "_filter=x", {.strict = true}),
            "_filter=x: _filter is not supported");
}

TEST(QuerySpecialTest, QueryIsRefusedEvenWhenLenient) {
  Result<Query> q = Bound("Patient", "_query=everything");
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().issues()[0].code, "not-supported");
  EXPECT_EQ(q.status().message(), "_query=everything: named queries (_query) are not supported");
}

// ---------------------------------------------------------------------------------------------
// Escaping, OR and AND

TEST(QueryEscapingTest, EscapesPerR4) {
  EXPECT_EQ(First("Observation", "code=a,b"), "(token code a OR b)");
  EXPECT_EQ(First("Observation", "code=a\\,b"), "(token code a\\,b)");
  EXPECT_EQ(TermAs<TokenTerm>(Only(Bound("Observation", "code=a\\,b"))).code, "a,b");
  EXPECT_EQ(TermAs<StringTerm>(Only(Bound("Patient", "name=xx\\\\xx"))).value, "xx\\xx");
  EXPECT_EQ(TermAs<StringTerm>(Only(Bound("Patient", "name=a\\$b\\|c"))).value, "a$b|c");
  EXPECT_EQ(TermAs<TokenTerm>(Only(Bound("Observation", "code=http://x|a\\|b"))).code, "a|b");
}

TEST(QueryEscapingTest, IllegalEscapes) {
  EXPECT_EQ(Error("Patient", "name=xx\\xx"),
            "name=xx\\xx: invalid escape: a backslash must precede \\ , $ or | (write \\\\ for "
            "a backslash)");
  EXPECT_THAT(Error("Patient", "name=xx\\"), HasSubstr("invalid escape"));
  EXPECT_THAT(Error("Observation", "code=a\\b"), HasSubstr("invalid escape"));
}

TEST(QueryOrAndTest, CommasAreOrRepeatsAreAnd) {
  Result<Query> q = Bound("Patient", "language=FR,NL&language=EN");
  ASSERT_TRUE(q.ok());
  ASSERT_THAT(q->criteria, SizeIs(2));
  EXPECT_THAT(q->criteria[0].terms, SizeIs(2));
  EXPECT_THAT(q->criteria[1].terms, SizeIs(1));
  EXPECT_EQ(ToDebugString(*q), "Patient (token language FR OR NL) (token language EN) _count=20");
  EXPECT_EQ(First("Condition", "code:text=this,that"), "(token code:text \"this\" OR \"that\")");
}

TEST(QueryOrAndTest, EmptyAlternativesAndParameters) {
  EXPECT_EQ(First("Observation", "code=a,,b,"), "(token code a OR b)");
  EXPECT_EQ(Error("Observation", "code=,"), "code=,: no value");
  // R4: empty parameters are ignored, not an error, even when strict.
  for (bool strict : {false, true}) {
    Result<Query> q = Bound("Observation", "code=&status=final", {.strict = strict});
    ASSERT_TRUE(q.ok());
    EXPECT_THAT(q->criteria, SizeIs(1));
    ASSERT_THAT(q->ignored, SizeIs(1));
    EXPECT_EQ(q->ignored[0].issue_code, "informational");
  }
}

// ---------------------------------------------------------------------------------------------
// :missing

TEST(QueryMissingTest, TrueAndFalse) {
  EXPECT_EQ(First("Patient", "gender:missing=true"), "(token gender:missing true)");
  EXPECT_EQ(First("Patient", "gender:missing=false"), "(token gender:missing false)");
  EXPECT_EQ(First("Observation", "subject:missing=true"), "(reference subject:missing true)");
  EXPECT_EQ(First("Patient", "birthdate:missing=false"), "(date birthdate:missing false)");
  const Criterion& c = Only(Bound("Patient", "name:missing=true"));
  EXPECT_EQ(c.kind, Criterion::Kind::kMissing);
  EXPECT_TRUE(c.missing);
}

TEST(QueryMissingTest, RejectsOtherValues) {
  EXPECT_EQ(Error("Patient", "gender:missing=yes"),
            "gender:missing=yes: :missing takes true or false");
  EXPECT_EQ(Error("Patient", "gender:missing=true,false"),
            "gender:missing=true,false: :missing takes true or false");
}

// ---------------------------------------------------------------------------------------------
// Chaining

TEST(QueryChainTest, OneLinkWithType) {
  const Criterion& c = Only(Bound("DiagnosticReport", "subject:Patient.name=peter"));
  EXPECT_EQ(c.kind, Criterion::Kind::kChain);
  EXPECT_EQ(c.modifier, Modifier::kType);
  EXPECT_EQ(c.modifier_type, "Patient");
  EXPECT_THAT(c.targets, ElementsAre("Patient"));
  ASSERT_THAT(c.next, SizeIs(1));
  EXPECT_THAT(c.next[0].scope, ElementsAre("Patient"));
  EXPECT_EQ(c.next[0].defs[0]->url(), "http://hl7.org/fhir/SearchParameter/Patient-name");
}

TEST(QueryChainTest, AmbiguousTargetsBindWhereverTheParameterExists) {
  // Observation.subject -> Group | Device | Patient | Location; Group and Device have no `name`
  // in R4.
  EXPECT_EQ(First("Observation", "subject.name=peter"),
            "(chain subject [Location,Patient] (string name \"peter\"))");
  const Criterion& c = Only(Bound("Observation", "subject.name=peter"));
  EXPECT_THAT(c.targets, ElementsAre("Location", "Patient"));
  EXPECT_THAT(c.next[0].defs, SizeIs(2));
}

TEST(QueryChainTest, TargetsGroupedByTheNextParameterType) {
  // Observation.focus may point at any type; `type` is a token on most, a uri on a few.
  const Criterion& c = Only(Bound("Observation", "focus.type=x"));
  ASSERT_THAT(c.next, SizeIs(2));
  EXPECT_EQ(c.next[0].type, fhir::SearchParamType::kToken);
  EXPECT_EQ(c.next[1].type, fhir::SearchParamType::kUri);
  EXPECT_THAT(c.next[1].scope, ::testing::Contains("StructureDefinition"));
  EXPECT_EQ(c.targets.size(), c.next[0].scope.size() + c.next[1].scope.size());
}

TEST(QueryChainTest, TwoAndThreeLinks) {
  EXPECT_EQ(First("DiagnosticReport", "subject:Patient.organization.name=Acme"),
            "(chain subject:Patient [Patient] (chain organization [Organization] "
            "(string name \"Acme\")))");
  EXPECT_EQ(First("Observation", "subject:Patient.organization.partof.name=Acme"),
            "(chain subject:Patient [Patient] (chain organization [Organization] (chain partof "
            "[Organization] (string name \"Acme\"))))");
  EXPECT_EQ(First("Observation", "subject:Patient.general-practitioner:Practitioner.name=Joe"),
            "(chain subject:Patient [Patient] (chain general-practitioner:Practitioner "
            "[Practitioner] (string name \"Joe\")))");
}

TEST(QueryChainTest, AmbiguousIntermediateLinkDropsDeadEnds) {
  // subject -> {Group, Device, Patient, Location}: Group has no `organization`; the others' all
  // lead to Organization, which has `name`.
  const Criterion& c = Only(Bound("Observation", "subject.organization.name=Acme"));
  EXPECT_THAT(c.targets, ElementsAre("Device", "Location", "Patient"));
  EXPECT_EQ(ToDebugString(c),
            "(chain subject [Device,Location,Patient] (chain organization [Organization] (string "
            "name \"Acme\")))");
  // subject -> Group | Device | Patient | Location, then `general-practitioner`: only Patient
  // has it.
  EXPECT_EQ(First("Observation", "subject.general-practitioner.name=Joe"),
            "(chain subject [Patient] (chain general-practitioner [Organization,Practitioner] "
            "(string name \"Joe\")))");
}

TEST(QueryChainTest, ChainEndsWithModifiersAndTypedValues) {
  EXPECT_EQ(First("Observation", "subject:Patient.name:exact=Peter"),
            "(chain subject:Patient [Patient] (string name:exact \"Peter\"))");
  EXPECT_EQ(First("Observation", "subject:Patient.birthdate=ge1970"),
            "(chain subject:Patient [Patient] (date birthdate ge 1970 "
            "[1970-01-01T00:00:00Z,1971-01-01T00:00:00Z)))");
  EXPECT_EQ(First("Observation", "subject:Patient._id=1,2"),
            "(chain subject:Patient [Patient] (token _id 1 OR 2))");
  EXPECT_EQ(
      First("Observation", "patient.identifier=http://example.com/fhir/identifier/mrn|123456"),
      "(chain patient [Group,Patient] (token identifier "
      "http://example.com/fhir/identifier/mrn|123456))");
}

TEST(QueryChainTest, Errors) {
  EXPECT_EQ(Error("Observation", "subject.foo=x"),
            "subject.foo=x: no target of 'subject' (Device, Group, Location, Patient) has a "
            "search parameter 'foo'");
  EXPECT_EQ(Error("Observation", "subject:Patient.foo=x"),
            "subject:Patient.foo=x: Patient has no search parameter 'foo'");
  EXPECT_EQ(Error("Observation", "code.name=x"),
            "code.name=x: 'code' is a token parameter, not a reference, so it cannot be chained");
  EXPECT_EQ(Error("Observation", "subject:Medication.name=x"),
            "subject:Medication.name=x: 'subject' cannot refer to Medication (its targets are "
            "Device, Group, Location, Patient)");
  EXPECT_EQ(Error("Observation", "subject:identifier.name=x"),
            "subject:identifier.name=x: chaining is not supported with :identifier (R4 "
            "3.1.1.4.12)");
  EXPECT_EQ(Error("Observation", "subject:missing.name=x"),
            "subject:missing.name=x: modifier ':missing' cannot be used on a chained parameter; "
            "only a resource type can");
  EXPECT_EQ(Error("Observation", "subject:Patient.name.x=y"),
            "subject:Patient.name.x=y: 'name' is a string parameter, not a reference, so it "
            "cannot be chained");
  EXPECT_EQ(Error("Observation", "subject:Patient.birthdate=2021-02-29"),
            "subject:Patient.birthdate=2021-02-29: not a valid date: 2021-02 has 28 days");
  // Unknown first link: an unknown parameter (ignored when lenient).
  Result<Query> q = Bound("Observation", "foo.name=x");
  ASSERT_TRUE(q.ok());
  EXPECT_THAT(q->ignored, SizeIs(1));
}

// ---------------------------------------------------------------------------------------------
// Reverse chaining

TEST(QueryHasTest, Simple) {
  const Criterion& c = Only(Bound("Patient", "_has:Observation:patient:code=1234-5"));
  EXPECT_EQ(c.kind, Criterion::Kind::kHas);
  EXPECT_EQ(c.has_type, "Observation");
  EXPECT_EQ(c.code, "patient");
  EXPECT_EQ(ToDebugString(c), "(has Observation:patient (token code 1234-5))");
  EXPECT_EQ(First("Patient", "_has:Observation:patient:code=123,456"),
            "(has Observation:patient (token code 123 OR 456))");
  Result<Query> two =
      Bound("Patient", "_has:Observation:patient:code=123&_has:Observation:patient:code=456");
  ASSERT_TRUE(two.ok());
  EXPECT_THAT(two->criteria, SizeIs(2));
}

TEST(QueryHasTest, Nested) {
  EXPECT_EQ(
      First("Patient", "_has:Observation:patient:_has:AuditEvent:entity:agent=Practitioner/1"),
      "(has Observation:patient (has AuditEvent:entity (reference agent Practitioner/1)))");
}

TEST(QueryHasTest, WithModifierOrChainAfterIt) {
  EXPECT_EQ(First("Patient", "_has:Observation:patient:code:text=glucose"),
            "(has Observation:patient (token code:text \"glucose\"))");
  EXPECT_EQ(First("Patient", "_has:Observation:subject:performer:Practitioner.name=Joe"),
            "(has Observation:subject (chain performer:Practitioner [Practitioner] (string name "
            "\"Joe\")))");
  EXPECT_EQ(First("Encounter", "_has:Observation:encounter:date=2020"),
            "(has Observation:encounter (date date eq 2020 "
            "[2020-01-01T00:00:00Z,2021-01-01T00:00:00Z)))");
}

TEST(QueryHasTest, Errors) {
  EXPECT_EQ(Error("Patient", "_has:Foo:patient:code=1"),
            "_has:Foo:patient:code=1: _has: 'Foo' is not a resource type");
  EXPECT_EQ(Error("Patient", "_has:Observation:foo:code=1"),
            "_has:Observation:foo:code=1: _has: Observation has no search parameter 'foo'");
  EXPECT_EQ(Error("Patient", "_has:Observation:code:code=1"),
            "_has:Observation:code:code=1: _has: Observation 'code' is a token parameter, not a "
            "reference");
  EXPECT_EQ(Error("Patient", "_has:Observation:encounter:code=1"),
            "_has:Observation:encounter:code=1: _has: Observation 'encounter' cannot refer to "
            "Patient (its targets are Encounter, EpisodeOfCare)");
  EXPECT_EQ(Error("Patient", "_has:Observation:patient:foo=1"),
            "_has:Observation:patient:foo=1: Unknown search parameter 'foo' for Observation");
  EXPECT_EQ(Error("Patient", "_has:Observation:patient:date=2021-02-29"),
            "_has:Observation:patient:date=2021-02-29: not a valid date: 2021-02 has 28 days");
}

// ---------------------------------------------------------------------------------------------
// _sort

TEST(QuerySortTest, SeveralKeys) {
  Result<Query> q = Bound("Observation", "_sort=status,-date,category");
  ASSERT_TRUE(q.ok());
  ASSERT_THAT(q->sort, SizeIs(3));
  EXPECT_EQ(q->sort[0].code, "status");
  EXPECT_FALSE(q->sort[0].descending);
  EXPECT_EQ(q->sort[1].code, "date");
  EXPECT_TRUE(q->sort[1].descending);
  EXPECT_EQ(q->sort[1].type, fhir::SearchParamType::kDate);
  EXPECT_EQ(q->sort[2].code, "category");
  EXPECT_EQ(ToDebugString(*q), "Observation _sort=status,-date,category _count=20");
}

TEST(QuerySortTest, RepeatsAppendAndCommonParameters) {
  EXPECT_EQ(Debug("Patient", "_sort=-_lastUpdated&_sort=_id,family"),
            "Patient _sort=-_lastUpdated,_id,family _count=20");
  EXPECT_EQ(Debug("Observation", "_sort=subject,value-quantity,patient"),
            "Observation _sort=subject,value-quantity,patient _count=20");
  EXPECT_EQ(Debug("ValueSet", "_sort=url"), "ValueSet _sort=url _count=20");
  EXPECT_EQ(Debug("RiskAssessment", "_sort=-probability"),
            "RiskAssessment _sort=-probability _count=20");
}

TEST(QuerySortTest, Errors) {
  EXPECT_EQ(Error("Observation", "_sort=foo"),
            "_sort=foo: cannot sort by 'foo': not a search parameter of Observation");
  EXPECT_EQ(Error("Observation", "_sort=code-value-quantity"),
            "_sort=code-value-quantity: cannot sort by 'code-value-quantity': composite "
            "parameters are not sortable");
  EXPECT_EQ(Error("Location", "_sort=near"),
            "_sort=near: cannot sort by 'near': special parameters are not sortable");
  EXPECT_EQ(Error("Observation", "_sort=_text"),
            "_sort=_text: cannot sort by '_text': it has no value to sort on");
  EXPECT_EQ(Error("Observation", "_sort:desc=date"),
            "_sort:desc=date: _sort takes no modifier; prefix a key with '-' to sort in "
            "descending order");
  EXPECT_EQ(Error("Observation", "_sort=-"), "_sort=-: '-' needs a parameter name after it");
  // _sort errors even when lenient: the client asked for an order Kiln cannot give.
  EXPECT_EQ(Error("Observation", "_sort=subject.name"),
            "_sort=subject.name: cannot sort by 'subject.name': not a search parameter of "
            "Observation");
}

// ---------------------------------------------------------------------------------------------
// _include and _revinclude

TEST(QueryIncludeTest, Variants) {
  EXPECT_EQ(Debug("MedicationRequest", "_include=MedicationRequest:patient"),
            "MedicationRequest _count=20 _include=MedicationRequest:patient");
  EXPECT_EQ(Debug("MedicationRequest", "_revinclude=Provenance:target"),
            "MedicationRequest _count=20 _revinclude=Provenance:target");
  EXPECT_EQ(Debug("MedicationDispense",
                  "_include=MedicationDispense:prescription&"
                  "_include:iterate=MedicationRequest:requester"),
            "MedicationDispense _count=20 _include=MedicationDispense:prescription "
            "_include:iterate=MedicationRequest:requester");
  EXPECT_EQ(Debug("Observation", "_include=Observation:subject:Patient"),
            "Observation _count=20 _include=Observation:subject:Patient");
  EXPECT_EQ(Debug("Observation", "_include:recurse=Observation:has-member"),
            "Observation _count=20 _include:iterate=Observation:has-member");
  EXPECT_EQ(Debug("Observation", "_include=*&_revinclude=*"),
            "Observation _count=20 _include=* _revinclude=*");
  EXPECT_EQ(Debug("Observation", "_include=Observation:*"),
            "Observation _count=20 _include=Observation:*");
  EXPECT_EQ(Debug("Patient", "_revinclude:iterate=Observation:has-member"),
            "Patient _count=20 _revinclude:iterate=Observation:has-member");
}

TEST(QueryIncludeTest, BoundToDefinitions) {
  Result<Query> q = Bound("Observation", "_include=Observation:subject:Patient");
  ASSERT_TRUE(q.ok());
  ASSERT_THAT(q->includes, SizeIs(1));
  const Include& inc = q->includes[0];
  EXPECT_FALSE(inc.reverse);
  EXPECT_FALSE(inc.iterate);
  EXPECT_EQ(inc.source_type, "Observation");
  EXPECT_EQ(inc.param, "subject");
  EXPECT_EQ(inc.target_type, "Patient");
  ASSERT_NE(inc.def, nullptr);
  EXPECT_EQ(inc.def->url(), "http://hl7.org/fhir/SearchParameter/Observation-subject");
}

TEST(QueryIncludeTest, Errors) {
  EXPECT_EQ(Error("Observation", "_include=Observation"),
            "_include=Observation: expected [type]:[parameter], [type]:[parameter]:[target "
            "type], [type]:* or *");
  EXPECT_EQ(Error("Observation", "_include=Foo:bar"),
            "_include=Foo:bar: 'Foo' is not a resource type");
  EXPECT_EQ(Error("Observation", "_include=Observation:foo"),
            "_include=Observation:foo: Observation has no search parameter 'foo'");
  EXPECT_EQ(Error("Observation", "_include=Observation:code"),
            "_include=Observation:code: 'code' is a token parameter; only reference parameters "
            "can be included");
  EXPECT_EQ(Error("Observation", "_include=Observation:subject:Medication"),
            "_include=Observation:subject:Medication: Observation 'subject' cannot refer to "
            "Medication (its targets are Device, Group, Location, Patient)");
  EXPECT_EQ(Error("Observation", "_include=Patient:organization"),
            "_include=Patient:organization: Patient is not among the types searched "
            "(Observation); use _include:iterate to follow included resources");
  EXPECT_EQ(Error("Observation", "_revinclude=Patient:organization"),
            "_revinclude=Patient:organization: Patient 'organization' cannot refer to Observation");
  EXPECT_EQ(Error("Observation", "_include:deep=Observation:subject"),
            "_include:deep=Observation:subject: modifier ':deep' is not allowed on _include (only "
            ":iterate)");
  EXPECT_EQ(Error("Observation", "_include=Observation:subject,Observation:performer"),
            "_include=Observation:subject,Observation:performer: _include takes one value; repeat "
            "the parameter for more (R4 3.1.1.5.4)");
  EXPECT_EQ(Error("Observation", "_include=Observation:*:Patient"),
            "_include=Observation:*:Patient: a wildcard include takes no target type");
  EXPECT_EQ(Error("Observation", "_include=Observation:subject&_summary=text"),
            "_summary=text: cannot be combined with _include or _revinclude");
  // With :iterate any source type may follow the included resources.
  EXPECT_EQ(Error("Observation", "_include:iterate=Patient:organization"), "");
}

// ---------------------------------------------------------------------------------------------
// _count, _total, _summary, _elements, _contained, _cursor

TEST(QueryResultParamsTest, Count) {
  QueryOptions options{.default_count = 10, .max_count = 100};
  Result<Query> q = Bound("Patient", "", options);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->count, 10);
  EXPECT_FALSE(q->count_given);
  q = Bound("Patient", "_count=50", options);
  EXPECT_EQ(q->count, 50);
  EXPECT_TRUE(q->count_given);
  q = Bound("Patient", "_count=5000", options);
  EXPECT_EQ(q->count, 100);
  q = Bound("Patient", "_count=99999999999999999999999", options);
  EXPECT_EQ(q->count, 100);
  q = Bound("Patient", "_count=0", options);
  EXPECT_EQ(q->count, 0);
  EXPECT_TRUE(q->count_given);
  for (std::string_view bad : {"-1", "abc", "1.5", "+5", " 5"}) {
    EXPECT_EQ(Error("Patient", "_count=" + std::string(bad)),
              "_count=" + std::string(bad) + ": _count must be a non-negative integer");
  }
  EXPECT_EQ(Error("Patient", "_count=1&_count=2"), "_count=2: _count may appear only once");
}

TEST(QueryResultParamsTest, TotalAndSummary) {
  Result<Query> q = Bound("Patient", "_total=accurate&_summary=count");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->total, TotalMode::kAccurate);
  EXPECT_EQ(q->summary, SummaryMode::kCount);
  EXPECT_EQ(Bound("Patient", "_total=none")->total, TotalMode::kNone);
  EXPECT_EQ(Bound("Patient", "_total=estimate")->total, TotalMode::kEstimate);
  EXPECT_EQ(Bound("Patient", "_summary=true")->summary, SummaryMode::kTrue);
  EXPECT_EQ(Bound("Patient", "_summary=text")->summary, SummaryMode::kText);
  EXPECT_EQ(Bound("Patient", "_summary=data")->summary, SummaryMode::kData);
  EXPECT_EQ(Bound("Patient", "_summary=false")->summary, SummaryMode::kFalse);
  EXPECT_EQ(Error("Patient", "_total=all"), "_total=all: _total takes none, estimate or accurate");
  EXPECT_EQ(Error("Patient", "_summary=yes"),
            "_summary=yes: _summary takes true, text, data, count or false");
  EXPECT_EQ(Error("Patient", "_summary=true&_summary=false"),
            "_summary=false: _summary may appear only once");
}

TEST(QueryResultParamsTest, Elements) {
  Result<Query> q = Bound("Patient", "_elements=identifier,active,link,identifier");
  ASSERT_TRUE(q.ok());
  EXPECT_THAT(q->elements, ElementsAre("identifier", "active", "link"));
  EXPECT_THAT(
      Bound("Observation", "_elements=value,valueQuantity,effective,id,meta,text")->elements,
      ElementsAre("value", "valueQuantity", "effective", "id", "meta", "text"));
  EXPECT_EQ(Error("Patient", "_elements=name,foo,bar"),
            "_elements=name,foo,bar: unknown elements foo, bar for Patient");
  EXPECT_EQ(Error("Observation", "_elements=valueFoo"),
            "_elements=valueFoo: unknown element valueFoo for Observation");
  EXPECT_EQ(Error("Patient", "_elements=name.given"),
            "_elements=name.given: 'name.given': _elements takes top-level element names (R4 "
            "3.1.1.5.9)");
  // A system search accepts an element any type has.
  EXPECT_EQ(Error("", "_elements=birthDate"), "");
  EXPECT_EQ(Error("", "_type=Observation&_elements=birthDate"),
            "_elements=birthDate: unknown element birthDate for Observation");
}

TEST(QueryResultParamsTest, ContainedAndCursor) {
  Result<Query> q = Bound("Medication", "_contained=both&_containedType=contained&_cursor=abc123");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->contained, ContainedMode::kBoth);
  EXPECT_EQ(q->contained_type, ContainedType::kContained);
  EXPECT_EQ(q->cursor, "abc123");
  EXPECT_EQ(ToDebugString(*q),
            "Medication _count=20 _contained=both _containedType=contained _cursor=abc123");
  EXPECT_EQ(Bound("Medication", "_contained=true")->contained, ContainedMode::kTrue);
  EXPECT_EQ(Error("Medication", "_contained=maybe"),
            "_contained=maybe: _contained takes false, true or both");
  EXPECT_EQ(Error("Medication", "_containedType=all"),
            "_containedType=all: _containedType takes container or contained");
  EXPECT_EQ(Error("Medication", "_cursor=a&_cursor=b"), "_cursor=b: _cursor may appear only once");
}

TEST(QueryResultParamsTest, FormatAndPrettyBelongToRest) {
  Result<Query> q = Bound("Patient", "_format=json&_pretty=true&name=x", {.strict = true});
  ASSERT_TRUE(q.ok());
  EXPECT_THAT(q->ignored, IsEmpty());
  EXPECT_THAT(q->applied, ElementsAre(std::pair<std::string, std::string>("name", "x")));
}

TEST(QueryResultParamsTest, ModifiersOnResultParameters) {
  EXPECT_EQ(Error("Patient", "_count:x=5"), "_count:x=5: modifier ':x' is not allowed on _count");
  EXPECT_EQ(Error("Patient", "_total:exact=none"),
            "_total:exact=none: modifier ':exact' is not allowed on _total");
}

// ---------------------------------------------------------------------------------------------
// Unknown parameters: strict and lenient

TEST(QueryStrictTest, LenientIgnoresAndReports) {
  Result<Query> q = Bound("Patient", "foo=bar&name=peter&utm.source=x");
  ASSERT_TRUE(q.ok());
  EXPECT_THAT(q->criteria, SizeIs(1));
  ASSERT_THAT(q->ignored, SizeIs(2));
  EXPECT_EQ(q->ignored[0].name, "foo");
  EXPECT_EQ(q->ignored[0].value, "bar");
  EXPECT_EQ(q->ignored[0].reason, "Unknown search parameter 'foo' for Patient");
  const Issue issue = q->ignored[0].ToIssue();
  EXPECT_EQ(issue.severity, Severity::kWarning);
  EXPECT_EQ(issue.code, "not-supported");
  EXPECT_EQ(issue.diagnostics,
            "Parameter 'foo' was ignored: Unknown search parameter 'foo' for Patient");
  EXPECT_THAT(q->applied, ElementsAre(std::pair<std::string, std::string>("name", "peter")));
  EXPECT_EQ(ToDebugString(*q),
            "Patient (string name \"peter\") _count=20 ignored=[foo,utm.source]");
}

TEST(QueryStrictTest, StrictRefuses) {
  Result<Query> q = Bound("Patient", "foo=bar&name=peter", {.strict = true});
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().error(), ErrorCode::kInvalid);
  ASSERT_THAT(q.status().issues(), SizeIs(1));
  EXPECT_EQ(q.status().issues()[0].code, "not-supported");
  EXPECT_EQ(q.status().message(), "foo=bar: Unknown search parameter 'foo' for Patient");
}

TEST(QueryStrictTest, EveryProblemIsReported) {
  Result<Query> q = Bound("Patient", "birthdate=2021-02-29&gender:foo=x&_count=x&name=ok");
  ASSERT_FALSE(q.ok());
  ASSERT_THAT(q.status().issues(), SizeIs(3));
  EXPECT_EQ(q.status().issues()[0].code, "value");
  EXPECT_EQ(q.status().issues()[1].code, "not-supported");
  EXPECT_EQ(q.status().issues()[2].diagnostics, "_count=x: _count must be a non-negative integer");
}

// ---------------------------------------------------------------------------------------------
// System search and _type

TEST(QuerySystemTest, TypeListPicksTheScope) {
  Result<Query> q = Bound("", "_type=Observation,Condition&code=http://loinc.org|1234");
  ASSERT_TRUE(q.ok());
  EXPECT_THAT(q->types, ElementsAre("Condition", "Observation"));
  const Criterion& c = q->criteria[0];
  EXPECT_THAT(c.scope, ElementsAre("Condition", "Observation"));
  ASSERT_THAT(c.defs, SizeIs(1));  // both use clinical-code
  EXPECT_EQ(ToDebugString(*q),
            "Condition,Observation (token code http://loinc.org|1234) _count=20");
}

TEST(QuerySystemTest, DistinctDefinitionsOfTheSameType) {
  Result<Query> q = Bound("", "_type=Patient,Practitioner&name=smith");
  ASSERT_TRUE(q.ok());
  EXPECT_THAT(q->criteria[0].defs, SizeIs(2));
}

TEST(QuerySystemTest, WithoutTypeOnlyCommonParameters) {
  EXPECT_EQ(Debug("", "_id=1&_lastUpdated=ge2020&_tag=x"),
            "* (token _id 1) (date _lastUpdated ge 2020 "
            "[2020-01-01T00:00:00Z,2021-01-01T00:00:00Z)) (token _tag x) _count=20");
  Result<Query> q = Bound("", "name=x");
  ASSERT_TRUE(q.ok());
  ASSERT_THAT(q->ignored, SizeIs(1));
  EXPECT_EQ(q->ignored[0].reason, "Unknown search parameter 'name' for all resource types");
  EXPECT_EQ(Error("", "name=x", {.strict = true}),
            "name=x: Unknown search parameter 'name' for all resource types");
}

TEST(QuerySystemTest, ParametersMustBeCommonToAllTypes) {
  Result<Query> q = Bound("", "_type=Patient,Observation&gender=male");
  ASSERT_TRUE(q.ok());
  ASSERT_THAT(q->ignored, SizeIs(1));
  EXPECT_EQ(q->ignored[0].reason,
            "Search parameter 'gender' is not defined for Observation (a search over several "
            "types takes only parameters they all have)");
  // Same code, different parameter types: a token on RelatedPerson, a composite on
  // DocumentReference.
  EXPECT_EQ(Error("", "_type=RelatedPerson,DocumentReference&relationship=x"),
            "relationship=x: search parameter 'relationship' has different types across "
            "DocumentReference, RelatedPerson (composite and token)");
}

TEST(QuerySystemTest, TypeErrors) {
  EXPECT_EQ(Error("", "_type=Foo"), "_type=Foo: 'Foo' is not a resource type");
  EXPECT_EQ(Error("", "_type=Patient&_type=Observation"),
            "_type=Observation: _type may appear only once");
  EXPECT_EQ(Error("Patient", "_type=Observation"),
            "_type=Observation: the search is over Patient only");
  EXPECT_EQ(Error("Patient", "_type=Patient"), "");
}

TEST(QuerySystemTest, HasAndIncludesInSystemSearch) {
  EXPECT_EQ(Debug("", "_type=Patient,Group&_has:Observation:patient:code=x"),
            "Group,Patient (has Observation:patient (token code x)) _count=20");
  EXPECT_EQ(Error("", "_type=Patient&_include=Observation:subject"),
            "_include=Observation:subject: Observation is not among the types searched "
            "(Patient); use _include:iterate to follow included resources");
  EXPECT_EQ(Error("", "_include=Observation:subject"), "");
}

TEST(QuerySystemTest, RejectsUnknownTypesFromTheCaller) {
  Result<Query> q = ParseQuery({"Resource"}, {}, {});
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().message(), "'Resource' is not a resource type");
}

// ---------------------------------------------------------------------------------------------
// Every R4 search parameter of every resource type binds.

// A valid value for a parameter of this type (with the component values of a composite).
std::string SampleValue(const fhir::SearchParamDef& def) {
  using T = fhir::SearchParamType;
  switch (def.type()) {
    case T::kNumber:
      return "5";
    case T::kDate:
      return "ge2020-01-01";
    case T::kString:
      return "x";
    case T::kToken:
      return "http://example.org|x";
    case T::kReference:
      return "1";
    case T::kQuantity:
      return "5.4|http://unitsofmeasure.org|mg";
    case T::kUri:
      return "http://example.org/x";
    case T::kSpecial:
      return def.code() == "near" ? "42.25|-83.69|10|km" : "x";
    case T::kComposite: {
      std::string value;
      for (const fhir::SearchParamComponent& component : def.components()) {
        if (!value.empty()) value += "$";
        value += SampleValue(*fhir::FindSearchParamByUrl(component.definition()));
      }
      return value;
    }
  }
  return "x";
}

TEST(QuerySmokeTest, EveryParameterOfEveryTypeBinds) {
  size_t bound = 0, missing = 0, chained = 0, sorted = 0, included = 0;
  for (const fhir::TypeDef& type : fhir::ResourceTypes()) {
    const std::string type_name(type.name());
    for (const fhir::SearchParamDef& def : type.search_params()) {
      const std::string code(def.code());
      const std::string value = SampleValue(def);
      Result<Query> q = ParseQuery({type_name}, {{code, value}}, {.strict = true});
      if (code == "_query" || code == "_filter") {
        EXPECT_FALSE(q.ok()) << type_name << "?" << code;  // refused as unsupported
        continue;
      }
      ASSERT_TRUE(q.ok()) << type_name << "?" << code << "=" << value << ": "
                          << Diagnostics(q.status());
      ASSERT_THAT(q->criteria, SizeIs(1));
      const Criterion& c = q->criteria[0];
      EXPECT_EQ(c.kind, Criterion::Kind::kMatch);
      EXPECT_EQ(c.type, def.type());
      EXPECT_THAT(c.defs, ElementsAre(&def));
      EXPECT_THAT(c.terms, SizeIs(1));
      ++bound;

      if (def.type() != fhir::SearchParamType::kComposite) {
        Result<Query> m = ParseQuery({type_name}, {{code + ":missing", "true"}}, {.strict = true});
        ASSERT_TRUE(m.ok()) << type_name << "?" << code << ":missing";
        EXPECT_EQ(m->criteria[0].kind, Criterion::Kind::kMissing);
        ++missing;
      }
      if (def.type() == fhir::SearchParamType::kReference) {
        // Every reference parameter chains (to _id, which every target has) and includes.
        Result<Query> ch = ParseQuery({type_name}, {{code + "._id", "1"}}, {.strict = true});
        ASSERT_TRUE(ch.ok()) << type_name << "?" << code << "._id: " << Diagnostics(ch.status());
        EXPECT_EQ(ch->criteria[0].kind, Criterion::Kind::kChain);
        EXPECT_FALSE(ch->criteria[0].targets.empty());
        ++chained;
        Result<Query> inc =
            ParseQuery({type_name}, {{"_include", type_name + ":" + code}}, {.strict = true});
        ASSERT_TRUE(inc.ok()) << type_name << " _include " << code << ": "
                              << Diagnostics(inc.status());
        ++included;
      }
      if (def.type() != fhir::SearchParamType::kComposite &&
          def.type() != fhir::SearchParamType::kSpecial && !def.expression().empty()) {
        Result<Query> s = ParseQuery({type_name}, {{"_sort", "-" + code}}, {.strict = true});
        ASSERT_TRUE(s.ok()) << type_name << " _sort=" << code;
        ++sorted;
      }
    }
  }
  // R4: 1376 non-experimental definitions over 146 types, several per shared definition.
  EXPECT_GT(bound, 2500u);
  EXPECT_GT(missing, 2400u);
  EXPECT_GT(chained, 500u);
  EXPECT_EQ(included, chained);
  EXPECT_GT(sorted, 2400u);
  std::printf("bound %zu parameters, %zu :missing, %zu chains, %zu includes, %zu sorts\n", bound,
              missing, chained, included, sorted);
}

TEST(QuerySmokeTest, EveryResourceTypeAcceptsItsOwnElements) {
  for (const fhir::TypeDef& type : fhir::ResourceTypes()) {
    std::string elements;
    for (const fhir::ElementDef& element : type.elements()) {
      std::string_view path = element.path();
      const size_t dot = path.find('.');
      if (dot == std::string_view::npos || path.find('.', dot + 1) != std::string_view::npos) {
        continue;
      }
      std::string name(path.substr(dot + 1));
      if (name.ends_with("[x]")) name.resize(name.size() - 3);
      if (!elements.empty()) elements += ",";
      elements += name;
    }
    Result<Query> q =
        ParseQuery({std::string(type.name())}, {{"_elements", elements}}, {.strict = true});
    EXPECT_TRUE(q.ok()) << type.name() << ": " << Diagnostics(q.status());
  }
}

}  // namespace
}  // namespace kiln::search
