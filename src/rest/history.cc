#include "rest/history.h"

#include <charconv>

#include "core/clock.h"
#include "core/ids.h"
#include "core/strings.h"
#include "rest/bundle_json.h"
#include "rest/negotiation.h"

namespace kiln::rest {
namespace {

bool ParseInt(std::string_view text, int64_t& out) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && p == text.data() + text.size();
}

const char* MethodOf(const VersionInfo& info) {
  switch (info.method) {
    case WriteMethod::kCreate:
      return "POST";
    case WriteMethod::kUpdate:
      return "PUT";
    case WriteMethod::kDelete:
      return "DELETE";
    case WriteMethod::kPatch:
      return "PATCH";
  }
  return "PUT";
}

const char* StatusOf(const VersionInfo& info) {
  switch (info.method) {
    case WriteMethod::kCreate:
      return "201 Created";
    case WriteMethod::kUpdate:
      return info.version == 1 ? "201 Created" : "200 OK";
    case WriteMethod::kDelete:
      return "204 No Content";
    case WriteMethod::kPatch:
      return "200 OK";
  }
  return "200 OK";
}

}  // namespace

Result<HistoryQuery> ParseHistoryQuery(const Interaction& in, int default_count, int max_count) {
  HistoryQuery q;
  q.type = in.type;
  q.id = in.id;
  q.count = default_count;
  q.want_total = in.route->kind == InteractionKind::kHistoryInstance;
  for (const auto& [name, value] : in.params) {
    if (name == "_count") {
      int64_t n = 0;
      if (!ParseInt(value, n) || n < 0)
        return Status::Invalid("_count must be a non-negative integer, not '" + value + "'");
      q.count = static_cast<int>(std::min<int64_t>(n, max_count));
    } else if (name == "_since") {
      auto t = core::ParseFhirDateTime(value);
      if (!t) return Status::Invalid("_since must be a FHIR instant, not '" + value + "'");
      q.since = t->low;
    } else if (name == "_at") {
      auto t = core::ParseFhirDateTime(value);
      if (!t) return Status::Invalid("_at must be a FHIR date or dateTime, not '" + value + "'");
      q.at_low = t->low;
      q.at_high = t->high;
    } else if (name == "_cursor") {
      int64_t seq = 0;
      if (!ParseInt(value, seq) || seq < 1)
        return Status::Invalid("Invalid paging cursor '" + value + "'");
      q.before_seq = seq;
    }
    // Other parameters (_format, _pretty, and any unknown ones) do not change the history.
  }
  return q;
}

std::string HistoryBundleJson(const LinkBase& links, const Interaction& in,
                              const HistoryQuery& query, const HistoryPage& page,
                              std::optional<int64_t> next_before) {
  const std::string& base_url = links.base_url;
  std::string out;
  size_t estimate = 512;
  for (const auto& e : page.entries) estimate += e.json.size() + 300;
  out.reserve(estimate);
  AppendBundleStart(out, "history");
  if (page.total) {
    out += ",\"total\":";
    out += std::to_string(*page.total);
  }
  out += ",\"link\":[{\"relation\":\"self\",\"url\":";
  out += core::JsonQuote(
      PageLinkUrl(base_url, in.path, in.params,
                  links.seal.Seal(query.before_seq ? std::to_string(*query.before_seq) : "")));
  out += '}';
  if (page.has_more && (next_before || !page.entries.empty())) {
    out += ",{\"relation\":\"next\",\"url\":";
    out += core::JsonQuote(PageLinkUrl(
        base_url, in.path, in.params,
        links.seal.Seal(
            std::to_string(next_before ? *next_before : page.entries.back().info.seq))));
    out += '}';
  }
  out += ']';
  if (!page.entries.empty()) {
    out += ",\"entry\":[";
    bool first = true;
    for (const StoredResource& e : page.entries) {
      if (!first) out += ',';
      first = false;
      std::string ref = e.info.type + "/" + e.info.id;
      out += "{\"fullUrl\":";
      out += core::JsonQuote(std::string(base_url) + "/" + ref);
      if (!e.info.deleted) {
        out += ",\"resource\":";
        out += e.json;
      }
      out += ",\"request\":{\"method\":\"";
      out += MethodOf(e.info);
      out += "\",\"url\":";
      out += core::JsonQuote(e.info.method == WriteMethod::kCreate ? e.info.type : ref);
      out += "},\"response\":{\"status\":\"";
      out += StatusOf(e.info);
      out += "\",\"etag\":";
      out += core::JsonQuote(VersionETag(e.info.version));
      out += ",\"lastModified\":\"";
      out += core::FormatInstant(e.info.last_updated);
      out += "\"}}";
    }
    out += ']';
  }
  out += '}';
  return out;
}

}  // namespace kiln::rest
