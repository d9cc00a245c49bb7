// The one JSON string escaper of the server, for JSON written by hand: the JSON log lines
// (logging.h) and the REST front end's error bodies and inference replies. Quotes,
// backslashes and control characters are escaped (\", \\, \b, \f, \n, \r, \t, else \u00XX);
// valid UTF-8 passes through as it is; each ill-formed UTF-8 sequence (its maximal subpart,
// as Unicode recommends) becomes U+FFFD, so the output is always valid JSON in UTF-8.
// Thread-safe: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace seqserve {

// `text` as the contents of a JSON string, without the quotes.
std::string JsonEscape(std::string_view text);

// `text` as a JSON string, with the quotes.
std::string JsonQuote(std::string_view text);

}  // namespace seqserve
