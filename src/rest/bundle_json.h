// Pieces shared by the Bundles Kiln builds by hand (history, searchset): the opening members and
// the paging links. Building the JSON as text lets stored resources be copied in as they are.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kiln::rest {

// Percent-encodes a query parameter name or value (everything but unreserved characters and ':').
std::string EncodeQueryComponent(std::string_view text);

// `{"resourceType":"Bundle","id":<new>,"meta":{"lastUpdated":<now>},"type":<type>` (unclosed).
void AppendBundleStart(std::string& out, std::string_view type);

// base_url/path?params (without any _cursor)&_cursor=cursor (base_url?... when path is empty): a
// self or next link of a paged Bundle. `cursor` empty: no _cursor.
std::string PageLinkUrl(std::string_view base_url, std::string_view path,
                        const std::vector<std::pair<std::string, std::string>>& params,
                        std::string_view cursor);

}  // namespace kiln::rest
