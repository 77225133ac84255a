#include "rest/search.h"

#include "core/clock.h"
#include "core/ids.h"
#include "core/strings.h"
#include "rest/bundle_json.h"
#include "rest/outcome.h"

namespace kiln::rest {
namespace {

Result<std::string> DecodeComponent(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      int hi = i + 2 < text.size() ? core::HexDigitValue(text[i + 1]) : -1;
      int lo = i + 2 < text.size() ? core::HexDigitValue(text[i + 2]) : -1;
      if (hi < 0 || lo < 0)
        return Status::Invalid("The form body has a malformed percent-escape near '" +
                               std::string(text.substr(i, 3)) + "'");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

Result<QueryParams> DecodeFormBody(std::string_view body) {
  QueryParams params;
  while (!body.empty()) {
    size_t amp = body.find('&');
    std::string_view pair = body.substr(0, amp);
    if (!pair.empty()) {
      size_t eq = pair.find('=');
      auto name = DecodeComponent(pair.substr(0, eq));
      if (!name.ok()) return name.take_status();
      auto value = DecodeComponent(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
      if (!value.ok()) return value.take_status();
      params.emplace_back(std::move(name).value(), std::move(value).value());
    }
    if (amp == std::string_view::npos) break;
    body.remove_prefix(amp + 1);
  }
  return params;
}

std::optional<fhir::Subset> SubsetFor(const search::Query& query) {
  using search::SummaryMode;
  switch (query.summary) {
    case SummaryMode::kTrue:
      return fhir::Subset{fhir::SubsetMode::kSummary, {}};
    case SummaryMode::kText:
      return fhir::Subset{fhir::SubsetMode::kText, {}};
    case SummaryMode::kData:
      return fhir::Subset{fhir::SubsetMode::kData, {}};
    case SummaryMode::kUnspecified:
    case SummaryMode::kFalse:
    case SummaryMode::kCount:
      break;
  }
  if (!query.elements.empty()) return fhir::Subset{fhir::SubsetMode::kElements, query.elements};
  return std::nullopt;
}

Result<std::optional<fhir::Subset>> ReadSubsetFor(const std::string& type,
                                                  const QueryParams& params) {
  search::SearchParams wanted;
  for (const auto& [k, v] : params) {
    if (k == "_summary" || k == "_elements") wanted.emplace_back(k, v);
  }
  if (wanted.empty()) return std::optional<fhir::Subset>();
  search::QueryOptions options;
  options.strict = true;
  auto query = search::ParseQuery({type}, wanted, options);
  if (!query.ok()) return query.take_status();
  if (query->summary == search::SummaryMode::kCount) {
    return Status::Invalid("_summary=count: a read returns one resource; count is for searches",
                           "_summary");
  }
  return SubsetFor(*query);
}

namespace {

void AppendEntry(std::string& out, std::string_view base_url, const StoredResource& resource,
                 const std::optional<fhir::Subset>& subset, std::string_view mode) {
  if (out.back() != '[') out += ',';
  out += "{\"fullUrl\":";
  out += core::JsonQuote(std::string(base_url) + "/" + resource.info.type + "/" + resource.info.id);
  out += ",\"resource\":";
  if (subset) {
    out += fhir::SubsetResource(resource.json, *subset);
  } else {
    out += resource.json;
  }
  out += ",\"search\":{\"mode\":\"";
  out += mode;
  out += "\"}}";
}

}  // namespace

std::string SearchBundleJson(const LinkBase& links, std::string_view link_path,
                             const search::Query& query, const SearchPage& page) {
  const std::string& base_url = links.base_url;
  std::string out;
  size_t estimate = 512;
  for (const auto& m : page.matches) estimate += m.json.size() + 160;
  for (const auto& m : page.included) estimate += m.json.size() + 160;
  out.reserve(estimate);
  AppendBundleStart(out, "searchset");
  if (page.total) {
    out += ",\"total\":";
    out += std::to_string(*page.total);
  }
  out += ",\"link\":[{\"relation\":\"self\",\"url\":";
  out += core::JsonQuote(
      PageLinkUrl(base_url, link_path, query.applied, links.seal.Seal(query.cursor)));
  out += '}';
  auto link = [&](const char* relation, const std::string& cursor) {
    out += ",{\"relation\":\"";
    out += relation;
    out += "\",\"url\":";
    out +=
        core::JsonQuote(PageLinkUrl(base_url, link_path, query.applied, links.seal.Seal(cursor)));
    out += '}';
  };
  // first and last cost no more than any page (keyset cursors: "bend" reads the order from its
  // end), so a result of several pages gets both.
  const bool paged = !page.next_cursor.empty() || !page.previous_cursor.empty();
  if (paged) link("first", "");
  if (!page.previous_cursor.empty()) link("previous", page.previous_cursor);
  if (!page.next_cursor.empty()) link("next", page.next_cursor);
  if (paged) link("last", "bend");
  out += ']';
  std::vector<Issue> warnings;
  for (const auto& ignored : query.ignored) warnings.push_back(ignored.ToIssue());
  warnings.insert(warnings.end(), page.warnings.begin(), page.warnings.end());
  if (!page.matches.empty() || !page.included.empty() || !warnings.empty()) {
    out += ",\"entry\":[";
    const std::optional<fhir::Subset> subset = SubsetFor(query);
    std::optional<fhir::Subset> include_subset = subset;
    if (include_subset && include_subset->mode == fhir::SubsetMode::kElements) {
      include_subset.reset();
    }
    for (const StoredResource& m : page.matches) AppendEntry(out, base_url, m, subset, "match");
    for (const StoredResource& m : page.included) {
      AppendEntry(out, base_url, m, include_subset, "include");
    }
    if (!warnings.empty()) {
      if (out.back() != '[') out += ',';
      out += "{\"fullUrl\":\"urn:uuid:";
      out += core::NewResourceId();
      out += "\",\"resource\":";
      out += IssuesOutcomeJson(warnings);
      out += ",\"search\":{\"mode\":\"outcome\"}}";
    }
    out += ']';
  }
  out += '}';
  return out;
}

}  // namespace kiln::rest
