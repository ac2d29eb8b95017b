-- Hosted delivery under load: GET of the URL given to wrk; the report only.
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
require "report"
