#include "rest/bundle_json.h"

#include "core/clock.h"
#include "core/ids.h"

namespace kiln::rest {

std::string EncodeQueryComponent(std::string_view text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~' || c == ':';
    if (unreserved) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

void AppendBundleStart(std::string& out, std::string_view type) {
  out += "{\"resourceType\":\"Bundle\",\"id\":\"";
  out += core::NewResourceId();
  out += "\",\"meta\":{\"lastUpdated\":\"";
  out += core::FormatInstant(core::NowMicros());
  out += "\"},\"type\":\"";
  out += type;
  out += '"';
}

std::string PageLinkUrl(std::string_view base_url, std::string_view path,
                        const std::vector<std::pair<std::string, std::string>>& params,
                        std::string_view cursor) {
  std::string url(base_url);
  if (!path.empty()) {  // a system search's links are [base]?...
    url += '/';
    url += path;
  }
  bool first = true;
  for (const auto& [k, v] : params) {
    if (k == "_cursor") continue;
    url += first ? '?' : '&';
    first = false;
    url += EncodeQueryComponent(k);
    url += '=';
    url += EncodeQueryComponent(v);
  }
  if (!cursor.empty()) {
    url += first ? '?' : '&';
    url += "_cursor=";
    url += EncodeQueryComponent(cursor);
  }
  return url;
}

}  // namespace kiln::rest
