// Linked into every test binary (seqserve_add_test): plans are deterministic, with no
// compile-time timing and no tuning files written beside the test data, whether the binary
// runs under ctest (which sets SEQSERVE_TUNING=off as well) or by hand. An explicit
// SEQSERVE_TUNING in the environment wins; the tests of tuning set their options themselves.
#include <cstdlib>

namespace {

const bool kTuningOffByDefault = [] {
  ::setenv("SEQSERVE_TUNING", "off", /*overwrite=*/0);
  return true;
}();

}  // namespace
