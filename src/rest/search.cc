#include "rest/search.h"

#include "core/clock.h"
#include "core/ids.h"
#include "core/strings.h"
#include "rest/bundle_json.h"
#include "rest/outcome.h"

namespace kiln::rest {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> DecodeComponent(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      int hi = i + 2 < text.size() ? HexValue(text[i + 1]) : -1;
      int lo = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
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

std::string SearchBundleJson(std::string_view base_url, std::string_view type,
                             const search::Query& query, const SearchPage& page) {
  std::string out;
  size_t estimate = 512;
  for (const auto& m : page.matches) estimate += m.json.size() + 160;
  out.reserve(estimate);
  AppendBundleStart(out, "searchset");
  if (page.total) {
    out += ",\"total\":";
    out += std::to_string(*page.total);
  }
  out += ",\"link\":[{\"relation\":\"self\",\"url\":";
  out += core::JsonQuote(PageLinkUrl(base_url, type, query.applied, query.cursor));
  out += '}';
  if (!page.next_cursor.empty()) {
    out += ",{\"relation\":\"next\",\"url\":";
    out += core::JsonQuote(PageLinkUrl(base_url, type, query.applied, page.next_cursor));
    out += '}';
  }
  out += ']';
  if (!page.matches.empty() || !query.ignored.empty()) {
    out += ",\"entry\":[";
    bool first = true;
    for (const StoredResource& m : page.matches) {
      if (!first) out += ',';
      first = false;
      out += "{\"fullUrl\":";
      out += core::JsonQuote(std::string(base_url) + "/" + m.info.type + "/" + m.info.id);
      out += ",\"resource\":";
      out += m.json;
      out += ",\"search\":{\"mode\":\"match\"}}";
    }
    if (!query.ignored.empty()) {
      std::vector<Issue> issues;
      for (const auto& ignored : query.ignored) issues.push_back(ignored.ToIssue());
      if (!first) out += ',';
      out += "{\"fullUrl\":\"urn:uuid:";
      out += core::NewResourceId();
      out += "\",\"resource\":";
      out += IssuesOutcomeJson(issues);
      out += ",\"search\":{\"mode\":\"outcome\"}}";
    }
    out += ']';
  }
  out += '}';
  return out;
}

}  // namespace kiln::rest
